"""Resource alarms and dashboards in both serving regions, and the DR-readiness view."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from crm_platform.monitoring.resource_alarms import max_connections
from crm_platform.settings import Settings
from tests.conftest import Assembly

PRIMARY, DR_APP = "crm-prod-primary", "crm-prod-dr-app"
PREFIX = {PRIMARY: "crm-prod-", DR_APP: "crm-prod-dr-"}
CACHE = {PRIMARY: "crm-prod-cache", DR_APP: "crm-prod-cache-dr"}


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    found = template.find_resources("AWS::CloudWatch::Alarm")
    return {r["Properties"]["AlarmName"]: r["Properties"] for r in found.values()}


def resource_alarms(template: Template, prefix: str) -> dict[str, dict[str, Any]]:
    """The alarms ResourceAlarms owns, by short name (the orchestrator's are elsewhere)."""
    owned = template.find_resources("AWS::CloudWatch::Alarm")
    return {
        r["Properties"]["AlarmName"].removeprefix(prefix): r["Properties"]
        for logical, r in owned.items()
        if logical.startswith("ResourceAlarms")
    }


def expected(cache_group: str, nodes: int, nats: int) -> set[str]:
    names = {"alb-latency", "alb-unhealthy-targets", "rds-cpu", "rds-free-storage"}
    names |= {"rds-free-memory", "rds-connections"}
    names |= {f"ecs-{m}-{r}" for m in ("cpu", "memory") for r in ("server", "worker")}
    for i in range(1, nodes + 1):
        node = f"{cache_group}-{i:03d}"
        names |= {f"cache-cpu-{node}", f"cache-memory-{node}", f"cache-evictions-{node}"}
        if i > 1:
            names.add(f"cache-replication-{node}")
    names |= {f"nat-{k}-{i}" for k in ("port-allocation", "packets-dropped") for i in range(nats)}
    return names


@pytest.mark.parametrize("stack", [PRIMARY, DR_APP])
def test_each_region_alarms_on_every_resource_it_serves_from(
    assembly: Assembly, prod_settings: Settings, stack: str
) -> None:
    template = assembly.template(stack)
    nodes = prod_settings.cache.nodes if stack == PRIMARY else prod_settings.cache.dr_nodes
    region_stack = assembly.template("crm-prod-dr") if stack == DR_APP else template
    nats = len(region_stack.find_resources("AWS::EC2::NatGateway"))
    assert nats >= 1
    assert set(resource_alarms(template, PREFIX[stack])) == expected(CACHE[stack], nodes, nats)


@pytest.mark.parametrize("stack", [PRIMARY, DR_APP])
def test_every_resource_alarm_reaches_the_alert_topic_and_says_when_it_clears(
    assembly: Assembly, stack: str
) -> None:
    owned = resource_alarms(assembly.template(stack), PREFIX[stack])
    assert owned
    for name, alarm in owned.items():
        assert alarm["AlarmActions"] and alarm["OKActions"] == alarm["AlarmActions"], name
        # DR scales to zero: silence there is not an incident.
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmDescription"], name


def test_thresholds_follow_the_original_design(primary: Template) -> None:
    owned = resource_alarms(primary, PREFIX[PRIMARY])
    cpu = owned["ecs-cpu-server"]
    assert (cpu["MetricName"], cpu["Threshold"], cpu["EvaluationPeriods"]) == (
        "CPUUtilization",
        75,
        2,
    )
    assert cpu["ComparisonOperator"] == "GreaterThanThreshold"
    assert owned["ecs-memory-worker"]["Threshold"] == 80
    assert owned["rds-cpu"]["Threshold"] == 80
    assert owned["rds-free-storage"]["ComparisonOperator"] == "LessThanThreshold"
    assert owned["cache-evictions-crm-prod-cache-001"]["Threshold"] == 0


def test_connection_alarm_sits_at_80_percent_of_the_class_limit(
    primary: Template, prod_settings: Settings
) -> None:
    limit = max_connections(prod_settings.database.instance_class)
    alarm = resource_alarms(primary, PREFIX[PRIMARY])["rds-connections"]
    assert alarm["Threshold"] == int(limit * 0.8)
    # LEAST(DBInstanceClassMemory / 9531392, 5000): 4 GiB -> 450, 128 GiB -> capped.
    assert max_connections("db.t4g.medium") == 450
    assert max_connections("db.r6g.8xlarge") == 5000


def test_unhealthy_targets_watch_blue_and_green_target_groups(primary: Template) -> None:
    alarm = resource_alarms(primary, PREFIX[PRIMARY])["alb-unhealthy-targets"]
    groups = {
        json.dumps(
            next(
                d["Value"]
                for d in q["MetricStat"]["Metric"]["Dimensions"]
                if d["Name"] == "TargetGroup"
            )
        )
        for q in alarm["Metrics"]
        if "MetricStat" in q
    }
    declared = primary.find_resources("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert len(groups) == 2 == len(declared)
    assert all("TargetGroupFullName" in g for g in groups)
    (math,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert math["Expression"].count("FILL(") == 2


def test_cache_alarms_name_the_nodes_the_replication_group_creates(
    assembly: Assembly, prod_settings: Settings
) -> None:
    for stack, foundation, nodes in (
        (PRIMARY, PRIMARY, prod_settings.cache.nodes),
        (DR_APP, "crm-prod-dr", prod_settings.cache.dr_nodes),
    ):
        (group,) = (
            assembly.template(foundation)
            .find_resources("AWS::ElastiCache::ReplicationGroup")
            .values()
        )
        props = group["Properties"]
        assert props["ReplicationGroupId"] == CACHE[stack]
        assert props["NumCacheClusters"] == nodes
        assert props["AutomaticFailoverEnabled"] is (nodes > 1)
        watched = {
            a["Dimensions"][0]["Value"]
            for a in resource_alarms(assembly.template(stack), PREFIX[stack]).values()
            if a.get("Namespace") == "AWS/ElastiCache"
        }
        # ElastiCache names the nodes of a cluster-mode-disabled group <group>-001, -002 ...
        assert watched == {f"{CACHE[stack]}-{i:03d}" for i in range(1, nodes + 1)}


def body(template: Template, name: str) -> str:
    (dash,) = template.find_resources(
        "AWS::CloudWatch::Dashboard", {"Properties": {"DashboardName": name}}
    ).values()
    return json.dumps(dash["Properties"]["DashboardBody"])


def test_each_region_has_a_dashboard_with_its_alarms(assembly: Assembly) -> None:
    for stack, name in (
        (PRIMARY, "crm-prod-ap-northeast-1"),
        (DR_APP, "crm-prod-dr-ap-southeast-1"),
    ):
        text = body(assembly.template(stack), name)
        for metric in ("RequestCount", "CPUUtilization", "DatabaseMemoryUsagePercentage"):
            assert metric in text, (stack, metric)
        owned = assembly.template(stack).find_resources("AWS::CloudWatch::Alarm")
        shown = [logical for logical in owned if logical.startswith("ResourceAlarms")]
        assert shown and all(logical in text for logical in shown)


def test_dr_readiness_dashboard_shows_what_a_failover_decision_reads(assembly: Assembly) -> None:
    text = body(assembly.template(DR_APP), "crm-prod-dr-readiness")
    assert '\\"ReplicaLag\\",\\"DBInstanceIdentifier\\",\\"crm-prod-postgres-dr\\"' in text
    for metric in ("PublicUp", "PrimaryOriginUp", "ServeFromDr", "NumberOfCopyJobsCompleted"):
        assert metric in text, metric
    # Route 53 health-check metrics exist in us-east-1 only.
    assert "HealthCheckStatus" in text and '\\"region\\":\\"us-east-1\\"' in text
    assert "crm-prod-primary-impaired" in text or "PrimaryImpaired" in text
