"""Run the database bootstrap task to its end for CloudFormation (a custom resource).

CloudFormation sends Create, Update and Delete requests and waits for an answer at the
request's pre-signed ``ResponseURL``
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref.html).
Create and Update run one task of the bootstrap family (its latest revision, which
CloudFormation registered before this resource, which depends on it) in the given
subnets and security groups, wait until it stopped, and answer SUCCESS only when its
container exited 0. Delete answers SUCCESS at once: the user and what it owns stay.

Every outcome is answered, failures included, with the task and where its log is, so
the stack operation fails with a reason instead of waiting for the service timeout. A
task still running shortly before the function's own timeout is stopped and reported.

Runs on the Lambda runtime's own boto3; nothing else is packaged.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3

log = logging.getLogger()
log.setLevel(logging.INFO)

POLL_SECONDS = 10
MARGIN_SECONDS = 60  # answered before Lambda's own timeout could cut the answer off
REASON_LIMIT = 1500  # the whole answer must stay under CloudFormation's 4096 bytes


class Failed(Exception):
    """The task did not run to a clean end: the message says why and where to look."""


def run_task(
    ecs: Any,
    props: dict[str, Any],
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run one task of ``props['Family']`` and wait for it; its ARN if the container
    ``props['Container']`` exited 0, else :class:`Failed`."""
    started = ecs.run_task(
        cluster=props["Cluster"],
        taskDefinition=props["Family"],
        launchType="FARGATE",
        count=1,
        startedBy="crm-platform-bootstrap",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(props["Subnets"]),
                "securityGroups": list(props["SecurityGroups"]),
                "assignPublicIp": "DISABLED",
            }
        },
    )
    if started.get("failures") or not started.get("tasks"):
        raise Failed(f"ECS did not start the bootstrap task: {started.get('failures')}")
    task_arn = str(started["tasks"][0]["taskArn"])
    log.info("bootstrap task %s started", task_arn)
    while True:
        task = ecs.describe_tasks(cluster=props["Cluster"], tasks=[task_arn])["tasks"][0]
        if task["lastStatus"] == "STOPPED":
            break
        if clock() > deadline:
            ecs.stop_task(cluster=props["Cluster"], task=task_arn, reason="bootstrap timed out")
            raise Failed(f"the bootstrap task {task_arn} did not end in time; stopped it")
        sleep(POLL_SECONDS)
    container = next((c for c in task["containers"] if c["name"] == props["Container"]), None)
    code = None if container is None else container.get("exitCode")
    if code != 0:
        why = (container or {}).get("reason") or task.get("stoppedReason", "")
        raise Failed(
            f"the bootstrap task {task_arn} ended with exit code {code} ({why}); its log is "
            f"in the {props['Family']} task's log group, stream prefix "
            f"'{props['Container']}'. The services were not moved."
        )
    return task_arn


def answer(
    event: dict[str, Any],
    status: str,
    reason: str,
    data: dict[str, str],
    put: Callable[[str, bytes], None],
) -> None:
    """The response object CloudFormation reads (crpg-ref-responses)."""
    body = {
        "Status": status,
        "Reason": reason[:REASON_LIMIT],
        "PhysicalResourceId": event.get("PhysicalResourceId")
        or f"{event['ResourceProperties']['Family']}-bootstrap",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    put(event["ResponseURL"], json.dumps(body).encode())


def _put(url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's pre-signed https URL
        url, data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        log.info("answered CloudFormation: %s", response.status)


def handle(
    event: dict[str, Any],
    remaining_seconds: float,
    ecs: Any,
    put: Callable[[str, bytes], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run (Create, Update) or do nothing (Delete), and always answer; the status sent."""
    kind = event["RequestType"]
    status, reason, data = "SUCCESS", f"{kind}: nothing to run", {}
    try:
        if kind in ("Create", "Update"):
            deadline = clock() + remaining_seconds - MARGIN_SECONDS
            task_arn = run_task(
                ecs, event["ResourceProperties"], deadline=deadline, clock=clock, sleep=sleep
            )
            reason, data = f"bootstrap task {task_arn} exited 0", {"TaskArn": task_arn}
    except Exception as err:  # every failure is answered, never left to the timeout
        log.exception("bootstrap failed")
        status, reason = "FAILED", f"{type(err).__name__}: {err}"
    answer(event, status, reason, data, put)
    return status


def handler(event: dict[str, Any], context: Any) -> str:
    log.info("request: %s", json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}))
    return handle(
        event,
        context.get_remaining_time_in_millis() / 1000,
        boto3.client("ecs"),
        _put,
    )
