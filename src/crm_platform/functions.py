"""A small Lambda for operational glue: Python runtime, own log group, bounded concurrency.

Every operational function in this platform (rolling services after a rotation,
validating restores, DR steps) is short, event-driven and calls AWS APIs only, so they
share one shape and one set of reviewed cdk-nag acknowledgements.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.retention import log_retention

RUNTIME = lambda_.Runtime.PYTHON_3_14


class OpsFunction(Construct):
    """``function`` runs ``handler`` from the folder ``code``; grant it what it calls."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: Path,
        handler: str,
        description: str,
        key: kms.IKey,
        environment: dict[str, str] | None = None,
        timeout_seconds: int = 60,
        log_retention_days: int = 90,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            code=lambda_.Code.from_asset(str(code), exclude=["__pycache__", "*.pyc"]),
            handler=handler,
            description=description,
            role=self.role,
            environment=environment or {},
            environment_encryption=key,
            timeout=cdk.Duration.seconds(timeout_seconds),
            memory_size=256,
            reserved_concurrent_executions=2,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources=["*"],
            )
        )
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaInsideVPC",
            "Calls only AWS control-plane APIs over TLS; a VPC would add NAT dependence "
            "during the very outages these functions handle",
        )
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaDLQ",
            "Invoked by EventBridge, whose rule target keeps its own retry policy; failures "
            "surface through the function's error alarm and logs",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Only for actions AWS offers without resource-level permissions (X-Ray "
            "segments, list calls); list calls are narrowed by condition keys",
        )
        acknowledge(
            self.role,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "Function-specific least-privilege grants; inline keeps them bound to this role",
        )
        cfn = self.function.node.default_child
        assert isinstance(cfn, cdk.CfnResource)
        skip_checkov(cfn, "CKV_AWS_117", "Calls only AWS APIs; no VPC resources to reach")
        skip_checkov(cfn, "CKV_AWS_116", "EventBridge target retries; errors are alarmed")
