"""Networking in both regions: exact subnets, NAT count, flow logs, endpoints, tight groups."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from crm_platform.settings import Settings


def _region_templates(primary: Template, dr: Template) -> dict[str, Template]:
    return {"primary": primary, "dr": dr}


@pytest.mark.parametrize("side", ["primary", "dr"])
def test_vpc_and_subnets_match_configuration(
    side: str, primary: Template, dr: Template, prod_settings: Settings
) -> None:
    template = _region_templates(primary, dr)[side]
    net = getattr(prod_settings.network, side)
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": net.vpc_cidr})
    subnets = template.find_resources("AWS::EC2::Subnet")
    by_cidr = {r["Properties"]["CidrBlock"]: r["Properties"] for r in subnets.values()}
    expected = [*net.public_subnets, *net.private_subnets, *net.isolated_subnets]
    assert sorted(by_cidr) == sorted(expected)
    for i, az in enumerate(net.availability_zones):
        for tier in (net.public_subnets, net.private_subnets, net.isolated_subnets):
            assert by_cidr[tier[i]]["AvailabilityZone"] == az
    for cidr in net.public_subnets:
        assert by_cidr[cidr]["MapPublicIpOnLaunch"] is False


@pytest.mark.parametrize("side", ["primary", "dr"])
def test_nat_gateway_count(
    side: str, primary: Template, dr: Template, prod_settings: Settings
) -> None:
    nats = getattr(prod_settings.network, side).nat_gateways
    _region_templates(primary, dr)[side].resource_count_is("AWS::EC2::NatGateway", nats)


@pytest.mark.parametrize("side", ["primary", "dr"])
def test_flow_logs_to_encrypted_retained_log_group(
    side: str, primary: Template, dr: Template, prod_settings: Settings
) -> None:
    template = _region_templates(primary, dr)[side]
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {
                "KmsKeyId": Match.any_value(),
                "RetentionInDays": prod_settings.network.flow_log_retention_days,
            },
            "DeletionPolicy": "RetainExceptOnCreate",
        },
    )


def test_default_security_group_is_closed(primary: Template, dr: Template) -> None:
    for template in (primary, dr):
        template.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_s3_gateway_and_configured_interface_endpoints(
    primary: Template, dr: Template, prod_settings: Settings
) -> None:
    endpoints = primary.find_resources("AWS::EC2::VPCEndpoint")
    kinds = sorted(r["Properties"].get("VpcEndpointType", "Gateway") for r in endpoints.values())
    assert kinds.count("Gateway") == 1
    configured = prod_settings.network.primary.interface_endpoints
    assert configured and kinds.count("Interface") == len(configured)
    services = {str(r["Properties"].get("ServiceName")) for r in endpoints.values()}
    assert {f"com.amazonaws.ap-northeast-1.{e.value}" for e in configured} <= services
    dr_endpoints = dr.find_resources("AWS::EC2::VPCEndpoint")
    assert len(dr_endpoints) == 1  # DR config asks for no interface endpoints


def _group_id(template: Template, description: str) -> str:
    """The logical ID of the one security group with ``description`` (a join key only)."""
    groups = template.find_resources(
        "AWS::EC2::SecurityGroup", {"Properties": {"GroupDescription": description}}
    )
    assert len(groups) == 1, description
    return next(iter(groups))


def _ingress(template: Template, group: str) -> list[dict[str, Any]]:
    groups = template.find_resources("AWS::EC2::SecurityGroup")
    inline = groups[group]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    return [*inline, *separate]


def test_load_balancer_admits_only_cloudfront(primary: Template, prod_settings: Settings) -> None:
    """One prefix-list rule per group: the list counts 55 against the 60-rule quota."""
    rules = _ingress(primary, _group_id(primary, "Load balancer: HTTPS from CloudFront"))
    assert len(rules) == 1, rules
    (rule,) = rules
    assert rule["SourcePrefixListId"] == prod_settings.network.primary.cloudfront_prefix_list_id
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (443, 443, "tcp")
    assert rule["Description"] == "HTTPS from CloudFront origin-facing servers"


def test_the_retired_http_group_admits_nothing(primary: Template) -> None:
    """Kept one release, empty, so the foundation stack never deletes a group the balancer
    still holds (ADR 0038); nothing may flow through it."""
    group = _group_id(primary, "Load balancer: HTTP from CloudFront")
    assert _ingress(primary, group) == []
    egress = primary.find_resources("AWS::EC2::SecurityGroupEgress")
    assert not [
        r
        for r in egress.values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]


def test_the_load_balancer_carries_exactly_its_two_groups(primary: Template) -> None:
    (lb,) = primary.find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attached = {ref["Fn::GetAtt"][0] for ref in lb["Properties"]["SecurityGroups"]}
    assert attached == {
        _group_id(primary, "Load balancer: to the server tasks only"),
        _group_id(primary, "Load balancer: HTTPS from CloudFront"),
    }


def test_no_group_is_open_to_the_internet_inbound(primary: Template, dr: Template) -> None:
    for template in (primary, dr):
        for group in template.find_resources("AWS::EC2::SecurityGroup").values():
            for rule in group["Properties"].get("SecurityGroupIngress", []):
                assert rule.get("CidrIp") != "0.0.0.0/0", rule
        for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values():
            assert rule["Properties"].get("CidrIp") != "0.0.0.0/0"


def test_database_and_cache_admit_only_the_tasks(primary: Template) -> None:
    groups = primary.find_resources("AWS::EC2::SecurityGroup")
    description = {k: g["Properties"]["GroupDescription"] for k, g in groups.items()}
    sources: dict[int, list[str]] = {}
    for rule in primary.find_resources("AWS::EC2::SecurityGroupIngress").values():
        p = rule["Properties"]
        assert "CidrIp" not in p, p
        if "SourcePrefixListId" in p:
            continue  # CloudFront to the load balancer, asserted above
        source = description[p["SourceSecurityGroupId"]["Fn::GetAtt"][0]]
        sources.setdefault(p["FromPort"], []).append(source)
    assert sources[6379] == ["Twenty server and worker tasks"]
    assert sorted(sources[5432]) == [
        "Secrets Manager rotation function for the database credentials",
        "Twenty server and worker tasks",
    ]
    # CDK admits the balancer by every group it carries; both are the balancer's.
    assert sorted(sources[3000]) == [
        "Load balancer: HTTPS from CloudFront",
        "Load balancer: to the server tasks only",
    ]


@pytest.mark.parametrize("side", ["primary", "dr"])
def test_tasks_reach_out_only_on_https_smtp_submission_and_their_data_stores(
    side: str, primary: Template, dr: Template
) -> None:
    """Outbound from the tasks: HTTPS (AWS APIs, NAT), 587 to Amazon SES (e-mail is on in
    prod.yaml), PostgreSQL and the cache by group; nothing else, no "all traffic"."""
    template = _region_templates(primary, dr)[side]
    tasks = _group_id(template, "Twenty server and worker tasks")
    group = template.find_resources("AWS::EC2::SecurityGroup")[tasks]["Properties"]
    to_anywhere = {
        (r["FromPort"], r["ToPort"], r["IpProtocol"])
        for r in group["SecurityGroupEgress"]
        if r.get("CidrIp") == "0.0.0.0/0"
    }
    assert to_anywhere == {(443, 443, "tcp"), (587, 587, "tcp")}
    separate = sorted(
        r["Properties"]["FromPort"]
        for r in template.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [tasks, "GroupId"]}
    )
    assert separate == [5432, 6379]
