"""The drill's restore scenarios (drill/restore.py, drill/restore_dr.py): ``restore
--execute`` from a recovery point to a serving database, in the emulator, as the operator
role, every call authorized; in DR (``restore-dr``) on to the forced failover's end.

Each step's effect has a check; removing any one step's effect turns its check and the
verdict to FAIL (the sabotage below), so a passing verdict means every effect was seen.
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_platform.drill.run import DrillReport, ScenarioReport, run_drill
from crm_platform.drill.scenarios import SCENARIOS
from crm_platform.failover.runtime import steps
from crm_platform.naming import Names
from crm_platform.ops import restore_service
from crm_platform.settings import Settings
from tests.conftest import Assembly
from tests.sabotage import each_step_removed

pytestmark = pytest.mark.slow
RESTORES = ("restore-latest", "restore-point-in-time")


def drill(assembly: Assembly, settings: Settings, *names: str, **kwargs: Any) -> DrillReport:
    return run_drill(
        assembly.outdir, Names.of(settings), settings, [SCENARIOS[n] for n in names], **kwargs
    )


def failing(s: ScenarioReport) -> list[str]:
    return [f"{c['name']}: {c['observed']}" for c in s.checks if not c["ok"]]


@pytest.fixture(scope="module")
def enforced(assembly: Assembly, prod_settings: Settings) -> DrillReport:
    return drill(assembly, prod_settings, *RESTORES)


@pytest.mark.parametrize("name", RESTORES)
def test_a_restore_reaches_service_as_the_operator_role(enforced: DrillReport, name: str) -> None:
    found = next(s for s in enforced.scenarios if s.scenario == name)
    assert found.passed, failing(found) + [str(d) for d in found.denied]
    assert not found.denied
    assert [s["name"] for s in found.steps] == [s.name for s in restore_service.PRIMARY_STEPS]
    assert all(s["status"] == "done" for s in found.steps)
    # the modelled waits are on the timeline: the restore job, then both renames
    by_name = {s["name"]: s for s in found.steps}
    assert by_name["restore_instance"]["end"] - by_name["restore_instance"]["start"] >= 1200
    assert by_name["take_serving_name"]["end"] - by_name["take_serving_name"]["start"] >= 600
    assert any("not emulated" in n or "moto has no AWS Backup" in n for n in enforced.notes)


def test_the_point_in_time_restore_asks_for_the_time_before_the_damage(
    enforced: DrillReport,
) -> None:
    found = next(s for s in enforced.scenarios if s.scenario == "restore-point-in-time")
    restored = next(c for c in found.checks if c["step"] == "restore_instance")
    assert restored["ok"] and "RestoreTime" in restored["observed"]["metadata"]
    latest = next(s for s in enforced.scenarios if s.scenario == "restore-latest")
    restored = next(c for c in latest.checks if c["step"] == "restore_instance")
    assert restored["observed"]["metadata"]["UseLatestRestorableTime"] == "true"


@pytest.fixture(scope="module")
def sabotaged(assembly: Assembly, prod_settings: Settings) -> dict[str, DrillReport]:
    """restore-latest with each step's effect removed in turn (tests/sabotage.py)."""

    def run(step_list: tuple[steps.Step, ...]) -> DrillReport:
        return drill(
            assembly, prod_settings, "restore-latest", enforce_authorization=False,
            restore_steps=step_list,
        )  # fmt: skip

    names = [s.name for s in restore_service.PRIMARY_STEPS]
    return each_step_removed(run, restore_service.PRIMARY_STEPS, names)


@pytest.mark.parametrize("disabled", [s.name for s in restore_service.PRIMARY_STEPS])
def test_removing_any_restore_steps_effect_turns_the_verdict_to_fail(
    disabled: str, sabotaged: dict[str, DrillReport]
) -> None:
    (found,) = sabotaged[disabled].scenarios
    assert not found.passed
    named = [c for c in found.checks if c["step"] == disabled]
    reached = any(c["name"] == "the restore reached service" and c["ok"] for c in found.checks)
    assert (named and not all(c["ok"] for c in named)) or not reached, failing(found)


# --- restore-dr: the primary region and the replica lost (drill/restore_dr.py) ---------------
# In DR ``stop_writes`` has nothing to stop at pilot light (the drill's posture: DR runs
# no service before the failover), so removing it changes nothing there is to see; a warm
# standby's stop is tested in tests/test_restore.py.
DR_WITH_EFFECT = [s.name for s in restore_service.DR_STEPS if s.name != "stop_writes"]


@pytest.fixture(scope="module")
def dr_enforced(assembly: Assembly, prod_settings: Settings) -> DrillReport:
    return drill(assembly, prod_settings, "restore-dr", quantiles=("p50",))


def test_a_restore_in_dr_fails_over_onto_the_restored_instance_as_the_operator_role(
    dr_enforced: DrillReport,
) -> None:
    (found,) = dr_enforced.scenarios
    assert found.passed, failing(found) + [str(d) for d in found.denied]
    assert not found.denied and dr_enforced.authorization == "enforced"
    assert [s["name"] for s in found.steps] == [s.name for s in restore_service.DR_STEPS]
    assert all(s["status"] == "done" for s in found.steps)
    by_step = {c["step"]: c for c in found.checks}
    assert set(DR_WITH_EFFECT) <= set(by_step)
    # the failover it started ran every one of its steps, forced, to its end
    failed_over = by_step["fail_over"]["observed"]
    assert failed_over["executions"] == ["SUCCEEDED"]
    assert failed_over["input"][0]["force"] is True
    assert failed_over["failover steps done"] == [s.name for s in steps.STEPS]
    assert {f"failover: {s.name}" for s in steps.STEPS} <= {b["label"] for b in found.bars}
    # restored from DR's vault (a copy: no point in time), the logins reset in DR first
    assert by_step["restore_instance"]["observed"]["regions"] == ["ap-southeast-1"]
    assert by_step["reset_logins"]["observed"]["in"] == ["ap-southeast-1"]
    assert any("restore-dr" in n and "not emulated" in n for n in dr_enforced.notes)
    assert found.rpo is not None and found.rpo["seconds"] > 0


@pytest.fixture(scope="module")
def dr_sabotaged(assembly: Assembly, prod_settings: Settings) -> dict[str, DrillReport]:
    """restore-dr with each step's effect removed in turn (tests/sabotage.py)."""

    def run(step_list: tuple[steps.Step, ...]) -> DrillReport:
        return drill(
            assembly, prod_settings, "restore-dr", enforce_authorization=False,
            restore_steps=step_list, quantiles=("p50",),
        )  # fmt: skip

    return each_step_removed(run, restore_service.DR_STEPS, DR_WITH_EFFECT)


@pytest.mark.parametrize("disabled", DR_WITH_EFFECT)
def test_removing_any_dr_restore_steps_effect_turns_the_verdict_to_fail(
    disabled: str, dr_sabotaged: dict[str, DrillReport]
) -> None:
    (found,) = dr_sabotaged[disabled].scenarios
    assert not found.passed
    named = [c for c in found.checks if c["step"] == disabled]
    reached = any(c["name"] == "the restore reached service" and c["ok"] for c in found.checks)
    assert (named and not all(c["ok"] for c in named)) or not reached, failing(found)
