"""CloudFront, its certificate and WAF in us-east-1; public DNS; the traffic switch."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from crm_platform.settings import Settings
from tests.conftest import Assembly


@pytest.fixture(scope="module")
def edge(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-edge")


def test_edge_lives_in_us_east_1(assembly: Assembly) -> None:
    artifact = assembly.manifest()["artifacts"]["crm-prod-edge"]
    assert artifact["environment"].endswith("/us-east-1")


def distribution(edge: Template) -> dict:  # type: ignore[type-arg]
    (found,) = edge.find_resources("AWS::CloudFront::Distribution").values()
    return found["Properties"]["DistributionConfig"]  # type: ignore[no-any-return]


def test_distribution_viewer_side(edge: Template, prod_settings: Settings) -> None:
    config = distribution(edge)
    assert config["Aliases"] == ["crm.example.com"]
    assert config["PriceClass"] == "PriceClass_200"
    assert config["HttpVersion"] == "http2and3"
    assert config["IPV6Enabled"] is True
    viewer = config["ViewerCertificate"]
    assert viewer["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert viewer["SslSupportMethod"] == "sni-only"
    assert "Ref" in json.dumps(viewer["AcmCertificateArn"])  # the certificate of this stack
    assert "WebACLId" in config


def test_origin_is_https_with_the_active_origin_header(edge: Template) -> None:
    """The switched origin, and the primary's own for the DR probe (docs/adr/0036)."""
    found = {o["DomainName"]: o for o in distribution(edge)["Origins"]}
    assert set(found) == {"origin.crm.example.com", "primary.origin.crm.example.com"}
    for origin in found.values():
        custom = origin["CustomOriginConfig"]
        assert custom["OriginProtocolPolicy"] == "https-only"
        assert custom["OriginSSLProtocols"] == ["TLSv1.2"]
        assert origin["OriginCustomHeaders"] == [
            {
                "HeaderName": "X-Origin-Verify",
                "HeaderValue": "{{resolve:secretsmanager:crm/prod/edge/origin-verify-a:SecretString:::}}",
            }
        ]


