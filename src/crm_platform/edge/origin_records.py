"""Route 53 records that name a region's load balancer: the switched origin and a direct name.

``origin.<domain>`` carries failover records (PRIMARY with the traffic switch's health
check, SECONDARY without one), so CloudFront follows the switch by DNS alone. Target
health is never evaluated: ECS blue/green leaves one of the two target groups empty
between deployments, and Route 53 may count an empty group as unhealthy.
``<side>.origin.<domain>`` always names that region's balancer (probes, smoke tests).
The origin records' TTL is the alias target's (60 s for a load balancer).
"""

from __future__ import annotations

from typing import Literal

from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from constructs import Construct


class OriginRecords(Construct):
    """A ``failover`` record on ``origin_name`` and a plain one on ``direct_name``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        zone_id: str,
        origin_name: str,
        direct_name: str,
        load_balancer: elbv2.IApplicationLoadBalancer,
        failover: Literal["PRIMARY", "SECONDARY"],
        health_check_id: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        alias = route53.CfnRecordSet.AliasTargetProperty(
            dns_name=load_balancer.load_balancer_dns_name,
            hosted_zone_id=load_balancer.load_balancer_canonical_hosted_zone_id,
            evaluate_target_health=False,
        )
        self.origin = route53.CfnRecordSet(
            self,
            "Origin",
            hosted_zone_id=zone_id,
            name=f"{origin_name}.",
            type="A",
            set_identifier=failover.lower(),
            failover=failover,
            health_check_id=health_check_id,
            alias_target=alias,
        )
        self.direct = route53.CfnRecordSet(
            self,
            "Direct",
            hosted_zone_id=zone_id,
            name=f"{direct_name}.",
            type="A",
            alias_target=alias,
        )
