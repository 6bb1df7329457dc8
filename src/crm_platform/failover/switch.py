"""The traffic switch: origin traffic moves to DR only when the DR side says so.

Twenty's API is GraphQL over POST and CloudFront origin groups fail over only GET, HEAD
and OPTIONS, so the switch is in DNS: ``origin.<domain>`` has Route 53 failover records,
PRIMARY to the primary load balancer and SECONDARY to DR's. The PRIMARY record's health
check watches one thing only, the DR region's ``ServeFromDr`` data (runtime/switch.py):
an unhealthy primary endpoint alarms but never moves traffic, so a flap can never send
writes to a read-only replica. Flipping it is a data-plane act in the DR region (an SSM
parameter and a metric data point): it works while the primary region and the us-east-1
control planes (Route 53 record changes, CloudFront configuration) are impaired. When
Route 53 cannot read the data at all, the health check keeps its last known status.

Rejected: Route 53 ARC routing controls (the managed data-plane switch; a cluster is
billed by the hour, about 1,800 USD a month, more than this platform), CloudFront origin
groups (POST does not fail over), CloudFront VPC origins (one origin per region, changed
through the us-east-1 control plane), ``SetAlarmState`` (not followed by Route 53, and
temporary), and an HTTPS health check on a public state object (needs a public bucket,
which account-level Block Public Access often forbids).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from crm_platform.alerts import notify
from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.contracts import ENVIRONMENT_DIMENSION, SERVE_FROM_DR, SWITCH_NAMESPACE
from crm_platform.functions import FunctionDefaults, OpsFunction

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"


class TrafficSwitch(Construct):
    """In the DR region: the recorded state, the alarm Route 53 reads, and its keeper."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        parameter_name: str,
        alarm_name: str,
        environment: str,
        functions: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        self.parameter = ssm.StringParameter(
            self,
            "State",
            parameter_name=parameter_name,
            string_value="primary",
            allowed_pattern="^(primary|dr)$",
            description="Traffic switch: 'dr' sends origin traffic to the DR region",
        )
        metric = cloudwatch.Metric(
            namespace=SWITCH_NAMESPACE,
            metric_name=SERVE_FROM_DR,
            dimensions_map={ENVIRONMENT_DIMENSION: environment},
            statistic="Maximum",
            period=cdk.Duration.minutes(1),
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "ServeFromDr",
            alarm_name=alarm_name,
            alarm_description=(
                "Traffic switch (not an incident by itself): ALARM means origin traffic is "
                "served from the DR region"
            ),
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
        )
        # Operators hear when traffic moves either way.
        notify(self.alarm, functions.alerts, on_ok=True)
        keeper = OpsFunction(
            self,
            "Keeper",
            code=RUNTIME_DIR,
            handler="switch.handler",
            description="Publishes the traffic switch's recorded state every minute",
            defaults=functions,
            environment={"SWITCH_PARAMETER": parameter_name, "ENVIRONMENT": environment},
            timeout_seconds=30,
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheState",
                    actions=["ssm:GetParameter"],
                    resources=[self.parameter.parameter_arn],
                ),
                iam.PolicyStatement(
                    sid="PublishTheSignal",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": SWITCH_NAMESPACE}},
                ),
            ],
        )
        acknowledge(
            keeper.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; the "
            "cloudwatch:namespace condition limits it to the switch's namespace",
        )
        events.Rule(
            self,
            "EveryMinute",
            description="Keep the traffic switch's data flowing for Route 53",
            schedule=events.Schedule.rate(cdk.Duration.minutes(1)),
            targets=[targets.LambdaFunction(keeper.function, retry_attempts=2)],
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
