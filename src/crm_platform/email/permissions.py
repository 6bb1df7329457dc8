"""What e-mail needs AWS to allow (needs.py), in each serving region.

- ``needs``: email/runtime/smtp_rotation.py. Secrets Manager invokes the region's rotation
  function, which reads and writes its secret, replaces the SMTP user's access key and
  rolls the region's two services. ``secretsmanager:UpdateSecretVersionStage``
  (finishSecret) is decided by tests/test_email.py against the secret's ARN, which only
  the assembly knows.
- ``execution_needs``: ECS hands the SMTP credentials to every Twenty task as its
  execution role ("secretsmanager:GetSecretValue" with the key through Secrets Manager,
  AmazonECS/latest/developerguide/task_execution_IAM_role.html).
"""

from __future__ import annotations

from crm_platform.naming import Names
from crm_platform.needs import Need, Who

ROTATION_HANDLER = "smtp_rotation.handler"


def needs(names: Names) -> list[Need]:
    found: list[Need] = []
    for stack, region in (
        (names.primary_stack, names.primary_region),
        (names.dr_stack, names.dr_region),
    ):
        who = Who(stack, handler=ROTATION_HANDLER)
        secret = names.smtp_secret
        found += [
            Need.call(who, f"read the rotating secret in {region}", "secretsmanager", region,
                      "DescribeSecret", SecretId=secret),
            Need.call(who, f"read the current credentials in {region}", "secretsmanager",
                      region, "GetSecretValue", SecretId=secret),
            Need.call(who, f"store the new credentials in {region}", "secretsmanager", region,
                      "PutSecretValue", SecretId=secret),
        ]  # fmt: skip
        user = names.smtp_user_arn(region)
        found += [
            Need.iam(who, f"{action} of the SMTP user of {region}", f"iam:{action}", user)
            for action in ("ListAccessKeys", "CreateAccessKey", "DeleteAccessKey")
        ]
        for service in (names.server_service, names.worker_service):
            found.append(
                Need.call(who, f"roll {service} in {region}", "ecs", region, "UpdateService",
                          cluster=names.ecs_cluster(region), service=service)
            )  # fmt: skip
    return found


def execution_needs(names: Names) -> list[Need]:
    return [
        Need.call(Who(stack, "Twenty/ExecutionRole"), f"inject the SMTP credentials in {region}",
                  "secretsmanager", region, "GetSecretValue", SecretId=names.smtp_secret)
        for stack, region in (
            (names.primary_stack, names.primary_region),
            (names.dr_app_stack, names.dr_region),
        )
    ]  # fmt: skip
