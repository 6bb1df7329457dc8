"""``crm-platform restore``: restore the database from a backup into a **new** instance.

A dry run by default: it reads the region's vault, picks the point (restore_points.py),
finds where the database lives in that region (parameter group, subnet group, security
group, key) and prints the plan; nothing is created. ``--execute`` starts the restore,
follows it and validates the instance with the restore test's own checks
(backup/runtime/validate_restore.py) and the plan's placement; ops/restore_service.py
runs these as the first steps of the journey that puts it into service
(docs/adr/0048-restore-into-service.md).

Idempotent: the new instance's identifier is derived from the request (environment,
region, point, time), so a second ``--execute`` finds the instance (or the AWS Backup job
still creating it) and follows it instead of starting another. The restore never names
the existing instance: the identifier always ends in ``-restore-<request>``.

Runs as the operator role (failover/operator_role.py; ops/permissions.py lists every
call). AWS Backup creates the instance as the restore role it is passed
(``Names.restore_break_glass_role``); a manual snapshot is restored by RDS directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.backup.runtime import validate_restore
from crm_platform.naming import Names
from crm_platform.ops.restore_points import (
    PointSpec,
    RecoveryPoint,
    RestoreRefused,
    Selection,
    select,
)

Client = Callable[[str, str], Any]
REQUEST_TAG = "crm-platform:restore-request"
POINT_TAG = "crm-platform:restore-point"
POLL_SECONDS = 30
MAX_WAIT = timedelta(hours=6)  # a large database restores for hours; stop following then
RUNNING_JOB = frozenset({"CREATED", "PENDING", "RUNNING"})
FAILED_JOB = frozenset({"FAILED", "ABORTED"})
# Where each region's database constructs live, when no instance is left to read them
# from (a lost replica): (stack, logical-id prefix) per kind. The prefixes are the CDK
# construct paths (database/construct.py, database/replica.py, networking).
_PRIMARY_PLACEMENT = {
    "parameter_group": ("DatabaseParameters", "AWS::RDS::DBParameterGroup"),
    "subnet_group": ("DatabaseSubnetGroup", "AWS::RDS::DBSubnetGroup"),
    "security_group": ("SecurityGroupsDatabase", "AWS::EC2::SecurityGroup"),
}
_DR_PLACEMENT = {
    "parameter_group": ("ReplicaParameters", "AWS::RDS::DBParameterGroup"),
    "subnet_group": ("ReplicaInstanceSubnetGroup", "AWS::RDS::DBSubnetGroup"),
    "security_group": ("SecurityGroupsDatabase", "AWS::EC2::SecurityGroup"),
}


class RestoreFailed(Exception):
    """The restore started but did not produce a usable instance."""


@dataclass(frozen=True)
class Placement:
    """Where the restored instance goes: what the region's database uses."""

    parameter_group: str
    subnet_group: str
    security_groups: tuple[str, ...]
    found_in: str  # the instance or stacks this was read from


@dataclass(frozen=True)
class Plan:
    region: str
    vault: str
    spec: PointSpec
    selection: Selection
    request_id: str
    identifier: str  # the new instance: never the platform's own
    placement: Placement
    key: str  # the key the restored instance will be encrypted with
    role_arn: str  # the role AWS Backup creates the instance as
    multi_az: bool
    metadata: Mapping[str, str] = field(default_factory=dict)

    def lines(self) -> list[tuple[str, str]]:
        p = self.placement
        return [
            ("point", f"{self.spec.describe()}: {self.selection.summary}"),
            ("from", f"{self.vault} ({self.region})"
             if self.selection.how != "snapshot" else f"RDS snapshots ({self.region})"),
            ("into", f"{self.identifier} (new; request {self.request_id})"),
            ("parameter group", p.parameter_group),
            ("subnet group", p.subnet_group),
            ("security groups", ", ".join(p.security_groups)),
            ("key", self.key or "the recovery point's"),
            ("placement read from", p.found_in),
            ("restored as", self.role_arn if self.selection.how != "snapshot" else "RDS"),
            ("multi-AZ", "yes" if self.multi_az else "no"),
        ]  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    identifier: str
    how: str  # "started" or "resumed"
    endpoint: str
    problems: tuple[str, ...]  # empty: valid
    verdict: str


