"""Twenty's OpenTelemetry metrics into CloudWatch: a collector sidecar per task (ADR 0042).

Twenty pushes OTLP metrics over HTTP when ``METER_DRIVER`` includes ``opentelemetry``
(lower case: the values of its ``MeterDriver`` enum, matched exactly) to the URL in
``OTLP_COLLECTOR_METRICS_ENDPOINT_URL`` (``packages/twenty-server/src/instrument.ts``;
``OTLP_COLLECTOR_ENDPOINT_URL`` is the name its configuration declares, set too). It
emits metrics only -- no traces (its spans go to Sentry, which is not configured here).

An AWS Distro for OpenTelemetry collector in the same task receives them on the task's
loopback only and writes them with the ``awsemf`` exporter to a log group of this
region as CloudWatch embedded metric format, from which CloudWatch extracts the metrics
(namespace ``contracts.TWENTY_TELEMETRY_NAMESPACE``, each with the ``Environment``
dimension like every custom metric of the platform). The collector:

- reads its configuration from ``AOT_CONFIG_CONTENT`` (the collector's
  ``pkg/config/config_factory.go``), inline in the task definition, so a change of it is
  a new revision deployed like any other, and nothing else is read at start;
- is not essential (its failure never stops Twenty) and has a hard memory limit and
  its own CPU share (``telemetry``), a read-only root filesystem, and no port mapping;
- writes as the task role, allowed exactly CreateLogStream and PutLogEvents on its one
  log group (which the stack creates with its retention and key, so it needs none of
  CreateLogGroup, PutRetentionPolicy or the Describe calls AWS's ECS guide lists for a
  collector that creates its own group; docs/adr/0042).
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from crm_platform.compute.task import TwentyTask, pulled_by_the_execution_role
from crm_platform.contracts import (
    ADOT_COLLECTOR_IMAGE,
    ENVIRONMENT_DIMENSION,
    TWENTY_TELEMETRY_NAMESPACE,
)
from crm_platform.retention import KEEP, log_retention
from crm_platform.settings.model import Telemetry

COLLECTOR = "otel-collector"  # the sidecar's container name and log stream prefix
OTLP_HTTP = "127.0.0.1:4318"  # loopback only: nothing outside the task reaches it
METRICS_URL = f"http://{OTLP_HTTP}/v1/metrics"
# Twenty's metric variables: the driver value is its enum's (lower case, exact match).
TWENTY_ENVIRONMENT = {
    "METER_DRIVER": "opentelemetry",
    "OTLP_COLLECTOR_METRICS_ENDPOINT_URL": METRICS_URL,
    "OTLP_COLLECTOR_ENDPOINT_URL": METRICS_URL,
}
CONFIG_VARIABLE = "AOT_CONFIG_CONTENT"
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def collector_config(
    *, region: str, log_group: str, environment: str, memory_mib: int
) -> dict[str, object]:
    """The collector's pipeline: OTLP/HTTP in, memory limit, the environment dimension,
    batches of a minute, EMF out (no rollups: one metric per series Twenty sends)."""
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": OTLP_HTTP}}}},
        "processors": {
            "memory_limiter": {
                "check_interval": "1s",
                "limit_mib": memory_mib * 4 // 5,
                "spike_limit_mib": memory_mib // 5,
            },
            "attributes/environment": {
                "actions": [
                    {"key": ENVIRONMENT_DIMENSION, "value": environment, "action": "upsert"}
                ]
            },
            "batch": {"timeout": "60s"},
        },
        "exporters": {
            "awsemf": {
                "region": region,
                "namespace": TWENTY_TELEMETRY_NAMESPACE,
                "log_group_name": log_group,
                "log_stream_name": "{TaskId}",
                "dimension_rollup_option": "NoDimensionRollup",
                "resource_to_telemetry_conversion": {"enabled": False},
            }
        },
        "service": {
            "pipelines": {
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "attributes/environment", "batch"],
                    "exporters": ["awsemf"],
                }
            },
            "telemetry": {"logs": {"level": "warn"}},
        },
    }


class TelemetryCollector(Construct):
    """One region's collector setup: the EMF log group, the task role's permission to
    write it, and :meth:`add_to` for each task definition that runs Twenty as a service."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Telemetry,
        log_group_name: str,
        environment: str,
        key: kms.IKey,
        task_role: iam.IRole,
        image: str = "",
    ) -> None:
        """``image``: the collector's mirror in the platform repository (the publish step
        copies ``ADOT_COLLECTOR_IMAGE`` there, release/images.py); the public image only
        where no mirror is named (scratch stacks in tests)."""
        super().__init__(scope, construct_id)
        self.config = config
        self.image = image or ADOT_COLLECTOR_IMAGE
        region = cdk.Stack.of(self).region
        self.log_group = logs.LogGroup(
            self,
            "Metrics",
            log_group_name=log_group_name,
            retention=log_retention(config.metrics_log_retention_days),
            encryption_key=key,
            removal_policy=KEEP,
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="The collector sidecar: write Twenty's metrics (EMF) to its log group",
            roles=[task_role],
            statements=[
                iam.PolicyStatement(
                    sid="WriteMetricsAsEmf",
                    actions=list(LOG_ACTIONS),
                    resources=[self.log_group.log_group_arn],  # ends in ":*": its streams
                )
            ],
        )
        self.content = json.dumps(
            collector_config(
                region=region,
                log_group=log_group_name,
                environment=environment,
                memory_mib=config.collector_memory_mib,
            ),
            sort_keys=True,
        )

    def add_to(self, task: TwentyTask) -> ecs.ContainerDefinition:
        """The sidecar in ``task``, and Twenty's metric variables pointing at it."""
        collector = task.definition.add_container(
            COLLECTOR,
            container_name=COLLECTOR,
            image=ecs.ContainerImage.from_registry(self.image),
            essential=False,  # no metrics for a while is better than no CRM
            cpu=self.config.collector_cpu,
            memory_limit_mib=self.config.collector_memory_mib,
            readonly_root_filesystem=True,
            environment={CONFIG_VARIABLE: self.content},
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=f"{task.spec.role}-{COLLECTOR}", log_group=task.log_group
            ),
        )
        for name, value in TWENTY_ENVIRONMENT.items():
            task.container.add_environment(name, value)
        if self.image != ADOT_COLLECTOR_IMAGE:  # its mirror in the platform repository
            pulled_by_the_execution_role(collector)
        # Twenty starts once the collector has started: its first export has a receiver.
        task.container.add_container_dependencies(
            ecs.ContainerDependency(
                container=collector, condition=ecs.ContainerDependencyCondition.START
            )
        )
        return collector