def test_the_probe_path_reaches_the_primary_only_through_its_function(edge: Template) -> None:
    behaviors = {b["PathPattern"]: b for b in distribution(edge)["CacheBehaviors"]}
    probe = behaviors["/_probe/primary/*"]
    assert probe["AllowedMethods"] == ["GET", "HEAD"]
    assert probe["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    (association,) = probe["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    origins = {o["Id"]: o["DomainName"] for o in distribution(edge)["Origins"]}
    assert origins[probe["TargetOriginId"]] == "primary.origin.crm.example.com"


def test_application_is_uncached_and_forwards_everything(edge: Template) -> None:
    default = distribution(edge)["DefaultCacheBehavior"]
    assert default["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    assert default["OriginRequestPolicyId"] == "216adef6-5c7f-47e4-b989-5492eafa07d3"  # AllViewer
    assert default["AllowedMethods"] == ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["Compress"] is True
    assert default["ResponseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"  # Security


def test_static_assets_cache_for_the_configured_ttl(
    edge: Template, prod_settings: Settings
) -> None:
    behaviors = {b["PathPattern"]: b for b in distribution(edge)["CacheBehaviors"]}
    assert "/assets/*" in behaviors
    edge.has_resource_properties(
        "AWS::CloudFront::CachePolicy",
        {
            "CachePolicyConfig": Match.object_like(
                {"DefaultTTL": prod_settings.edge.static_asset_ttl_seconds}
            )
        },
    )


def test_logging_v2_to_an_encrypted_log_group(edge: Template) -> None:
    edge.has_resource_properties("AWS::Logs::DeliverySource", {"LogType": "ACCESS_LOGS"})
    edge.has_resource_properties("AWS::Logs::Delivery", Match.any_value())
    edge.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": "/aws/cloudfront/crm-prod", "KmsKeyId": Match.any_value()},
    )
    assert "Logging" not in distribution(edge)  # legacy logging needs ACL-enabled buckets


def test_waf_has_the_managed_rules_and_the_rate_limit(
    edge: Template, prod_settings: Settings
) -> None:
    (acl,) = edge.find_resources("AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    assert props["Scope"] == "CLOUDFRONT"
    rules = {r["Name"]: r for r in props["Rules"]}
    assert set(rules) == {
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "BodyAttack",
        "OversizeBody",
        "RatePerIp",
    }
    rate = rules["RatePerIp"]["Statement"]["RateBasedStatement"]
    assert rate["Limit"] == prod_settings.edge.waf_rate_limit and rate["AggregateKeyType"] == "IP"
    # What the body rules do with Twenty's own requests: tests/test_waf.py.
    for ours in ("BodyAttack", "OversizeBody"):
        assert rules[ours]["Action"] == {"Count": {}}


def test_waf_logs_redact_the_origin_header(edge: Template) -> None:
    (logging,) = edge.find_resources("AWS::WAFv2::LoggingConfiguration").values()
    props = logging["Properties"]
    assert props["RedactedFields"] == [{"SingleHeader": {"Name": "x-origin-verify"}}]
    assert "aws-waf-logs-crm-prod" in json.dumps(props["LogDestinationConfigs"])
    edge.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": "aws-waf-logs-crm-prod", "KmsKeyId": Match.any_value()},
    )


def test_public_name_aliases_cloudfront_without_target_health(edge: Template) -> None:
    records = [r["Properties"] for r in edge.find_resources("AWS::Route53::RecordSet").values()]
    assert sorted(r["Type"] for r in records) == ["A", "AAAA"]
    for record in records:
        assert record["Name"] == "crm.example.com."
        assert record["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
        assert record["AliasTarget"]["HostedZoneId"] == "Z2FDTNDATAQYW2"
        assert record["AliasTarget"]["EvaluateTargetHealth"] is False


def test_public_url_health_check_pages_from_us_east_1(edge: Template) -> None:
    edge.has_resource_properties(
        "AWS::Route53::HealthCheck",
        {
            "HealthCheckConfig": Match.object_like(
                {
                    "Type": "HTTPS",
                    "FullyQualifiedDomainName": "crm.example.com",
                    "ResourcePath": "/healthz",
                }
            )
        },
    )
    edge.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Route53",
            "MetricName": "HealthCheckStatus",
            "ComparisonOperator": "LessThanThreshold",
            "AlarmActions": Match.any_value(),
        },
    )


# --- the traffic switch -----------------------------------------------------------------
def test_switch_state_alarm_and_keeper_live_in_dr(dr: Template) -> None:
    """The state starts unsigned ("primary"); Route 53's alarm follows the beacon table's
    write units, an AWS/ metric nobody can publish into (docs/adr/0035)."""
    dr.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": "/crm/prod/dr/traffic", "Value": '{"state": "primary"}'}
    )
    dr.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "crm-prod-serve-from-dr",
            "Namespace": "AWS/DynamoDB",
            "MetricName": "ConsumedWriteCapacityUnits",
            "Dimensions": [{"Name": "TableName", "Value": "crm-prod-dr-switch-beacon"}],
            "Period": 60,
            "Statistic": "Maximum",
            "Threshold": 2,
            "TreatMissingData": "ignore",
        },
    )
    dr.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    dr.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "switch.handler",
            "FunctionName": "crm-prod-dr-switch-beacon",
            "Environment": {
                "Variables": {
                    "SWITCH_PARAMETER": "/crm/prod/dr/traffic",
                    "SWITCH_KEY": "alias/crm-prod-dr-switch",
                    "BEACON_TABLE": "crm-prod-dr-switch-beacon",
                    "ENVIRONMENT": "crm-prod",
                }
            },
        },
    )
    dr.has_resource_properties(
        "AWS::KMS::Key", {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}
    )


def test_primary_origin_follows_only_the_dr_switch(primary: Template) -> None:
    (check,) = primary.find_resources("AWS::Route53::HealthCheck").values()
    config = check["Properties"]["HealthCheckConfig"]
    assert config == {
        "Type": "CLOUDWATCH_METRIC",
        "AlarmIdentifier": {"Region": "ap-southeast-1", "Name": "crm-prod-serve-from-dr"},
        "InsufficientDataHealthStatus": "LastKnownStatus",
    }
