"""Each region's customer-managed KMS key, with a policy scoped to the services that use it."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.compliance.static_checks import skip_checkov

# What uses a serving region's key on a caller's behalf (checked with kms:ViaService).
SERVING_REGION_SERVICES = ("rds", "secretsmanager", "s3", "elasticache", "backup", "sns", "lambda")

_ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
]  # fmt: skip
_USE_ACTIONS = [
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
]  # fmt: skip


class RegionKey(Construct):
    """One key per region, retained on stack deletion, rotated yearly.

    The account administers the key. Only when ``services`` is non-empty may the
    account's principals *use* it, and then only through those services; CloudWatch Logs
    may use it for this account's log groups, CloudWatch and EventBridge for this
    account's encrypted alert topics, and Secrets Manager to re-encrypt replica secrets
    (the seed's encrypted log groups failed for want of such statements).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, alias: str, services: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        statements = [
            iam.PolicyStatement(
                sid="AccountAdministersKey",
                principals=[iam.AccountRootPrincipal()],
                actions=_ADMIN_ACTIONS,
                resources=["*"],
            )
        ]
        if services:
            statements += _use_statements(services, stack.account, stack.region)
        self.key = kms.Key(
            self,
            "Key",
            alias=alias,
            description=f"{alias}: data at rest in {stack.region}",
            enable_key_rotation=True,
            pending_window=cdk.Duration.days(30),
            policy=iam.PolicyDocument(statements=statements),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        if "secretsmanager" in services:
            skip_checkov(
                self.key,
                "CKV_AWS_33",
                "The one '*' principal is bound by kms:CallerAccount and kms:ViaService="
                "secretsmanager (AWS's own secret-key pattern), for replica re-encryption",
            )


def _use_statements(
    services: Sequence[str], account: str, region: str
) -> list[iam.PolicyStatement]:
    statements = [
        iam.PolicyStatement(
            sid="AccountUsesKeyThroughServices",
            principals=[iam.AccountRootPrincipal()],
            actions=[*_USE_ACTIONS, "kms:CreateGrant", "kms:ListGrants"],
            resources=["*"],
            conditions={
                "StringEquals": {
                    "kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services],
                    "kms:CallerAccount": account,
                }
            },
        ),
        iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
            actions=_USE_ACTIONS,
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:aws:logs:{region}:{account}:log-group:*"
                    )
                }
            },
        ),
        iam.PolicyStatement(
            sid="AlarmsAndEventsPublishToEncryptedTopics",
            principals=[
                iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                iam.ServicePrincipal("events.amazonaws.com"),
            ],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": account}},
        ),
    ]
    if "secretsmanager" in services:
        # Secrets Manager re-encrypts replica secrets with this key on behalf of whoever
        # changed the primary (e.g. the hosted rotation function, whose role names only the
        # primary region's key). AWS-managed secret keys use this same shape: any
        # principal of the account, via Secrets Manager only.
        statements.append(
            iam.PolicyStatement(
                sid="SecretsManagerReplicatesForTheAccount",
                principals=[iam.AnyPrincipal()],
                actions=[*_USE_ACTIONS, "kms:CreateGrant"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                        "kms:CallerAccount": account,
                    }
                },
            )
        )
    return statements
