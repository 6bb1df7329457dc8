"""Disaster recovery: ``switch``, ``failover``, ``restore``, ``drill``, ``dr status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm_platform.cli import render
from crm_platform.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    CommandError,
    Invocation,
    add_command,
    dry_run,
    err,
    out,
    refusing,
)
from crm_platform.drill.scenarios import DEFAULT, SCENARIOS  # plain data: no CDK for --help


def switch(inv: Invocation) -> int:
    """Show the switch, refuse an unsafe flip, flip it when ``--execute``."""
    from crm_platform.ops import switch as traffic

    names, clients, args = inv.names, inv.clients(), inv.args
    p = traffic.plan(names, args.to, clients)
    replica = {None: "missing", True: "read replica", False: "promoted (writable)"}
    out.print(
        f"traffic switch {names.switch_parameter} ({names.dr_region}): {p.current}; "
        f"DR database {names.db_replica}: {replica[p.dr_database_is_replica]}",
        highlight=False,
    )
    if not p.changes:
        out.print(f"already {p.wanted}: nothing to do")
        return EXIT_OK
    if not args.force:
        with refusing(traffic.SwitchRefused):
            traffic.check(p, names)
    if not args.execute:
        out.print(f"dry run: would switch {p.current} -> {p.wanted}; add --execute to do it")
        return EXIT_OK
    previous = traffic.execute(names, p, clients, force=args.force)
    out.print(
        f"switched {previous} -> {p.wanted}; Route 53 follows within about two minutes, "
        "plus the 60 s DNS TTL"
    )
    return EXIT_OK


def drill(inv: Invocation) -> int:
    from crm_platform.drill.durations import explain
    from crm_platform.drill.report import html
    from crm_platform.drill.run import run_drill
    from crm_platform.drill.scenarios import selected

    args = inv.args
    if args.explain:
        render.durations(explain(inv.settings.dr.detection_minutes))
        render.scenarios(SCENARIOS.values())
        return EXIT_OK
    if not args.local:
        return live_drill(inv)
    if args.execute or args.stop:
        raise CommandError("--execute and --stop are for the live drill (without --local)")
    names = inv.names
    outdir = inv.assembly()
    if outdir is None:
        return EXIT_FINDINGS
    chosen = selected(args.scenario)
    out.print(
        f"drill: regional failover of {names.prefix} in the AWS emulator: "
        + ", ".join(s.name for s in chosen),
        highlight=False,
    )
    report = run_drill(
        outdir, names, inv.settings, chosen, progress=err.print,
        on_step=render.drill_step if len(chosen) == 1 else lambda _s: None,
    )  # fmt: skip
    Path(args.report).write_text(report.to_json())
    Path(args.html).write_text(html(report))
    render.drill(report, detail=len(chosen) == 1)
    out.print(f"report written to {args.report} and {args.html}", highlight=False)
    return EXIT_OK if report.passed else EXIT_FINDINGS


def live_drill(inv: Invocation) -> int:
    """``drill --env NAME``: the live drill's dry run; ``--execute`` runs it behind its
    guard rails, ``--stop`` stops it (ops/live_drill.py)."""
    import time

    from crm_platform.ops import live_drill as live

    args, names = inv.args, inv.names
    state_dir = Path(args.state_dir)
    with refusing(live.DrillRefused, unchanged="nothing was changed by this command"):
        live.refuse_production(names, production_ok=args.i_know_this_is_production)
        inv.require_credentials()
        clients = inv.clients()
        if args.stop:
            stopped = live.request_stop(state_dir, names, clients, time.time())
            out.print(
                f"stop recorded; stopped {', '.join(stopped) or 'no running failover'}. "
                f"Resume with crm-platform failover --env {names.environment} --execute, "
                "then crm-platform failback",
                highlight=False,
            )
            return EXIT_OK
        regions = live.check_account_and_regions(names, clients)
        live.check_serving_from_primary(names, clients)
        plan = live.LivePlan.of(names)
        for phase, steps in plan.phases:
            render.failover_plan(f"live drill of {names.prefix}: {phase}", [(s, "") for s in steps])
        if not args.execute:
            live.record_dry_run(state_dir, names, plan, time.time())
            out.print(
                f"dry run: nothing was changed (account {names.account}, regions "
                f"{', '.join(regions)}); --execute within {live.DRY_RUN_MINUTES} minutes runs it",
                highlight=False,
            )
            return EXIT_OK
        from crm_platform.ops.failback import for_live_drill

        report = live.execute(
            names, clients, plan, state_dir=state_dir, regions=regions,
            modelled=live.modelled_from(Path(args.report)), progress=err.print,
            failback=for_live_drill(inv.settings),
        )  # fmt: skip
    Path(args.live_report).write_text(report.to_json())
    out.print(f"live drill {report.outcome}; report {args.live_report}", highlight=False)
    for line in report.next:
        out.print(f"  next: {line}", highlight=False)
    return EXIT_OK if report.outcome == "completed" else EXIT_FINDINGS


def _readiness(inv: Invocation) -> Any:
    from crm_platform.ops.dr_status import readiness

    return readiness(
        inv.names,
        inv.clients(),
        rpo_seconds=inv.settings.dr.rpo_seconds,
        drill_report=Path(inv.args.report),
    )


def failover(inv: Invocation) -> int:
    from crm_platform.ops import failover as run

    names, clients, args = inv.names, inv.clients(), inv.args
    if args.approve:
        run.approve(names, clients, args.approve)
        out.print("approved: the failover continues")
        return EXIT_OK
    render.status(_readiness(inv))
    render.failover_plan(
        f"What a failover of {names.prefix} does, from {names.dr_region}", run.plan_lines()
    )
    if not args.execute:
        return dry_run("start the failover")
    started = run.start(names, clients, force=args.force)
    out.print(
        f"{started.how} incident {started.incident} (execution {started.execution}) in "
        f"{names.dr_region}; following it (Ctrl-C stops following, not the failover)",
        highlight=False,
    )
    status = run.follow(names, clients, started, render.failover_step)
    out.print(f"{started.execution}: {status}", highlight=False)
    return EXIT_OK if status == "SUCCEEDED" else EXIT_FINDINGS


def restore(inv: Invocation) -> int:
    """Plan the restore (dry run); ``--execute`` restores, validates and puts the restored
    instance into service (ops/restore_service.py), resumable."""
    from crm_platform.ops import restore as run
    from crm_platform.ops import restore_service
    from crm_platform.ops.restore_points import RestoreRefused

    names, clients, args, settings = inv.names, inv.clients(), inv.args, inv.settings
    region = names.primary_region if args.region == "primary" else names.dr_region
    with refusing(RestoreRefused, unchanged="nothing was created"):
        p = run.plan(
            names, clients, point=args.point, region=region,
            retention_days=settings.backup.retention_days,
            multi_az=settings.database.multi_az if args.region == "primary" else False,
        )  # fmt: skip
    render.restore_plan(f"Restore of {names.prefix}'s database in {region}", p.lines())
    render.failover_plan(
        f"Then, into service in {region}", restore_service.plan_lines(names, region)
    )
    if not args.execute:
        return dry_run("restore")
    result = restore_service.execute(
        names, settings, clients, p, progress=render.drill_step
    )  # fmt: skip
    failed = result.failed_step
    if failed is not None:
        render.refusal(f"{failed.name} failed", failed.detail.get("message", failed.detail))
        out.print("run the same command again to resume", highlight=False)
        return EXIT_FINDINGS
    serving = next(s for s in result.steps if s.name == "take_serving_name").detail
    out.print(
        f"restored from {p.spec.describe()} and serving as {serving.get('serving')} "
        f"({serving.get('endpoint')})",
        highlight=False,
    )
    last = next(s for s in result.steps if s.name == "report").detail
    render.commands("still to do:", [f"- {line}" for line in last.get("attention", [])])
    return EXIT_OK


def status(inv: Invocation) -> int:
    from crm_platform.ops import drift

    readiness = _readiness(inv)
    render.status(readiness)
    found = drift.safely(inv.names, inv.settings, inv.clients())
    render.drift(found)
    return EXIT_OK if readiness.ready and not found else EXIT_FINDINGS


def register(commands: Any) -> None:
    flip = add_command(
        commands, "switch",
        "show or flip the traffic switch in the DR region (dry run by default)", switch,
        out=True, credentials=True,
    )  # fmt: skip
    flip.add_argument("--to", required=True, choices=["primary", "dr"], help="send traffic here")
    flip.add_argument("--execute", action="store_true", help="really flip it")
    flip.add_argument(
        "--force", action="store_true", help="skip the database-state safety check (drills)"
    )
    rehearse = add_command(
        commands, "drill",
        "rehearse a regional failover in the AWS emulator (--local, offline), or live "
        "against a staging account (dry run by default); writes a report", drill,
        out=True,
    )  # fmt: skip
    rehearse.add_argument("--local", action="store_true", help="against the local emulator")
    rehearse.add_argument(
        "--execute", action="store_true",
        help="live: run failover then failback (after a dry run of the same plan)",
    )  # fmt: skip
    rehearse.add_argument(
        "--stop", action="store_true", help="live: stop the running drill where it stands"
    )
    rehearse.add_argument(
        "--i-know-this-is-production", action="store_true",
        help="live: allow a drill of the prod environment",
    )  # fmt: skip
    rehearse.add_argument(
        "--state-dir", default=".crm-platform/live-drill",
        help="live: where the dry run and a stop request are recorded",
    )  # fmt: skip
    rehearse.add_argument(
        "--live-report", default="live-drill-report.json",
        help="live: measured step times next to the modelled ones (JSON)",
    )  # fmt: skip
    rehearse.add_argument(
        "--scenario",
        choices=[*SCENARIOS, "all"],
        default=DEFAULT,
        help=f"what goes wrong (default {DEFAULT}); all: each on a fresh emulator",
    )
    rehearse.add_argument(
        "--explain", action="store_true",
        help="show the modelled durations (with sources) and the scenarios; run nothing",
    )  # fmt: skip
    rehearse.add_argument(
        "--report", default="drill-report.json", help="where to write the report (JSON)"
    )
    rehearse.add_argument(
        "--html", default="drill-report.html", help="where to write the timelines (HTML)"
    )
    fail = add_command(
        commands, "failover",
        "plan (dry run) or --execute the regional failover from the DR region", failover,
        out=True, credentials=True,
    )  # fmt: skip
    fail.add_argument("--execute", action="store_true", help="start it (default: dry run)")
    fail.add_argument(
        "--force",
        action="store_true",
        help="fail over although the primary does not look impaired from DR",
    )
    fail.add_argument("--approve", metavar="TOKEN", help="approve an automatic failover")
    fail.add_argument("--report", default="drill-report.json", help="the last drill's report")
    back = add_command(
        commands, "restore",
        "restore the database from a backup into a new instance (dry run by default)", restore,
        credentials=True,
    )  # fmt: skip
    back.add_argument(
        "--point", required=True,
        help="latest | an ISO time with a zone (point in time, primary only) | snapshot:NAME",
    )  # fmt: skip
    back.add_argument(
        "--region", choices=["primary", "dr"], default="primary",
        help="whose vault, and where the new instance goes (default primary)",
    )  # fmt: skip
    back.add_argument("--execute", action="store_true", help="restore (default: dry run)")
    dr = commands.add_parser("dr", help="disaster-recovery status")
    actions = dr.add_subparsers(dest="dr_command", required=True, metavar="ACTION")
    ready = add_command(
        actions, "status", "is DR ready? non-zero when it is not", status, credentials=True
    )
    ready.add_argument("--report", default="drill-report.json", help="the last drill's report")
