"""One way to run SQL in a region, inside its VPC: a one-off ECS task with a named purpose.

A step (or failback) that must read or change the database does not open a connection
itself: the step function runs outside any VPC, and the database admits only the tier's
security group. It starts the region's SQL task instead (``<prefix>sql``, the platform's
own image, which ships ``psql``; compute/sql_task.py), whose entry point holds the SQL of
every purpose: the caller names a ``purpose`` (the container's command) and never sends
SQL. The task logs in as Twenty's own user, prints exactly one result line
(``crm-platform: sql <purpose>: <json>``) and stops; this module reads that line from the
task's CloudWatch Logs stream (``<container>/<container>/<task id>``, the awslogs driver's
naming) and hands back the JSON.

Poll-style, like ``register_jobs``: the first call starts one task, later calls return
``Outcome(False, wait=...)`` until it stopped. The task is found again by ``startedBy``,
a digest of the incident, the purpose and the region, so a resumed run never starts a
second one beside it. A task that failed (non-zero exit, or no result line in its log) is
replaced by a new one, up to ``ATTEMPTS`` in all; then ``StepFailed`` names its log
stream. ``repeat_while`` asks for a fresh answer while the latest one is not what the
caller waits for (one task at a time): ``wait_writable`` repeats while the database is
still in recovery.

Purposes and their results (docs/adr/0045):

- ``writable``: ``{"in_recovery": bool, "write": "ok" | "error: <msg>"}``; the write
  is ``BEGIN; CREATE TEMP TABLE ...; ROLLBACK`` and leaves nothing behind (a hot standby
  refuses it);
- ``last-beat``: ``{"beat_at": epoch seconds | None, "in_recovery": bool, "now": epoch
  seconds}``, the replication heartbeat's last beat (database/heartbeat.py) and the
  database's own clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Literal

from botocore.exceptions import ClientError

try:  # imported as a package by the CLI and the drill ...
    from crm_platform.failover.runtime import steps
except ImportError:  # pragma: no cover - ... and flat inside the Lambda asset
    import steps  # type: ignore[no-redef]

Region = Literal["primary", "dr"]
PURPOSES = ("writable", "last-beat")
# The line the task prints (compute/sql_task.py writes it; here it is read back).
RESULT_MARKER = "crm-platform: sql"  # contracts.SQL_RESULT_MARKER
# Tasks in all (the first and its replacements) before a failing purpose fails the step.
ATTEMPTS = 3
# How long after a task stopped its log line may still be on its way to CloudWatch Logs.
LOG_GRACE_SECONDS = 60
POLL_SECONDS = 10


def result_line(purpose: str, result: dict[str, Any]) -> str:
    """The one line the task prints (what the drill's model writes, too)."""
    return f"{RESULT_MARKER} {purpose}: {json.dumps(result, separators=(',', ':'))}"


def started_by(run: str, purpose: str, region: str) -> str:
    """ECS's ``startedBy``: the incident, purpose and region, as one digest (36 characters)."""
    digest = hashlib.sha256(f"{run}|{purpose}|{region}".encode()).hexdigest()
    return f"sql-{digest[:32]}"


def _where(ctx: steps.Context, region: Region) -> tuple[str, dict[str, Any]]:
    name = ctx.dr if region == "dr" else ctx.primary
    return name, dict(ctx.config["sql_tasks"][region])


def log_stream(task: dict[str, Any], arn: str) -> str:
    """The awslogs stream of ``arn``'s container: ``prefix/container/task-id`` (the stream
    prefix is the container's name, as every task of the platform has it)."""
    return f"{task['container']}/{task['container']}/{arn.rsplit('/', 1)[-1]}"


def _read_result(
    ctx: steps.Context, region_name: str, task: dict[str, Any], arn: str, purpose: str
) -> dict[str, Any] | None:
    """The task's result line, or None when its log holds none (yet)."""
    logs = ctx.client("logs", region_name)
    prefix = f"{RESULT_MARKER} {purpose}: "
    kwargs: dict[str, Any] = {
        "logGroupName": task["log_group"],
        "logStreamName": log_stream(task, arn),
        "startFromHead": True,
    }
    while True:
        try:
            page = steps.call(logs.get_log_events, **kwargs)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None  # the stream is not there (yet)
            raise
        for event in page.get("events", []):
            message = str(event.get("message", ""))
            if message.startswith(prefix):
                found: dict[str, Any] = json.loads(message[len(prefix) :])
                return found
        token = page.get("nextForwardToken")
        if not page.get("events") or token == kwargs.get("nextToken"):
            return None
        kwargs["nextToken"] = token


def _epoch(value: Any) -> float:
    """ECS's timestamps (datetimes through boto3; numbers in some fakes) as epoch seconds."""
    if value is None:
        return 0.0
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _succeeded(t: dict[str, Any], container: str) -> bool:
    codes = [c.get("exitCode") for c in t.get("containers", []) if c.get("name") == container]
    return bool(codes) and all(code == 0 for code in codes)


def run(
    ctx: steps.Context,
    region: Region,
    purpose: str,
    *,
    repeat_while: Callable[[dict[str, Any]], bool] | None = None,
) -> steps.Outcome:
    """Run ``purpose`` in ``region``'s SQL task; poll until it has an answer.

    ``Outcome(True, {"result": {...}, "task": arn, "log": "group:stream"})`` once a task
    succeeded; ``Outcome(False, wait=...)`` while one runs, or was just started. With
    ``repeat_while``, a result for which it holds starts another task (the detail keeps
    the latest result) instead of being returned.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown SQL purpose {purpose!r}: one of {PURPOSES}")
    region_name, task = _where(ctx, region)
    ecs = ctx.client("ecs", region_name)
    cluster = task["cluster"]
    tag = started_by(ctx.run, purpose, region)
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns += steps.call(ecs.list_tasks, cluster=cluster, startedBy=tag,
                           desiredStatus=status)["taskArns"]  # fmt: skip
    found = steps.call(ecs.describe_tasks, cluster=cluster, tasks=arns)["tasks"] if arns else []
    found.sort(key=lambda t: _epoch(t.get("createdAt")))
    if any(t.get("lastStatus") != "STOPPED" for t in found):
        return steps.Outcome(False, {"sql": purpose, "region": region, "status": "running"},
                             wait=POLL_SECONDS)  # fmt: skip
    container = task["container"]
    failed = [t for t in found if not _succeeded(t, container)]
    latest: dict[str, Any] | None = None
    if found and _succeeded(found[-1], container):
        arn = str(found[-1]["taskArn"])
        where = f"{task['log_group']}:{log_stream(task, arn)}"
        result = _read_result(ctx, region_name, task, arn, purpose)
        if result is None:
            if ctx.now() - _epoch(found[-1].get("stoppedAt")) <= LOG_GRACE_SECONDS:
                return steps.Outcome(False, {"sql": purpose, "region": region,
                                             "status": "reading its log", "log": where},
                                     wait=POLL_SECONDS)  # fmt: skip
            failed.append(found[-1])  # exited 0 but said nothing: as good as failed
        else:
            detail = {"result": result, "task": arn, "log": where}
            if repeat_while is None or not repeat_while(result):
                return steps.Outcome(True, detail)
            latest = detail  # not the answer awaited yet: ask again
    if len(failed) >= ATTEMPTS:
        reasons = sorted({str(t.get("stoppedReason", "")) for t in failed} - {""})
        stream = log_stream(task, str(failed[-1]["taskArn"]))
        raise steps.StepFailed(
            f"the {purpose} SQL task in {region_name} failed {len(failed)} times "
            f"({'; '.join(reasons) or 'no reason given'}): read its log, "
            f"{task['log_group']}:{stream}"
        )
    server_name = ctx.config["services"]["server"]["name"]
    server = steps.call(ecs.describe_services, cluster=cluster, services=[server_name])
    network = server["services"][0]["networkConfiguration"]  # the server's subnets and group
    started = steps.call(
        ecs.run_task,
        cluster=cluster,
        taskDefinition=task["family"],
        launchType="FARGATE",
        count=1,
        startedBy=tag,
        networkConfiguration=network,
        overrides={"containerOverrides": [{"name": task["container"], "command": [purpose]}]},
    )
    if started.get("failures"):
        raise steps.Retryable(f"RunTask failed: {started['failures']}")
    detail = {"sql": purpose, "region": region, "started": started["tasks"][0]["taskArn"]}
    if latest is not None:
        detail["latest"] = latest
    return steps.Outcome(False, detail, wait=POLL_SECONDS)
