"""Run Twenty's schema migration once, as its own ECS task, before any service moves.

Every service runs with ``DISABLE_DB_MIGRATIONS=true``; the only thing that migrates is
the primary's ``migrate`` task definition: the same image and wrapper, migrations and
cron registration on, and the command ``true``, so Twenty's entrypoint sets up or
upgrades the database, registers its cron jobs and exits. Its exit code is the verdict
(the pinned release's entrypoint runs under ``set -e``: a failed upgrade stops it with a
non-zero code; older releases that log and carry on are caught by the upgrade-failed
alarm on the same log group).

RunTask cannot override a container's image, so a release registers a new revision of
the ``migrate`` family with the new image (everything else copied from the current
revision, the one CloudFormation manages), then runs that revision with the server
service's own network configuration (its private subnets and security group).

Before an upgrade of a schema that already holds data, a manual snapshot tagged with
both releases is taken and waited for: restoring it is the only way back
(docs/emergency-recovery.md, "Roll back a failed upgrade").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Progress = Callable[[str], None]

# RegisterTaskDefinition accepts these fields of a DescribeTaskDefinition answer.
_REGISTERABLE = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
    "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
    "runtimePlatform", "ephemeralStorage", "pidMode", "ipcMode", "proxyConfiguration",
)  # fmt: skip


class MigrationFailed(Exception):
    """The migration task did not finish with exit code 0; the message says where to look."""


@dataclass(frozen=True)
class Target:
    """Where the migration runs: the primary's cluster, its families and database."""

    cluster: str
    family: str  # the migrate task definition family
    network_from_service: str  # the server service, whose subnets and groups are reused
    db_instance: str
    container: str = "migrate"


def snapshot_id(db_instance: str, version: str, now: float) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{db_instance}-pre-{version.replace('.', '-')}-{stamp}"


def take_snapshot(
    rds: Any, target: Target, *, current: str, version: str, progress: Progress, timeout_s: int
) -> str:
    """A manual snapshot tagged with the release it precedes; returns once it is available."""
    identifier = snapshot_id(target.db_instance, version, time.time())
    progress(f"snapshot {identifier} of {target.db_instance} (schema at {current})...")
    rds.create_db_snapshot(
        DBSnapshotIdentifier=identifier,
        DBInstanceIdentifier=target.db_instance,
        Tags=[
            {"Key": "crm-platform:before-release", "Value": version},
            {"Key": "crm-platform:schema-release", "Value": current},
        ],
    )
    delay = 30
    rds.get_waiter("db_snapshot_available").wait(
        DBSnapshotIdentifier=identifier,
        WaiterConfig={"Delay": delay, "MaxAttempts": max(1, timeout_s // delay)},
    )
    progress(f"snapshot {identifier} available")
    return identifier


def revision_with_image(ecs: Any, family: str, image: str) -> str:
    """The ARN of a ``family`` revision whose Twenty containers run ``image`` (idempotent)."""
    current = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    containers = current["containerDefinitions"]
    essential = next(c for c in containers if c.get("essential", True))
    old = essential["image"]
    if old == image:
        return str(current["taskDefinitionArn"])
    fields = {k: current[k] for k in _REGISTERABLE if k in current}
    fields["containerDefinitions"] = [
        {**c, "image": image} if c["image"] == old else c for c in containers
    ]
    registered = ecs.register_task_definition(**fields)["taskDefinition"]
    return str(registered["taskDefinitionArn"])


def network_of(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    answer = ecs.describe_services(cluster=cluster, services=[service])["services"]
    if not answer:
        raise MigrationFailed(f"service {service} not found in {cluster}: deploy the stacks first")
    network: dict[str, Any] = answer[0]["networkConfiguration"]
    return network


def run_once(
    ecs: Any,
    target: Target,
    task_definition: str,
    *,
    progress: Progress,
    timeout_s: int,
    poll_s: float = 15,
) -> None:
    """Run the migration task to its end; raise ``MigrationFailed`` unless it exits 0."""
    started = ecs.run_task(
        cluster=target.cluster,
        taskDefinition=task_definition,
        launchType="FARGATE",
        count=1,
        startedBy="crm-platform-migrate",
        networkConfiguration=network_of(ecs, target.cluster, target.network_from_service),
    )
    if started.get("failures") or not started.get("tasks"):
        raise MigrationFailed(f"ECS did not start the migration: {started.get('failures')}")
    task_arn = started["tasks"][0]["taskArn"]
    progress(f"migration task {task_arn.rsplit('/', 1)[-1]} started ({task_definition})")
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        task = ecs.describe_tasks(cluster=target.cluster, tasks=[task_arn])["tasks"][0]
        status = task["lastStatus"]
        if status != last:
            progress(f"migration task {status.lower()}")
            last = status
        if status == "STOPPED":
            break
        if time.monotonic() > deadline:
            ecs.stop_task(cluster=target.cluster, task=task_arn, reason="migration timed out")
            raise MigrationFailed(
                f"migration still running after {timeout_s // 60} minutes; "
                "stopped it (raise pipeline.migration_timeout_minutes)"
            )
        time.sleep(poll_s)
    container = next((c for c in task["containers"] if c["name"] == target.container), None)
    code = None if container is None else container.get("exitCode")
    if code != 0:
        reason = (container or {}).get("reason") or task.get("stoppedReason", "")
        raise MigrationFailed(
            f"the migration exited with {code} ({reason}); its log is in the migrate task's "
            "log group, stream prefix 'migrate'. The services still run the previous release."
        )
    progress("migration finished: exit code 0")
