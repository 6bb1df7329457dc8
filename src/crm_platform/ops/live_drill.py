"""``crm-platform drill --env NAME [--execute | --stop]``: the drill against real AWS.

A live drill is a real failover (the DR state machine, ops/failover.py) followed by a
real failback, run on a staging account to measure what the local drill only models.
Because it moves real traffic and real data, it runs only behind guard rails:

1. **Production refused**: ``--env prod`` (the environment named ``prod``) is refused
   unless ``--i-know-this-is-production`` is given.
2. **The right account and regions**: STS ``GetCallerIdentity`` is asked in each of the
   configuration's two regions (the regional endpoints, as the break-glass sign-in uses
   them); every answer must name the configuration's account. Credentials for another
   account, or a region that does not answer, refuse the drill before anything changes.
3. **Dry run first**: without ``--execute`` the command prints the plan (the phases and
   their steps, the account and regions) and records its digest and time in
   ``<state dir>/<env>.json``. ``--execute`` refuses unless the same plan (same digest)
   was printed within the last ``DRY_RUN_MINUTES`` minutes on this machine.
4. **Starting from a platform that serves from its primary**: a failed-over state other
   than "none" refuses (finish or undo that incident first).
5. **A stop that is safe at any step**: ``--stop`` records a stop request next to the dry
   run and stops the failover's running execution (Step Functions ``StopExecution``). A
   running drill sees the request at its next poll and starts nothing more (no failback
   after a stopped failover). Stopping mid-step is safe because every failover step is
   idempotent and the incident resumable: ``crm-platform failover --execute`` resumes it
   to the end (then ``crm-platform failback``), exactly as after a crash (issue 17, item 4).
6. **Measured next to modelled**: the report (JSON) lists each step's measured duration
   (from the failover's timeline in the DR run table, and from what failback returns)
   next to the modelled p50 and p95 of the last local drill's reference scenario, so the
   durations table (drill/durations.py) can be corrected from reality.

Failback is another command (``crm-platform failback``); the drill calls it through
``Failback`` below, a callable that takes the names, a client factory, ``execute`` and a
way to ask whether a stop was requested, and returns its steps' timings.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crm_platform.failover.runtime import timeline
from crm_platform.failover.runtime.steps import STEPS
from crm_platform.naming import Names
from crm_platform.ops import failover as failover_commands
from crm_platform.ops.dr_facts import failed_over_state

Client = Callable[[str, str], Any]
DRY_RUN_MINUTES = 30
STATE_DIR = Path(".crm-platform/live-drill")
PRODUCTION = "prod"
REFERENCE_SCENARIO = "regional-outage"  # the local drill's scenario a live drill repeats


class DrillRefused(Exception):
    """A guard rail refused the live drill; nothing was changed."""


class StopRequested(Exception):
    """``crm-platform drill --stop`` was run while the drill ran."""


class Failback(Protocol):
    """``crm-platform failback`` as the drill calls it (ops/failback.py, ``for_live_drill``).

    Returns one row per step: ``{"step", "status", "started_at", "ended_at"}`` (epoch
    seconds); checks ``stop_requested()`` between its steps and stops there."""

    def __call__(
        self,
        names: Names,
        client: Client,
        *,
        execute: bool,
        stop_requested: Callable[[], bool],
        progress: Callable[[str], None],
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class LivePlan:
    """What a live drill will do, where: its digest ties ``--execute`` to a dry run."""

    environment: str
    account: str
    primary_region: str
    dr_region: str
    phases: tuple[tuple[str, tuple[str, ...]], ...]

    @staticmethod
    def of(names: Names) -> LivePlan:
        return LivePlan(
            names.environment,
            names.account,
            names.primary_region,
            names.dr_region,
            (
                ("failover", tuple(s.name for s in STEPS)),
                ("failback", ("crm-platform failback --execute (its own step list)",)),
            ),
        )

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


# --- the guard rails ---------------------------------------------------------------------------
def refuse_production(names: Names, *, production_ok: bool) -> None:
    if names.environment == PRODUCTION and not production_ok:
        raise DrillRefused(
            "this is production: a live drill fails production over for real. Add "
            "--i-know-this-is-production only for a planned production drill"
        )


def check_account_and_regions(names: Names, client: Client) -> dict[str, str]:
    """Each configured region's STS names the configured account; {region: account}."""
    if names.primary_region == names.dr_region:
        raise DrillRefused(
            f"primary and DR are both {names.primary_region}: check the configuration"
        )
    found: dict[str, str] = {}
    for region in (names.primary_region, names.dr_region):
        try:
            identity = client("sts", region).get_caller_identity()
        except Exception as err:  # any failure: the region or the credentials are not usable
            raise DrillRefused(f"STS in {region} did not answer ({err}): not drilling") from err
        found[region] = str(identity.get("Account"))
        if found[region] != names.account:
            raise DrillRefused(
                f"the credentials are for account {found[region]} ({identity.get('Arn')}), "
                f"the configuration of {names.environment} is account {names.account}"
            )
    return found


