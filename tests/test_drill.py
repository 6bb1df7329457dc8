"""The local drill: scenarios with faults, modelled time, a check for every step's effect,
and the authorization model enforced on every call.

Runs without enforcement isolate one behaviour at a time (the scenarios' outcomes, the
effect checks); the enforced runs show what AWS would refuse. Each defect found by review
is a strict expected failure naming the issue that fixes it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crm_platform import cli
from crm_platform.drill.durations import DURATIONS
from crm_platform.drill.report import html
from crm_platform.drill.run import DrillReport, ScenarioReport, run_drill
from crm_platform.drill.scenarios import SCENARIOS
from crm_platform.failover.runtime import steps
from crm_platform.naming import Names
from crm_platform.settings import Settings
from tests.conftest import CONFIG, Assembly
from tests.sabotage import each_step_removed

ISSUE_17 = "issue 17 (regional failover that survives a real outage)"
pytestmark = pytest.mark.slow


def drill(assembly: Assembly, settings: Settings, *names: str, **kwargs: Any) -> DrillReport:
    return run_drill(
        assembly.outdir, Names.of(settings), settings, [SCENARIOS[n] for n in names], **kwargs
    )


@pytest.fixture(scope="module")
def unenforced(assembly: Assembly, prod_settings: Settings) -> DrillReport:
    """Every failover scenario once, the authorization model not enforced (behaviour
    alone); the restores, the failback and the sequence have their own modules
    (tests/test_drill_restore.py, tests/test_drill_failback.py), which run them with it."""
    alone = [n for n, s in SCENARIOS.items() if s.kind == "failover"]
    return drill(assembly, prod_settings, *alone, enforce_authorization=False)


def scenario(report: DrillReport, name: str, quantile: str = "p50") -> ScenarioReport:
    return next(s for s in report.scenarios if s.scenario == name and s.quantile == quantile)


def failing(s: ScenarioReport) -> list[str]:
    return [f"{c['name']}: {c['observed']}" for c in s.checks if not c["ok"]]


def test_each_scenario_states_its_expected_outcome() -> None:
    assert set(SCENARIOS) >= {
        "regional-outage",
        "primary-errors",
        "throttling",
        "crash-resume",
        "concurrent",
        "healthy-primary",
    }
    assert SCENARIOS["healthy-primary"].describe_expected().startswith("refused at preflight")
    assert "unfenced" in SCENARIOS["primary-errors"].describe_expected()


# --- scenarios (behaviour, not enforcing authorization) ------------------------------------
@pytest.mark.parametrize(
    "name", ["regional-outage", "partial-outage", "throttling", "healthy-primary", "dr-isolated"]
)
def test_scenarios_that_pass_on_main(unenforced: DrillReport, name: str) -> None:
    found = scenario(unenforced, name)
    assert found.passed, failing(found)


def test_a_healthy_primary_is_refused_at_preflight_and_nothing_changes(
    unenforced: DrillReport,
) -> None:
    found = scenario(unenforced, "healthy-primary")
    outcome = {c["name"]: c for c in found.checks}
    assert outcome["refused at preflight"]["ok"] and outcome["nothing changed anywhere"]["ok"]
    assert "does not look impaired" in found.failure


def test_throttling_is_met_by_the_sdk_then_by_the_state_machine(unenforced: DrillReport) -> None:
    found = scenario(unenforced, "throttling")
    retried = {s["name"]: s["attempts"] for s in found.steps if s["attempts"] > 1}
    assert retried.get("promote_replica", 1) >= 2 and retried.get("start_services", 1) >= 2


def test_a_primary_answering_with_errors_is_recorded_unfenced_and_the_run_goes_on(
    unenforced: DrillReport,
) -> None:
    """The fence re-raised 5xx and AccessDenied on main and the run ended there (issue 17)."""
    found = scenario(unenforced, "primary-errors")
    fence = next(s for s in found.steps if s["name"] == "fence_primary")
    assert fence["status"] == "done" and fence["detail"]["primary"].startswith("unfenced (")
    record = next(s for s in found.steps if s["name"] == "record_failed_over")
    assert record["detail"]["fence"] == fence["detail"]["primary"]
    assert found.passed, failing(found)


def test_failover_execute_again_resumes_the_same_incident(unenforced: DrillReport) -> None:
    """A second --execute started a new incident on main (issue 17)."""
    found = scenario(unenforced, "crash-resume")
    (first, again) = found.starts  # the operator ran failover --execute twice
    assert first.startswith("started failover-") and again.startswith("resumed failover-")
    incident = first.split()[-1]
    assert again.split()[-1].startswith(f"{incident}-resume-")
    checks = {c["name"]: c for c in found.checks}
    assert checks["replica promoted once, no source link left"]["ok"]
    assert checks["one incident ran, whatever the starts"]["observed"] == [incident]


def test_a_second_start_while_one_runs_is_refused(unenforced: DrillReport) -> None:
    """Nothing refused a concurrent start on main (issue 17): the lock does now."""
    found = scenario(unenforced, "concurrent")
    (refused,) = [s for s in found.starts if s.startswith("automatic-")]
    assert "refused at preflight" in refused and "is under way" in refused
    assert found.passed, failing(found)


def test_without_its_internet_check_a_cut_off_dr_would_fail_over_a_healthy_primary(
    assembly: Assembly, prod_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's control check is what tells a DR-side network loss from a primary
    outage: with it the start is refused; without it (sabotaged) the failover runs."""
    from crm_platform.drill import run

    monkeypatch.setattr(run.Rehearsal, "_reachable", lambda _self, _url: True)
    report = drill(assembly, prod_settings, "dr-isolated", enforce_authorization=False)
    found = scenario(report, "dr-isolated")
    assert not found.passed
    assert not any(c["name"] == "refused at preflight" and c["ok"] for c in found.checks)


