"""``crm-platform failover``: a dry run by default; ``--execute`` starts the DR state
machine and follows it step by step from the run's timeline.

Nothing here runs the failover itself: the state machine in the DR region does, so an
operator's laptop losing its connection (or the command being interrupted) never stops
a failover half-way; running the command again follows, or resumes, the same steps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from crm_platform.failover.runtime import timeline
from crm_platform.failover.runtime.steps import STEPS
from crm_platform.naming import Names

Client = Callable[[str, str], Any]
POLL_SECONDS = 10


def state_machine_arn(names: Names) -> str:
    return (
        f"arn:aws:states:{names.dr_region}:{names.account}:stateMachine:"
        f"{names.failover_state_machine}"
    )


def plan_lines() -> list[tuple[str, str]]:
    """(step, what it does), in order: what a run will do."""
    return [(s.name, s.summary) for s in STEPS]


def start(names: Names, client: Client, *, force: bool, now: float | None = None) -> str:
    """Start a run in the DR region; returns the run id (the execution name)."""
    run = f"failover-{int(now or time.time())}"
    client("stepfunctions", names.dr_region).start_execution(
        stateMachineArn=state_machine_arn(names), name=run, input=json.dumps({"force": force})
    )
    return run


def follow(
    names: Names,
    client: Client,
    run: str,
    on_change: Callable[[dict[str, Any]], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Report each step as its status changes until the run ends; returns its status."""
    dr = names.dr_region
    sfn, dynamodb = client("stepfunctions", dr), client("dynamodb", dr)
    arn = f"{state_machine_arn(names).replace(':stateMachine:', ':execution:')}:{run}"
    seen: dict[str, str] = {}
    while True:
        for row in timeline.read(dynamodb, names.failover_runs_table, run):
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
