"""A function EventBridge runs every minute that publishes into one CloudWatch namespace.

Two parts of the failover have this shape: the traffic switch's beacon (switch.py, which
also publishes the switch's own metrics for dashboards) and the DR probe of the primary
(impaired_signal.py). Both need the same three things, in the same order, and a fix to
one (the namespace condition, the acknowledgement, the schedule) belongs in both:

- an ``OpsFunction`` whose last statement is ``cloudwatch:PutMetricData`` bounded by the
  ``cloudwatch:namespace`` condition key (the action has no resource-level permissions,
  so ``Resource: *`` is the only form: https://docs.aws.amazon.com/service-authorization/
  latest/reference/list_amazoncloudwatch.html);
- the cdk-nag acknowledgement of that ``*``, with the caller's reason;
- a ``rate(1 minute)`` rule targeting the function with the caller's retry count.

A function, not a construct: the two callers' resources are deployed already, and a
construct would add a level to their paths and so change every logical ID (the
templates are byte-identical to before this was folded; scripts/same_templates.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.functions import FunctionDefaults, OpsFunction


@dataclass(frozen=True)
class Publishing:
    """What the function publishes and why its ``Resource: *`` is acceptable."""

    namespace: str
    sid: str  # the statement's Sid (deployed already: keep it)
    reason: str  # the acknowledgement's reason, recorded in the template


@dataclass(frozen=True)
class Schedule:
    """The rule that runs the function every minute."""

    rule_id: str
    description: str
    retry_attempts: int


def every_minute_function(
    scope: Construct,
    construct_id: str,
    *,
    publishing: Publishing,
    schedule: Schedule,
    code: Path,
    handler: str,
    description: str,
    defaults: FunctionDefaults,
    environment: dict[str, str],
    timeout_seconds: int,
    statements: tuple[iam.PolicyStatement, ...] = (),
    role_name: str | None = None,
    function_name: str | None = None,
) -> OpsFunction:
    """The function (``statements`` then the namespace-bounded publish) and its schedule,
    both added to ``scope``."""
    function = OpsFunction(
        scope,
        construct_id,
        code=code,
        handler=handler,
        description=description,
        defaults=defaults,
        environment=environment,
        timeout_seconds=timeout_seconds,
        role_name=role_name,
        function_name=function_name,
        statements=[
            *statements,
            iam.PolicyStatement(
                sid=publishing.sid,
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": publishing.namespace}},
            ),
        ],
    )
    acknowledge(function.policy, "AwsSolutions-IAM5[Resource::*]", publishing.reason)
    events.Rule(
        scope,
        schedule.rule_id,
        description=schedule.description,
        schedule=events.Schedule.rate(cdk.Duration.minutes(1)),
        targets=[targets.LambdaFunction(function.function, retry_attempts=schedule.retry_attempts)],
    )
    return function
