"""The drill's report beyond its JSON: an HTML page of the modelled timelines.

The JSON (``DrillReport.to_json``) keeps everything per scenario: steps with modelled
and wall times, denied calls, checks, verdict, modelled RTO and RPO with their
breakdown. The HTML draws each scenario's modelled timeline as a Gantt chart with the
critical path marked (gantt.py), so a reader sees where the recovery time goes.
"""

from __future__ import annotations

from crm_platform.drill.gantt import Bar, Chart, render
from crm_platform.drill.run import DrillReport, ScenarioReport


def chart(scenario: ScenarioReport, objective_minutes: int) -> Chart:
    rto = scenario.rto or {}
    minutes = rto.get("minutes")
    summary = (
        f"RTO {minutes} min (objective {objective_minutes} min)"
        if minutes is not None
        else scenario.expected
    )
    bars = tuple(
        Bar(
            label=b["label"], start=max(0.0, b["start"]), end=max(b["start"], b["end"], 0.0),
            kind=b["kind"], status=str(b["status"]), critical=b["critical"], note=b["note"],
        )
        for b in scenario.bars
    )  # fmt: skip
    return Chart(
        title=f"{scenario.scenario} ({scenario.quantile})",
        verdict="PASS" if scenario.passed else "FAIL",
        summary=summary,
        bars=bars,
        objective=objective_minutes * 60.0 if minutes is not None else None,
    )


def html(report: DrillReport) -> str:
    charts = [chart(s, report.rto_objective_minutes) for s in report.scenarios]
    title = (
        f"Regional failover drill of {report.environment}: {'PASS' if report.passed else 'FAIL'}"
    )
    notes = [f"authorization model: {report.authorization}", *report.notes]
    return render(title, charts, notes)
