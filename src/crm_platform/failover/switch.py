"""The traffic switch: origin traffic moves to DR only on a signed "serve from DR".

Twenty's API is GraphQL over POST and CloudFront origin groups fail over only GET, HEAD
and OPTIONS, so the switch is in DNS: ``origin.<domain>`` has Route 53 failover records,
PRIMARY to the primary load balancer and SECONDARY to DR's. The PRIMARY record's health
check follows one alarm in the DR region: an unhealthy primary endpoint alarms but never
moves traffic, so a flap can never send writes to a read-only replica.

Who can move it (docs/adr/0035): the state is an SSM parameter in DR that counts only
with an HMAC from the switch's KMS key, whose policy lets only the switch's writers (the
failover's step role and the operator role) sign. The beacon verifies the newest signed
version and writes it into a table only it may write (resource policy), one write unit
for "primary", two for "dr"; the alarm follows that table's ``ConsumedWriteCapacityUnits``
(``AWS/DynamoDB``, which no one can publish into). A forged metric data point or
parameter write moves nothing. It stays a data-plane act in the DR region, working while
the primary region and the us-east-1 control planes are impaired.

Fail static: when the beacon stops (DR impaired, the function broken), the alarm's data
stops and the health check keeps its last known status, both ways
(``InsufficientDataHealthStatus: LastKnownStatus``).

Rejected: Route 53 ARC routing controls (the managed data-plane switch; a cluster is
billed by the hour, about 1,800 USD a month, more than this platform), a public HTTPS
verifier endpoint read by string-matching health checks (fails toward the primary when
the endpoint is unreachable while failed over, and needs a deterministic public name),
CloudFront origin groups (POST does not fail over), ``SetAlarmState`` (not followed by
Route 53, and temporary), and a custom metric (anyone with ``cloudwatch:PutMetricData``,
granted on ``*`` by common managed policies, could publish it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from crm_platform.alerts import notify
from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.contracts import SWITCH_NAMESPACE
from crm_platform.failover.every_minute import Publishing, Schedule, every_minute_function
from crm_platform.failover.runtime.switch import SKIPPED_LOG, UNSIGNED_INITIAL
from crm_platform.functions import FunctionDefaults
from crm_platform.security.switch_key import SwitchKey

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"


@dataclass(frozen=True)
class SwitchWriters:
    """The principals that may sign a switch value, and those that may only verify one
    (by ARN; they live in later stacks)."""

    role_arns: tuple[str, ...]
    reader_arns: tuple[str, ...] = ()


class TrafficSwitch(Construct):
    """In the DR region: the signed state, its key, the beacon and the alarm Route 53 reads."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        parameter_name: str,
        alarm_name: str,
        environment: str,
        key_alias: str,
        beacon_table: str,
        beacon_function: str,
        writers: SwitchWriters,
        key: kms.IKey,
        functions: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.parameter = ssm.StringParameter(
            self,
            "State",
            parameter_name=parameter_name,
            # Unsigned: "primary" (nothing verifies, so nothing moves).
            string_value=json.dumps(UNSIGNED_INITIAL),
            description="Traffic switch: a signed 'dr' sends origin traffic to the DR region",
        )
        beacon_role_arn = f"arn:aws:iam::{stack.account}:role/{beacon_function}"  # named below
        self.key = SwitchKey(
            self,
            "Key",
            alias=key_alias,
            writers=writers.role_arns,
            readers=[beacon_role_arn, *writers.reader_arns],
        ).key
        self.table = dynamodb.Table(
            self,
            "Beacon",
            table_name=beacon_table,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            # One item, rewritten every minute: nothing to restore.
            removal_policy=cdk.RemovalPolicy.DESTROY,
            resource_policy=iam.PolicyDocument(
                statements=[
                    # Only the beacon moves the metric Route 53 follows (a Deny binds
                    # administrators too, until they change this policy).
                    iam.PolicyStatement(
                        sid="OnlyTheBeaconWrites",
                        effect=iam.Effect.DENY,
                        principals=[iam.AnyPrincipal()],
                        actions=[
                            "dynamodb:PutItem",
                            "dynamodb:UpdateItem",
                            "dynamodb:DeleteItem",
                            "dynamodb:BatchWriteItem",
                            "dynamodb:PartiQLInsert",
                            "dynamodb:PartiQLUpdate",
                            "dynamodb:PartiQLDelete",
                            "dynamodb:TransactWriteItems",
                            "dynamodb:ImportTable",
                        ],
                        resources=["*"],
                        conditions={"ArnNotEquals": {"aws:PrincipalArn": beacon_role_arn}},
                    )
                ]
            ),
        )
        no_backup = (
            "One item the beacon rewrites every minute from the signed state: nothing to "
            "back up or recover"
        )
        acknowledge(self.table, "NIST.800.53.R5-DynamoDBInBackupPlan", no_backup)
        acknowledge(self.table, "NIST.800.53.R5-DynamoDBPITREnabled", no_backup)
        acknowledge(self.table, "AwsSolutions-DDB3", no_backup)
        skip_checkov(self.table, "CKV_AWS_28", no_backup)
        # A standard write costs one unit per KB: the beacon writes one unit for
        # "primary", two for "dr" (runtime/switch.py); Maximum per request, so a retried
        # or doubled run never looks like "dr".
        self.alarm = cloudwatch.Alarm(
            self,
            "ServeFromDr",
            alarm_name=alarm_name,
            alarm_description=(
                "Traffic switch (not an incident by itself): ALARM means origin traffic is "
                "served from the DR region (the beacon reports a verified 'dr')"
            ),
            metric=cloudwatch.Metric(
                namespace="AWS/DynamoDB",
                metric_name="ConsumedWriteCapacityUnits",
                dimensions_map={"TableName": beacon_table},
                statistic="Maximum",
                period=cdk.Duration.minutes(1),
            ),
            threshold=2,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
        )
        # Operators hear when traffic moves either way.
        notify(self.alarm, functions.alerts, on_ok=True)
        beacon = every_minute_function(
            self,
            "Keeper",
            publishing=Publishing(
                namespace=SWITCH_NAMESPACE,
                sid="PublishForDashboards",
                reason="cloudwatch:PutMetricData has no resource-level permissions; the "
                "cloudwatch:namespace condition limits it to the switch's namespace",
            ),
            schedule=Schedule(
                "EveryMinute", "Keep the traffic switch's beacon flowing for Route 53", 2
            ),
            code=RUNTIME_DIR,
            handler="switch.handler",
            description="Verifies the switch's signed state and writes it as the beacon",
            defaults=functions,
            environment={
                "SWITCH_PARAMETER": parameter_name,
                "SWITCH_KEY": key_alias,
                "BEACON_TABLE": beacon_table,
                "ENVIRONMENT": environment,
            },
            timeout_seconds=30,
            role_name=beacon_function,
            function_name=beacon_function,
            statements=(
                iam.PolicyStatement(
                    sid="ReadTheStateAndItsHistory",
                    actions=["ssm:GetParameter", "ssm:GetParameterHistory"],
                    resources=[self.parameter.parameter_arn],
                ),
                iam.PolicyStatement(
                    sid="VerifyTheSignature",
                    actions=["kms:VerifyMac"],
                    resources=[self.key.key_arn],
                ),
                iam.PolicyStatement(
                    sid="WriteTheBeacon",
                    actions=["dynamodb:PutItem"],
                    resources=[self.table.table_arn],
                ),
                iam.PolicyStatement(
                    sid="BeaconThroughTheRegionKey",
                    actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"dynamodb.{stack.region}.amazonaws.com"}
                    },
                ),
            ),
        )
        self.beacon = beacon.function
        # Someone wrote the switch without the key: the beacon skipped it, say so.
        forged = logs.MetricFilter(
            self,
            "UnsignedWrites",
            log_group=beacon.log_group,
            filter_pattern=logs.FilterPattern.literal(f'"{SKIPPED_LOG}"'),
            metric_namespace=SWITCH_NAMESPACE,
            metric_name="UnsignedWrites",
            metric_value="1",
        )
        notify(
            cloudwatch.Alarm(
                self,
                "UnsignedWrite",
                alarm_name=f"{alarm_name}-unsigned-write",
                alarm_description=(
                    f"{parameter_name} holds a version that does not verify: someone wrote the "
                    "traffic switch without its key (ignored; find who in CloudTrail)"
                ),
                metric=forged.metric(statistic="Sum", period=cdk.Duration.minutes(5)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            functions.alerts,
        )


class SwitchHealthCheck(Construct):
    """The health check of the PRIMARY origin record: healthy unless DR took the traffic."""

    def __init__(
        self, scope: Construct, construct_id: str, *, dr_region: str, alarm_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.health_check = route53.CfnHealthCheck(
            self,
            "HealthCheck",
            health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
                type="CLOUDWATCH_METRIC",
                alarm_identifier=route53.CfnHealthCheck.AlarmIdentifierProperty(
                    region=dr_region, name=alarm_name
                ),
                # No data (the DR region unreadable): keep routing as it was.
                insufficient_data_health_status="LastKnownStatus",
            ),
            health_check_tags=[
                route53.CfnHealthCheck.HealthCheckTagProperty(
                    key="Name", value=f"{alarm_name} (traffic switch)"
                )
            ],
        )
        self.health_check_id = self.health_check.attr_health_check_id
