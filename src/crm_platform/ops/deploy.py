"""``crm-platform deploy``: the sequence, with everything it touches passed in.

The sequence (ops/deploy_plan.py decides which parts run):

1. synthesize the release the plan names (services held at zero on a first deploy);
2. preflight the account (unless skipped): failed-over state, Lambda concurrency, leftovers;
3. when the release has no digest yet: ``cdk deploy`` the DR foundation and the registry
   stack alone, publish the release into the registry through its CodeBuild project
   (ops/publish_build.py; the pipeline's build step, no Docker here) and synthesize
   again with the published digest: no application stack ever names an image that is
   not in the platform's repository (docs/adr/0039);
4. migrate first when the release is new to the schema (an upgrade without the pipeline);
5. ``cdk deploy`` every stack;
6. first deploy only: migrate (it creates the schema), synthesize again at the real sizes
   and deploy the two application stacks alone.

The migrate step is the release's own (release/operations.py, the same code the
pipeline's migrate step runs): it records the release only after a migration its verdict
calls completed, which is more than the task's exit code (release/migration.py: older
Twenty entrypoints exit 0 after a failed upgrade). A refused migration stops the deploy
there: nothing is recorded, an upgrade's stacks are not deployed, and on a first deploy
the services stay held at zero tasks.

Nothing here reads the command line, prints, or builds a client: the caller passes a
``DeployWorld``, so the sequence is tested with plain fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crm_platform.naming import Names
from crm_platform.ops.deploy_plan import DeployPlan
from crm_platform.ops.publish_build import PublishFailed
from crm_platform.release.migration import MigrationFailed
from crm_platform.release.record import Release
from crm_platform.release.versions import UpgradeRefused

# Broadened IAM permissions ask the operator before CloudFormation applies them.
APPROVAL = ["--require-approval", "broadening"]


@dataclass(frozen=True)
class DeployWorld:
    """What the deploy does to the world."""

    # Synthesize for (image digest, hold services); the assembly's folder, or None when a
    # gate refused it (the caller has reported why).
    synthesize: Callable[[str | None, bool], Path | None]
    # Check the account against an assembly; False stops the deploy. None: skipped.
    preflight: Callable[[Path], bool] | None
    # Publish a release into the registry: the same release with its digest (raises
    # PublishFailed).
    publish: Callable[[Release], Release]
    migrate: Callable[[Release], object]  # raises MigrationFailed or UpgradeRefused
    cdk: Callable[[list[str]], int]  # the CDK CLI's exit code
    progress: Callable[[str], None]


Stage = Literal["done", "synthesis", "preflight", "publish", "migration", "cdk"]


@dataclass(frozen=True)
class DeployOutcome:
    stage: Stage  # "done", or where the deploy stopped
    detail: str = ""
    cdk_exit_code: int = 0


def deploy(plan: DeployPlan, names: Names, world: DeployWorld) -> DeployOutcome:
    """Run the sequence for ``plan``; stops at the first stage that fails."""
    release = plan.release
    outdir = world.synthesize(release.digest, plan.first_deploy)
    if outdir is None:
        return DeployOutcome("synthesis")
    if world.preflight is not None and not world.preflight(outdir):
        return DeployOutcome("preflight", "preflight failed; nothing was deployed")
    if plan.publish_first:
        world.progress("deploying the registry, then publishing the release into it...")
        registry = [names.dr_stack, names.registry_stack]
        code = world.cdk(["deploy", "--app", str(outdir), *registry, "--exclusively", *APPROVAL])
        if code != 0:
            return DeployOutcome("cdk", cdk_exit_code=code)
        try:
            release = world.publish(release)
        except PublishFailed as err:
            return DeployOutcome("publish", f"{err}; no application stack was deployed")
        outdir = world.synthesize(release.digest, plan.first_deploy)
        if outdir is None:
            return DeployOutcome("synthesis")
    try:
        if plan.migrate_before:
            world.migrate(release)
        code = world.cdk(["deploy", "--app", str(outdir), "--all", *APPROVAL])
        if code != 0:
            return DeployOutcome("cdk", cdk_exit_code=code)
        if not plan.first_deploy:
            return DeployOutcome("done")
        world.progress("stacks are up with the services held; creating the schema...")
        world.migrate(release)
    except (MigrationFailed, UpgradeRefused) as err:
        held = "; the services stay held at zero tasks" if plan.first_deploy else ""
        return DeployOutcome("migration", f"{err} (nothing was recorded{held})")
    outdir = world.synthesize(release.digest, False)
    if outdir is None:
        return DeployOutcome("synthesis")
    world.progress("starting the services at their configured sizes...")
    app_stacks = [names.primary_stack, names.dr_app_stack]
    code = world.cdk(["deploy", "--app", str(outdir), *app_stacks, "--exclusively", *APPROVAL])
    return DeployOutcome("done" if code == 0 else "cdk", cdk_exit_code=code)
