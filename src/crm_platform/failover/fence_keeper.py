"""The fence keeper in the DR region: the old primary stays fenced while DR serves.

Every ``INTERVAL_MINUTES`` a function (runtime/fence_keeper.py) reads the verified switch
and, while it says "dr", repeats the failover's fence (runtime/steps.py ``fence``): the
primary's services and their scaling to zero, the primary database's security groups
closed to the tasks. An alarm pages the operators while the fence does not hold, and
another when the keeper itself fails. The same statements (``fence_statements``) are in
the failover step function's role: one fence, two callers (docs/adr/0040).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.alerts import notify
from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.contracts import ENVIRONMENT_DIMENSION, FENCE_NAMESPACE, UNFENCED
from crm_platform.failover.config import StepConfig
from crm_platform.failover.runtime.fence_keeper import INTERVAL_MINUTES
from crm_platform.functions import FunctionDefaults, OpsFunction

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"

# Why the fence's revoke is not bounded to one security group: the group's id is
# generated in the primary stack, which a DR stack cannot reference across regions, and
# revoking can only close access, never open it.
ANY_PRIMARY_GROUP = (
    "ec2:RevokeSecurityGroupIngress on the primary region's security groups: their ids are "
    "generated in the primary stack (no cross-region reference from DR), and a revoke can "
    "only close access; DescribeSecurityGroupRules supports no resource-level permissions"
)


def fence_statements(config: StepConfig, account: str) -> list[iam.PolicyStatement]:
    """What ``steps.fence`` calls in the primary region, for every role that runs it."""
    primary = config.primary_region
    services = [
        f"arn:aws:ecs:{primary}:{account}:service/{config.clusters.primary}/{s.name}"
        for s in config.services.values()
    ]
    return [
        iam.PolicyStatement(
            sid="FenceThePrimaryServices",
            actions=["ecs:UpdateService", "ecs:DescribeServices"],
            resources=services,
        ),
        iam.PolicyStatement(
            sid="FenceThePrimaryScaling",
            actions=["application-autoscaling:RegisterScalableTarget"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="FindThePrimaryDatabase",
            actions=["rds:DescribeDBInstances"],
            resources=[f"arn:aws:rds:{primary}:{account}:db:{config.primary_database}"],
        ),
        iam.PolicyStatement(
            sid="CloseThePrimaryDatabase",
            actions=["ec2:RevokeSecurityGroupIngress"],
            resources=[f"arn:aws:ec2:{primary}:{account}:security-group/*"],
        ),
        iam.PolicyStatement(
            sid="ListThePrimaryDatabaseRules",
            actions=["ec2:DescribeSecurityGroupRules"],
            resources=["*"],
        ),
    ]


class FenceKeeper(Construct):
    """``function`` runs every few minutes in DR; ``alarm`` is in ALARM while unfenced."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StepConfig,
        function_name: str,
        switch_key_arn: str,
        runs_table_arn: str,
        key: kms.IKey,
        functions: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        account, dr = stack.account, config.dr_region
        keeper = OpsFunction(
            self,
            "Function",
            code=RUNTIME_DIR,
            handler="fence_keeper.handler",
            description="Keeps the old primary fenced while DR serves (failover/fence_keeper.py)",
            defaults=functions,
            environment={"FAILOVER_CONFIG": stack.to_json_string(config.to_dict())},
            timeout_seconds=120,
            role_name=function_name,
            function_name=function_name,
            statements=[
                *fence_statements(config, account),
                iam.PolicyStatement(
                    sid="ReadTheSwitch",
                    actions=["ssm:GetParameter", "ssm:GetParameterHistory"],
                    resources=[f"arn:aws:ssm:{dr}:{account}:parameter{config.switch_parameter}"],
                ),
                iam.PolicyStatement(
                    sid="VerifyTheSwitch", actions=["kms:VerifyMac"], resources=[switch_key_arn]
                ),
                iam.PolicyStatement(
                    sid="RecordTheFence",
                    actions=["dynamodb:PutItem"],
                    resources=[runs_table_arn],
                ),
                iam.PolicyStatement(
                    sid="RecordThroughTheRegionKey",
                    actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{dr}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="SayWhetherItHolds",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": FENCE_NAMESPACE}},
                ),
            ],
        )
        self.function = keeper.function
        acknowledge(
            keeper.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Scalable-target registration (targets are named by the service they scale), "
            "DescribeSecurityGroupRules and PutMetricData (bounded by namespace) support no "
            "resource-level permissions",
        )
        acknowledge(
            keeper.policy,
            f"AwsSolutions-IAM5[Resource::arn:aws:ec2:{config.primary_region}:{account}:"
            "security-group/*]",
            ANY_PRIMARY_GROUP,
        )
        skip_checkov(keeper.policy, "CKV_AWS_111", ANY_PRIMARY_GROUP)
        events.Rule(
            self,
            "Schedule",
            description="Keep the old primary fenced while DR serves",
            schedule=events.Schedule.rate(cdk.Duration.minutes(INTERVAL_MINUTES)),
            targets=[targets.LambdaFunction(keeper.function, retry_attempts=2)],
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Unfenced",
            alarm_name=f"{config.environment}-primary-unfenced",
            alarm_description=(
                "DR serves and the old primary is not fenced: its services may run and its "
                "database is reachable by them (stale e-mails and webhooks). The keeper "
                f"retries every {INTERVAL_MINUTES} minutes; see docs/emergency-recovery.md"
            ),
            metric=cloudwatch.Metric(
                namespace=FENCE_NAMESPACE,
                metric_name=UNFENCED,
                dimensions_map={ENVIRONMENT_DIMENSION: config.environment},
                statistic="Maximum",
                period=cdk.Duration.minutes(INTERVAL_MINUTES),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        notify(self.alarm, functions.alerts, on_ok=True)
        notify(
            cloudwatch.Alarm(
                self,
                "KeeperFails",
                alarm_name=f"{config.environment}-fence-keeper-errors",
                alarm_description="The fence keeper fails: nobody checks the old primary's fence",
                metric=keeper.function.metric_errors(period=cdk.Duration.minutes(15)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=(
                    cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
                ),
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            functions.alerts,
        )