# --- modelled time ------------------------------------------------------------------------------
def test_the_failover_waits_on_aws_for_the_modelled_durations(unenforced: DrillReport) -> None:
    at = {q: scenario(unenforced, "regional-outage", q) for q in ("p50", "p95")}
    for quantile, found in at.items():
        waited = {s["name"]: s["end"] - s["start"] for s in found.steps}
        assert waited["wait_writable"] >= DURATIONS["rds.promotion"].at(quantile) - 30  # type: ignore[arg-type]
        # The cold start ran beside the promotion (docs/adr/0031): nothing left to wait for.
        assert waited["wait_healthy"] < DURATIONS["fargate.cold_start"].at(quantile)  # type: ignore[arg-type]
        assert found.rto is not None and found.rto["minutes"] > 0
        assert set(found.rto["breakdown"]) >= {"detection", "decision", "DNS and Route 53"}
    assert at["p95"].rto["minutes"] > at["p50"].rto["minutes"]  # type: ignore[index]
    bars = {b["label"]: b for b in at["p50"].bars}
    assert bars["outage detected (probes, alarms)"]["critical"]
    assert not bars["Multi-AZ conversion"]["critical"]  # in the background


@pytest.mark.xfail(strict=True, reason=f"{ISSUE_17}: the modelled RTO at p95 exceeds 15 minutes")
def test_the_modelled_recovery_time_at_p95_meets_the_objective(unenforced: DrillReport) -> None:
    found = scenario(unenforced, "regional-outage", "p95")
    assert found.passed, failing(found)


# --- authorization enforced --------------------------------------------------------------------
@pytest.fixture(scope="module")
def enforced(assembly: Assembly, prod_settings: Settings) -> DrillReport:
    return drill(assembly, prod_settings, "regional-outage")


