"""us-east-1, deployed first: what AWS offers only there and other stacks rely on.

The key encrypts the us-east-1 replicas of the origin-verify secrets (CloudFront's
dynamic reference resolves in its own stack's region), the edge's log groups, the alert
topic that the Route 53 health-check alarms (metrics only in us-east-1) publish to, and
the cost controls: AWS Budgets, Cost Anomaly Detection and the Cost and Usage Report are
billing features whose resources live in us-east-1.
"""

from __future__ import annotations

from constructs import Construct

from crm_platform.alerts import AlertTopic
from crm_platform.cost.anomaly import AnomalyDetection
from crm_platform.cost.budget import MonthlyBudget
from crm_platform.cost.topic import CostTopic
from crm_platform.cost.usage_report import UsageReport
from crm_platform.naming import GLOBAL_REGION
from crm_platform.security.key import RegionKey
from crm_platform.stacks.base import PlatformStack
from crm_platform.stacks.context import StackContext
from crm_platform.storage.construct import AccessLogBucket


class GlobalStack(PlatformStack):
    """Key, alert topic and cost controls of us-east-1."""

    def __init__(self, scope: Construct, construct_id: str, *, context: StackContext) -> None:
        names = context.names
        super().__init__(
            scope,
            construct_id,
            context=context,
            region=GLOBAL_REGION,
            availability_zones=[],  # no VPC here: nothing may ask for zones
            description=f"{names.prefix}: us-east-1 key, alerts and cost controls",
        )
        settings = context.settings
        budget = settings.budget
        report = budget.usage_report
        self.key = RegionKey(
            self,
            "Key",
            alias=names.kms_alias,
            services=("secretsmanager", "sns", "s3"),
            secret_replicas_prefix=names.secrets_prefix,
            cost_publishers=True,
            usage_report_bucket=names.usage_report_bucket if report != "none" else None,
        ).key
        self.alerts = AlertTopic(self, "Alerts", key=self.key, email=settings.alerts.email).topic
        self.cost_topic = CostTopic(
            self, "CostTopic", key=self.key, email=budget.email or settings.alerts.email
        ).topic
        self._cost_controls()

    def _cost_controls(self) -> None:
        settings, names = self.settings, self.names
        budget = settings.budget
        email = budget.email or settings.alerts.email
        MonthlyBudget(
            self,
            "Budget",
            name=names.budget,
            budget=budget,
            environment=settings.environment,
            topic=self.cost_topic,
            email=email,
        )
        if budget.anomaly_detection:
            AnomalyDetection(
                self,
                "Anomalies",
                name=names.anomaly_monitor,
                topic=self.cost_topic,
                email=email,
                threshold_usd=budget.anomaly_threshold_usd,
                monitor_arn=budget.anomaly_monitor_arn,
            )
        if budget.usage_report != "none":
            logs = AccessLogBucket(
                self, "AccessLogs", bucket_name=names.access_logs_bucket(GLOBAL_REGION)
            ).bucket
            UsageReport(
                self,
                "UsageReport",
                bucket_name=names.usage_report_bucket,
                report_name=names.usage_report,
                key=self.key,
                access_logs=logs,
                kind=budget.usage_report,
            )