def check_serving_from_primary(names: Names, client: Client) -> None:
    state = failed_over_state(names, client).get("state", "none")
    if state != "none":
        raise DrillRefused(
            f"the failed-over state is {state!r}, not 'none': finish or undo that incident "
            "before a drill"
        )


def _state_file(state_dir: Path, names: Names) -> Path:
    return state_dir / f"{names.environment}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


def record_dry_run(state_dir: Path, names: Names, plan: LivePlan, now: float) -> Path:
    path = _state_file(state_dir, names)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read(path)
    data.update({"dry_run": {"digest": plan.digest(), "at": now}})
    path.write_text(json.dumps(data, indent=1))
    return path


def require_recent_dry_run(state_dir: Path, names: Names, plan: LivePlan, now: float) -> None:
    dry = _read(_state_file(state_dir, names)).get("dry_run") or {}
    if not dry:
        raise DrillRefused(
            f"no dry run recorded: run crm-platform drill --env {names.environment} first "
            "(it prints the plan), then --execute within "
            f"{DRY_RUN_MINUTES} minutes"
        )
    if dry.get("digest") != plan.digest():
        raise DrillRefused("the plan changed since the dry run: run the dry run again")
    age = now - float(dry.get("at", 0))
    if not 0 <= age <= DRY_RUN_MINUTES * 60:
        raise DrillRefused(
            f"the dry run is {age / 60:.0f} minutes old (at most {DRY_RUN_MINUTES}): run it again"
        )


# --- the stop --------------------------------------------------------------------------------
def stop_requested(state_dir: Path, names: Names) -> bool:
    return bool(_read(_state_file(state_dir, names)).get("stop"))


def _set_stop(state_dir: Path, names: Names, value: dict[str, Any] | None) -> None:
    path = _state_file(state_dir, names)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read(path)
    data["stop"] = value
    path.write_text(json.dumps(data, indent=1))


def request_stop(state_dir: Path, names: Names, client: Client, now: float) -> list[str]:
    """Record the stop (a running drill starts nothing more) and stop the failover's
    running execution; returns the executions stopped."""
    _set_stop(state_dir, names, {"at": now})
    sfn = client("stepfunctions", names.dr_region)
    machine = failover_commands.state_machine_arn(names)
    running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
    stopped = []
    for execution in running:
        sfn.stop_execution(
            executionArn=failover_commands.execution_arn(names, str(execution["name"])),
            error="DrillStopped",
            cause="crm-platform drill --stop: resume with crm-platform failover --execute",
        )
        stopped.append(str(execution["name"]))
    return stopped


# --- the run ---------------------------------------------------------------------------------
@dataclass
class StepTime:
    phase: str
    step: str
    status: str
    measured_seconds: float | None
    modelled_p50_seconds: float | None
    modelled_p95_seconds: float | None


