"""The sabotage harness (tests/sabotage.py) on a stand-in drill: each step removed alone."""

from __future__ import annotations

import sys
from typing import Any, cast

import pytest

from crm_platform.drill.run import DrillReport
from crm_platform.failover.runtime import steps
from tests import sabotage


def _steps(*names: str) -> tuple[steps.Step, ...]:
    """Steps whose effect is to name themselves in the list the stand-in drill passes."""

    def effect(name: str) -> steps.Step:
        def run(ctx: Any) -> steps.Outcome:
            ctx.append(name)
            return steps.Outcome(True, {})

        return steps.Step(name, name, run, 60)

    return tuple(effect(n) for n in names)


def _drill(step_list: tuple[steps.Step, ...]) -> DrillReport:
    """Runs the steps in order; the report's environment names the effects that happened."""
    done: list[str] = []
    for step in step_list:
        step.run(cast(steps.Context, done))
    if "fail-without" in step_list[-1].name and step_list[-1].name not in done:
        raise RuntimeError("the drill broke without its last step")
    return DrillReport(",".join(done), 15, 0.0, [], "not enforced")


@pytest.mark.parametrize("platform", ["linux", "win32"])  # forked, and from scratch
def test_each_report_lacks_exactly_its_steps_effect(
    platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    found = sabotage.each_step_removed(_drill, _steps("a", "b", "c", "d"), ["b", "a", "d"])
    assert {k: v.environment for k, v in found.items()} == {
        "a": "b,c,d",
        "b": "a,c,d",
        "d": "a,b,c",
    }


def test_a_sabotaged_run_that_raises_names_its_step_and_the_error() -> None:
    with pytest.raises(AssertionError, match=r"(?s)fail-without: .*the drill broke"):
        sabotage.each_step_removed(_drill, _steps("a", "fail-without"), ["a", "fail-without"])


def test_an_unknown_step_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the step list"):
        sabotage.each_step_removed(_drill, _steps("a"), ["a", "z"])
