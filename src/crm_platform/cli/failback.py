"""``crm-platform failback``: plan (dry run) or run the way back to the original region."""

from __future__ import annotations

from typing import Any

from crm_platform.cli import render
from crm_platform.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    Invocation,
    add_command,
    dry_run,
    out,
    refusing,
)


def failback(inv: Invocation) -> int:
    """The plan and the incident it starts or resumes; ``--execute`` runs it, as the
    operator role (ops/failback.py), printing each step as it ends."""
    from crm_platform.ops import failback as run

    names, clients, args = inv.names, inv.clients(), inv.args
    with refusing(run.NotFailedOver, unchanged="nothing was changed"):
        p = run.plan(names, inv.settings, clients)
    render.failover_plan(
        f"Failback of {names.prefix} to {names.primary_region} ({p.how} incident {p.incident})",
        p.lines(),
    )
    if not args.execute:
        return dry_run(
            "run it (refused while the original region fails its probes, unless --force)"
        )
    report = run.execute(names, clients, p, force=args.force, progress=render.drill_step)
    failed = report.failed_step
    if failed is not None:
        message = failed.detail.get("message", failed.detail.get("error", ""))
        render.refusal("stopped", f"{failed.name}: {message}")
        out.print(
            f"run crm-platform failback --env {names.environment} --execute again to resume "
            f"incident {p.incident}",
            highlight=False,
        )
        return EXIT_FINDINGS
    out.print(f"failed back: incident {p.incident}; check with crm-platform dr status",
              highlight=False)  # fmt: skip
    return EXIT_OK


def register(commands: Any) -> None:
    back = add_command(
        commands, "failback",
        "plan (dry run) or --execute the way back to the original region, resumable",
        failback, credentials=True,
    )  # fmt: skip
    back.add_argument("--execute", action="store_true", help="run it (default: dry run)")
    back.add_argument(
        "--force",
        action="store_true",
        help="fail back although the original region still fails its probes",
    )
