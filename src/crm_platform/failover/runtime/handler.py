"""The Lambda that runs one attempt of one failover step for the state machine.

Event: ``{"step": NAME, "run": RUN_ID, "force": bool}``. Returns ``{"done": bool, "wait":
seconds, "detail": {...}}``; the state machine waits and calls again while ``done`` is
false. A step past its timeout raises ``StepTimedOut`` (or ends, for steps whose timeout
is not fatal); throttling raises ``Retryable``, which the state machine retries with
backoff; anything else fails the run at this step, whose name the failure carries.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

try:
    from crm_platform.failover.runtime import steps, timeline
except ImportError:  # pragma: no cover - flat inside the Lambda asset
    import steps  # type: ignore[no-redef]
    import timeline  # type: ignore[no-redef]


class StepTimedOut(Exception):
    """The step did not finish within its timeout."""


def run_attempt(
    ctx: steps.Context,
    step: steps.Step,
    run: str,
    table: str,
    dynamodb: Any,
    step_list: tuple[steps.Step, ...] = steps.STEPS,
) -> dict[str, Any]:
    """One attempt of ``step``, recorded in the run's timeline (shared with the local
    runner); ``step_list`` is the list it belongs to (the failover's, or failback's)."""
    order = next(i for i, s in enumerate(step_list) if s.name == step.name)
    started = timeline.start(dynamodb, table, run, step.name, order, ctx.now())
    ctx.run = run
    if step.reads_results:  # one read of the run's timeline, only where a step needs it
        ctx.results = timeline.completed(dynamodb, table, run)
    try:
        outcome = step.run(ctx)
    except steps.Retryable:
        raise
    except Exception as err:
        timeline.end(dynamodb, table, run, step.name, "failed",
                     {"error": type(err).__name__, "message": str(err)}, ctx.now())  # fmt: skip
        raise
    if outcome.done:
        timeline.end(dynamodb, table, run, step.name, "done", outcome.detail, ctx.now())
        return {"done": True, "wait": 0, "detail": outcome.detail}
    if ctx.now() - started + outcome.wait > step.timeout_seconds:
        if step.name in steps.NON_FATAL_TIMEOUT:
            detail = {**outcome.detail, "unverified": f"not done within {step.timeout_seconds}s"}
            timeline.end(dynamodb, table, run, step.name, "done", detail, ctx.now())
            return {"done": True, "wait": 0, "detail": detail}
        message = f"{step.name} did not finish within {step.timeout_seconds}s: {outcome.detail}"
        timeline.end(dynamodb, table, run, step.name, "failed",
                     {"error": "StepTimedOut", "message": message}, ctx.now())  # fmt: skip
        raise StepTimedOut(message)
    return {"done": False, "wait": max(outcome.wait, 1), "detail": outcome.detail}


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    import boto3

    config = json.loads(os.environ["FAILOVER_CONFIG"])
    primary = config["primary_region"]

    def client(service: str, region: str) -> Any:
        extra = {"config": steps.retry_config()} if region == primary else {}
        return boto3.client(service, region_name=region, **extra)  # type: ignore[call-overload]

    ctx = steps.Context(config=config, client=client, force=bool(event.get("force")), now=time.time)
    return run_attempt(
        ctx, steps.BY_NAME[event["step"]], event["run"], config["runs_table"],
        client("dynamodb", config["dr_region"]),
    )  # fmt: skip
