"""The region's customer-managed KMS key and a key policy scoped to the services that use it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.compliance.static_checks import skip_checkov

# Services that use the key on a caller's behalf in this platform (checked with kms:ViaService).
SERVICES_VIA = ("rds", "secretsmanager", "s3", "elasticache", "backup", "sns", "sqs", "lambda")

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

    The policy lets the account administer the key, lets IAM principals of the account
    use it only through the listed AWS services, and lets CloudWatch Logs use it for this
    account's log groups in this region (the seed's encrypted log groups failed without it).
    """

    def __init__(self, scope: Construct, construct_id: str, *, alias: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        account, region = stack.account, stack.region
        root = iam.AccountRootPrincipal()
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="AccountAdministersKey",
                    principals=[root],
                    actions=_ADMIN_ACTIONS,
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="AccountUsesKeyThroughServices",
                    principals=[root],
                    actions=[*_USE_ACTIONS, "kms:CreateGrant", "kms:ListGrants"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in SERVICES_VIA],
                            "kms:CallerAccount": account,
                        }
                    },
                ),
                # Secrets Manager re-encrypts replica secrets with this key on behalf of
                # whoever changed the primary (e.g. the hosted rotation function, whose
                # role names only the primary region's key). AWS-managed secret keys use
                # this same shape: any principal of the account, via Secrets Manager only.
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
        )
        self.key = kms.Key(
            self,
            "Key",
            alias=alias,
            description=f"{alias}: data at rest in {region}",
            enable_key_rotation=True,
            pending_window=cdk.Duration.days(30),
            policy=policy,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        skip_checkov(
            self.key,
            "CKV_AWS_33",
            "The one '*' principal is bound by kms:CallerAccount and kms:ViaService="
            "secretsmanager (AWS's own secret-key pattern), for replica re-encryption",
        )
