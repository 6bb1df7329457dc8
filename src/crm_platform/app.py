"""Settings in, a CDK app with every stack out. ``cdk.json`` runs this module.

Deployment order (encoded as stack dependencies): global, DR foundation, registry,
primary, DR database, DR application, edge, and the release pipeline when enabled. The
primary replicates into the DR region (bucket, secrets, backups), so the DR foundation
must exist first; it also holds the creation template of the image repository's DR
replica, so it precedes the registry, whose repository the primary's and DR's task
definitions run from (``crm-platform deploy`` publishes into it between the two,
docs/adr/0039); the DR replica needs the primary database, so it comes after, in its own
stack; the pipeline deploys to services of both regions, so it comes last.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import aws_cdk as cdk

from crm_platform.compliance.packs import add_nag_packs
from crm_platform.settings import Settings, load_settings
from crm_platform.settings.loader import config_path
from crm_platform.stacks.context import ReleaseInputs, StackContext
from crm_platform.stacks.dr import DrStack
from crm_platform.stacks.dr_app import DrAppStack
from crm_platform.stacks.dr_database import DrDatabaseStack
from crm_platform.stacks.edge import EdgeStack
from crm_platform.stacks.global_ import GlobalStack
from crm_platform.stacks.pipeline import PipelineStack
from crm_platform.stacks.primary import PrimaryStack
from crm_platform.stacks.registry import RegistryStack

DEFAULT_ENV = "prod"


def feature_flags() -> dict[str, object]:
    """aws-cdk-lib's recommended flags for new projects (template validation included)."""
    flags: dict[str, object] = json.loads(
        resources.files("crm_platform").joinpath("feature_flags.json").read_text()
    )
    return flags


def new_app(outdir: str | None = None) -> cdk.App:
    """An App with the project's feature flags; the CDK CLI's CDK_OUTDIR wins when set."""
    return cdk.App(
        outdir=outdir,
        # Path metadata ties each resource to its construct (the CDK CLI turns it on too,
        # as does asset metadata for local tools such as SAM, so `cdk synth` and
        # `crm-platform synth` write identical templates).
        context={
            **feature_flags(),
            "aws:cdk:enable-path-metadata": True,
            "aws:cdk:enable-asset-metadata": True,
        },
        analytics_reporting=False,
        stack_traces=False,
    )


def compose(
    app: cdk.App,
    settings: Settings,
    release_digest: str | None = None,
    hold_services: bool = False,
) -> dict[str, cdk.Stack]:
    """Add every stack for ``settings`` to ``app`` and attach the compliance gates."""
    context = StackContext.of(settings, ReleaseInputs(release_digest, hold_services))
    names = context.names
    global_ = GlobalStack(app, names.global_stack, context=context)
    dr = DrStack(app, names.dr_stack, context=context)
    registry = RegistryStack(app, names.registry_stack, context=context)
    registry.add_stack_dependency(dr, "the DR replica's creation template precedes any push")
    primary = PrimaryStack(app, names.primary_stack, context=context)
    primary.add_stack_dependency(registry, "its tasks run the image published into it")
    primary.add_stack_dependency(dr, "the primary replicates secrets, objects and backups into DR")
    primary.add_stack_dependency(global_, "the origin-verify secrets replicate into us-east-1")
    dr_database = DrDatabaseStack(app, names.dr_database_stack, context=context, dr=dr)
    dr_database.add_stack_dependency(primary, "the replica's source is the primary database")
    dr_app = DrAppStack(app, names.dr_app_stack, context=context, dr=dr, replica=dr_database)
    dr_app.add_stack_dependency(dr_database, "the DR tier points at the replica's endpoint")
    edge = EdgeStack(app, names.edge_stack, context=context, global_=global_)
    edge.add_stack_dependency(primary, "the origin-verify secrets and the PRIMARY origin")
    edge.add_stack_dependency(dr_app, "the SECONDARY origin exists before viewers arrive")
    stacks: dict[str, cdk.Stack] = {
        "global": global_,
        "dr": dr,
        "registry": registry,
        "primary": primary,
        "dr_database": dr_database,
        "dr_app": dr_app,
        "edge": edge,
    }
    if settings.pipeline.enabled:
        pipeline = PipelineStack(app, names.pipeline_stack, context=context, primary=primary)
        pipeline.add_stack_dependency(dr_app, "the DR services it deploys to exist first")
        stacks["pipeline"] = pipeline
    for key, value in (
        ("project", settings.project),
        ("environment", settings.environment),
        ("cost-centre", settings.cost_centre),
    ):
        cdk.Tags.of(app).add(key, value)
    add_nag_packs(app)
    return stacks


def main() -> None:
    """Entry point for ``cdk synth`` (``-c env=NAME`` picks config/NAME.yaml)."""
    app = new_app()
    env = app.node.try_get_context("env") or DEFAULT_ENV
    config_dir = Path(os.environ.get("CRM_PLATFORM_CONFIG_DIR", "config"))
    compose(
        app,
        load_settings(config_path(env, config_dir)),
        release_digest=app.node.try_get_context("release_digest"),
    )
    app.synth()


if __name__ == "__main__":
    main()
