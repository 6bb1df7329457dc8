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

from typing import Any

import pytest

from crm_platform.drill.run import DrillReport, ScenarioReport, run_drill
from crm_platform.drill.scenarios import SCENARIOS, selected
from crm_platform.failover.runtime import failback, steps
from crm_platform.naming import Names
from crm_platform.settings import Settings
from tests.conftest import Assembly
from tests.sabotage import each_step_removed, no_effect

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


def test_the_sequence_returns_the_platform_to_its_templates(enforced: DrillReport) -> None:
    """Read from the operator's run above: with every call authorized (no denial), the run
    without the authorization model would make the same calls and reach the same state."""
    assert [s.scenario.rsplit(": ", 1)[1] for s in enforced.scenarios] == [
        "failover",
        "failback",
        "restore-latest",
    ]
    for s in enforced.scenarios:
        assert s.passed, (s.scenario, failing(s))
        assert s.denied == [], s.scenario
    back = part(enforced, "failback")
    assert back.drift == []
    assert [s["name"] for s in back.steps] == [s.name for s in failback.FAILBACK_STEPS]
    by_name = {s["name"]: s for s in back.steps}
    # modelled time: the replica's creation and catch-up, then the gate after the stop
    assert by_name["wait_caught_up"]["end"] >= 1800
    assert by_name["wait_zero_lag"]["start"] >= by_name["stop_writes"]["end"]
    assert back.rpo is not None and back.rpo["seconds"] == 0.0


SABOTAGED = [s.name for s in failback.FAILBACK_STEPS]


@pytest.fixture(scope="module")
def sabotaged(assembly: Assembly, prod_settings: Settings) -> dict[str, DrillReport]:
    """The failback scenario with each step's effect removed in turn (tests/sabotage.py:
    one run, forked where each step is first called)."""

    def run(step_list: tuple[steps.Step, ...]) -> DrillReport:
        return drill(
            assembly, prod_settings, "failback", enforce_authorization=False,
            failback_steps=step_list,
        )  # fmt: skip

    return each_step_removed(run, failback.FAILBACK_STEPS, SABOTAGED)


@pytest.mark.parametrize("disabled", SABOTAGED)
def test_removing_a_failback_steps_effect_turns_the_verdict_to_fail(
    disabled: str, sabotaged: dict[str, DrillReport]
) -> None:
    back = part(sabotaged[disabled], "failback")
    assert not back.passed
    named = [c for c in back.checks if c["step"] == disabled]
    assert named and not all(c["ok"] for c in named), failing(back)


def test_a_forked_sabotage_is_the_run_from_scratch(
    assembly: Assembly, prod_settings: Settings, sabotaged: dict[str, DrillReport]
) -> None:
    """The fork (tests/sabotage.py) changes nothing the sabotage tests read: the same
    step, removed in a run from the start, ends with the same verdict, the same checks
    and the same step outcomes."""
    disabled = "copy_attachments"
    step_list = tuple(no_effect(s) if s.name == disabled else s for s in failback.FAILBACK_STEPS)
    scratch = part(
        drill(
            assembly, prod_settings, "failback", enforce_authorization=False,
            failback_steps=step_list,
        ),
        "failback",
    )  # fmt: skip
    forked = part(sabotaged[disabled], "failback")
    assert (forked.passed, forked.checks) == (scratch.passed, scratch.checks)
    assert [(s["name"], s["status"], s["start"], s["end"]) for s in forked.steps] == [
        (s["name"], s["status"], s["start"], s["end"]) for s in scratch.steps
    ]
