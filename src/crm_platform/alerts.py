"""The region's alert topic, and the two ways alerts reach it: alarms and event rules.

Alarms and EventBridge rules of every tier publish to a KMS-encrypted topic with the
operators' e-mail subscribed; the region's key policy lets CloudWatch and EventBridge
use the key for exactly this purpose. An event rule's delivery can fail where an
alarm's would not (a key or topic policy that stops EventBridge), so every alert rule
carries an alarm on its own ``FailedInvocations``, which reaches the topic by the
other path.
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
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


def notify(alarm: cloudwatch.Alarm, topic: sns.ITopic, *, on_ok: bool = False) -> cloudwatch.Alarm:
    """Send ``alarm`` (and, with ``on_ok``, its recovery) to ``topic``; returns the alarm."""
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    if on_ok:
        alarm.add_ok_action(cw_actions.SnsAction(topic))
    return alarm


class AlertRule(Construct):
    """An EventBridge rule whose matching events go straight to the alert topic.

    ``delivery_alarm`` fires when EventBridge could not deliver a matching event (the
    metric ``AWS/Events FailedInvocations`` of this rule), so a broken delivery path is
    itself reported, through CloudWatch rather than EventBridge.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        pattern: events.EventPattern,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description=description,
            event_pattern=pattern,
            targets=[AlertRuleTarget(topic)],
        )
        self.delivery_alarm = notify(
            cloudwatch.Alarm(
                self,
                "DeliveryFailed",
                alarm_description=f"EventBridge could not deliver an alert: {description}",
                metric=cloudwatch.Metric(
                    namespace="AWS/Events",
                    metric_name="FailedInvocations",
                    dimensions_map={"RuleName": self.rule.rule_name},
                    statistic="Sum",
                    period=Duration.minutes(5),
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            topic,
        )
