"""The region's alert topic: KMS-encrypted SNS with the operators' e-mail subscribed.

Alarms and EventBridge rules of every tier publish here; the region's key policy lets
CloudWatch and EventBridge use the key for exactly this purpose.
"""

from __future__ import annotations

import jsii
from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct


class AlertTopic(Construct):
    """``topic`` is where alarms send; ``email`` is subscribed (confirm the mail once)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="crm-platform alerts",
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(email))
        # Not grant_publish: that would also add an unconditioned key-policy statement. The
        # region key already lets these services use it for this account only.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsAndRulesOfThisAccountPublish",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )


@jsii.implements(events.IRuleTarget)
class AlertRuleTarget:
    """An EventBridge target for an alert topic that adds no grants of its own.

    CDK's ``SnsTopic`` target grants EventBridge publish *and* an unconditioned use of
    the topic's key; the topic policy and the region key policy above already allow it,
    scoped to this account.
    """

    def __init__(self, topic: sns.ITopic) -> None:
        self._topic = topic

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        del rule, id  # the target is the same for every rule
        return events.RuleTargetConfig(arn=self._topic.topic_arn)
