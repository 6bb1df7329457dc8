"""Each run's timeline in a DynamoDB table of the DR region: one item per step.

The record is what makes a step list resumable and a run reviewable: ``start`` keeps the
first start time of a step (its timeout counts from there, across polls and restarts),
``end`` records the outcome. Both the Lambda handler and the local runner write here.
"""

from __future__ import annotations

import json
from typing import Any

try:
    from crm_platform.failover.runtime.steps import call
except ImportError:  # pragma: no cover - flat inside the Lambda asset
    from steps import call  # type: ignore[no-redef]


def _key(run: str, step: str) -> dict[str, Any]:
    return {"run": {"S": run}, "step": {"S": step}}


def start(dynamodb: Any, table: str, run: str, step: str, order: int, now: float) -> float:
    """Record the step as started (once) and return when it first started."""
    answer = call(
        dynamodb.update_item,
        TableName=table,
        Key=_key(run, step),
        UpdateExpression=(
            "SET started_at = if_not_exists(started_at, :now), step_order = :order, "
            "attempts = if_not_exists(attempts, :zero) + :one, #s = if_not_exists(#s, :running)"
        ),
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":now": {"N": repr(now)}, ":order": {"N": str(order)}, ":zero": {"N": "0"},
            ":one": {"N": "1"}, ":running": {"S": "running"},
        },
        ReturnValues="ALL_NEW",  # the first start time, in the same call
    )  # fmt: skip
    return float(answer["Attributes"]["started_at"]["N"])


def end(
    dynamodb: Any, table: str, run: str, step: str, status: str, detail: dict[str, Any], now: float
) -> None:
    call(
        dynamodb.update_item,
        TableName=table,
        Key=_key(run, step),
        UpdateExpression="SET ended_at = :now, #s = :status, detail = :detail",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":now": {"N": repr(now)},
            ":status": {"S": status},
            ":detail": {"S": json.dumps(detail, default=str)[:60_000]},
        },
    )


def read(dynamodb: Any, table: str, run: str) -> list[dict[str, Any]]:
    """The run's steps in order: name, status, start, end, attempts, detail."""
    found = call(
        dynamodb.query,
        TableName=table,
        KeyConditionExpression="#r = :run",
        ExpressionAttributeNames={"#r": "run"},
        ExpressionAttributeValues={":run": {"S": run}},
        ConsistentRead=True,
    )
    rows = []
    for item in found.get("Items", []):
        rows.append(
            {
                "step": item["step"]["S"],
                "order": int(item.get("step_order", {"N": "0"})["N"]),
                "status": item.get("status", {}).get("S"),
                "started_at": float(item["started_at"]["N"]) if "started_at" in item else None,
                "ended_at": float(item["ended_at"]["N"]) if "ended_at" in item else None,
                "attempts": int(item.get("attempts", {"N": "0"})["N"]),
                "detail": json.loads(item["detail"]["S"]) if "detail" in item else {},
            }
        )
    return sorted(rows, key=lambda r: r["order"])


def completed(dynamodb: Any, table: str, run: str) -> dict[str, dict[str, Any]]:
    """Results of the steps this run finished, for steps that report on earlier ones."""
    return {r["step"]: r["detail"] for r in read(dynamodb, table, run) if r["status"] == "done"}
