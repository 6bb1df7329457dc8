"""The fence keeper: while DR serves, fence the old primary again every few minutes.

The failover's ``fence_primary`` tries once and records "unfenced" when the primary
region does not take the order (a fence never blocks the failover). When that region
answers again its services would start from their scaling minimum and its workers would
drain their queues against the stale database, sending real e-mails and webhooks. So
this function, on a schedule in the DR region, repeats the same fence (steps.fence: the
services and their scaling to zero, the database closed to them) for as long as traffic
is served from DR, and says whether it holds:

- ``Unfenced`` (``NAMESPACE``), 1 while the fence does not hold, 0 when it does; an
  alarm on it pages the operators (failover/fence_keeper.py);
- the outcome, with what was revoked (failback puts exactly that back), in the run
  table under ``FENCE_RUN``.

It acts only on the **verified** switch state (runtime/switch.py): a forged failed-over
parameter cannot make it stop a healthy primary. Re-applying is the point: a deploy, an
operator or RDS restarting a stopped instance after seven days cannot undo the fence for
long.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

try:  # imported as a package by the CLI and the drill ...
    from crm_platform.failover.runtime import steps, switch
except ImportError:  # pragma: no cover - ... and flat inside the Lambda asset
    import steps  # type: ignore[no-redef]
    import switch  # type: ignore[no-redef]

NAMESPACE = "crm-platform/Fence"
METRIC = "Unfenced"
INTERVAL_MINUTES = 5  # the keeper's schedule (failover/fence_keeper.py)
FENCE_RUN = steps.FENCE_RUN  # the run table's items of the fence: (#fence, latest), ...


def _publish(cloudwatch: Any, environment: str, unfenced: bool) -> None:
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": "Environment", "Value": environment}],
                "Value": 1.0 if unfenced else 0.0,
                "Unit": "Count",
            }
        ],
    )


def record(dynamodb: Any, table: str, at: float, outcome: dict[str, Any]) -> None:
    """The latest outcome, and one item per rule ever revoked (failback re-authorizes
    exactly those): puts only, so the keeper needs no read of the table."""
    dynamodb.put_item(
        TableName=table,
        Item={
            "run": {"S": FENCE_RUN},
            "step": {"S": "latest"},
            "at": {"N": str(at)},
            "primary": {"S": str(outcome["primary"])},
            "detail": {"S": json.dumps(outcome, default=str)},
        },
    )
    steps.record_revoked(dynamodb, table, at, outcome.get("revoked", []))


def keep(ctx: steps.Context) -> dict[str, Any]:
    """One round: fence when the verified switch says "dr", record and publish."""
    c = ctx.config
    served = switch.read(
        ctx.aws("ssm"), ctx.aws("kms"), c["switch_parameter"], c["switch_key"], c["environment"]
    )
    if served != "dr":
        _publish(ctx.aws("cloudwatch"), c["environment"], unfenced=False)
        return {"acting": False, "switch": served}
    outcome = steps.fence(ctx)
    unfenced = not str(outcome["primary"]).startswith("fenced")
    record(ctx.aws("dynamodb"), c["runs_table"], ctx.now(), outcome)
    _publish(ctx.aws("cloudwatch"), c["environment"], unfenced=unfenced)
    return {"acting": True, "switch": served, **outcome}


def read(dynamodb: Any, table: str) -> dict[str, Any] | None:
    """The keeper's last outcome (``latest``: None before its first act) and every rule
    the fence revoked (``revoked``), for ``dr status`` and failback; None when the fence
    has left nothing in the table."""
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="#r = :r",
        ExpressionAttributeNames={"#r": "run"},
        ExpressionAttributeValues={":r": {"S": FENCE_RUN}},
        ConsistentRead=True,
    )["Items"]
    if not items:
        return None
    found = next((i for i in items if i["step"]["S"] == "latest"), None)
    latest = {**json.loads(found["detail"]["S"]), "at": float(found["at"]["N"])} if found else None
    revoked = [json.loads(i["detail"]["S"]) for i in items if i["step"]["S"] != "latest"]
    return {"latest": latest, "revoked": revoked}


def handler(_event: dict[str, Any], _context: object) -> dict[str, Any]:
    import boto3

    config = json.loads(os.environ["FAILOVER_CONFIG"])
    primary = config["primary_region"]

    def client(service: str, region: str) -> Any:
        extra = {"config": steps.retry_config()} if region == primary else {}
        return boto3.client(service, region_name=region, **extra)  # type: ignore[call-overload]

    return keep(steps.Context(config=config, client=client, now=time.time))
