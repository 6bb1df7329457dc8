"""Each region's customer-managed KMS key, with a policy scoped to the services that use it.

Why each statement exists (sources in docs/decisions.md, "Region keys"):

- the account *administers* the key (no use, no grants of its own: ``kms:CreateGrant``
  is allowed only to AWS services acting for a principal, ``kms:GrantIsForAWSResource``);
  ``kms:PutKeyPolicy`` must stay, or CloudFormation could never update the policy again;
- the account's principals *use* it only through the listed services (``kms:ViaService``);
- CloudWatch Logs encrypts this account's log groups with it;
- CloudWatch alarms publish to encrypted topics under ``aws:SourceAccount``; EventBridge
  gets a statement of its own *without* source conditions, because SNS documents that
  those conditions are not supported for EventBridge-to-encrypted-topic delivery (with
  them, every backup-failure rule would fail silently);
- Secrets Manager re-encrypts *replica* secrets with it, only where replicas live and only
  for this platform's secrets (encryption context ``SecretARN``): for any caller of the
  account, but only ``kms:Encrypt``/``kms:GenerateDataKey`` (writing a replica); reading
  one (``kms:Decrypt``) is left to IAM (ADR 0038);
- in us-east-1, AWS Budgets and Cost Anomaly Detection publish to the encrypted cost topic,
  and the billing services write the usage report into its bucket (encryption context
  ``aws:s3:arn`` of that bucket only).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.retention import KEEP

# What uses a serving region's key on a caller's behalf (checked with kms:ViaService).
SERVING_REGION_SERVICES = (
    "rds", "secretsmanager", "s3", "elasticache", "backup", "sns", "lambda", "ecr",
)  # fmt: skip
# The DR region's key also encrypts the failover's run table: DynamoDB creates its grant
# for the table and decrypts the table key for every step that writes the timeline, as
# the caller ("DynamoDB must have permission to call CreateGrant on behalf of the user",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.usagenotes.html).
DR_REGION_SERVICES = (*SERVING_REGION_SERVICES, "dynamodb")

# Administration without use: no Decrypt/Encrypt, no grants, no wildcards that include them.
ADMIN_ACTIONS = [
    "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:Describe*", "kms:List*",
    "kms:Get*", "kms:PutKeyPolicy", "kms:UpdateKeyDescription", "kms:EnableKeyRotation",
    "kms:DisableKeyRotation", "kms:RotateKeyOnDemand", "kms:EnableKey", "kms:DisableKey",
    "kms:RevokeGrant", "kms:RetireGrant", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
]  # fmt: skip
_USE_ACTIONS = [
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
]  # fmt: skip
_PUBLISH_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"]


class PolicyOwnedKey(kms.Key):
    """A key whose policy holds only the statements this module wrote (each has a Sid).

    CDK constructs add unnamed statements of their own when something is granted on the
    key; the one ``Secret`` adds lets any principal of the account create grants through
    Secrets Manager. Everything the platform needs is written out above, so those
    additions are refused (the grant then rests on the statements that are there).
    """

    def add_to_resource_policy(
        self, statement: iam.PolicyStatement, allow_no_op: bool | None = None
    ) -> iam.AddToResourcePolicyResult:
        if statement.sid is None:
            return iam.AddToResourcePolicyResult(statement_added=False)
        return super().add_to_resource_policy(statement, allow_no_op)


class RegionKey(Construct):
    """One key per region, kept on stack deletion (removed if its own create rolls back).

    ``services`` lists what the account may use the key through; an empty list leaves
    only administration and CloudWatch Logs. ``secret_replicas_prefix`` (a secret-name
    prefix such as ``crm/prod/``) is set where replicas of the platform's secrets live;
    ``encrypted_topics`` where alarms and event rules publish to topics under this key;
    ``cost_publishers`` where the cost topic lives and ``usage_report_bucket`` names the
    bucket the Cost and Usage Report is written to.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alias: str,
        services: Sequence[str],
        secret_replicas_prefix: str | None = None,
        encrypted_topics: bool = True,
        cost_publishers: bool = False,
        usage_report_bucket: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        account, region = stack.account, stack.region
        statements = [
            iam.PolicyStatement(
                sid="AccountAdministersKey",
                principals=[iam.AccountRootPrincipal()],
                actions=ADMIN_ACTIONS,
                resources=["*"],
            ),
            _logs_statement(account, region),
        ]
        if services:
            statements += _service_use_statements(services, account, region)
        if encrypted_topics:
            statements += _topic_publisher_statements(account)
        if secret_replicas_prefix is not None:
            statements.append(_secret_replica_statement(secret_replicas_prefix, account, region))
        if cost_publishers:
            statements.append(_cost_alert_statement(account))
        if usage_report_bucket is not None:
            statements.append(_usage_report_statement(usage_report_bucket, account))
        self.key = PolicyOwnedKey(
            self,
            "Key",
            alias=alias,
            description=f"{alias}: data at rest in {region}",
            enable_key_rotation=True,
            pending_window=cdk.Duration.days(30),
            policy=iam.PolicyDocument(statements=statements),
            removal_policy=KEEP,
        )
        if secret_replicas_prefix is not None:
            skip_checkov(
                self.key,
                "CKV_AWS_33",
                "The one '*' principal may only encrypt (write replicas), bound by "
                "kms:CallerAccount, kms:ViaService=secretsmanager and the SecretARN context",
            )


