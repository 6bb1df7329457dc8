"""``crm-platform failover``: a dry run by default; ``--execute`` starts the DR state
machine, or attaches to the incident already under way, and follows it step by step.

Nothing here runs the failover itself: the state machine in the DR region does, so an
operator's laptop losing its connection (or the command being interrupted) never stops
a failover half-way. Running ``--execute`` again is always safe:

- an execution is running: the command attaches to it and follows it;
- an incident is unfinished (the failed-over state says "failing-over"): a new execution
  resumes it under the same incident id, so every step sees what the incident did already
  (a replica is never promoted twice) and preflight does not refuse it;
- otherwise a new incident starts. The steps hold a lock in the DR region (a conditional
  write), so an execution started by anything else meanwhile is refused at preflight.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from crm_platform.failover.runtime import timeline
from crm_platform.failover.runtime.steps import STEPS
from crm_platform.naming import Names
from crm_platform.ops.dr_facts import failed_over_state

Client = Callable[[str, str], Any]
POLL_SECONDS = 10


@dataclass(frozen=True)
class Started:
    execution: str  # the Step Functions execution's name
    incident: str  # the run id its steps record their timeline under
    how: Literal["started", "resumed", "attached"]


def state_machine_arn(names: Names) -> str:
    return (
        f"arn:aws:states:{names.dr_region}:{names.account}:stateMachine:"
        f"{names.failover_state_machine}"
    )


def execution_arn(names: Names, execution: str) -> str:
    return f"{state_machine_arn(names).replace(':stateMachine:', ':execution:')}:{execution}"


def plan_lines() -> list[tuple[str, str]]:
    """(step, what it does), in order: what a run will do."""
    return [(s.name, s.summary) for s in STEPS]


def start(names: Names, client: Client, *, force: bool, now: float | None = None) -> Started:
    """Attach to the running execution, resume the unfinished incident, or start one."""
    sfn = client("stepfunctions", names.dr_region)
    machine = state_machine_arn(names)
    running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
    if running:
        execution = str(running[0]["name"])
        described = sfn.describe_execution(executionArn=execution_arn(names, execution))
        incident = json.loads(described.get("input") or "{}").get("incident", execution)
        return Started(execution, str(incident), "attached")
    at = int(now or time.time())
    state = failed_over_state(names, client)
    if state.get("state") == "failing-over" and state.get("incident"):
        incident, how = str(state["incident"]), "resumed"
        execution = f"{incident}-resume-{at}"
    else:
        incident, how = f"failover-{at}", "started"
        execution = incident
    sfn.start_execution(
        stateMachineArn=machine,
        name=execution,
        input=json.dumps({"force": force, "incident": incident}),
    )
    return Started(execution, incident, how)  # type: ignore[arg-type]


def follow(
    names: Names,
    client: Client,
    started: Started,
    on_change: Callable[[dict[str, Any]], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Report each step of the incident as its status changes until the execution ends;
    returns the execution's status."""
    dr = names.dr_region
    sfn, dynamodb = client("stepfunctions", dr), client("dynamodb", dr)
    arn = execution_arn(names, started.execution)
    seen: dict[str, str] = {}
    while True:
        for row in timeline.read(dynamodb, names.failover_runs_table, started.incident):
            if seen.get(row["step"]) != row["status"]:
                seen[row["step"]] = row["status"]
                on_change(row)
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING":
            return status
        sleep(POLL_SECONDS)


def approve(names: Names, client: Client, token: str) -> None:
    """Answer the approval step of an automatic failover."""
    client("stepfunctions", names.dr_region).send_task_success(
        taskToken=token, output=json.dumps({"approved": True})
    )
