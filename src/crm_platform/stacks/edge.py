"""us-east-1, deployed last: certificate, WAF, CloudFront and the public DNS records.

Last because the distribution's origin name resolves to the load balancers the regional
stacks create, and the health-check alarm needs the health check (Route 53 metrics exist
only in us-east-1, and an alarm can only read its own region's metrics).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_route53 as route53
from constructs import Construct

from crm_platform.alerts import notify
from crm_platform.edge.cdn import Distribution
from crm_platform.edge.waf import EdgeFirewall
from crm_platform.naming import GLOBAL_REGION, Names
from crm_platform.stacks.base import PlatformStack
from crm_platform.stacks.context import StackContext
from crm_platform.stacks.global_ import GlobalStack

CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"  # the fixed hosted zone of every CloudFront alias
HEALTH_PATH = "/healthz"


class EdgeStack(PlatformStack):
    """What viewers reach: ``https://<domain>`` through CloudFront and WAF."""

    def __init__(
        self, scope: Construct, construct_id: str, *, context: StackContext, global_: GlobalStack
    ) -> None:
        s, names = context.settings, context.names
        super().__init__(
            scope,
            construct_id,
            context=context,
            region=GLOBAL_REGION,
            availability_zones=[],
            description=f"{names.prefix}: CloudFront, WAF and DNS for {s.domain.name}",
        )
        zone = route53.HostedZone.from_hosted_zone_id(self, "Zone", s.domain.hosted_zone_id)
        self.certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=s.domain.name,
            validation=acm.CertificateValidation.from_dns(zone),
        )
        self.firewall = EdgeFirewall(
            self, "Firewall", name=names.prefix, rate_limit=s.edge.waf_rate_limit, key=global_.key
        )
        slot = s.edge.origin_header.active
        self.cdn = Distribution(
            self,
            "Cdn",
            domain=s.domain.name,
            origin_domain=names.origin_domain,
            primary_origin_domain=names.direct_origin_domain(s.regions.primary),
            origin_header_value=cdk.SecretValue.secrets_manager(
                names.origin_secret(slot),
                version_id=getattr(s.edge.origin_header.versions, slot),
            ).unsafe_unwrap(),
            certificate=self.certificate,
            web_acl_arn=self.firewall.web_acl_arn,
            price_class=s.edge.price_class,
            static_asset_ttl_seconds=s.edge.static_asset_ttl_seconds,
            key=global_.key,
            log_name=names.prefix,
        )
        for record_type in ("A", "AAAA"):
            route53.CfnRecordSet(
                self,
                f"Public{record_type}",
                hosted_zone_id=s.domain.hosted_zone_id,
                name=f"{s.domain.name}.",
                type=record_type,
                alias_target=route53.CfnRecordSet.AliasTargetProperty(
                    dns_name=self.cdn.distribution.distribution_domain_name,
                    hosted_zone_id=CLOUDFRONT_ZONE_ID,
                    # Route 53 rejects target health on a CloudFront alias.
                    evaluate_target_health=False,
                ),
            )
        self._public_health(names, global_)

    def _public_health(self, names: Names, global_: GlobalStack) -> None:
        """Route 53 checks the public URL as users reach it; an alarm pages when it fails.

        It never moves traffic (only the traffic switch does)."""
        check = route53.CfnHealthCheck(
            self,
            "PublicHealth",
            health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
                type="HTTPS",
                fully_qualified_domain_name=names.domain,
                resource_path=HEALTH_PATH,
                port=443,
                request_interval=30,
                failure_threshold=3,
                enable_sni=True,
            ),
            health_check_tags=[
                route53.CfnHealthCheck.HealthCheckTagProperty(
                    key="Name", value=f"{names.public_url}{HEALTH_PATH}"
                )
            ],
        )
        self.public_health_check_id = check.attr_health_check_id
        self.public_health_alarm = notify(
            cloudwatch.Alarm(
                self,
                "PublicHealthAlarm",
                alarm_name=f"{names.prefix}-public-url-unhealthy",
                alarm_description=f"{names.public_url}{HEALTH_PATH} fails from Route 53's checkers",
                metric=cloudwatch.Metric(
                    namespace="AWS/Route53",
                    metric_name="HealthCheckStatus",
                    dimensions_map={"HealthCheckId": check.attr_health_check_id},
                    statistic="Minimum",
                    period=cdk.Duration.minutes(1),
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=2,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            global_.alerts,
            on_ok=True,
        )
