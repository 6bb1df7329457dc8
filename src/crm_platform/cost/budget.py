"""The monthly AWS Budget: actual and forecast spend against the configured limit.

AWS Budgets takes amounts in USD only, so a limit configured in another currency is
converted at the configured rate; the conversion is printed at synthesis (an info
annotation) and exported as a stack output so nobody mistakes the USD figure for the
configured one. Each notification goes to the cost topic *and* straight to the e-mail
address: Budgets mails it even when the topic cannot be published to.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.settings.model import Budget


def conversion_note(budget: Budget) -> str:
    """What AWS is told, in words: '1,000,000 JPY at 150 JPY/USD = 6,666.67 USD'."""
    if budget.currency == "USD":
        return f"{budget.limit_usd:,.2f} USD (no conversion)"
    return (
        f"{budget.limit:,.0f} {budget.currency} at {budget.exchange_rate_per_usd:g} "
        f"{budget.currency}/USD = {budget.limit_usd:,.2f} USD (AWS Budgets takes USD only)"
    )


class MonthlyBudget(Construct):
    """One COST budget per month, optionally limited to this environment's tag."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        budget: Budget,
        environment: str,
        topic: sns.ITopic,
        email: str,
    ) -> None:
        super().__init__(scope, construct_id)
        subscribers = [
            budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=topic.topic_arn),
            budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=email),
        ]

        def notify(
            kind: str, percent: int
        ) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
            return budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=percent,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=subscribers,
            )

        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=name,
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=budget.limit_usd, unit="USD"),
                # The `environment` tag must be activated as a cost allocation tag in the
                # Billing console first, or the filtered budget sees nothing.
                cost_filters=(
                    {"TagKeyValue": [f"user:environment${environment}"]}
                    if budget.scope == "environment"
                    else None
                ),
            ),
            notifications_with_subscribers=[
                notify("ACTUAL", budget.alert_threshold_percent),
                notify("FORECASTED", budget.forecast_threshold_percent),
            ],
        )
        # The topic policy must exist before Budgets validates the SNS subscriber.
        self.budget.node.add_dependency(topic)
        note = conversion_note(budget)
        cdk.Annotations.of(self).add_info(f"Monthly budget {name}: {note}")
        cdk.CfnOutput(self, "Limit", value=note, description="What AWS Budgets is given")
