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


def drill(report: Any) -> None:
    start = min((r["started_at"] for r in report.timeline if r["started_at"]), default=0.0)
    table = Table(title=f"Timeline of {report.run} (emulated clock)")
    for column in ("step", "status", "start", "end", "attempts"):
        table.add_column(column)
    for row in report.timeline:

        def at(v: float | None) -> str:
            return f"+{v - start:.0f}s" if v is not None else "-"

        table.add_row(row["step"], row["status"], at(row["started_at"]), at(row["ended_at"]),
                      str(row["attempts"]))  # fmt: skip
    out.print(table)
    checks = Table(title="End state, from the emulator's answers")
    for column in ("check", "result", "observed"):
        checks.add_column(column)
    for c in report.checks:
        checks.add_row(c["name"], "pass" if c["ok"] else "[red]FAIL[/red]", str(c["observed"])[:60])
    out.print(checks)
    not_emulated = [s for s in report.steps if s["status"] == "not emulated"]
    for s in not_emulated:
        out.print(f"  not emulated: {s['name']}: {s['note']}", highlight=False)
    for note in report.notes:
        out.print(f"  emulator: {note}", highlight=False)
    verdict = "[green]PASS[/green]" if report.passed else "[red]FAIL[/red]"
    out.print(
        f"verdict: {verdict}: {sum(c['ok'] for c in report.checks)}/{len(report.checks)} checks, "
        f"{len(not_emulated)} step(s) not emulated, {report.seconds:.1f} s"
    )


def status(status: Status) -> None:
    table = Table(title="DR readiness")
    for column in ("", "what", "now"):
        table.add_column(column)
    for line in status.lines:
        mark = {True: "[green]ok[/green]", False: "[red]FAIL[/red]", None: ""}[line.ok]
        table.add_row(mark, line.what, line.value)
    out.print(table)


def failover_plan(title: str, lines: Sequence[tuple[str, str]]) -> None:
    table = Table(title=title)
    table.add_column("step")
    table.add_column("what")
    for name, summary in lines:
        table.add_row(name, summary)
    out.print(table)


def failover_step(row: dict[str, Any]) -> None:
    detail = json.dumps(row["detail"])[:120]
    out.print(f"  {row['status']:<8} {row['step']} {detail}", highlight=False)
