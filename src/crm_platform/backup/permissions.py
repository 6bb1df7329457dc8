"""What AWS Backup and the restore tests need (needs.py).

AWS Backup assumes the backup and restore-test roles (their trust policies must let
``backup.amazonaws.com`` in), and the restore-test validator
(backup/runtime/validate_restore.py) reads the restored instance and reports its verdict
to AWS Backup (its metric comes from a log filter, not a call).
"""

from __future__ import annotations

from crm_platform.naming import Names
from crm_platform.needs import Need, Who


def needs(names: Names, role_arn: dict[str, str]) -> list[Need]:
    """``role_arn``: the backup and restore-test roles' ARNs (generated names)."""
    service = Who(service="backup.amazonaws.com")
    validator = Who(names.primary_stack, handler="validate_restore.handler")
    region = names.primary_region
    return [
        *(
            Need.call(
                service,
                f"AWS Backup assumes the {kind} role",
                "sts",
                region,
                "AssumeRole",
                RoleArn=arn,
            )
            for kind, arn in role_arn.items()
        ),
        Need.call(
            validator,
            "read the restored instance",
            "rds",
            region,
            "DescribeDBInstances",
            DBInstanceIdentifier="restore-test-instance",
        ),
        Need.call(
            validator,
            "report the validation to AWS Backup",
            "backup",
            region,
            "PutRestoreValidationResult",
        ),
    ]
