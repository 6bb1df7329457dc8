"""``crm-platform failback``: plan (dry run) or run the way back to the original region.

The steps are failover/runtime/failback.py's ``FAILBACK_STEPS``, run here through the
failover's local runner (failover/local_runner.py) on the operator's clients, i.e. as the
operator role (failover/operator_role.py; every call is in ops/permissions.py's
``failback_needs``). Why not a state machine like the failover: a failback is a planned
operation started when both regions answer, with an operator watching; a laptop that
loses its connection stops nothing that cannot resume, because every step is idempotent
and the run's progress is in the DR run table (docs/adr/0046-failback.md).

One incident: the failed-over state names the failback under way ("failing-back",
``failback``: its run id), so a second ``--execute`` resumes it, skipping the steps its
timeline records as done, and the failover's lock refuses anything else meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm_platform.capacity import Capacity, planned
from crm_platform.contracts import PROBE_METRICS
from crm_platform.failover.config import StepConfig
from crm_platform.failover.local_runner import RunReport, StepReport, run_local
from crm_platform.failover.runtime import failback, steps
from crm_platform.naming import Names
from crm_platform.ops import restore
from crm_platform.settings import Settings

Client = Callable[[str, str], Any]


class NotFailedOver(Exception):
    """There is nothing to fail back."""


def _sizes(names: Names, plan: Any) -> dict[str, dict[str, int]]:
    def one(c: Capacity) -> dict[str, int]:
        return {"desired": c.desired, "minimum": c.minimum, "maximum": c.maximum}

    return {names.server_service: one(plan.server), names.worker_service: one(plan.worker)}


def config(names: Names, settings: Settings, client: Client) -> dict[str, Any]:
    """The failover's own step configuration and what failback adds to it.

    The primary's placement comes from the stale instance while it is there, else from
    the primary stack (ops/restore.py's ``placement``); preflight records what it found.
    """
    base = StepConfig.of(settings, names, alert_topic_arn="").to_dict()
    try:
        where, _ = restore.placement(names, client, names.primary_region)
        primary_placement: dict[str, Any] = {
            "parameter_group": where.parameter_group,
            "subnet_group": where.subnet_group,
            "vpc": "",
            "security_groups": list(where.security_groups),
            "kms_key": names.kms_alias_arn(names.primary_region),
        }
    except Exception:
        primary_placement = {}
    base["failback"] = {
        "original": names.db_instance,
        "primary_bucket": names.attachments_bucket,
        "dr_bucket": names.attachments_bucket_dr,
        "primary_key": names.kms_alias_arn(names.primary_region),
        "dr_key": names.kms_alias_arn(names.dr_region),
        "secret_replica_key": names.kms_alias,
        "db_secrets": [names.db_secret, names.db_app_secret],
        "probe_alarms": [names.impaired_alarm, *(names.probe_down_alarm(m) for m in PROBE_METRICS)],
        "primary_sizes": _sizes(names, planned(settings, "primary")),
        "dr_sizes": _sizes(names, planned(settings, "dr")),
        "primary_placement": primary_placement,
    }
    return base


@dataclass(frozen=True)
class Plan:
    incident: str
    how: str  # "start" or "resume"
    state: dict[str, Any]
    config: dict[str, Any]

    def lines(self) -> list[tuple[str, str]]:
        return [(s.name, s.summary) for s in failback.FAILBACK_STEPS]


def plan(names: Names, settings: Settings, client: Client, *, now: float | None = None) -> Plan:
    """Reads only: the incident it would start or resume; ``NotFailedOver`` when there is
    nothing to fail back."""
    found = client("ssm", names.dr_region).get_parameter(Name=names.failover_parameter)
    state = json.loads(found["Parameter"]["Value"])
    if state.get("state") == failback.FAILING_BACK and state.get("failback"):
        incident, how = str(state["failback"]), "resume"
    elif state.get("state") == "failed-over":
        incident, how = f"failback-{int(now or time.time())}", "start"
    else:
        raise NotFailedOver(
            f"the platform is not failed over ({names.failover_parameter} says "
            f"{state.get('state', 'none')!r}): there is nothing to fail back"
        )
    return Plan(incident, how, state, config(names, settings, client))


def execute(
    names: Names,
    client: Client,
    p: Plan,
    *,
    force: bool,
    progress: Callable[[StepReport], None] = lambda _r: None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    step_list: tuple[steps.Step, ...] = failback.FAILBACK_STEPS,
    stop_after: str | None = None,
    not_emulated: dict[str, str] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Run (or resume) the incident's steps in order; stops at the first failure, or
    before the next step once ``stop`` says so."""
    ctx = steps.Context(config=p.config, client=client, force=force, now=now)
    return run_local(
        ctx, run=p.incident, dynamodb=client("dynamodb", names.dr_region),
        table=names.failover_runs_table, sleep=sleep, progress=progress,
        step_list=step_list, stop_after=stop_after, resume=True, not_emulated=not_emulated,
        stop=stop,
    )  # fmt: skip


def for_live_drill(settings: Settings) -> Callable[..., list[dict[str, Any]]]:
    """``crm-platform failback --execute`` as the live drill calls it
    (ops/live_drill.Failback): one row per step with its measured times; the drill's
    ``--stop`` is honoured between steps, and a second run resumes the same incident."""
    run = execute  # the inner function's keyword ``execute`` shadows this module's

    def failback_for_drill(
        names: Names,
        client: Client,
        *,
        execute: bool,
        stop_requested: Callable[[], bool],
        progress: Callable[[str], None],
    ) -> list[dict[str, Any]]:
        p = plan(names, settings, client)
        if not execute:
            return []
        report = run(
            names, client, p, force=False, stop=stop_requested,
            progress=lambda r: progress(f"{r.name}: {r.status}"),
        )  # fmt: skip
        return [
            {"step": s.name, "status": s.status, "started_at": s.started, "ended_at": s.ended}
            for s in report.steps
        ]

    return failback_for_drill
