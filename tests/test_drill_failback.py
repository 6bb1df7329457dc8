"""The drill's way back (drill/failback.py): a regional-outage failover, the primary's
return, ``failback --execute`` as the operator role, and the failover -> failback ->
restore sequence on one emulator.

The drill first found two gaps that tests/test_failback.py (which stood in for the queue
purge) never saw: the original region had no jobs task definition, and the operator role
could neither run it nor pass its roles. Both are closed (docs/adr/0046); the sequence
now passes with every call decided by the authorization model. Removing any step's
effect turns the verdict to FAIL.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from crm_platform.drill.run import DrillReport, ScenarioReport, run_drill
from crm_platform.drill.scenarios import SCENARIOS, selected
from crm_platform.failover.runtime import failback, steps
from crm_platform.naming import Names
from crm_platform.settings import Settings
from tests.conftest import Assembly

pytestmark = pytest.mark.slow


def drill(assembly: Assembly, settings: Settings, *names: str, **kwargs: Any) -> DrillReport:
    return run_drill(
        assembly.outdir, Names.of(settings), settings, [SCENARIOS[n] for n in names], **kwargs
    )


def failing(s: ScenarioReport) -> list[str]:
    return [f"{c['name']}: {c['observed']}" for c in s.checks if not c["ok"]]


def part(report: DrillReport, suffix: str) -> ScenarioReport:
    return next(s for s in report.scenarios if s.scenario.endswith(f": {suffix}"))


def test_all_runs_the_sequence_not_the_failback_scenario_twice() -> None:
    chosen = [s.name for s in selected("all")]
    assert "failover-failback-restore" in chosen and "failback" not in chosen
    assert {"regional-outage", "restore-latest", "restore-point-in-time"} <= set(chosen)


@pytest.fixture(scope="module")
def enforced(assembly: Assembly, prod_settings: Settings) -> DrillReport:
    return drill(assembly, prod_settings, "failover-failback-restore")


def test_as_the_operator_the_sequence_passes_with_every_call_authorized(
    enforced: DrillReport,
) -> None:
    for name in ("failover", "failback", "restore-latest"):
        scenario = part(enforced, name)
        assert scenario.passed, (name, failing(scenario))
    back = part(enforced, "failback")
    assert back.denied == []
    assert [s["name"] for s in back.steps if s["status"] == "done"] == [
        s.name for s in failback.FAILBACK_STEPS
    ]
    assert all(c["ok"] for c in back.checks), failing(back)
    assert back.drift == []
    assert any(n.startswith("failback:") for n in enforced.notes)


def test_the_sequence_returns_the_platform_to_its_templates(
    assembly: Assembly, prod_settings: Settings
) -> None:
    report = drill(
        assembly, prod_settings, "failover-failback-restore", enforce_authorization=False
    )
    assert [s.scenario.rsplit(": ", 1)[1] for s in report.scenarios] == [
        "failover",
        "failback",
        "restore-latest",
    ]
    for s in report.scenarios:
        assert s.passed, (s.scenario, failing(s))
    back = part(report, "failback")
    assert back.drift == []
    assert [s["name"] for s in back.steps] == [s.name for s in failback.FAILBACK_STEPS]
    by_name = {s["name"]: s for s in back.steps}
    # modelled time: the replica's creation and catch-up, then the gate after the stop
    assert by_name["wait_caught_up"]["end"] >= 1800
    assert by_name["wait_zero_lag"]["start"] >= by_name["stop_writes"]["end"]
    assert back.rpo is not None and back.rpo["seconds"] == 0.0


def _no_effect(step: steps.Step) -> steps.Step:
    return replace(step, run=lambda _ctx: steps.Outcome(True, {}), poll=False)


SABOTAGED = [s.name for s in failback.FAILBACK_STEPS]


@pytest.mark.parametrize("disabled", SABOTAGED)
def test_removing_a_failback_steps_effect_turns_the_verdict_to_fail(
    disabled: str, assembly: Assembly, prod_settings: Settings
) -> None:
    sabotaged = tuple(_no_effect(s) if s.name == disabled else s for s in failback.FAILBACK_STEPS)
    report = drill(
        assembly, prod_settings, "failback", enforce_authorization=False, failback_steps=sabotaged
    )
    back = part(report, "failback")
    assert not back.passed
    named = [c for c in back.checks if c["step"] == disabled]
    assert named and not all(c["ok"] for c in named), failing(back)
