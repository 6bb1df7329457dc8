"""The drill's way back (drill/failback.py): a regional-outage failover, the primary's
return, ``failback --execute`` as the operator role, and the failover -> failback ->
restore sequence on one emulator.

Two gaps in failback stop it at ``purge_queues`` in the drill (tests/test_failback.py
stands in for that step, so it never saw them): the original region has no jobs task
definition (the primary tier defines none; ``jobs_family`` exists only in DR), and the
operator role may not run it or pass its roles. The first test pins that finding. The
others stand the primary's jobs task definition up (what the fix adds) and run without the
authorization model (as the restore sabotage does), to prove every later step's check:
removing a step's effect turns the verdict to FAIL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from crm_platform.drill import failback as failback_drill
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


@pytest.fixture
def primary_jobs_task() -> Iterator[None]:
    """The original region with a jobs task definition, as the fix would deploy it."""
    original = failback_drill.FailbackRehearsal.stand_up

    def stand_up(self: failback_drill.FailbackRehearsal) -> None:
        original(self)
        self.world.raw("ecs", self.primary).register_task_definition(
            family=self.names.task_family("jobs"),
            containerDefinitions=[{"name": "jobs", "image": "twenty", "memory": 512}],
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
        )

    failback_drill.FailbackRehearsal.stand_up = stand_up  # type: ignore[method-assign]
    try:
        yield
    finally:
        failback_drill.FailbackRehearsal.stand_up = original  # type: ignore[method-assign]


def test_all_runs_the_sequence_not_the_failback_scenario_twice() -> None:
    chosen = [s.name for s in selected("all")]
    assert "failover-failback-restore" in chosen and "failback" not in chosen
    assert {"regional-outage", "restore-latest", "restore-point-in-time"} <= set(chosen)


ISSUE_19 = (
    "issue 19 (failback): the original region has no jobs task definition for purge_queues "
    "and register_jobs, and the operator role may neither run it nor pass its roles"
)


@pytest.fixture(scope="module")
def enforced(assembly: Assembly, prod_settings: Settings) -> DrillReport:
    return drill(assembly, prod_settings, "failover-failback-restore")


def test_as_the_operator_every_step_before_the_queue_purge_is_authorized_and_done(
    enforced: DrillReport, prod_settings: Settings
) -> None:
    failover, back = part(enforced, "failover"), part(enforced, "failback")
    assert failover.passed, failing(failover)
    order = [s.name for s in failback.FAILBACK_STEPS]
    before = order[: order.index("purge_queues")]
    assert [s["name"] for s in back.steps if s["status"] == "done"][: len(before)] == before
    assert all(c["ok"] for c in back.checks if c["step"] in before), failing(back)
    # the denials, if any, are the jobs task's in the original region only
    primary = Names.of(prod_settings).primary_region
    assert {d["call"] for d in back.denied} <= {f"ecs.RunTask ({primary})"}
    assert any(n.startswith("failback:") for n in enforced.notes)
    # the sequence's restore runs only after a failback that passed
    restore = part(enforced, "restore-latest")
    assert back.passed or (not restore.passed and restore.failure.startswith("not run"))


@pytest.mark.xfail(strict=True, reason=ISSUE_19)
def test_as_the_operator_failback_reaches_its_end(enforced: DrillReport) -> None:
    back = part(enforced, "failback")
    assert back.passed, failing(back)


@pytest.mark.usefixtures("primary_jobs_task")
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


@pytest.mark.usefixtures("primary_jobs_task")
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
