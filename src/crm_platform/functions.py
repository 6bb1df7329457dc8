"""A small Lambda for operational glue: own log group, own role, optional reserved concurrency.

Every operational function in this platform (rolling services after a rotation,
validating restores, the DR steps) is short, event-driven and calls AWS APIs only, so
they share one shape and one set of reviewed decisions:

- the role gets exactly the statements the caller passes, in one customer-managed
  policy, and CDK may not add inline grants behind our back;
- events that still fail after Lambda's retries go to the region's alert topic;
- logs go to an encrypted, retained log group of the function's own;
- concurrency is reserved (one execution each) only when configuration opts in: AWS
  keeps at least 100 unreserved concurrent executions per account and region, and new
  accounts often start with a quota of 10, where any reservation fails the deploy
  (docs/decisions.md, "Reserved concurrency is opt-in").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.retention import KEEP, log_retention

RUNTIME = lambda_.Runtime.PYTHON_3_14


@dataclass(frozen=True)
class FunctionDefaults:
    """What every operational function of one region shares."""

    key: kms.IKey  # encrypts logs, environment and dead letters
    alerts: sns.ITopic  # where events that still fail after retries go
    reserve_concurrency: bool  # functions.reserve_concurrency in configuration


class OpsFunction(Construct):
    """``function`` runs ``handler`` from the folder ``code`` with exactly ``statements``.

    ``policy`` is exposed so the caller can acknowledge findings on its own statements.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: Path,
        handler: str,
        description: str,
        defaults: FunctionDefaults,
        statements: list[iam.PolicyStatement],
        environment: dict[str, str] | None = None,
        timeout_seconds: int = 60,
        log_retention_days: int = 365,
        role_name: str | None = None,
        function_name: str | None = None,
    ) -> None:
        """``role_name``/``function_name``: only where a policy elsewhere must name them."""
        super().__init__(scope, construct_id)
        key, alerts = defaults.key, defaults.alerts
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=KEEP,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
            role_name=role_name,
        )
        self.role = role
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Exactly what this function calls: {description}",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn],
                ),
                iam.PolicyStatement(
                    sid="DeadLettersToAlerts",
                    actions=["sns:Publish"],
                    resources=[alerts.topic_arn],
                ),
                iam.PolicyStatement(
                    sid="UseRegionKey",  # environment variables and dead-letter messages
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                ),
                *statements,
            ],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            code=lambda_.Code.from_asset(str(code), exclude=["__pycache__", "*.pyc"]),
            handler=handler,
            description=description,
            function_name=function_name,
            # The policy above is complete: CDK must not add an inline policy to the role.
            role=role.without_policy_updates(),
            environment=environment or {},
            environment_encryption=key,
            timeout=cdk.Duration.seconds(timeout_seconds),
            memory_size=256,
            reserved_concurrent_executions=1 if defaults.reserve_concurrency else None,
            log_group=self.log_group,
            dead_letter_topic=alerts,
        )
        self.function.node.add_dependency(self.policy)
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaInsideVPC",
            "Calls only AWS control-plane APIs over TLS and never a database; a VPC would "
            "add a NAT dependence during the very incidents these functions handle",
        )
        if not defaults.reserve_concurrency:
            unreserved = (
                "Reserving concurrency is opt-in (functions.reserve_concurrency): AWS keeps "
                "100 executions per region unreserved and new accounts start with a quota of "
                "10, so a reservation would fail the first deploy"
            )
            acknowledge(self.function, "NIST.800.53.R5-LambdaConcurrency", unreserved)
            skip_checkov(self.function, "CKV_AWS_115", unreserved)
        skip_checkov(
            self.function,
            "CKV_AWS_117",
            "Calls only AWS control-plane APIs; nothing inside the VPC to reach",
        )
