"""The region's origin: an internet-facing ALB that only CloudFront can use.

Two locks on the door, because the CloudFront origin-facing prefix list admits *every*
CloudFront distribution, not only ours:

- security groups admit only that prefix list (one group per port: a referenced prefix
  list counts its maximum size, 55, against the 60-rule quota of a group);
- only requests that carry the origin-verify header CloudFront adds get through: the
  check is a regional WAF web ACL on this balancer (``OriginGuard`` in edge/waf.py, wired
  by the stack beside this construct), failing closed. The header's value is generated in
  Secrets Manager and reaches the template only as a dynamic reference. Two slots (a and
  b) are both accepted, so a rotation changes the inactive slot, deploys the load
  balancers, then switches CloudFront (README, "Rotating the origin secret").

**The production listener rule never changes.** ECS built-in blue/green owns it: each
deployment moves its forward action between the two target groups. A CloudFormation
update of that rule re-applies the template's "forward to blue" whatever ECS has done
since, which after an odd number of releases sends every request to an empty group
(aws/aws-cdk#36649). So nothing that changes lives on it: its one condition is the fixed
path pattern ``/*``, and the origin-verify values, which change at every rotation, live in
the web ACL (docs/decisions.md, "The origin check in WAF").

**HTTPS only.** CloudFront reaches both origins with the https-only origin protocol
policy (edge/cdn.py), the probes and the drill use HTTPS, and no health check calls the
balancer over HTTP, so there is no port-80 listener and no port-80 rule (ADR 0038).

No Route 53 health checker is admitted and no header-less health path is served: ECS's
blue/green swaps the production rule between the two target groups at each deployment,
so any extra rule forwarding to a fixed group would go stale; origin health is watched
from inside the region (target and task alarms) and from the DR region's probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import region_info
from constructs import Construct

from crm_platform.networking.security_groups import APP_PORT, HTTPS_PORT
from crm_platform.trust import source_conditions

TLS_POLICY = elbv2.SslPolicy.RECOMMENDED_TLS  # ELBSecurityPolicy-TLS13-1-2-2021-06
HEALTH_PATH = "/healthz"
ACCESS_LOG_PREFIX = "alb"
# The production rule's one condition: every path. It must never depend on configuration.
PRODUCTION_PATHS = ["/*"]
WAF_FAIL_OPEN = "waf.fail_open.enabled"
# Below Twenty's keep-alive (SERVER_KEEP_ALIVE_TIMEOUT_MS, 65 s) so the balancer, not
# Node, closes idle connections.
IDLE_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class OriginNames:
    """The DNS names the certificate covers: what CloudFront validates and what probes use."""

    origin: str  # origin.<domain>: CloudFront's origin, switched by Route 53 failover
    public: str  # <domain>: the viewer's Host header, forwarded to the origin
    direct: str  # <side>.origin.<domain>: this region's balancer, always


class OriginLoadBalancer(Construct):
    """ALB, certificate, listeners and the two target groups blue/green alternates between.

    ``origin_header_values`` are the origin-verify values this balancer must accept; they
    are kept as ``origin_header_values`` for the origin guard, and never reach a listener.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        public_subnets: ec2.SubnetSelection,
        https_from_cloudfront: ec2.ISecurityGroup,
        to_tasks: ec2.ISecurityGroup,
        zone: route53.IHostedZone,
        names: OriginNames,
        origin_header_values: list[str],
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.origin_header_values = list(origin_header_values)
        self.certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=names.origin,
            subject_alternative_names=[names.public, names.direct],
            validation=acm.CertificateValidation.from_dns(zone),
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            vpc_subnets=public_subnets,
            internet_facing=True,
            security_group=to_tasks,
            deletion_protection=True,
            drop_invalid_header_fields=True,
            idle_timeout=cdk.Duration.seconds(IDLE_TIMEOUT_SECONDS),
            http2_enabled=True,
        )
        # The origin-verify check is in WAF: a request WAF cannot inspect is refused, not
        # forwarded (false is also ELB's default; written out so no one flips it unseen).
        self.load_balancer.set_attribute(WAF_FAIL_OPEN, "false")
        self.load_balancer.add_security_group(https_from_cloudfront)
        log_access_logs(self.load_balancer, access_logs, prefix=ACCESS_LOG_PREFIX)
        self.https = self.load_balancer.add_listener(
            "Https",
            port=HTTPS_PORT,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_certificate_manager(self.certificate)],
            ssl_policy=TLS_POLICY,
            open=False,
            default_action=elbv2.ListenerAction.fixed_response(
                403, content_type="text/plain", message_body="Forbidden"
            ),
        )
        self.blue, self.green = (self._target_group(vpc, colour) for colour in ("Blue", "Green"))
        self.production_rule = elbv2.ApplicationListenerRule(
            self,
            "FromCloudFront",
            listener=self.https,
            priority=10,
            conditions=[elbv2.ListenerCondition.path_patterns(PRODUCTION_PATHS)],
            action=elbv2.ListenerAction.forward([self.blue]),
        )

    def _target_group(self, vpc: ec2.IVpc, colour: str) -> elbv2.ApplicationTargetGroup:
        return elbv2.ApplicationTargetGroup(
            self,
            colour,
            vpc=vpc,
            port=APP_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=cdk.Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=HEALTH_PATH,
                healthy_http_codes="200",
                interval=cdk.Duration.seconds(15),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )


def log_access_logs(
    load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket, *, prefix: str
) -> None:
    """What ``log_access_logs`` does, with the source keys on the log-delivery grants.

    CDK's method grants the region's Elastic Load Balancing account (how ELB writes ALB
    logs in regions opened before August 2022, ap-northeast-1 and ap-southeast-1 among
    them) and, without any condition, ``delivery.logs.amazonaws.com``. The account
    grant stays as ELB documents it; the delivery grants carry ``aws:SourceAccount`` and
    ``aws:SourceArn`` (this account's log deliveries), as CloudWatch Logs documents for
    logs it delivers to S3 (ADR 0038).
    """
    stack = cdk.Stack.of(load_balancer)
    account = stack.account
    elb_account = region_info.RegionInfo.get(stack.region).elbv2_account
    assert elb_account, f"no Elastic Load Balancing account known for {stack.region}"
    objects = bucket.arn_for_objects(f"{prefix}/AWSLogs/{account}/*")
    delivery = iam.ServicePrincipal("delivery.logs.amazonaws.com")
    confined = source_conditions(account, f"arn:aws:logs:{stack.region}:{account}:*")
    for statement in (
        iam.PolicyStatement(
            principals=[iam.AccountPrincipal(elb_account)],
            actions=["s3:PutObject"],
            resources=[objects],
        ),
        iam.PolicyStatement(
            principals=[delivery],
            actions=["s3:PutObject"],
            resources=[objects],
            conditions={
                **confined,
                "StringEquals": {
                    **confined["StringEquals"],
                    "s3:x-amz-acl": "bucket-owner-full-control",
                },
            },
        ),
        iam.PolicyStatement(
            principals=[delivery],
            actions=["s3:GetBucketAcl"],
            resources=[bucket.bucket_arn],
            conditions=confined,
        ),
    ):
        bucket.add_to_resource_policy(statement)
    load_balancer.set_attribute("access_logs.s3.enabled", "true")
    load_balancer.set_attribute("access_logs.s3.bucket", bucket.bucket_name)
    load_balancer.set_attribute("access_logs.s3.prefix", prefix)
    if bucket.policy is not None:
        load_balancer.node.add_dependency(bucket.policy)