@dataclass
class LiveReport:
    environment: str
    account: str
    regions: dict[str, str]
    started_at: float
    outcome: str  # completed | stopped | failed: <why>
    steps: list[StepTime] = field(default_factory=list)
    next: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)


def modelled_from(report: Path) -> dict[str, dict[str, float]]:
    """Each step's modelled duration at p50 and p95, from the last local drill's reference
    scenario ({step: {"p50": s, "p95": s}}); empty when there is no such report."""
    data = _read(report)
    found: dict[str, dict[str, float]] = {}
    for scenario in data.get("scenarios", []):
        if scenario.get("scenario") != REFERENCE_SCENARIO:
            continue
        for step in scenario.get("steps", []):
            if step.get("start") is not None and step.get("end") is not None:
                found.setdefault(step["name"], {})[scenario["quantile"]] = round(
                    float(step["end"]) - float(step["start"]), 1
                )
    return found


def _times(
    phase: str, rows: list[dict[str, Any]], modelled: dict[str, dict[str, float]]
) -> list[StepTime]:
    out = []
    for row in rows:
        start, end = row.get("started_at"), row.get("ended_at")
        measured = None if start is None or end is None else round(float(end) - float(start), 1)
        model = modelled.get(str(row["step"]), {})
        out.append(StepTime(phase, str(row["step"]), str(row.get("status")), measured,
                            model.get("p50"), model.get("p95")))  # fmt: skip
    return out


def execute(
    names: Names,
    client: Client,
    plan: LivePlan,
    *,
    state_dir: Path,
    modelled: dict[str, dict[str, float]],
    regions: dict[str, str],
    failback: Failback,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] = lambda _m: None,
) -> LiveReport:
    """Failover, then failback; the guard rails must have passed (the caller checks)."""
    require_recent_dry_run(state_dir, names, plan, now())
    _set_stop(state_dir, names, None)  # a stop of an earlier drill does not stop this one
    report = LiveReport(names.environment, names.account, regions, now(), "completed")

    def is_stopped() -> bool:
        return stop_requested(state_dir, names)

    def watchful_sleep(seconds: float) -> None:
        if is_stopped():
            raise StopRequested
        sleep(seconds)

    started = failover_commands.start(names, client, force=True, now=now())
    progress(f"failover: {started.how} {started.execution}")
    try:
        status = failover_commands.follow(
            names, client, started, lambda row: progress(f"failover: {row['step']}"),
            sleep=watchful_sleep,
        )  # fmt: skip
    except StopRequested:
        request_stop(state_dir, names, client, now())
        status = "STOPPED"
    rows = timeline.read(client("dynamodb", names.dr_region), names.failover_runs_table,
                         started.incident)  # fmt: skip
    report.steps += _times("failover", rows, modelled)
    if status != "SUCCEEDED":
        stopped = status == "STOPPED" or is_stopped()
        report.outcome = "stopped" if stopped else f"failed: failover {status}"
        report.next = [
            f"crm-platform failover --env {names.environment} --execute  (resumes incident "
            f"{started.incident} to its end)",
            f"crm-platform failback --env {names.environment} --execute",
        ]
        return report
    if is_stopped():
        report.outcome = "stopped"
        report.next = [f"crm-platform failback --env {names.environment} --execute"]
        return report
    try:
        back = failback(names, client, execute=True, stop_requested=is_stopped,
                        progress=lambda m: progress(f"failback: {m}"))  # fmt: skip
    except DrillRefused as err:
        report.outcome = f"failed: {err}"
        report.next = ["return by the failback journey in docs/emergency-recovery.md"]
        return report
    report.steps += _times("failback", back, modelled)
    failed = next((row for row in back if row.get("status") == "failed"), None)
    if failed is not None:
        report.outcome = f"failed: failback step {failed['step']}"
        report.next = [f"crm-platform failback --env {names.environment} --execute  (resumes "
                       "after the cause is fixed)"]  # fmt: skip
        return report
    if is_stopped():
        report.outcome = "stopped"
        report.next = [f"crm-platform failback --env {names.environment} --execute  (resumes)"]
    return report