def _logs_statement(account: str, region: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="CloudWatchLogsEncryptsLogGroups",
        principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
        actions=_USE_ACTIONS,
        resources=["*"],
        conditions={
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"
            }
        },
    )


def _service_use_statements(
    services: Sequence[str], account: str, region: str
) -> list[iam.PolicyStatement]:
    via = {
        "kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services],
        "kms:CallerAccount": account,
    }
    return [
        iam.PolicyStatement(
            sid="AccountUsesKeyThroughServices",
            principals=[iam.AccountRootPrincipal()],
            actions=[*_USE_ACTIONS, "kms:ListGrants"],
            resources=["*"],
            conditions={"StringEquals": via},
        ),
        # RDS, ElastiCache, Backup and Lambda hold grants on the key for the resources
        # they encrypt; nobody may create a grant for anything else.
        iam.PolicyStatement(
            sid="ServicesCreateGrantsForTheirResources",
            principals=[iam.AccountRootPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={
                "StringEquals": via,
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        ),
    ]


def _topic_publisher_statements(account: str) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishToEncryptedTopics",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=_PUBLISH_ACTIONS,
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": account}},
        ),
        # No aws:SourceAccount/SourceArn: SNS documents them as unsupported for
        # EventBridge-to-encrypted-topic delivery. The topic policy (rules of this
        # account only) is the gate.
        iam.PolicyStatement(
            sid="EventBridgePublishesToEncryptedTopics",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=_PUBLISH_ACTIONS,
            resources=["*"],
        ),
    ]


# What Secrets Manager needs on the replica region's key to write a replica: "To encrypt
# the replicated secret with a KMS key other than aws/secretsmanager, you need
# kms:GenerateDataKey and kms:Encrypt to the key"
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicateSecretToRegions.html).
# Reading a replica (kms:Decrypt) is not replication: it goes through IAM.
REPLICA_WRITE_ACTIONS = ["kms:Encrypt", "kms:GenerateDataKey"]


def _secret_replica_statement(prefix: str, account: str, region: str) -> iam.PolicyStatement:
    """Secrets Manager re-encrypts replicas on behalf of whoever changed the primary.

    That caller (e.g. the primary region's rotation function, CloudFormation, an operator
    putting a value) is not known here, so the principal is any principal *of this
    account*, via Secrets Manager in this region, for this platform's secrets only; and
    the actions are only the two that write a replica (ADR 0038). Decrypting a replica is
    decided by IAM through ``AccountUsesKeyThroughServices``: a role reads a replica only
    if its own policy grants ``kms:Decrypt`` on this key. No grants.
    """
    return iam.PolicyStatement(
        sid="SecretsManagerReplicatesPlatformSecrets",
        principals=[iam.AnyPrincipal()],
        actions=REPLICA_WRITE_ACTIONS,
        resources=["*"],
        conditions={
            "StringEquals": {
                "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                "kms:CallerAccount": account,
            },
            "StringLike": {
                "kms:EncryptionContext:SecretARN": (
                    f"arn:aws:secretsmanager:{region}:{account}:secret:{prefix}*"
                )
            },
        },
    )


# Who delivers cost alerts and usage reports (docs/decisions.md, "Cost controls").
COST_ALERT_SERVICES = ("budgets.amazonaws.com", "costalerts.amazonaws.com")
USAGE_REPORT_SERVICES = ("bcm-data-exports.amazonaws.com", "billingreports.amazonaws.com")


def _cost_alert_statement(account: str) -> iam.PolicyStatement:
    """AWS Budgets and Cost Anomaly Detection publish to the encrypted cost topic."""
    return iam.PolicyStatement(
        sid="CostAlertsPublishToEncryptedTopics",
        principals=[iam.ServicePrincipal(s) for s in COST_ALERT_SERVICES],
        actions=_PUBLISH_ACTIONS,
        resources=["*"],
        conditions={"StringEquals": {"aws:SourceAccount": account}},
    )


def _usage_report_statement(bucket: str, account: str) -> iam.PolicyStatement:
    """The billing services encrypt report objects for this one bucket (S3 bucket key)."""
    arn = f"arn:aws:s3:::{bucket}"
    return iam.PolicyStatement(
        sid="BillingWritesEncryptedUsageReports",
        principals=[iam.ServicePrincipal(s) for s in USAGE_REPORT_SERVICES],
        actions=["kms:GenerateDataKey*", "kms:Decrypt"],
        resources=["*"],
        conditions={
            "StringEquals": {
                "aws:SourceAccount": account,
                "kms:EncryptionContext:aws:s3:arn": [arn, f"{arn}/*"],
            }
        },
    )
