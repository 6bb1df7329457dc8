"""Everything the commands print: tables and one-line verdicts, readable in 80 columns.

The commands decide; this module only shows. Each function takes what an operation
returned and prints it to the shared consoles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from crm_platform.cli.common import err, out

if TYPE_CHECKING:
    from crm_platform.cost.estimate import Report
    from crm_platform.cost.estimate.pricing import Estimate
    from crm_platform.loadtest.session import Report as LoadTestReport
    from crm_platform.ops.dr_status import Status
    from crm_platform.ops.preflight import Check as PreflightCheck
    from crm_platform.toolchain.checks import CheckResult
    from crm_platform.toolchain.synth import SynthResult


def synth(result: SynthResult, elapsed: float) -> None:
    if not result.ok:
        out.print(
            f"[red]{len(result.findings)} unacknowledged finding(s); nothing was written[/red]"
        )
        for f in result.findings:
            out.print(
                f"  {f.rule}  {f.path}\n      {f.description}", highlight=False, soft_wrap=True
            )
        return
    table = Table(title=f"Assembly in {result.outdir} ({elapsed:.1f} s)")
    for column in ("stack", "region", "resources", "nag findings", "acknowledged"):
        table.add_column(column, justify="left" if column == "stack" else "right", no_wrap=True)
    for s in result.stacks:
        table.add_row(s.name, s.region, str(s.resources), "0", str(s.acknowledged))
    out.print(table)


def gates(result: SynthResult, checks: Sequence[CheckResult]) -> None:
    summary = Table(title="Gates")
    for column in ("gate", "passed", "skipped with reason", "unexplained findings"):
        summary.add_column(column)
    summary.add_row(
        "cdk-nag (AwsSolutions, NIST 800-53 r5) + CDK validation",
        "all stacks",
        str(sum(s.acknowledged for s in result.stacks)),
        "0",
    )
    for c in checks:
        summary.add_row(
            c.tool, f"{c.passed} {c.unit}", str(c.skipped + len(c.ignored)), str(len(c.findings))
        )
    out.print(summary)
    for c in checks:
        for rule, reason in c.ignored.items():
            out.print(f"  {c.tool} ignores {rule}: {reason}")
        for f in c.findings:
            out.print(f"  [red]{f.tool} {f.rule}[/red] {f.location}: {f.message}")


def preflight(checks: Sequence[PreflightCheck]) -> None:
    for c in checks:
        mark = "[green]ok[/green]  " if c.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {c.region}: {c.what}: {c.message}", highlight=False, soft_wrap=True)


def refusal(label: str, message: object) -> None:
    err.print(f"[red]{label}:[/red] {message}", highlight=False, soft_wrap=True)


def drill_step(step: Any) -> None:
    marks = {"done": "[green]done[/green]", "failed": "[red]FAILED[/red]"}
    mark = marks.get(step.status, f"[yellow]{step.status}[/yellow]")
    note = f" ({step.note})" if step.note else ""
    out.print(f"  {mark:<22} {step.name}{note}", highlight=False)


def _clock(seconds: float | None) -> str:
    """Modelled time since the outage began, as m:ss."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    return f"{sign}{whole // 60}:{whole % 60:02d}"


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} min"


def drill(report: Any, *, detail: bool) -> None:
    """One table of scenarios; with ``detail``, each run's modelled timeline too."""
    if detail:
        for scenario in report.scenarios:
            table = Table(title=f"{scenario.scenario} ({scenario.quantile}), modelled time")
            for column in ("step", "status", "start", "end", "tries"):
                table.add_column(column, no_wrap=column != "step")
            for step in scenario.steps:
                status = step["status"] + (
                    " (modelled)" if step["modelled"] and step["status"] == "done" else ""
                )
                table.add_row(
                    step["name"],
                    status,
                    _clock(step["start"]),
                    _clock(step["end"]),
                    str(step["attempts"]),
                )
            out.print(table)
    summary = Table(title=f"Drill of {report.environment} (authorization {report.authorization})")
    for column in ("scenario", "at", "verdict", "RTO"):
        summary.add_column(column, no_wrap=True)
    for s in report.scenarios:
        rto = (s.rto or {}).get("minutes")
        verdict = "[green]PASS[/green]" if s.passed else "[red]FAIL[/red]"
        summary.add_row(s.scenario, s.quantile, verdict, _minutes(rto))
    out.print(summary)
    for s in report.scenarios:
        if s.passed:
            continue
        out.print(f"{s.scenario} ({s.quantile}): expected: {s.expected}", highlight=False)
        stopped = any(c["name"] == "the failover completed" and not c["ok"] for c in s.checks)
        shown = [c for c in s.checks if not c["ok"] and (c["step"] == "-" or not stopped)]
        for c in shown:
            out.print(f"  [red]FAIL[/red] {c['name']}: {str(c['observed'])[:160]}", highlight=False)
        hidden = sum(1 for c in s.checks if not c["ok"]) - len(shown)
        if hidden:
            out.print(
                f"  ({hidden} checks of steps the run never reached also fail)", highlight=False
            )
        for d in s.denied[:5]:
            out.print(
                f"  [red]DENIED[/red] {d['principal']}: {d['call']}: {d['missing'][0]}",
                highlight=False,
            )
        if len(s.denied) > 5:
            out.print(f"  ... {len(s.denied) - 5} more denied calls in the report", highlight=False)
    reference = next((s for s in report.scenarios if s.rpo and s.rto), None)
    if reference is not None and reference.rpo is not None:
        out.print(
            f"recovery point: {reference.rpo['seconds']:g} s of writes at risk "
            f"({reference.rpo['reading']})",
            highlight=False,
        )
    if reference is not None and reference.rto is not None:
        parts = ", ".join(f"{k} {v} min" for k, v in reference.rto["breakdown"].items())
        out.print(f"recovery time (p50) = {parts}", highlight=False)
    passed = sum(s.passed for s in report.scenarios)
    verdict = "[green]PASS[/green]" if report.passed else "[red]FAIL[/red]"
    out.print(
        f"verdict: {verdict}: {passed}/{len(report.scenarios)} scenario runs pass; modelled "
        f"RTO p50 {_minutes(report.rto('p50'))}, p95 {_minutes(report.rto('p95'))} "
        f"(objective {report.rto_objective_minutes} min); {report.seconds:.1f} s",
        highlight=False,
    )


