"""CloudWatch dashboards: one per serving region, and the DR-readiness view.

The DR-readiness dashboard lives in the DR region and reads what an operator needs when
deciding a failover: replica lag, the DR probes of the primary, the traffic switch, DR
service task counts, backup copies, and the Route 53 health check of the public URL (a
dashboard may show another region's metrics: Route 53's exist only in us-east-1).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from crm_platform.contracts import (
    ENVIRONMENT_DIMENSION,
    PRIMARY_ORIGIN_UP,
    PROBE_NAMESPACE,
    PUBLIC_UP,
    SERVE_FROM_DR,
    SWITCH_NAMESPACE,
)
from crm_platform.monitoring.resource_alarms import Watched

MINUTE = cdk.Duration.minutes(1)


def _metric(
    namespace: str,
    name: str,
    dims: dict[str, str],
    stat: str = "Average",
    label: str | None = None,
    region: str | None = None,
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dims,
        statistic=stat,
        period=MINUTE,
        label=label,
        region=region,
    )


def _graph(
    title: str, metrics: Sequence[cloudwatch.IMetric], width: int = 8
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)


class RegionDashboard(Construct):
    """Traffic, services, database, cache and NAT of one serving region, with its alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        watched: Watched,
        alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        w = watched
        lb = {"LoadBalancer": w.load_balancer}
        db = {"DBInstanceIdentifier": w.database}
        services = [{"ClusterName": w.cluster, "ServiceName": s} for s in w.services]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=name,
            widgets=[
                [
                    _graph(
                        "Requests and errors",
                        [
                            _metric("AWS/ApplicationELB", "RequestCount", lb, "Sum", "requests"),
                            _metric(
                                "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum", "5XX"
                            ),
                            _metric(
                                "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum", "LB 5XX"
                            ),
                        ],
                    ),
                    _graph(
                        "Response time (p95, s)",
                        [
                            _metric("AWS/ApplicationELB", "TargetResponseTime", lb, "p95", "p95"),
                        ],
                    ),
                    _graph(
                        "Running tasks",
                        [
                            _metric(
                                "ECS/ContainerInsights",
                                "RunningTaskCount",
                                d,
                                "Average",
                                d["ServiceName"],
                            )
                            for d in services
                        ],
                    ),
                ],
                [
                    _graph(
                        "Service CPU %",
                        [
                            _metric("AWS/ECS", "CPUUtilization", d, label=d["ServiceName"])
                            for d in services
                        ],
                    ),
                    _graph(
                        "Service memory %",
                        [
                            _metric("AWS/ECS", "MemoryUtilization", d, label=d["ServiceName"])
                            for d in services
                        ],
                    ),
                    _graph(
                        "Database",
                        [
                            _metric("AWS/RDS", "CPUUtilization", db, label="CPU %"),
                            _metric("AWS/RDS", "DatabaseConnections", db, "Maximum", "connections"),
                        ],
                    ),
                ],
                [
                    _graph(
                        "Cache memory %",
                        [
                            _metric(
                                "AWS/ElastiCache",
                                "DatabaseMemoryUsagePercentage",
                                {"CacheClusterId": n},
                                "Maximum",
                                n,
                            )
                            for n in w.cache_nodes
                        ],
                    ),
                    _graph(
                        "NAT gateways",
                        [
                            _metric(
                                "AWS/NATGateway",
                                "ErrorPortAllocation",
                                {"NatGatewayId": n},
                                "Sum",
                                f"port errors {i}",
                            )
                            for i, n in enumerate(w.nat_gateways)
                        ],
                    ),
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms", alarms=list(alarms), width=8, height=6
                    ),
                ],
            ],
        )


class ReadinessDashboard(Construct):
    """Is DR ready to take over? Everything the failover decision reads, on one page."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        environment: str,
        replica: str,
        dr_cluster: str,
        dr_services: Sequence[str],
        public_health_check_region: str,
        alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        env = {ENVIRONMENT_DIMENSION: environment}
        copies = cloudwatch.MathExpression(
            expression=(
                "SEARCH('{AWS/Backup} MetricName=\"NumberOfCopyJobsCompleted\"', 'Sum', 86400)"
            ),
            label="copy jobs completed (per day)",
            period=cdk.Duration.days(1),
        )
        health = cloudwatch.MathExpression(
            expression=(
                "SEARCH('{AWS/Route53,HealthCheckId} MetricName=\"HealthCheckStatus\"', "
                "'Minimum', 60)"
            ),
            label="Route 53 health checks (1 = healthy)",
            period=MINUTE,
            search_region=public_health_check_region,
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=name,
            widgets=[
                [
                    _graph(
                        "Replica lag (s)",
                        [
                            _metric(
                                "AWS/RDS",
                                "ReplicaLag",
                                {"DBInstanceIdentifier": replica},
                                "Maximum",
                                replica,
                            )
                        ],
                    ),
                    _graph(
                        "Primary seen from DR (1 = up)",
                        [
                            _metric(PROBE_NAMESPACE, PUBLIC_UP, env, "Minimum", "public URL"),
                            _metric(
                                PROBE_NAMESPACE, PRIMARY_ORIGIN_UP, env, "Minimum", "primary origin"
                            ),
                        ],
                    ),
                    _graph(
                        "Traffic switch (1 = serving from DR)",
                        [_metric(SWITCH_NAMESPACE, SERVE_FROM_DR, env, "Maximum", SERVE_FROM_DR)],
                    ),
                ],
                [
                    _graph(
                        "DR running tasks",
                        [
                            _metric(
                                "ECS/ContainerInsights",
                                "RunningTaskCount",
                                {"ClusterName": dr_cluster, "ServiceName": s},
                                "Average",
                                s,
                            )
                            for s in dr_services
                        ],
                    ),
                    _graph("Backup copies into DR", [copies]),
                    _graph("Health checks", [health]),
                ],
                [
                    cloudwatch.AlarmStatusWidget(
                        title="DR alarms", alarms=list(alarms), width=24, height=4
                    )
                ],
            ],
        )
