"""The cost topic: where AWS Budgets and Cost Anomaly Detection send their alerts.

It is separate from the alert topic because its readers differ (finance as well as
operators) and because its publishers are billing services, each allowed by a statement
of its own: Budgets under ``aws:SourceAccount`` and a budgets ``aws:SourceArn`` of this
account, Cost Anomaly Detection under ``aws:SourceAccount`` (docs/decisions.md, "Cost
controls"). The topic is encrypted with the us-east-1 key, whose policy lets exactly
these two services use it for publishing.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from crm_platform.security.key import COST_ALERT_SERVICES

BUDGETS, ANOMALY_DETECTION = COST_ALERT_SERVICES


class CostTopic(Construct):
    """``topic`` receives budget and anomaly alerts; ``email`` is subscribed (confirm once)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="crm-platform cost alerts",
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BudgetsOfThisAccountPublish",
                principals=[iam.ServicePrincipal(BUDGETS)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{account}:*"},
                },
            )
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AnomalyDetectionOfThisAccountPublishes",
                principals=[iam.ServicePrincipal(ANOMALY_DETECTION)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