def restored_identifier(names: Names, request_id: str) -> str:
    """``<prefix>-postgres-restore-<request>``: new, never the platform's instance."""
    return f"{names.db_instance}-restore-{request_id}"


def role_arn(names: Names) -> str:
    return f"arn:aws:iam::{names.account}:role/{names.restore_break_glass_role}"


def database_arns(names: Names) -> list[str]:
    """The resources whose recovery points count: the primary instance and the DR
    database (backed up by DR's standby plan once promoted)."""
    return [
        names.db_instance_arn,
        f"arn:aws:rds:{names.dr_region}:{names.account}:db:{names.db_replica}",
    ]


def _not_found(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in (
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
    )


def describe(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as err:
        if _not_found(err):
            return None
        raise
    return found[0] if found else None


def reference_instance(names: Names, region: str) -> str:
    """The instance whose placement a restore in ``region`` copies."""
    return names.db_instance if region == names.primary_region else names.db_replica


def placement(names: Names, client: Client, region: str) -> tuple[Placement, dict[str, Any] | None]:
    """The region's database placement, from its instance or (none left) its stacks."""
    reference = reference_instance(names, region)
    instance = describe(client("rds", region), reference)
    if instance is not None:
        return (
            Placement(
                parameter_group=instance["DBParameterGroups"][0]["DBParameterGroupName"],
                subnet_group=instance["DBSubnetGroup"]["DBSubnetGroupName"],
                security_groups=tuple(
                    g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])
                ),
                found_in=f"instance {reference}",
            ),
            instance,
        )
    primary = region == names.primary_region
    stacks = [names.primary_stack] if primary else [names.dr_stack, names.dr_database_stack]
    wanted = _PRIMARY_PLACEMENT if primary else _DR_PLACEMENT
    found: dict[str, str] = {}
    cfn = client("cloudformation", region)
    for stack in stacks:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for row in page["StackResourceSummaries"]:
                for kind, (prefix, rtype) in wanted.items():
                    logical = row["LogicalResourceId"]
                    if row["ResourceType"] == rtype and logical.startswith(prefix):
                        found.setdefault(kind, row["PhysicalResourceId"])
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise RestoreRefused(
            f"{reference} is gone and the stacks {', '.join(stacks)} do not name its "
            f"{', '.join(missing)}: deploy the region's stacks first (crm-platform deploy)"
        )
    return (
        Placement(
            found["parameter_group"], found["subnet_group"], (found["security_group"],),
            found_in=f"stacks {', '.join(stacks)} ({reference} is gone)",
        ),
        None,
    )  # fmt: skip


def recovery_points(backup: Any, vault: str) -> list[RecoveryPoint]:
    rows: list[RecoveryPoint] = []
    token: str | None = None
    while True:
        page = backup.list_recovery_points_by_backup_vault(
            BackupVaultName=vault, ByResourceType="RDS", **({"NextToken": token} if token else {})
        )
        rows += [RecoveryPoint.of(r) for r in page.get("RecoveryPoints", [])]
        token = page.get("NextToken")
        if not token:
            return rows


def restore_metadata(
    base: Mapping[str, str],
    plan_identifier: str,
    where: Placement,
    selection: Selection,
    *,
    multi_az: bool,
) -> dict[str, str]:
    """AWS Backup's RDS restore metadata: what the recovery point recorded, with the new
    identifier and the region's placement (keys as restore testing names them:
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html;
    the point-in-time keys are assumed, verify on staging)."""
    overrides = {
        "DBInstanceIdentifier", "DBSubnetGroupName", "VpcSecurityGroupIds",
        "DBParameterGroupName", "MultiAZ", "CopyTagsToSnapshot", "RestoreTime",
        "UseLatestRestorableTime", "AvailabilityZone",
    }  # fmt: skip
    # AWS Backup reads the keys without regard to case: drop the recorded spelling of
    # every key set here, so no key reaches it twice.
    replaced = {k.lower() for k in overrides}
    metadata = {k: v for k, v in base.items() if k.lower() not in replaced}
    metadata.update({
        "DBInstanceIdentifier": plan_identifier,
        "DBSubnetGroupName": where.subnet_group,
        "VpcSecurityGroupIds": json.dumps(list(where.security_groups)),
        "DBParameterGroupName": where.parameter_group,
        "MultiAZ": "true" if multi_az else "false",
        "CopyTagsToSnapshot": "true",
    })  # fmt: skip
    if selection.how == "point-in-time":
        if selection.restore_time is None:
            metadata["UseLatestRestorableTime"] = "true"
        else:
            metadata["RestoreTime"] = selection.restore_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return metadata


