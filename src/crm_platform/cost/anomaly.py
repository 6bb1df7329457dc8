"""Cost Anomaly Detection: a monitor of AWS services and two subscriptions to it.

An account may hold only one AWS services (DIMENSIONAL / SERVICE) monitor, and
CloudFormation fails a second one with a bare "AlreadyExists" (docs/decisions.md, "Cost
controls"); so the platform creates it only when no ARN of an existing one is
configured, and ``crm-platform deploy`` checks the account first. An SNS subscriber is
accepted only with ``IMMEDIATE`` frequency, and a subscription holds either one topic or
up to ten e-mail addresses, hence the two subscriptions: every anomaly to the cost
topic at once, and a daily summary by e-mail.
"""

from __future__ import annotations

import json

from aws_cdk import aws_ce as ce
from aws_cdk import aws_sns as sns
from constructs import Construct


def threshold_expression(usd: float) -> str:
    """Alert when an anomaly's total impact reaches ``usd`` (Cost Explorer's expression)."""
    return json.dumps(
        {
            "Dimensions": {
                "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
                "Values": [f"{usd:g}"],
            }
        }
    )


class AnomalyDetection(Construct):
    """Subscribe the cost topic and ``email`` to ``monitor_arn``, or to a new services monitor."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        topic: sns.ITopic,
        email: str,
        threshold_usd: float,
        monitor_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.monitor: ce.CfnAnomalyMonitor | None = None
        if monitor_arn is None:
            self.monitor = ce.CfnAnomalyMonitor(
                self,
                "Monitor",
                monitor_name=name,
                monitor_type="DIMENSIONAL",
                monitor_dimension="SERVICE",
            )
            monitor_arn = self.monitor.attr_monitor_arn
        expression = threshold_expression(threshold_usd)
        immediate = ce.CfnAnomalySubscription(
            self,
            "ToTopic",
            subscription_name=f"{name}-topic",
            frequency="IMMEDIATE",
            monitor_arn_list=[monitor_arn],
            subscribers=[
                ce.CfnAnomalySubscription.SubscriberProperty(type="SNS", address=topic.topic_arn)
            ],
            threshold_expression=expression,
        )
        # Cost Anomaly Detection checks that it may publish when the subscription is made.
        immediate.node.add_dependency(topic)
        ce.CfnAnomalySubscription(
            self,
            "DailyMail",
            subscription_name=f"{name}-daily-mail",
            frequency="DAILY",
            monitor_arn_list=[monitor_arn],
            subscribers=[ce.CfnAnomalySubscription.SubscriberProperty(type="EMAIL", address=email)],
            threshold_expression=expression,
        )
