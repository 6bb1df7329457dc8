"""Build and ship: ``synth``, ``check``, ``diff``, ``bootstrap``, ``deploy``."""

from __future__ import annotations

from typing import Any

from crm_platform.cli import render
from crm_platform.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    Invocation,
    add_command,
    err,
    out,
    refusing,
)


def synth(inv: Invocation) -> int:
    return EXIT_OK if inv.synthesize().ok else EXIT_FINDINGS


def check(inv: Invocation) -> int:
    from crm_platform.toolchain.checks import run_cfn_lint, run_checkov

    result = inv.synthesize()
    if not result.ok:
        return EXIT_FINDINGS
    checks = []
    with err.status("cfn-lint..."):
        checks.append(run_cfn_lint(result.outdir))
    if not inv.args.skip_checkov:
        with err.status("checkov..."):
            checks.append(run_checkov(result.outdir, progress=err.print))
    render.gates(result, checks)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FINDINGS


def diff(inv: Invocation) -> int:
    result = inv.synthesize()
    if not result.ok:
        return EXIT_FINDINGS
    return inv.outside.cdk(["diff", "--app", str(result.outdir), "--all"], err.print)


def bootstrap(inv: Invocation) -> int:
    from crm_platform.naming import GLOBAL_REGION

    regions = inv.settings.regions
    targets = [
        f"aws://{inv.settings.account}/{region}"
        for region in dict.fromkeys([regions.primary, regions.dr, GLOBAL_REGION])
    ]
    return inv.outside.cdk(["bootstrap", *targets], err.print)


def deploy(inv: Invocation) -> int:
    """Deploy every stack, migrating the schema first when the release is new to it."""
    from pathlib import Path

    from crm_platform.ops import drift as drift_check
    from crm_platform.ops import preflight as account
    from crm_platform.ops import publish_build
    from crm_platform.ops.deploy import DeployWorld
    from crm_platform.ops.deploy import deploy as run_deploy
    from crm_platform.ops.deploy_plan import plan
    from crm_platform.release import operations as release_ops
    from crm_platform.release import record
    from crm_platform.release.versions import UpgradeRefused

    settings, names, clients = inv.settings, inv.names, inv.clients()
    with refusing(UpgradeRefused):
        recorded = record.read(clients("ssm", names.primary_region), names.release_parameter)
        steps = plan(settings, recorded, republish=inv.args.republish)
    out.print(f"release: {steps.note}", highlight=False)

    def synthesize(digest: str | None, hold: bool) -> Path | None:
        result = inv.synthesize(digest, hold)
        return result.outdir if result.ok else None

    def preflight(outdir: Path) -> bool:
        with err.status(
            "checking the account (failed-over state, Lambda concurrency, leftovers)..."
        ):
            checks = account.run_preflight(
                outdir,
                clients,
                (names.dr_region, names.failover_parameter),
                drift=lambda: drift_check.safely(names, settings, clients),
            )
        render.preflight(checks)
        return all(c.ok for c in checks)

    def migrate(release: Any) -> object:
        return release_ops.migrate(settings, names, clients, release, progress=err.print)

    def publish(release: Any) -> Any:
        primary = names.primary_region
        return publish_build.publish_release(
            clients("codebuild", primary), clients("ecr", primary), names, release, err.print
        )

    outcome = run_deploy(
        steps,
        names,
        DeployWorld(
            synthesize=synthesize,
            preflight=None if inv.args.skip_preflight else preflight,
            publish=publish,
            migrate=migrate,
            cdk=lambda arguments: inv.outside.cdk(arguments, err.print),
            progress=err.print,
        ),
    )
    if outcome.stage == "preflight":
        err.print(f"[red]{outcome.detail}[/red]")
        return EXIT_USAGE
    if outcome.stage == "publish":
        render.refusal("publish failed", outcome.detail)
        return EXIT_FINDINGS
    if outcome.stage == "migration":
        render.refusal("migration failed", outcome.detail)
        return EXIT_FINDINGS
    if outcome.stage == "synthesis":
        return EXIT_FINDINGS
    return outcome.cdk_exit_code


def register(commands: Any) -> None:
    add_command(
        commands, "synth", "synthesize every stack and run the cdk-nag gate", synth, out=True
    )
    checks = add_command(
        commands, "check", "synthesize, then run cfn-lint and checkov; one summary", check, out=True
    )
    checks.add_argument("--skip-checkov", action="store_true", help="run cfn-lint only")
    add_command(
        commands, "diff", "cdk diff against the deployed stacks (needs AWS credentials)", diff,
        out=True, credentials=True,
    )  # fmt: skip
    deploying = add_command(
        commands, "deploy",
        "check the account, publish the release into the registry, cdk deploy every stack",
        deploy,
        out=True, credentials=True,
    )  # fmt: skip
    deploying.add_argument(
        "--skip-preflight",
        action="store_true",
        help="do not check Lambda concurrency and leftovers before deploying",
    )
    deploying.add_argument(
        "--republish",
        action="store_true",
        help="without the pipeline: publish the recorded release again (a fresh RDS "
        "certificate bundle) and record its new digest",
    )
    add_command(
        commands, "bootstrap",
        "cdk bootstrap the account in all three regions (needs AWS credentials)", bootstrap,
        out=True, credentials=True,
    )  # fmt: skip