def plan(
    names: Names,
    client: Client,
    *,
    point: str,
    region: str,
    retention_days: int,
    multi_az: bool,
    now: datetime | None = None,
) -> Plan:
    """Everything the restore would do, from reads only; RestoreRefused when it cannot."""
    spec = PointSpec.parse(point)
    at = now or datetime.now(UTC)
    where, reference = placement(names, client, region)
    vault = names.backup_vault(region)
    key = ""
    if spec.kind == "snapshot":
        snapshot = _snapshot(client("rds", region), spec.snapshot, names)
        key = str(snapshot.get("KmsKeyId", ""))
        points: list[RecoveryPoint] = []
    else:
        points = recovery_points(client("backup", region), vault)
    selection = select(
        spec, region=region, source_region=names.primary_region, vault=vault, points=points,
        resources=database_arns(names), retention_days=retention_days, now=at,
        latest_restorable=(reference or {}).get("LatestRestorableTime")
        if region == names.primary_region else None,
    )  # fmt: skip
    request_id = selection.request_id(names.prefix, region, at)
    identifier = restored_identifier(names, request_id)
    metadata: dict[str, str] = {}
    if selection.how != "snapshot":
        base = client("backup", region).get_recovery_point_restore_metadata(
            BackupVaultName=vault, RecoveryPointArn=selection.source
        )["RestoreMetadata"]
        metadata = restore_metadata(base, identifier, where, selection, multi_az=multi_az)
        key = selection.key_arn
    return Plan(
        region, vault, spec, selection, request_id, identifier, where, key, role_arn(names),
        multi_az, metadata,
    )  # fmt: skip


def _snapshot(rds: Any, name: str, names: Names) -> dict[str, Any]:
    try:
        found = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "DBSnapshotNotFound":
            found = []
        else:
            raise
    if not found:
        raise RestoreRefused(
            f"no snapshot {name}; the pipeline's are listed by aws rds describe-db-snapshots "
            f"--db-instance-identifier {names.db_instance} --snapshot-type manual"
        )
    snapshot: dict[str, Any] = found[0]
    if snapshot.get("Status") != "available":
        raise RestoreRefused(f"snapshot {name} is {snapshot.get('Status')}, not available")
    return snapshot


def _running_job(backup: Any, p: Plan, now: datetime) -> dict[str, Any] | None:
    """The AWS Backup job this request started, while it has not created the instance."""
    jobs = backup.list_restore_jobs(
        ByCreatedAfter=now - timedelta(days=2), ByResourceType="RDS"
    ).get("RestoreJobs", [])
    for job in jobs:
        mine = (job.get("RecoveryPointArn") == p.selection.source
                and job.get("IamRoleArn") == p.role_arn)  # fmt: skip
        created = str(job.get("CreatedResourceArn") or "")
        ours = not created or created.endswith(f":db:{p.identifier}")
        if mine and ours and job.get("Status") in RUNNING_JOB:
            return dict(job)
    return None


