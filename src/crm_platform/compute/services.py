"""The two ECS services: the server behind the load balancer, the worker behind nothing.

**Server: ECS built-in blue/green** (strategy from configuration: all at once, linear or
canary), chosen now because the deployment controller shapes the service. CodeDeploy-
controlled services "only [accept] the desired count, deployment configuration, health
check grace period, ..." through UpdateService — a new task definition needs a CodeDeploy
deployment — and cannot use the circuit breaker; the roll after a password rotation
forces new deployments, which those services refuse. ECS blue/green keeps ECS as the
controller: UpdateService and forced deployments work, the previous revision stays up for
the bake time, and CloudWatch alarms (``rollback_alarms``) roll a deployment back. The
deployment circuit breaker is documented for rolling updates, so it is not relied on for
the server (docs/decisions.md, "Blue/green by ECS").

**Scaling** follows two signals: CPU (the seed's 70 %) and requests per task. ECS swaps
the production listener rule between two target groups at every deployment, so the usual
``ALBRequestCountPerTarget`` (bound to one target group) would go blind after the first
release; the request signal is the balancer's own ``RequestCount`` divided by the
service's running tasks (metric math in the target-tracking policy).

**Worker**: rolling deployments with the circuit breaker (rollback on), no load balancer.

**What both share** is in ``TwentyService``: the placement (``ServicePlacement``: one
cluster, the private subnets, the tasks' security group, no public IP), the latest Fargate
platform, a new revision started before an old one stops (100 %/200 %), no ECS Exec, the
service's tags on its tasks, and task-count scaling within the role's capacity. Each
service passes only its deployment settings and adds what it has alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from crm_platform.capacity import Capacity
from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compute.load_balancer import OriginLoadBalancer
from crm_platform.compute.task import TwentyTask
from crm_platform.networking.security_groups import APP_PORT
from crm_platform.settings.model import Deployment

_STRATEGIES = {
    "blue_green": ecs.DeploymentStrategy.BLUE_GREEN,
    "linear": ecs.DeploymentStrategy.LINEAR,
    "canary": ecs.DeploymentStrategy.CANARY,
}
SCALE_IN_COOLDOWN = cdk.Duration.minutes(5)
SCALE_OUT_COOLDOWN = cdk.Duration.minutes(1)


@dataclass(frozen=True)
class ServicePlacement:
    """Where both services' tasks run: the region's cluster, its private subnets and the
    tasks' security group."""

    cluster: ecs.ICluster
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup


class TwentyService(Construct):
    """One Fargate service of Twenty with the settings both services share.

    ``deployment``: the service's own ``ecs.FargateService`` deployment settings (strategy,
    circuit breaker or alarms, bake time, ...), passed through unchanged. The scaling is
    not created here: the server attaches its load balancer target first, and the order
    in which the service's children are made is the order of the template's resources.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service_name: str,
        task: TwentyTask,
        placement: ServicePlacement,
        capacity: Capacity,
        **deployment: Any,
    ) -> None:
        super().__init__(scope, construct_id)
        self.service = ecs.FargateService(
            self,
            "Service",
            service_name=service_name,
            cluster=placement.cluster,
            task_definition=task.definition,
            desired_count=capacity.desired,
            vpc_subnets=placement.subnets,
            security_groups=[placement.security_group],
            assign_public_ip=False,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            min_healthy_percent=100,
            max_healthy_percent=200,
            enable_execute_command=False,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            **deployment,
        )

    def _task_count(self, capacity: Capacity) -> ecs.ScalableTaskCount:
        """Task-count scaling between the role's minimum and maximum."""
        return self.service.auto_scale_task_count(
            min_capacity=capacity.minimum, max_capacity=capacity.maximum
        )


