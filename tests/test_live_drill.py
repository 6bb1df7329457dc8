"""The live drill's guard rails (ops/live_drill.py), with stubbed AWS: no network.

Each guard rail is shown refusing with nothing changed (no call that changes anything is
made), and the run is shown recording measured step times next to the modelled ones and
stopping where a stop request finds it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_platform import cli
from crm_platform.naming import Names
from crm_platform.ops import live_drill as live
from crm_platform.settings import Settings
from tests.conftest import CONFIG

T0 = 1_900_000_000.0


class Fake:
    """Every AWS client the drill uses, recording each call."""

    def __init__(self, names: Names, *, account: str | None = None, state: str = "none") -> None:
        self.names, self.account = names, account or names.account
        self.state = state
        self.calls: list[tuple[str, str, str]] = []
        self.executions: dict[str, str] = {}
        self.describes = 0
        self.on_describe: Any = None

    def __call__(self, service: str, region: str) -> Any:
        fake = self

        class Client:
            def __getattr__(self, operation: str) -> Any:
                def call(**params: Any) -> Any:
                    fake.calls.append((service, region, operation))
                    return getattr(fake, f"{service}_{operation}")(region, **params)

                return call

        return Client()

    # sts, ssm
    def sts_get_caller_identity(self, region: str) -> dict[str, str]:
        return {"Account": self.account, "Arn": f"arn:aws:sts::{self.account}:assumed-role/x/y"}

    def ssm_get_parameter(self, region: str, Name: str) -> dict[str, Any]:
        return {"Parameter": {"Value": json.dumps({"state": self.state})}}

    # step functions
    def stepfunctions_list_executions(self, region: str, **_: Any) -> dict[str, Any]:
        return {"executions": [{"name": n} for n, s in self.executions.items() if s == "RUNNING"]}

    def stepfunctions_start_execution(self, region: str, name: str, **_: Any) -> dict[str, Any]:
        self.executions[name] = "RUNNING"
        return {"executionArn": name}

    def stepfunctions_describe_execution(self, region: str, executionArn: str) -> dict[str, Any]:
        name = executionArn.rsplit(":", 1)[-1]
        self.describes += 1
        if self.on_describe is not None:
            self.on_describe(self.describes)
        if self.describes >= 2 and self.executions.get(name) == "RUNNING":
            self.executions[name] = "SUCCEEDED"
        return {"status": self.executions.get(name, "RUNNING"), "input": "{}"}

    def stepfunctions_stop_execution(
        self, region: str, executionArn: str, **_: Any
    ) -> dict[str, Any]:
        self.executions[executionArn.rsplit(":", 1)[-1]] = "ABORTED"
        return {}

    # the failover's timeline
    def dynamodb_query(self, region: str, **_: Any) -> dict[str, Any]:
        return {"Items": [
            {"step": {"S": "preflight"}, "step_order": {"N": "0"}, "status": {"S": "done"},
             "started_at": {"N": str(T0)}, "ended_at": {"N": str(T0 + 4)}},
            {"step": {"S": "promote_replica"}, "step_order": {"N": "3"}, "status": {"S": "done"},
             "started_at": {"N": str(T0 + 10)}, "ended_at": {"N": str(T0 + 400)}},
        ]}  # fmt: skip

    def changes(self) -> list[tuple[str, str, str]]:
        reads = ("get_", "list_", "describe_", "query")
        return [c for c in self.calls if not c[2].startswith(reads)]


@pytest.fixture
def names(staging_settings: Settings) -> Names:
    return Names.of(staging_settings)


def test_production_is_refused_without_the_flag(prod_settings: Settings) -> None:
    names = Names.of(prod_settings)
    with pytest.raises(live.DrillRefused, match="this is production"):
        live.refuse_production(names, production_ok=False)
    live.refuse_production(names, production_ok=True)


def test_the_cli_refuses_production_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], prod_settings: Settings, tmp_path: Path
) -> None:
    fake = Fake(Names.of(prod_settings))
    outside = cli.Outside(clients=lambda: fake, credentials=lambda: "env")
    argv = ["drill", "--config-dir", str(CONFIG), "--execute", "--state-dir", str(tmp_path)]
    assert cli.main(argv, outside) == 2
    assert "this is production" in capsys.readouterr().err
    assert fake.calls == []


def test_credentials_of_another_account_are_refused(names: Names) -> None:
    fake = Fake(names, account="999999999999")
    with pytest.raises(live.DrillRefused, match="account 999999999999"):
        live.check_account_and_regions(names, fake)
    assert fake.changes() == []


def test_each_configured_region_is_asked(names: Names) -> None:
    fake = Fake(names)
    found = live.check_account_and_regions(names, fake)
    assert found == {names.primary_region: names.account, names.dr_region: names.account}
    assert [(s, r) for s, r, _o in fake.calls] == [
        ("sts", names.primary_region), ("sts", names.dr_region)]  # fmt: skip


def test_a_platform_already_failed_over_is_refused(names: Names) -> None:
    with pytest.raises(live.DrillRefused, match="failed-over"):
        live.check_serving_from_primary(names, Fake(names, state="failed-over"))


def test_execute_needs_a_recent_dry_run_of_the_same_plan(names: Names, tmp_path: Path) -> None:
    plan = live.LivePlan.of(names)
    fake = Fake(names)

    def run(at: float) -> live.LiveReport:
        return live.execute(names, fake, plan, state_dir=tmp_path, modelled={}, regions={},
                            failback=lambda *_a, **_k: [], now=lambda: at,
                            sleep=lambda _s: None)  # fmt: skip

    with pytest.raises(live.DrillRefused, match="no dry run"):
        run(T0)
    live.record_dry_run(tmp_path, names, plan, T0)
    with pytest.raises(live.DrillRefused, match="minutes old"):
        run(T0 + (live.DRY_RUN_MINUTES + 1) * 60)
    other = live.LivePlan(plan.environment, "999999999999", plan.primary_region,
                          plan.dr_region, plan.phases)  # fmt: skip
    with pytest.raises(live.DrillRefused, match="plan changed"):
        live.execute(names, fake, other, state_dir=tmp_path, modelled={}, regions={},
                     failback=lambda *_a, **_k: [], now=lambda: T0 + 60)  # fmt: skip
    assert fake.changes() == []


def test_the_drill_runs_failover_then_failback_and_reports_measured_and_modelled(
    names: Names, tmp_path: Path
) -> None:
    plan = live.LivePlan.of(names)
    live.record_dry_run(tmp_path, names, plan, T0)
    fake = Fake(names)
    called: list[bool] = []

    def failback(_n: Names, _c: Any, *, execute: bool, stop_requested: Any, progress: Any) -> list[dict[str, Any]]:  # fmt: skip
        called.append(execute)
        return [{"step": "promote_back", "status": "done", "started_at": T0 + 900,
                 "ended_at": T0 + 1500}]  # fmt: skip

    modelled = {"promote_replica": {"p50": 300.0, "p95": 900.0}}
    report = live.execute(names, fake, plan, state_dir=tmp_path, modelled=modelled,
                          regions={"r": "a"}, failback=failback, now=lambda: T0 + 60,
                          sleep=lambda _s: None)  # fmt: skip
    assert report.outcome == "completed" and called == [True]
    rows = {(s.phase, s.step): s for s in report.steps}
    promote = rows["failover", "promote_replica"]
    assert (promote.measured_seconds, promote.modelled_p50_seconds) == (390.0, 300.0)
    assert rows["failback", "promote_back"].measured_seconds == 600.0
    assert json.loads(report.to_json())["steps"][0]["step"] == "preflight"
    assert ("stepfunctions", names.dr_region, "start_execution") in fake.calls


def test_a_failed_failback_step_fails_the_drill_and_says_how_to_resume(
    names: Names, tmp_path: Path
) -> None:
    plan = live.LivePlan.of(names)
    live.record_dry_run(tmp_path, names, plan, T0)

    def failback(*_a: Any, **_k: Any) -> list[dict[str, Any]]:
        return [{"step": "wait_caught_up", "status": "failed", "started_at": T0 + 900,
                 "ended_at": T0 + 960}, {"step": "stop_dr_writes", "status": "not reached"}]  # fmt: skip

    report = live.execute(names, Fake(names), plan, state_dir=tmp_path, modelled={},
                          regions={}, failback=failback, now=lambda: T0 + 60,
                          sleep=lambda _s: None)  # fmt: skip
    assert report.outcome == "failed: failback step wait_caught_up"
    assert any("failback" in line and "resumes" in line for line in report.next)


def test_the_runner_stops_before_the_next_step_when_asked() -> None:
    """The live drill's --stop reaches failback between its steps (local_runner's stop)."""
    from crm_platform.failover.local_runner import VirtualClock, run_local
    from crm_platform.failover.runtime import steps as failover_steps

    ran: list[str] = []

    def step(name: str) -> failover_steps.Step:
        def effect(_ctx: failover_steps.Context) -> failover_steps.Outcome:
            ran.append(name)
            return failover_steps.Outcome(True)

        return failover_steps.Step(name, name, effect, 60)

    class Table:
        def put_item(self, **_k: Any) -> None: ...

        def update_item(self, **_k: Any) -> dict[str, Any]:
            return {"Attributes": {"started_at": {"N": repr(clock.now())}}}

        def get_item(self, **_k: Any) -> dict[str, Any]:
            return {}

        def query(self, **_k: Any) -> dict[str, Any]:
            return {"Items": []}

    clock = VirtualClock()
    ctx = failover_steps.Context(config={}, client=lambda *_a: None, now=clock.now)
    report = run_local(ctx, run="r", dynamodb=Table(), table="t", sleep=clock.sleep,
                       step_list=(step("a"), step("b"), step("c")),
                       stop=lambda: ran == ["a"])  # fmt: skip
    assert ran == ["a"]
    assert [s.status for s in report.steps] == ["done", "not reached", "not reached"]


def test_a_stop_stops_the_failover_and_starts_no_failback(names: Names, tmp_path: Path) -> None:
    plan = live.LivePlan.of(names)
    live.record_dry_run(tmp_path, names, plan, T0)
    fake = Fake(names)

    def stop_from_another_terminal(describes: int) -> None:
        if describes == 1:
            stopped = live.request_stop(tmp_path, names, fake, T0 + 120)
            assert len(stopped) == 1

    fake.on_describe = stop_from_another_terminal

    def failback(*_a: Any, **_k: Any) -> list[dict[str, Any]]:
        raise AssertionError("failback must not start after a stop")

    report = live.execute(names, fake, plan, state_dir=tmp_path, modelled={}, regions={},
                          failback=failback, now=lambda: T0 + 60, sleep=lambda _s: None)  # fmt: skip
    assert report.outcome == "stopped"
    assert "ABORTED" in fake.executions.values()
    assert any("failover" in line and "--execute" in line for line in report.next)


def test_the_modelled_times_come_from_the_last_local_drill(tmp_path: Path) -> None:
    path = tmp_path / "drill-report.json"
    path.write_text(json.dumps({"scenarios": [
        {"scenario": "regional-outage", "quantile": q,
         "steps": [{"name": "promote_replica", "start": 10, "end": 10 + d}]}
        for q, d in (("p50", 300), ("p95", 900))
    ]}))  # fmt: skip
    assert live.modelled_from(path) == {"promote_replica": {"p50": 300.0, "p95": 900.0}}
    assert live.modelled_from(tmp_path / "none.json") == {}


def test_the_dry_run_over_the_cli_records_the_plan(
    staging_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = Fake(Names.of(staging_settings))
    outside = cli.Outside(clients=lambda: fake, credentials=lambda: "env")
    argv = ["drill", "--env", "staging", "--config-dir", str(CONFIG), "--state-dir", str(tmp_path)]
    assert cli.main(argv, outside) == 0
    printed = capsys.readouterr().out
    assert "dry run: nothing was changed" in printed and "promote_replica" in printed
    assert json.loads((tmp_path / "staging.json").read_text())["dry_run"]["digest"]
    assert fake.changes() == []
