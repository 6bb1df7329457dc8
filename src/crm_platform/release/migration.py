"""Run Twenty's schema migration once, as its own ECS task, before any service moves.

Every service runs with ``DISABLE_DB_MIGRATIONS=true``; the only thing that migrates is
the primary's ``migrate`` task definition: the same image, migrations and cron
registration on, and the command ``true``, so Twenty's entrypoint sets up or upgrades
the database, registers its cron jobs and exits.

**The verdict is not the exit code alone.** Older Twenty entrypoints catch a failed
``upgrade``, print "Upgrade completed with errors" and exit 0; the upgrade command logs
"Upgrade failed: ..." and ``event=aborted`` and a summary with the failed workspaces
(/tmp/research/twenty-facts.md, section 3). A migration has completed only when the task
exited 0 **and** its own log holds the wrapper's ``completed`` verdict line
(compute/wrapper.py judges Twenty's output inside the task) **and** none of those
messages: the log is read with CloudWatch Logs ``FilterLogEvents`` on the task's stream
(``<prefix>/<container>/<task id>``), paging until no ``nextToken`` is left, and read
again for a while when the verdict line is not there yet (events are searchable a little
after the container stops). A log that never shows a verdict is a failure too: the step
cannot confirm the upgrade, so it does not record it. Only :class:`Completed` lets the
release record be written (record.py).

RunTask cannot override a container's image, so a release registers a new revision of
the ``migrate`` family with the new image and nothing else changed (everything copied
from the current revision, the one CloudFormation manages), then runs that revision,
with no overrides, with the server service's own network configuration (its private
subnets and security group).

Before an upgrade of a schema that already holds data, a manual snapshot tagged with
both releases is taken and waited for: restoring it is the only way back
(docs/emergency-recovery.md, "Roll back a failed upgrade").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

Progress = Callable[[str], None]

# What the task reports (the same strings as compute/wrapper.py, which judges inside the
# task; tests/test_wrapper.py holds the two lists equal).
UPGRADE_FAILED_PATTERNS = ("Upgrade completed with errors", "Upgrade failed", "event=aborted")
_WORKSPACES_FAILED = re.compile(r"(?<![0-9])([0-9]+) workspace\(s\) failed")
VERDICT = "crm-platform: migration verdict:"
VERDICT_COMPLETED = f"{VERDICT} completed"
LOG_WAIT_S = 120  # how long a stopped task's verdict line may take to become searchable
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

# RegisterTaskDefinition accepts these fields of a DescribeTaskDefinition answer.
_REGISTERABLE = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
    "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
    "runtimePlatform", "ephemeralStorage", "pidMode", "ipcMode", "proxyConfiguration",
)  # fmt: skip


class MigrationFailed(Exception):
    """The migration did not complete (or could not start); the message says where to look."""


class UpgradeIncomplete(MigrationFailed):
    """The task exited, but its log does not say the upgrade completed."""


@dataclass(frozen=True)
class Completed:
    """Proof that one migration task completed: exit code 0 and a ``completed`` verdict
    in its own log, with no failed upgrade reported. Only this lets a release be recorded."""

    task_arn: str
    image: str


@dataclass(frozen=True)
class LogStream:
    """Where one task's container wrote its output (the awslogs driver's naming)."""

    group: str
    stream: str


def check_digest(digest: str | None) -> None:
    """A release names its image by a full ``sha256:`` manifest digest, or not at all
    (the upstream image of a deploy without the pipeline); anything else is refused
    before it can reach a task definition."""
    if digest is not None and not _DIGEST.fullmatch(digest):
        raise MigrationFailed(f"{digest!r} is not an image digest (sha256:<64 hex digits>)")


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
    """The ARN of a ``family`` revision whose Twenty containers run ``image`` (idempotent).

    Only the image changes: command, entry point, environment, secrets, roles and log
    configuration are copied from the current revision (the one CloudFormation
    manages), so a release can choose which image migrates, never what it runs.
    """
    current = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    if current.get("family", family) != family:
        raise MigrationFailed(f"{family} resolved to a revision of {current.get('family')}")
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


def log_stream(ecs: Any, task_definition: str, container: str, task_arn: str) -> LogStream:
    """The log stream of ``container`` in the task ``task_arn`` started from
    ``task_definition``: ``<awslogs-stream-prefix>/<container>/<task id>`` in its group."""
    definition = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    found = next((c for c in definition["containerDefinitions"] if c["name"] == container), None)
    options = ((found or {}).get("logConfiguration") or {}).get("options") or {}
    if "awslogs-group" not in options or "awslogs-stream-prefix" not in options:
        raise UpgradeIncomplete(
            f"{task_definition} has no awslogs configuration for {container}: the migration's "
            "log cannot be read, so its upgrade cannot be confirmed"
        )
    task_id = task_arn.rsplit("/", 1)[-1]
    return LogStream(
        options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{container}/{task_id}"
    )


def upgrade_problems(messages: Iterable[str]) -> list[str]:
    """The lines that say the upgrade did not complete (a summary with 0 failed is fine)."""
    found = []
    for message in messages:
        if VERDICT in message:
            continue  # the wrapper's own line: judged separately
        failed = [int(n) for n in _WORKSPACES_FAILED.findall(message)]
        if any(p in message for p in UPGRADE_FAILED_PATTERNS) or any(n > 0 for n in failed):
            found.append(message.strip())
    return found


def read_log(logs: Any, stream: LogStream) -> list[str]:
    """Every message of one stream, following ``nextToken`` to the end (a page may be
    partly full or empty while more events remain: FilterLogEvents API reference)."""
    messages: list[str] = []
    token: str | None = None
    while True:
        request: dict[str, Any] = {"logGroupName": stream.group, "logStreamNames": [stream.stream]}
        if token:
            request["nextToken"] = token
        try:
            page = logs.filter_log_events(**request)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            return messages  # the stream does not exist (yet): nothing was written
        messages += [str(e.get("message", "")) for e in page.get("events", [])]
        token = page.get("nextToken")
        if not token:
            return messages


def judge_log(
    logs: Any,
    stream: LogStream,
    *,
    progress: Progress,
    wait_s: float | None = None,
    poll_s: float = 10,
) -> None:
    """Raise :class:`UpgradeIncomplete` unless the task's own log says it completed
    (waiting up to ``wait_s``, by default :data:`LOG_WAIT_S`, for the verdict line)."""
    wait_s = LOG_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    while True:
        messages = read_log(logs, stream)
        problems = upgrade_problems(messages)
        if problems:
            shown = "; ".join(problems[:3])
            raise UpgradeIncomplete(
                f"the migration exited 0 but Twenty reported an upgrade that did not complete "
                f"({shown}); log group {stream.group}, stream {stream.stream}. The release is "
                "not recorded and the services still run the previous release."
            )
        verdicts = [m.strip() for m in messages if VERDICT in m]
        if any(VERDICT_COMPLETED in v for v in verdicts):
            progress(f"the migration's log confirms it: {verdicts[-1]}")
            return
        if verdicts:
            raise UpgradeIncomplete(f"{verdicts[-1]} (log stream {stream.stream})")
        if time.monotonic() > deadline:
            raise UpgradeIncomplete(
                f"no verdict in the migration's log ({stream.group} {stream.stream}) "
                f"{int(wait_s)} s after it stopped: the upgrade cannot be confirmed, so the "
                "release is not recorded"
            )
        time.sleep(poll_s)


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
) -> str:
    """Run the migration task to its end, with no overrides; its ARN once it exited 0.

    Raises ``MigrationFailed`` unless it exits 0 (the verdict's first half: the log is
    the second, :func:`judge_log`).
    """
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
    progress("migration task exited 0; reading what it reported...")
    return str(task_arn)


def migrate_once(
    ecs: Any,
    logs: Any,
    target: Target,
    task_definition: str,
    *,
    image: str,
    progress: Progress,
    timeout_s: int,
    poll_s: float = 15,
    log_wait_s: float | None = None,
) -> Completed:
    """Run the migration once and judge it by its exit code and its log (waiting up to
    ``log_wait_s``, by default :data:`LOG_WAIT_S`, for its verdict line)."""
    task_arn = run_once(
        ecs, target, task_definition, progress=progress, timeout_s=timeout_s, poll_s=poll_s
    )
    stream = log_stream(ecs, task_definition, target.container, task_arn)
    wait_s = LOG_WAIT_S if log_wait_s is None else log_wait_s
    judge_log(logs, stream, progress=progress, wait_s=wait_s, poll_s=min(poll_s, 10))
    return Completed(task_arn=task_arn, image=image)
