"""Alarms on what serves Twenty in one region: load balancer, services, database, cache, NAT.

Written as a table of plain CloudWatch alarms rather than with cdk-monitoring-constructs:
that library watches one target group per ECS service, and ECS blue/green alternates
two (the unhealthy-target alarm here takes the larger of both by metric math); the
deployment rollback needs alarms under names of our choosing; and it adds a second jsii
library to every synthesis. Thresholds follow the original design where it had them
(5XX > 10 a minute, ECS CPU > 75 % for two periods, memory > 80 %, RDS CPU > 80 %).

Every alarm notifies the region's alert topic and its recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.alerts import notify

GIB = 1024**3
MINUTE = cdk.Duration.minutes(1)
FIVE_MINUTES = cdk.Duration.minutes(5)
# RDS for PostgreSQL: max_connections = LEAST(DBInstanceClassMemory / 9531392, 5000).
_MEMORY_GIB = {
    "micro": 1,
    "small": 2,
    "medium": 4,
    "large": 8,
    "xlarge": 16,
    "2xlarge": 32,
    "4xlarge": 64,
    "8xlarge": 128,
}


# Resource alarms that also roll a server deployment back (ECS deployment alarms).
ROLLBACK_RESOURCE_ALARMS = ("alb-latency", "ecs-cpu-server", "ecs-memory-server")


def max_connections(instance_class: str) -> int:
    size = instance_class.rsplit(".", 1)[-1]
    memory = _MEMORY_GIB.get(size, 4) * GIB
    return min(memory // 9531392, 5000)


@dataclass(frozen=True)
class Watched:
    """What one region runs, by the names its metrics carry."""

    load_balancer: str  # LoadBalancer dimension (full name)
    target_groups: tuple[str, ...]  # TargetGroup dimensions of blue and green
    cluster: str
    services: tuple[str, ...]
    database: str
    database_class: str
    cache_nodes: tuple[str, ...]  # CacheClusterId of each node; the first is the primary
    nat_gateways: tuple[str, ...] = field(default=())


class ResourceAlarms(Construct):
    """``alarms`` holds every alarm by its short name (``ecs-cpu-server`` ...)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        watched: Watched,
        alarm_prefix: str,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix, self._topic = alarm_prefix, topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        w = watched
        lb = {"LoadBalancer": w.load_balancer}
        self._alarm(
            "alb-latency",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            lb,
            "p95",
            2,
            ">",
            "p95 response time of the server tasks above 2 s for 5 minutes",
            periods=5,
        )
        unhealthy = cloudwatch.MathExpression(
            expression=" + ".join(f"FILL(tg{i}, 0)" for i in range(len(w.target_groups))),
            using_metrics={
                f"tg{i}": cloudwatch.Metric(
                    namespace="AWS/ApplicationELB",
                    metric_name="UnHealthyHostCount",
                    dimensions_map={"LoadBalancer": w.load_balancer, "TargetGroup": tg},
                    statistic="Maximum",
                    period=MINUTE,
                )
                for i, tg in enumerate(w.target_groups)
            },
            label="Unhealthy server targets (both target groups)",
            period=MINUTE,
        )
        self._register(
            "alb-unhealthy-targets",
            unhealthy,
            1,
            ">=",
            "A server target has been unhealthy for 3 minutes",
            periods=3,
        )
        for service in w.services:
            dims = {"ClusterName": w.cluster, "ServiceName": service}
            role = service.rsplit("-", 1)[-1]  # crm-prod-server -> server
            self._alarm(
                f"ecs-cpu-{role}",
                "AWS/ECS",
                "CPUUtilization",
                dims,
                "Average",
                75,
                ">",
                f"{service}: CPU above 75 % for two periods",
                periods=2,
            )
            self._alarm(
                f"ecs-memory-{role}",
                "AWS/ECS",
                "MemoryUtilization",
                dims,
                "Average",
                80,
                ">",
                f"{service}: memory above 80 %",
                periods=2,
            )
        db = {"DBInstanceIdentifier": w.database}
        self._alarm(
            "rds-cpu",
            "AWS/RDS",
            "CPUUtilization",
            db,
            "Average",
            80,
            ">",
            f"{w.database}: CPU above 80 % for 10 minutes",
            periods=2,
            period=FIVE_MINUTES,
        )
        self._alarm(
            "rds-free-storage",
            "AWS/RDS",
            "FreeStorageSpace",
            db,
            "Minimum",
            2 * GIB,
            "<",
            f"{w.database}: less than 2 GiB free (autoscaling at its ceiling?)",
        )
        self._alarm(
            "rds-free-memory",
            "AWS/RDS",
            "FreeableMemory",
            db,
            "Minimum",
            256 * 1024**2,
            "<",
            f"{w.database}: less than 256 MiB freeable memory",
            periods=5,
        )
        limit = max_connections(w.database_class)
        self._alarm(
            "rds-connections",
            "AWS/RDS",
            "DatabaseConnections",
            db,
            "Maximum",
            int(limit * 0.8),
            ">",
            f"{w.database}: above 80 % of max_connections ({limit})",
            periods=5,
        )
        for i, node in enumerate(w.cache_nodes):
            dims = {"CacheClusterId": node}
            self._alarm(
                f"cache-cpu-{node}",
                "AWS/ElastiCache",
                "EngineCPUUtilization",
                dims,
                "Average",
                80,
                ">",
                f"{node}: engine CPU above 80 %",
                periods=5,
            )
            # noeviction: a full cache rejects writes, so memory is the one to watch.
            self._alarm(
                f"cache-memory-{node}",
                "AWS/ElastiCache",
                "DatabaseMemoryUsagePercentage",
                dims,
                "Maximum",
                80,
                ">",
                f"{node}: memory above 80 % (writes stop at 100 %)",
            )
            self._alarm(
                f"cache-evictions-{node}",
                "AWS/ElastiCache",
                "Evictions",
                dims,
                "Sum",
                0,
                ">",
                f"{node}: keys evicted although the policy is noeviction",
            )
            if i > 0:
                self._alarm(
                    f"cache-replication-{node}",
                    "AWS/ElastiCache",
                    "ReplicationLag",
                    dims,
                    "Maximum",
                    30,
                    ">",
                    f"{node}: replica more than 30 s behind",
                    periods=3,
                )
        for i, nat in enumerate(w.nat_gateways):
            dims = {"NatGatewayId": nat}
            self._alarm(
                f"nat-port-allocation-{i}",
                "AWS/NATGateway",
                "ErrorPortAllocation",
                dims,
                "Sum",
                0,
                ">",
                "NAT gateway could not allocate a source port",
            )
            self._alarm(
                f"nat-packets-dropped-{i}",
                "AWS/NATGateway",
                "PacketsDropCount",
                dims,
                "Sum",
                100,
                ">",
                "NAT gateway dropping packets",
                periods=3,
            )

    def _alarm(
        self,
        name: str,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        statistic: str,
        threshold: float,
        op: str,
        description: str,
        *,
        periods: int = 1,
        period: cdk.Duration = MINUTE,
    ) -> None:
        self._register(
            name,
            cloudwatch.Metric(
                namespace=namespace,
                metric_name=metric,
                dimensions_map=dimensions,
                statistic=statistic,
                period=period,
            ),
            threshold,
            op,
            description,
            periods=periods,
        )

    def _register(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        op: str,
        description: str,
        *,
        periods: int,
    ) -> None:
        operator = {
            ">": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            ">=": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            "<": cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        }[op]
        self.alarms[name] = notify(
            cloudwatch.Alarm(
                self,
                name,
                alarm_name=f"{self._prefix}{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=operator,
                # Idle or scaled to zero (DR) publishes nothing: not a failure.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            self._topic,
            on_ok=True,
        )