def start(names: Names, client: Client, p: Plan, *, now: datetime) -> tuple[str, str | None]:
    """("started" | "resumed", the AWS Backup job id or None)."""
    rds = client("rds", p.region)
    if describe(rds, p.identifier) is not None:
        return "resumed", None
    tags = [
        {"Key": REQUEST_TAG, "Value": p.request_id},
        {"Key": POINT_TAG, "Value": p.spec.describe()},
    ]
    if p.selection.how == "snapshot":
        rds.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=p.identifier,
            DBSnapshotIdentifier=p.selection.source,
            DBSubnetGroupName=p.placement.subnet_group,
            VpcSecurityGroupIds=list(p.placement.security_groups),
            DBParameterGroupName=p.placement.parameter_group,
            MultiAZ=p.multi_az,
            CopyTagsToSnapshot=True,
            DeletionProtection=True,
            Tags=tags,
        )
        return "started", None
    backup = client("backup", p.region)
    job = _running_job(backup, p, now)
    if job is not None:
        return "resumed", str(job["RestoreJobId"])
    started = backup.start_restore_job(
        RecoveryPointArn=p.selection.source,
        Metadata=dict(p.metadata),
        IamRoleArn=p.role_arn,
        # Within AWS Backup's idempotency period a retry starts nothing new; after it,
        # the identifier (found above) is what makes a second --execute resume.
        IdempotencyToken=p.request_id,
        ResourceType="RDS",
    )
    return "started", str(started["RestoreJobId"])


def wait(
    client: Client,
    p: Plan,
    job_id: str | None,
    *,
    progress: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Follow the restore until the instance is available; its description."""
    rds, backup = client("rds", p.region), client("backup", p.region)
    deadline = clock() + MAX_WAIT.total_seconds()
    last, status = "", ""
    while True:
        if job_id is not None:
            job = backup.describe_restore_job(RestoreJobId=job_id)
            status = str(job.get("Status"))
            if status in FAILED_JOB:
                raise RestoreFailed(
                    f"AWS Backup restore job {job_id} {status}: {job.get('StatusMessage', '')}"
                )
        instance = describe(rds, p.identifier)
        state = instance.get("DBInstanceStatus", "?") if instance else "not created yet"
        seen = f"{p.identifier}: {state}" + (f" (job {job_id} {status})" if job_id else "")
        if seen != last:
            progress(seen)
            last = seen
        if instance is not None and state == "available":
            return instance
        if clock() > deadline:
            raise RestoreFailed(
                f"{p.identifier} not available after {MAX_WAIT}; run the command again to "
                "keep following it"
            )
        sleep(POLL_SECONDS)


def validate(client: Client, p: Plan, instance: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The restore test's verdict (available, encrypted) and the plan's placement."""
    rds = client("rds", p.region)
    status, message = validate_restore.check_instance(
        rds, p.identifier, remaining_ms=lambda: 0, sleep=lambda _s: None
    )
    problems = [] if status == validate_restore.SUCCESSFUL else [message]
    groups = [g["DBParameterGroupName"] for g in instance.get("DBParameterGroups", [])]
    if p.placement.parameter_group not in groups:
        problems.append(f"parameter group {groups}, expected {p.placement.parameter_group}")
    subnet = (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    if subnet != p.placement.subnet_group:
        problems.append(f"subnet group {subnet}, expected {p.placement.subnet_group}")
    security = sorted(g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", []))
    if security != sorted(p.placement.security_groups):
        problems.append(f"security groups {security}, expected {list(p.placement.security_groups)}")
    if p.key and instance.get("KmsKeyId") and instance["KmsKeyId"] != p.key:
        problems.append(f"key {instance['KmsKeyId']}, expected {p.key}")
    return message, problems


def tag(client: Client, p: Plan, instance: Mapping[str, Any]) -> None:
    """Name the request on the instance (AWS Backup's restore takes no tags of ours)."""
    client("rds", p.region).add_tags_to_resource(
        ResourceName=instance["DBInstanceArn"],
        Tags=[
            {"Key": REQUEST_TAG, "Value": p.request_id},
            {"Key": POINT_TAG, "Value": p.spec.describe()},
        ],
    )


def execute(
    names: Names,
    client: Client,
    p: Plan,
    *,
    progress: Callable[[str], None],
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    how, job_id = start(names, client, p, now=now or datetime.now(UTC))
    progress(f"{how} the restore into {p.identifier}" + (f" (job {job_id})" if job_id else ""))
    instance = wait(client, p, job_id, progress=progress, sleep=sleep)
    tag(client, p, instance)
    verdict, problems = validate(client, p, instance)
    endpoint = str((instance.get("Endpoint") or {}).get("Address", ""))
    return Outcome(p.identifier, how, endpoint, tuple(problems), verdict)
