"""Release steps: ``release build`` and ``release migrate`` (what the pipeline's CodeBuild
projects run) and ``release status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm_platform.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    CommandError,
    Invocation,
    add_command,
    err,
    out,
)


def build(inv: Invocation) -> int:
    """In the pipeline's build step: publish the pinned release, scan gate, deploy files."""
    from crm_platform.release import operations
    from crm_platform.release.publish import PublishRefused
    from crm_platform.release.versions import UpgradeRefused

    try:
        operations.build(
            inv.settings, inv.names, inv.clients(), Path(inv.args.out), progress=err.print
        )
    except (PublishRefused, UpgradeRefused, operations.FailedOver) as e:
        raise CommandError(str(e), EXIT_FINDINGS, "refused") from None
    return EXIT_OK


def migrate(inv: Invocation) -> int:
    """In the pipeline's migrate step: snapshot, run the migration once, record it."""
    from crm_platform.release import operations
    from crm_platform.release.migration import MigrationFailed
    from crm_platform.release.record import Release
    from crm_platform.release.versions import UpgradeRefused

    release = Release.from_json(Path(inv.args.release).read_text())
    try:
        operations.migrate(inv.settings, inv.names, inv.clients(), release, progress=err.print)
    except (MigrationFailed, UpgradeRefused) as e:
        raise CommandError(str(e), EXIT_FINDINGS, "migration failed") from None
    return EXIT_OK


def status(inv: Invocation) -> int:
    """The schema's recorded release in both regions; non-zero if they disagree."""
    from crm_platform.release import record

    names, clients = inv.names, inv.clients()
    seen = {}
    for region in (names.primary_region, names.dr_region):
        found = record.read(clients("ssm", region), names.release_parameter)
        seen[region] = found
        text = (
            "none recorded"
            if found is None
            else f"{found.version} ({found.digest or 'no digest recorded'})"
        )
        out.print(f"{region}: {names.release_parameter} = {text}", highlight=False)
    out.print(f"configured twenty.version: {inv.settings.twenty.version}", highlight=False)
    return EXIT_OK if len(set(seen.values())) == 1 else EXIT_FINDINGS


def into_dr(inv: Invocation) -> int:
    """While DR serves: publish, gate, migrate and roll out ``twenty.version`` in DR only."""
    from crm_platform.release import into_dr as dr_release
    from crm_platform.release.migration import MigrationFailed
    from crm_platform.release.publish import PublishRefused
    from crm_platform.release.versions import UpgradeRefused

    try:
        plan = dr_release.plan(inv.settings, inv.names, inv.clients())
        for line in plan.lines():
            out.print(line, highlight=False)
        if not inv.args.execute:
            out.print("dry run: nothing changed (--execute to release into DR)", highlight=False)
            return EXIT_OK
        released = dr_release.execute(inv.settings, inv.names, inv.clients(), progress=err.print)
    except (dr_release.NotFailedOver, PublishRefused, UpgradeRefused, MigrationFailed) as e:
        raise CommandError(str(e), EXIT_FINDINGS, "refused") from None
    out.print(f"DR serves {released.version} ({released.digest})", highlight=False)
    return EXIT_OK


def register(commands: Any) -> None:
    release = commands.add_parser("release", help="release steps (the pipeline runs build/migrate)")
    actions = release.add_subparsers(dest="release_command", required=True, metavar="ACTION")
    building = add_command(
        actions, "build",
        "publish twenty.version into ECR once, gate it on its scan, write deploy files", build,
    )  # fmt: skip
    building.add_argument("--out", default="release", help="folder for the deploy files")
    migrating = add_command(
        actions, "migrate",
        "snapshot, run the release's migration as a one-off ECS task, record it", migrate,
    )  # fmt: skip
    migrating.add_argument("--release", required=True, help="release.json of the build step")
    add_command(actions, "status", "the schema's recorded release in both regions", status)
    fixing = add_command(
        actions, "into-dr",
        "while DR serves: publish, scan-gate, migrate and roll out twenty.version in DR only",
        into_dr, credentials=True,
    )  # fmt: skip
    fixing.add_argument("--execute", action="store_true", help="release (default: dry run)")
