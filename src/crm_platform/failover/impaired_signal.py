"""The DR region's "primary impaired" signal: two probes a minute, their alarms, a composite.

Both probes run from the DR region (runtime/probe.py), so the signal can be evaluated
while the primary region and its CloudWatch are down; the composite alarm needs both the
public URL and the primary origin (through CloudFront's probe path) to fail Twenty's deep
health (database and cache) for ``detection_minutes``. Preflight reads it, and in
automatic mode it starts the failover.

How a DR-side network loss (DR cut off from Tokyo or from the internet) is told apart
from a primary outage: the probe first checks it can reach the internet outside both
regions and publishes nothing when it cannot, and both probes travel through CloudFront,
the path users take, not a DR-to-Tokyo route. No data never breaches the alarms; the
silence alarm pages a person instead.

A *part*, not a construct: it adds its resources to the orchestrator's scope, whose
logical IDs are deployed already.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from constructs import Construct

from crm_platform.alerts import notify
from crm_platform.contracts import (
    ENVIRONMENT_DIMENSION,
    PRIMARY_ORIGIN_UP,
    PROBE_NAMESPACE,
    PUBLIC_UP,
)
from crm_platform.failover.every_minute import Publishing, Schedule, every_minute_function
from crm_platform.functions import FunctionDefaults

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"


@dataclass(frozen=True)
class Signals:
    """Names and URLs of the DR-evaluable "primary impaired" signal."""

    public_base_url: str  # https://<domain>: the probe adds the health paths
    impaired_alarm: str
    probe_down_alarms: dict[str, str]  # metric -> its alarm's name (naming.Names)
    probe_silent_alarm: str
    detection_minutes: int


class ImpairedSignal:
    """``alarm`` is the composite "primary impaired" alarm."""

    def __init__(
        self,
        scope: Construct,
        *,
        signals: Signals,
        functions: FunctionDefaults,
        environment: str,
    ) -> None:
        every_minute_function(
            scope,
            "Probe",
            publishing=Publishing(
                namespace=PROBE_NAMESPACE,
                sid="PublishProbeResults",
                reason="cloudwatch:PutMetricData has no resource-level permissions; the "
                "namespace condition bounds it to the probe's own metrics",
            ),
            schedule=Schedule("ProbeEveryMinute", "Probe the primary region from DR", 0),
            code=RUNTIME_DIR,
            handler="probe.handler",
            description="Probes the primary from DR: public URL and primary origin, every minute",
            defaults=functions,
            environment={
                "PUBLIC_BASE_URL": signals.public_base_url,
                "ENVIRONMENT": environment,
            },
            timeout_seconds=40,
        )
        down: list[cloudwatch.Alarm] = []
        for metric_name, what in ((PUBLIC_UP, "public URL"), (PRIMARY_ORIGIN_UP, "primary origin")):
            metric = cloudwatch.Metric(
                namespace=PROBE_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={ENVIRONMENT_DIMENSION: environment},
                statistic="Maximum",
                period=cdk.Duration.minutes(1),
            )
            down.append(
                cloudwatch.Alarm(
                    scope,
                    f"{metric_name}Down",
                    alarm_name=signals.probe_down_alarms[metric_name],
                    alarm_description=(
                        f"The {what} has failed from DR for {signals.detection_minutes} min"
                    ),
                    metric=metric,
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    evaluation_periods=signals.detection_minutes,
                    datapoints_to_alarm=signals.detection_minutes,
                    # No data means the probe did not run: a DR-side problem, never a
                    # reason to fail over (the silence alarm below reports it).
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        notify(
            cloudwatch.Alarm(
                scope,
                "ProbeSilent",
                alarm_name=signals.probe_silent_alarm,
                alarm_description="The DR probe of the primary has stopped reporting",
                metric=cloudwatch.Metric(
                    namespace=PROBE_NAMESPACE,
                    metric_name=PUBLIC_UP,
                    dimensions_map={ENVIRONMENT_DIMENSION: environment},
                    statistic="SampleCount",
                    period=cdk.Duration.minutes(5),
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=2,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            functions.alerts,
        )
        for alarm in down:
            notify(alarm, functions.alerts)
        impaired = cloudwatch.CompositeAlarm(
            scope,
            "PrimaryImpaired",
            composite_alarm_name=signals.impaired_alarm,
            alarm_description=(
                "The primary region looks impaired from DR: both the public URL and the "
                "primary origin fail. Decide on a failover (crm-platform failover)"
            ),
            alarm_rule=cloudwatch.AlarmRule.all_of(
                *(cloudwatch.AlarmRule.from_alarm(a, cloudwatch.AlarmState.ALARM) for a in down)
            ),
        )
        impaired.add_alarm_action(cw_actions.SnsAction(functions.alerts))
        self.alarm = impaired
