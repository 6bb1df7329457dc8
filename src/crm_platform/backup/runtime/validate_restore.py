"""Judge a restore test's RDS instance and report the verdict back to AWS Backup.

A restore test only proves that AWS Backup could start a restore; this function proves
the result is usable: the restored instance exists, reached ``available`` and is
encrypted at rest. The verdict goes to ``PutRestoreValidationResult`` so it shows on the
restore job (and in Backup Audit Manager), and to the log as one JSON line that a
metric filter turns into the "restore validation failed" alarm.

Runs on the Lambda runtime's own boto3; nothing else is packaged.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

SUCCESSFUL, FAILED = "SUCCESSFUL", "FAILED"

# States a freshly restored instance passes through on its own before it is available
# (RDS takes a first automated backup right after a restore, for example). Waiting them
# out avoids failing a restore that is merely still settling.
SETTLING = frozenset({
    "backing-up", "configuring-enhanced-monitoring", "configuring-iam-database-auth",
    "configuring-log-exports", "creating", "maintenance", "modifying", "rebooting",
    "renaming", "resetting-master-credentials", "starting", "storage-optimization",
    "upgrading",
})  # fmt: skip

POLL_SECONDS = 30
# Stop polling this long before the function's own timeout so the verdict still gets sent.
SAFETY_MARGIN_MS = 20_000
# AWS Backup keeps status messages short; longer text is cut rather than rejected.
MAX_MESSAGE = 255
# Errors that mean "this job cannot take a validation result" (not a restore-test job,
# or the validation window already closed): logged, not retried.
_NOT_VALIDATABLE = frozenset({
    "InvalidRequestException", "InvalidParameterValueException", "ResourceNotFoundException",
})  # fmt: skip


def log(event: str, **fields: Any) -> None:
    """One JSON object per line, so CloudWatch metric filters can match on fields."""
    print(json.dumps({"event": event, **fields}, default=str))


def rds_instance_id(arn: str) -> str | None:
    """``mydb`` from ``arn:aws:rds:region:account:db:mydb``; None for anything else."""
    parts = arn.split(":")
    if len(parts) == 7 and parts[2] == "rds" and parts[5] == "db" and parts[6]:
        return parts[6]
    return None


def region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def check_instance(
    rds: Any,
    instance_id: str,
    *,
    remaining_ms: Callable[[], int],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, str]:
    """(status, message) for the restored instance, waiting while it is still settling."""
    while True:
        try:
            found = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
                return FAILED, f"restored instance {instance_id} not found"
            raise
        if not found:
            return FAILED, f"restored instance {instance_id} not found"
        instance = found[0]
        state = instance.get("DBInstanceStatus", "unknown")
        if state in SETTLING and remaining_ms() > SAFETY_MARGIN_MS + POLL_SECONDS * 1000:
            sleep(POLL_SECONDS)
            continue
        if state != "available":
            return FAILED, f"restored instance {instance_id} is {state}, not available"
        if not instance.get("StorageEncrypted", False):
            return FAILED, f"restored instance {instance_id} is available but NOT encrypted"
        key = instance.get("KmsKeyId", "unknown key")
        return SUCCESSFUL, f"restored instance {instance_id} is available and encrypted ({key})"


def report(backup: Any, job_id: str, status: str, message: str) -> bool:
    """Send the verdict; False when AWS Backup says this job takes no validation result."""
    try:
        backup.put_restore_validation_result(
            RestoreJobId=job_id,
            ValidationStatus=status,
            ValidationStatusMessage=message[:MAX_MESSAGE],
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in _NOT_VALIDATABLE:
            log("validation-not-accepted", restoreJobId=job_id, code=code, error=str(err))
            return False
        raise
    return True


def validate(
    event: Mapping[str, Any],
    *,
    rds: Any,
    backup: Any,
    remaining_ms: Callable[[], int],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Validate one "Restore Job State Change" event; returns what was decided."""
    detail = event.get("detail") or {}
    job_id = detail.get("restoreJobId")
    created = detail.get("createdResourceArn") or ""
    if not job_id or not detail.get("restoreTestingPlanArn"):
        # Only restore tests accept a validation result; an operator's own restore is
        # theirs to judge.
        log("skipped", reason="not a restore-test job", restoreJobId=job_id)
        return {"restoreJobId": job_id, "validation": None, "message": "skipped"}
    instance_id = rds_instance_id(created)
    if instance_id is None:
        status, message = FAILED, f"restored resource {created or '(none)'} is not an RDS instance"
    else:
        status, message = check_instance(rds, instance_id, remaining_ms=remaining_ms, sleep=sleep)
    accepted = report(backup, job_id, status, message)
    log(
        "validated",
        restoreJobId=job_id,
        restoreTestingPlanArn=detail.get("restoreTestingPlanArn"),
        createdResourceArn=created,
        validation=status,
        message=message,
        accepted=accepted,
    )
    return {"restoreJobId": job_id, "validation": status, "message": message}


def _client(service: str, region: str | None) -> Any:
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (EventBridge invokes it asynchronously)."""
    detail = event.get("detail") or {}
    region = region_of(detail.get("createdResourceArn") or "") or os.environ.get("AWS_REGION")

    def remaining_ms() -> int:
        getter = getattr(context, "get_remaining_time_in_millis", None)
        return int(getter()) if callable(getter) else 0

    return validate(
        event,
        rds=_client("rds", region),
        backup=_client("backup", os.environ.get("AWS_REGION") or region),
        remaining_ms=remaining_ms,
    )
