"""What Twenty's task execution roles need at each task start, in both regions (needs.py).

ECS pulls the image and reads the task's secrets as the execution role
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html:
``ecr:GetAuthorizationToken`` on ``*``, the pull actions on the repository, and
``secretsmanager:GetSecretValue`` with ``kms:Decrypt`` for a customer managed key). The
pipeline deploys the platform repository's image by digest in both regions (its DR
replica in DR), so each region's execution role must be able to pull it from the first
release on, whatever the image of the current synthesis.

They read Twenty's own database user's secret, never the master's (:func:`forbidden`):
only the one-off bootstrap task's own execution role may (database/permissions.py).
"""

from __future__ import annotations

from crm_platform.naming import Names
from crm_platform.needs import Need, Who

PULL = ("BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability")


def needs(names: Names) -> list[Need]:
    found: list[Need] = []
    for region, stack in (
        (names.primary_region, names.primary_stack),
        (names.dr_region, names.dr_app_stack),
    ):
        who = Who(stack, "Twenty/ExecutionRole")
        found.append(
            Need.call(
                who, "authenticate to ECR to pull the image", "ecr", region, "GetAuthorizationToken"
            )
        )
        for operation in PULL:
            found.append(
                Need.call(
                    who,
                    f"pull the platform image from {names.repository} in {region}",
                    "ecr",
                    region,
                    operation,
                    repositoryName=names.repository,
                )
            )
        for secret in (
            names.db_app_secret,
            names.app_secret,
            names.encryption_key_secret,
            names.cache_auth_secret,
        ):
            found.append(
                Need.call(
                    who,
                    f"inject {secret} into the task",
                    "secretsmanager",
                    region,
                    "GetSecretValue",
                    SecretId=secret,
                )
            )
    return found


def forbidden(names: Names) -> list[Need]:
    """What Twenty's roles may not do in either region: read the master's secret (on main
    every Twenty task logged in as the master; issue 18, item 9)."""
    found: list[Need] = []
    for region, stack in (
        (names.primary_region, names.primary_stack),
        (names.dr_region, names.dr_app_stack),
    ):
        for path in ("Twenty/ExecutionRole", "Twenty/TaskRole"):
            found.append(
                Need.call(
                    Who(stack, path),
                    f"{path} reads the master's secret in {region}",
                    "secretsmanager",
                    region,
                    "GetSecretValue",
                    SecretId=names.db_secret,
                )
            )
    return found


def telemetry_needs(names: Names) -> list[Need]:
    """What the collector sidecar does as Twenty's task role when ``telemetry.enabled``
    (compute/telemetry.py): create its task's stream in the EMF log group and put the
    metrics there, in both regions."""
    found: list[Need] = []
    for region, stack in (
        (names.primary_region, names.primary_stack),
        (names.dr_region, names.dr_app_stack),
    ):
        who = Who(stack, "Twenty/TaskRole")
        for operation in ("CreateLogStream", "PutLogEvents"):
            found.append(
                Need.call(
                    who,
                    f"the collector writes Twenty's metrics (EMF) in {region}",
                    "logs",
                    region,
                    operation,
                    logGroupName=names.telemetry_log_group,
                    logStreamName="0123456789abcdef0123456789abcdef",  # {TaskId}
                )
            )
    return found