class ServerService(TwentyService):
    """The Twenty server: private subnets, no public IP, blue/green behind ``origin``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service_name: str,
        task: TwentyTask,
        placement: ServicePlacement,
        origin: OriginLoadBalancer,
        capacity: Capacity,
        deployment: Deployment,
        rollback_alarm_names: list[str],
        cpu_target_percent: int,
        requests_per_task_per_minute: int,
    ) -> None:
        shift = ecs.TrafficShiftConfig(
            step_percent=deployment.step_percent,
            step_bake_time=cdk.Duration.minutes(deployment.step_minutes),
        )
        super().__init__(
            scope,
            construct_id,
            service_name=service_name,
            task=task,
            placement=placement,
            capacity=capacity,
            deployment_strategy=_STRATEGIES[deployment.strategy],
            bake_time=cdk.Duration.minutes(deployment.bake_minutes),
            linear_configuration=shift if deployment.strategy == "linear" else None,
            canary_configuration=shift if deployment.strategy == "canary" else None,
            deployment_alarms=ecs.DeploymentAlarmConfig(
                alarm_names=rollback_alarm_names,
                behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
            ),
            health_check_grace_period=cdk.Duration.minutes(5),
        )
        target = self.service.load_balancer_target(
            container_name=task.spec.role,
            container_port=APP_PORT,
            alternate_target=ecs.AlternateTarget(
                "Alternate",
                alternate_target_group=origin.green,
                production_listener=ecs.ListenerRuleConfiguration.application_listener_rule(
                    origin.production_rule
                ),
            ),
        )
        target.attach_to_application_target_group(origin.blue)
        self.scaling = self._scaling(
            capacity, cpu_target_percent, requests_per_task_per_minute, origin,
            placement.cluster,
        )  # fmt: skip
        self._acknowledge()

    def _scaling(
        self,
        capacity: Capacity,
        cpu_target: int,
        requests_per_task: int,
        origin: OriginLoadBalancer,
        cluster: ecs.ICluster,
    ) -> ecs.ScalableTaskCount:
        scaling = self._task_count(capacity)
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=cpu_target,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
        )
        target = scaling.node.find_child("Target")
        assert isinstance(target, autoscaling.ScalableTarget)
        lb = origin.load_balancer.load_balancer_full_name
        metric = autoscaling.CfnScalingPolicy
        autoscaling.CfnScalingPolicy(
            self,
            "RequestsPerTask",
            policy_name=f"{cdk.Names.unique_id(self)}-requests",
            policy_type="TargetTrackingScaling",
            scaling_target_id=target.scalable_target_id,
            target_tracking_scaling_policy_configuration=metric.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=requests_per_task,
                scale_in_cooldown=SCALE_IN_COOLDOWN.to_seconds(),
                scale_out_cooldown=SCALE_OUT_COOLDOWN.to_seconds(),
                customized_metric_specification=metric.CustomizedMetricSpecificationProperty(
                    metrics=[
                        _query("requests", "AWS/ApplicationELB", "RequestCount", "Sum",
                               {"LoadBalancer": lb}),
                        _query("tasks", "ECS/ContainerInsights", "RunningTaskCount", "Average",
                               {"ClusterName": cluster.cluster_name,
                                "ServiceName": self.service.service_name}),
                        metric.TargetTrackingMetricDataQueryProperty(
                            id="per_task",
                            expression="requests / IF(tasks > 0, tasks, 1)",
                            label="Requests per running server task per minute",
                            return_data=True,
                        ),
                    ]
                ),
            ),
        )  # fmt: skip
        return scaling

    def _acknowledge(self) -> None:
        acknowledge(
            self.service.node.find_child("AlternateRole"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "AmazonECSInfrastructureRolePolicyForLoadBalancers]",
            "ECS blue/green swaps listener rules and target groups with this AWS-managed "
            "policy, the one ECS documents for its infrastructure role",
        )
        acknowledge(
            self.service,
            "Annotation::@aws-cdk/aws-ecs:shouldUseCircuitBreaker",
            "ECS documents the circuit breaker for rolling updates; this blue/green service "
            "rolls back on its CloudWatch alarms and keeps the old revision for the bake time",
        )


def _query(
    query_id: str, namespace: str, name: str, stat: str, dimensions: dict[str, str]
) -> autoscaling.CfnScalingPolicy.TargetTrackingMetricDataQueryProperty:
    policy = autoscaling.CfnScalingPolicy
    return policy.TargetTrackingMetricDataQueryProperty(
        id=query_id,
        return_data=False,
        metric_stat=policy.TargetTrackingMetricStatProperty(
            stat=stat,
            metric=policy.TargetTrackingMetricProperty(
                namespace=namespace,
                metric_name=name,
                dimensions=[
                    policy.TargetTrackingMetricDimensionProperty(name=k, value=v)
                    for k, v in dimensions.items()
                ],
            ),
        ),
    )


class WorkerService(TwentyService):
    """The Twenty worker: rolling deployments, circuit breaker with rollback, no port."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service_name: str,
        task: TwentyTask,
        placement: ServicePlacement,
        capacity: Capacity,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            service_name=service_name,
            task=task,
            placement=placement,
            capacity=capacity,
            deployment_strategy=ecs.DeploymentStrategy.ROLLING,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
        )
        self.scaling = self._task_count(capacity)