def test_the_failover_runs_as_its_roles_would_in_aws(enforced: DrillReport) -> None:
    """Every call of the reference scenario allowed as its principal (the DR key refused
    DynamoDB on main, issue 17): only the objective at p95 is missed."""
    for s in enforced.scenarios:
        assert s.denied == [], s.denied
        assert [c["name"] for c in s.checks if not c["ok"]] in (
            [],
            ["modelled RTO at p95 within dr.rto_minutes (15 min)"],
        )
    assert all(p["allowed"] for s in enforced.scenarios for p in s.permissions)
    assert {p["principal"] for p in enforced.scenarios[0].permissions} >= {
        "crm-prod-dr-app/Failover/Step/Role", "crm-prod-dr-app/Failover/StateMachineRole",
        "crm-prod-dr-app/Failover/Probe/Role", "crm-prod-dr/TrafficSwitch/Keeper/Role",
        "crm-prod-dr-app/Operator/Role",
    }  # fmt: skip


def test_a_denied_call_fails_its_step_and_names_what_is_missing(
    assembly: Assembly, prod_settings: Settings
) -> None:
    """The DR key of main (no DynamoDB), in a copy: the first timeline write is refused,
    the step fails where AWS would fail it, and the report names the statement."""
    from crm_platform.assembly.reader import load
    from crm_platform.authz.model import AuthorizationModel

    stacks = load(assembly.outdir)
    for resource in stacks["crm-prod-dr"].template["Resources"].values():
        if resource["Type"] == "AWS::KMS::Key":
            for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
                via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
                if isinstance(via, list):
                    via[:] = [v for v in via if not v.startswith("dynamodb.")]
    report = drill(assembly, prod_settings, "healthy-primary", model=AuthorizationModel(stacks))
    found = scenario(report, "healthy-primary")
    # The switch's beacon (its table is under the DR key too) is refused every minute;
    # the failover's first step is refused at its first write.
    assert any(d["principal"] == "crm-prod-dr/TrafficSwitch/Keeper/Role" for d in found.denied)
    first = next(d for d in found.denied if d["principal"] == "crm-prod-dr-app/Failover/Step/Role")
    assert first["call"].startswith("dynamodb.UpdateItem")
    assert "key policy of crm-prod-dr/Key/Key" in first["missing"][0]
    assert "kms:ViaService" in first["missing"][0]
    assert found.steps[0]["status"] == "failed" and "AccessDenied" in found.failure
    assert not found.passed


# --- a check for every effect -------------------------------------------------------------------
# The fence is only seen where the primary answers; the wait for healthy targets only where
# the services start after the promotion (a run resumed after it).
SABOTAGE_SCENARIO = {"fence_primary": "partial-outage", "wait_healthy": "crash-resume"}


@pytest.fixture(scope="module")
def sabotaged(assembly: Assembly, prod_settings: Settings) -> dict[str, DrillReport]:
    """Each step's effect removed in turn, in the scenario that shows it (tests/sabotage.py:
    one run per scenario, forked where each step is first called)."""
    chosen: dict[str, list[str]] = {}
    for step in steps.STEPS:
        chosen.setdefault(SABOTAGE_SCENARIO.get(step.name, "regional-outage"), []).append(step.name)
    found: dict[str, DrillReport] = {}
    for name, disabled in chosen.items():

        def run(step_list: tuple[steps.Step, ...], name: str = name) -> DrillReport:
            return drill(
                assembly, prod_settings, name, enforce_authorization=False,
                step_list=step_list, quantiles=("p50",),
            )  # fmt: skip

        found |= each_step_removed(run, steps.STEPS, disabled)
    return found


@pytest.mark.parametrize("disabled", [s.name for s in steps.STEPS])
def test_removing_any_steps_effect_turns_the_verdict_to_fail(
    disabled: str, sabotaged: dict[str, DrillReport]
) -> None:
    chosen = SABOTAGE_SCENARIO.get(disabled, "regional-outage")
    report = sabotaged[disabled]
    assert [s.quantile for s in report.scenarios] == ["p50"]
    found = scenario(report, chosen)
    assert not found.passed
    named = [c for c in found.checks if c["step"] == disabled]
    assert (named and not all(c["ok"] for c in named)) or not scenario_completed(found), failing(
        found
    )