def durations(rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    """The modelled durations and their sources (``drill --explain``)."""
    for name, what, p50, p95, source in rows:
        out.print(f"[bold]{name}[/bold]: p50 {p50}, p95 {p95}: {what}", highlight=False)
        out.print(f"    source: {source}", highlight=False)


def scenarios(found: Any) -> None:
    for s in found:
        out.print(
            f"[bold]{s.name}[/bold]: {s.summary}; expected: {s.describe_expected()}",
            highlight=False,
        )


def status(status: Status) -> None:
    table = Table(title="DR readiness")
    for column in ("", "what", "now"):
        table.add_column(column)
    for line in status.lines:
        mark = {True: "[green]ok[/green]", False: "[red]FAIL[/red]", None: ""}[line.ok]
        table.add_row(mark, line.what, line.value)
    out.print(table)


def drift(found: list[Any] | str) -> None:
    """What differs from the templates, with the command that puts it back (ops/drift.py)."""
    if isinstance(found, str):
        out.print(f"[red]drift from the templates: {found}[/red]")
        return
    if not found:
        out.print("no drift from the templates")
        return
    table = Table(title="Drift from the templates (a deploy does not undo it)")
    for column in ("what", "template", "now", "reconcile with"):
        table.add_column(column)
    for d in found:
        table.add_row(d.what, d.expected, d.found, d.reconcile)
    out.print(table)


def failover_plan(title: str, lines: Sequence[tuple[str, str]]) -> None:
    table = Table(title=title)
    table.add_column("step")
    table.add_column("what")
    for name, summary in lines:
        table.add_row(name, summary)
    out.print(table)


def restore_plan(title: str, lines: Sequence[tuple[str, str]]) -> None:
    table = Table(title=title)
    table.add_column("")
    table.add_column("")
    for what, value in lines:
        table.add_row(what, value)
    out.print(table)


def commands(title: str, lines: Sequence[str]) -> None:
    out.print(title, highlight=False)
    for line in lines:
        out.print(f"  {line}", highlight=False, soft_wrap=True)


def failover_step(row: dict[str, Any]) -> None:
    detail = json.dumps(row["detail"])[:120]
    out.print(f"  {row['status']:<8} {row['step']} {detail}", highlight=False)


def as_json(data: object) -> None:
    """Plain JSON on stdout (nothing else is printed there)."""
    print(json.dumps(data, indent=2))


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _estimate(e: Estimate, *, lines: bool) -> None:
    table = Table(title=f"{e.name}: USD per month by resource type ({e.table})")
    for column in ("type", "lines", "USD", "unverified"):
        table.add_column(column, justify="left" if column == "type" else "right")
    counts: dict[str, int] = {}
    unverified: dict[str, float] = {}
    for p in e.priced:
        counts[p.line.kind] = counts.get(p.line.kind, 0) + 1
        if not p.price.verified:
            unverified[p.line.kind] = unverified.get(p.line.kind, 0) + p.usd
    for kind, usd in e.by("kind").items():
        table.add_row(kind, str(counts[kind]), _usd(usd), _usd(unverified.get(kind, 0)))
    table.add_row("[bold]total[/bold]", str(len(e.priced)), f"[bold]{_usd(e.total)}[/bold]",
                  _usd(e.unverified_usd))  # fmt: skip
    out.print(table)
    if lines:
        detail = Table(title=f"{e.name}: every priced line")
        for column in ("stack", "resource", "what", "quantity", "unit", "USD", ""):
            detail.add_column(column)
        for p in sorted(e.priced, key=lambda p: -p.usd):
            mark = "" if p.price.verified else "unverified"
            quantity = f"{p.line.quantity:,.3f}"
            detail.add_row(
                p.line.stack,
                p.line.resource,
                p.line.what,
                quantity,
                p.price.unit,
                _usd(p.usd),
                mark,
            )
        out.print(detail)
    for x in e.missing:
        out.print(f"[red]no price[/red] {x.key} in {x.region}: {x.resource}", highlight=False)
    for u in e.unpriced:
        out.print(f"not priced: {u.kind} {u.resource} ({u.stack}): {u.reason}", highlight=False)
    if e.unverified_usd:
        out.print(
            f"unverified: {_usd(e.unverified_usd)} of {_usd(e.total)} USD comes from prices not "
            "read from an AWS price page here (refresh before budgeting)",
            highlight=False,
        )


def cost(report: Report, *, lines: bool = False) -> None:
    """The estimate, the original design and the ratio, the what-if table."""
    e = report.estimate
    for note in report.notes:
        out.print(note, highlight=False)
    _estimate(e, lines=lines)
    stacks = ", ".join(f"{k} {_usd(v)}" for k, v in e.by("stack").items())
    out.print(f"by stack: {stacks}", highlight=False, soft_wrap=True)
    converted = report.in_budget_currency(e.total)
    if converted is not None and report.currency != "USD":
        out.print(
            f"{report.environment} ({report.posture}): {_usd(e.total)} USD per month = "
            f"{converted:,.0f} {report.currency} at {report.rate_per_usd:g} {report.currency}/USD "
            f"(budget {report.budget_limit:,.0f} {report.currency})",
            highlight=False,
        )
    if report.seed is not None:
        _estimate(report.seed, lines=lines)
        for gap in report.seed_gaps:
            out.print(f"seed, not priced: {gap.what}: {gap.why}", highlight=False)
        ratio = report.ratio or 0
        mark = "[green]within[/green]" if ratio <= 1.5 else "[red]over[/red]"
        out.print(
            f"ratio: {_usd(e.total)} / {_usd(report.seed.total)} = {ratio:.2f}x the original "
            f"design ({mark} the 1.5x target)",
            highlight=False,
        )
    table = Table(title="What if (each row changes only its choice)")
    for column in ("choice", "USD/month", "change", "built", "gives up"):
        table.add_column(column, justify="right" if column in ("USD/month", "change") else "left")
    for row in report.rows:
        change = "not priced" if row.delta is None else f"{row.delta:+,.2f}"
        table.add_row(row.choice.name, _usd(row.total), change,
                      "yes" if row.choice.built else "[yellow]not built[/yellow]",
                      row.choice.gives_up)  # fmt: skip
    out.print(table)
    if report.cheapest is not None:
        c = report.cheapest
        taken = "; ".join(c.rows) or "nothing (already within)"
        verdict = "meets" if c.met else "does not meet"
        out.print(
            f"cheapest configuration that {verdict} 1.5x: {taken} -> {_usd(c.total)} USD "
            f"({c.ratio:.2f}x)",
            highlight=False,
            soft_wrap=True,
        )


def _ms(value: float) -> str:
    return f"{value:.0f}"


def loadtest(report: LoadTestReport) -> None:
    """Requests/s, p50/p95/p99 and errors by endpoint, the verdict and the capacity."""
    plan = report.plan
    table = Table(
        title=f"Load test of {plan.url}: {plan.users} users, {plan.duration_seconds} s"
        + (" (PRODUCTION)" if report.production else "")
    )
    for column in ("request", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for row in (*report.endpoints, report.total):
        table.add_row(
            row.name if row is not report.total else "all requests",
            str(row.requests),
            f"{row.requests_per_second:.2f}",
            _ms(row.p50_ms),
            _ms(row.p95_ms),
            _ms(row.p99_ms),
            f"{row.failures} ({row.error_percent:.1f}%)",
        )
    out.print(table)
    t = report.thresholds
    if report.verdict.passed:
        out.print(
            f"[green]passed[/green]: p95 {report.total.p95_ms:.0f} ms <= {t.p95_ms:.0f} ms, "
            f"errors {report.total.error_percent:.2f}% <= {t.max_error_rate_percent:g}%"
        )
    else:
        out.print("[red]failed[/red]: " + "; ".join(report.verdict.reasons))
    c = report.capacity
    if c.per_task_per_minute is None:
        out.print(
            f"capacity: no sample stayed at or under p95 {t.p95_ms:.0f} ms; no "
            "requests_per_task_per_minute can be derived from this run"
        )
    else:
        out.print(
            f"capacity: {c.sustained_requests_per_second:.2f} req/s sustained at p95 <= "
            f"{t.p95_ms:.0f} ms over {c.tasks} server task(s) = {c.per_task_per_minute:.0f} "
            f"requests per task per minute; at {c.target_utilization:.0%} of it, set "
            f"compute.requests_per_task_per_minute: {c.requests_per_task_per_minute}"
            + (
                ""
                if c.threshold_reached
                else " (a lower bound: p95 never reached the threshold; add users)"
            ),
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"report: {plan.html}, CSV: {plan.prefix}_stats.csv, _stats_history.csv, "
        "_failures.csv, _exceptions.csv",
        highlight=False,
    )
