"""The CloudFront distribution in front of both regions.

- Origin ``origin.<domain>`` over HTTPS only (TLS 1.2), with the origin-verify header of
  the active slot. Route 53 failover decides which region answers that name.
- Application and API (default behaviour): nothing cached, every header (``Host``
  included), cookie and query string forwarded, all methods. Because ``Host`` reaches the
  origin, the load balancers' certificates also cover the public domain.
- Hashed static assets (``/assets/*``): cached, default TTL from configuration.
- ``/_probe/primary/healthz/...``: the primary's load balancer directly, whatever the
  traffic switch says, for the DR probe (failover/impaired_signal.py); a viewer-request
  function answers 404 to anything but GET of Twenty's health paths and strips the
  prefix, so no application request can reach the primary this way.
- Viewer side: the ACM certificate from us-east-1, TLSv1.2_2021 minimum, HTTP/2 and
  HTTP/3, compression, AWS's managed security-headers policy, the web ACL.
- ``PriceClass_200``: the seed's ``PriceClass_100`` has no edge locations in Japan or
  Singapore, so its users would be served from North America or Europe.
- Standard logging v2 (a CloudWatch Logs delivery): legacy logging needs an S3 bucket
  with ACLs enabled, which this platform forbids.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.contracts import HEALTH_PATHS, ORIGIN_HEADER, PRIMARY_PROBE_PATH
from crm_platform.retention import KEEP, log_retention

ACCESS_LOG_RETENTION_DAYS = 90
STATIC_ASSETS = "/assets/*"  # Vite's content-hashed build output, served by Twenty


def probe_function_code() -> str:
    """CloudFront Functions JavaScript: health paths under the probe prefix, nothing else."""
    allowed = ", ".join(f'"{PRIMARY_PROBE_PATH}{p}"' for p in ("/healthz", *HEALTH_PATHS))
    return (
        "function handler(event) {\n"
        "  var request = event.request;\n"
        f"  var allowed = [{allowed}];\n"
        '  if (request.method !== "GET" || allowed.indexOf(request.uri) < 0) {\n'
        '    return { statusCode: 404, statusDescription: "Not Found" };\n'
        "  }\n"
        f"  request.uri = request.uri.substring({len(PRIMARY_PROBE_PATH)});\n"
        "  request.querystring = {};\n"
        "  return request;\n"
        "}\n"
    )


class Distribution(Construct):
    """``distribution`` serves ``domain`` from ``origin_domain``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain: str,
        origin_domain: str,
        primary_origin_domain: str,
        origin_header_value: str,
        certificate: acm.ICertificate,
        web_acl_arn: str,
        price_class: str,
        static_asset_ttl_seconds: int,
        key: kms.IKey,
        log_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        origin = origins.HttpOrigin(
            origin_domain,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            custom_headers={ORIGIN_HEADER: origin_header_value},
            read_timeout=cdk.Duration.seconds(60),
            keepalive_timeout=cdk.Duration.seconds(5),
        )
        primary = origins.HttpOrigin(
            primary_origin_domain,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            custom_headers={ORIGIN_HEADER: origin_header_value},
            read_timeout=cdk.Duration.seconds(10),
        )
        probe_only = cloudfront.Function(
            self,
            "PrimaryProbeOnly",
            comment="Only Twenty's health paths reach the primary origin directly",
            code=cloudfront.FunctionCode.from_inline(probe_function_code()),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        assets = cloudfront.CachePolicy(
            self,
            "StaticAssets",
            comment="Twenty's hashed static assets",
            default_ttl=cdk.Duration.seconds(static_asset_ttl_seconds),
            min_ttl=cdk.Duration.seconds(0),
            max_ttl=cdk.Duration.days(365),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Twenty CRM: {domain}",
            domain_names=[domain],
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass[
                price_class.replace("PriceClass", "PRICE_CLASS").upper()
            ],
            enable_ipv6=True,
            web_acl_id=web_acl_arn,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                compress=True,
            ),
            additional_behaviors={
                STATIC_ASSETS: cloudfront.BehaviorOptions(
                    origin=origin,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    cache_policy=assets,
                    response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                    compress=True,
                ),
                f"{PRIMARY_PROBE_PATH}/*": cloudfront.BehaviorOptions(
                    origin=primary,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                    function_associations=[
                        cloudfront.FunctionAssociation(
                            function=probe_only,
                            event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                        )
                    ],
                ),
            },
        )
        self._logging(key, log_name)
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "A CRM used by a company's own staff wherever they travel; access is by "
            "sign-in, and WAF's IP reputation list and rate limit screen the rest",
        )
        logged_v2 = (
            "Access logs use standard logging v2 (a CloudWatch Logs delivery below); the "
            "legacy S3 logging these checks look for needs ACL-enabled buckets"
        )
        acknowledge(self.distribution, "AwsSolutions-CFR3", logged_v2)
        skip_checkov(self.distribution, "CKV_AWS_86", logged_v2)

    def _logging(self, key: kms.IKey, log_name: str) -> None:
        group = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=f"/aws/cloudfront/{log_name}",
            encryption_key=key,
            retention=log_retention(ACCESS_LOG_RETENTION_DAYS),
            removal_policy=KEEP,
        )
        stack = cdk.Stack.of(self)
        source = logs.CfnDeliverySource(
            self,
            "LogSource",
            name=f"{log_name}-cloudfront",
            log_type="ACCESS_LOGS",
            resource_arn=stack.format_arn(
                service="cloudfront",
                region="",
                resource="distribution",
                resource_name=self.distribution.distribution_id,
            ),
        )
        destination = logs.CfnDeliveryDestination(
            self,
            "LogDestination",
            name=f"{log_name}-cloudfront-logs",
            # The group's ARN without the ":*" of CloudFormation's attribute.
            destination_resource_arn=stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=group.log_group_name,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            ),
        )
        delivery = logs.CfnDelivery(
            self,
            "LogDelivery",
            delivery_source_name=source.ref,
            delivery_destination_arn=destination.attr_arn,
        )
        delivery.node.add_dependency(source)