def _rds_only_wait_writable(ctx: steps.Context) -> steps.Outcome:
    """wait_writable as it was before issue 17, item 2: RDS's word alone, no SQL task."""
    replica = steps._replica(ctx) or {}
    if replica.get("DBInstanceStatus") in steps.WRITABLE and not replica.get(
        "ReadReplicaSourceDBInstanceIdentifier"
    ):
        return steps.Outcome(True, {"status": replica.get("DBInstanceStatus")})
    return steps.Outcome(False, {}, wait=30)


def test_a_wait_writable_that_trusts_rds_alone_turns_the_verdict_to_fail(
    assembly: Assembly, prod_settings: Settings
) -> None:
    """Sabotage: the step stops asking the DR SQL task; everything else still works."""
    sabotaged = tuple(
        replace(s, run=_rds_only_wait_writable) if s.name == "wait_writable" else s
        for s in steps.STEPS
    )
    report = drill(
        assembly, prod_settings, "regional-outage", enforce_authorization=False,
        step_list=sabotaged, quantiles=("p50",),
    )  # fmt: skip
    found = scenario(report, "regional-outage")
    assert not found.passed
    failed = [c["name"] for c in found.checks if not c["ok"]]
    assert any(n.startswith("the database's own word") for n in failed), failed


def scenario_completed(found: ScenarioReport) -> bool:
    return any(c["name"] == "the failover completed" and c["ok"] for c in found.checks)


# --- the command and its report --------------------------------------------------------------------
def test_the_drill_command_writes_both_reports_and_ends_in_its_verdict(
    assembly: Assembly,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crm_platform.cli import common

    monkeypatch.setattr(common.out, "width", 80)  # the console view stays readable in 80 columns
    report, page = tmp_path / "drill.json", tmp_path / "drill.html"
    code = cli.main(
        [
            "drill",
            "--local",
            "--config-dir",
            str(CONFIG),
            "--out",
            str(assembly.outdir),
            "--scenario",
            "healthy-primary",
            "--report",
            str(report),
            "--html",
            str(page),
        ]
    )
    printed = capsys.readouterr().out
    data = json.loads(report.read_text())
    assert code == (0 if data["verdict"] == "pass" else 1)
    (run,) = data["scenarios"]
    assert run["scenario"] == "healthy-primary" and run["checks"] and run["steps"]
    assert {"start", "end", "attempts", "modelled"} <= set(run["steps"][0])
    assert data["authorization"] == "enforced"
    assert page.read_text().count("<svg") == 1
    assert any(line.startswith("verdict: ") for line in printed.splitlines())
    assert all(len(line) <= 80 for line in printed.splitlines())


def test_explain_shows_every_duration_with_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["drill", "--explain", "--config-dir", str(CONFIG)]) == 0
    printed = capsys.readouterr().out
    for name in DURATIONS:
        assert name in printed
    assert printed.count("source: ") == len(DURATIONS) + 1  # and detection, from configuration
    assert "regional-outage" in printed and "healthy-primary" in printed


def test_a_drill_without_local_is_the_live_drill_and_refuses_production(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["drill", "--config-dir", str(CONFIG)]) == 2
    assert "this is production" in capsys.readouterr().err


def test_the_html_report_draws_one_timeline_per_run(unenforced: DrillReport) -> None:
    page = html(unenforced)
    assert page.count("<svg") == len(unenforced.scenarios)
    assert "regional-outage (p95)" in page


def test_worlds_after_the_first_still_make_s3_clients() -> None:
    """`--scenario all` builds a world per scenario: a boto3 session per world over the
    shared botocore session registered boto3's S3 handlers twice, and the next new S3
    client failed ("Cannot inject class attribute upload_file") in failback's copy."""
    from crm_platform.drill.emulator import emulator
    from crm_platform.drill.world import Clock, World

    with emulator():
        for _ in range(2):
            world = World(Clock(), None, {}, 0.0)
        assert world.raw("s3", "eu-west-3").list_buckets()["Buckets"] == []
