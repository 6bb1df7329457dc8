"""Twenty's OpenTelemetry metrics through a collector sidecar (telemetry.enabled).

A scratch stack holds one task with the collector (its container, configuration,
resources, the task role's permission, cdk-nag clean); the assemblies show it by
setting: staging turns it on (both regions, server and worker only), prod leaves it off.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from crm_platform.authz.model import AuthorizationModel
from crm_platform.authz.paths import evaluate
from crm_platform.compute import telemetry
from crm_platform.compute.permissions import telemetry_needs
from crm_platform.compute.task import SERVER_COMMAND, TaskSpec, TwentyTask
from crm_platform.contracts import (
    ADOT_COLLECTOR_IMAGE,
    ENVIRONMENT_DIMENSION,
    TWENTY_TELEMETRY_NAMESPACE,
)
from crm_platform.naming import Names
from crm_platform.release.images import mirror_sources, mirror_tag
from crm_platform.settings import Settings
from crm_platform.settings.model import TaskSize, Telemetry
from crm_platform.settings.rules import problems
from tests.conftest import Assembly
from tests.support import nag_findings, template_of

CONFIG = Telemetry(enabled=True, collector_cpu=128, collector_memory_mib=256)
LOG_GROUP = "/crm-test/twenty/otel-metrics"


def _build(stack: cdk.Stack, config: Telemetry = CONFIG) -> telemetry.TelemetryCollector:
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    role = iam.Role(stack, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    execution = iam.Role(
        stack, "ExecutionRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
    )
    task = TwentyTask(
        stack, "Server",
        spec=TaskSpec("server", "crm-test-server", TaskSize(cpu=1024, memory_mib=2048,
                      desired_count=1), SERVER_COMMAND, {"NODE_PORT": "3000"}, 3000),
        image=ecs.ContainerImage.from_registry("twentycrm/twenty:v2.45.6"),
        secrets={}, task_role=role, execution_role=execution.without_policy_updates(), key=key,
        read_only_root_filesystem=True,
    )  # fmt: skip
    collector = telemetry.TelemetryCollector(
        stack, "Telemetry", config=config, log_group_name=LOG_GROUP,
        environment="crm-test", key=key, task_role=role,
    )  # fmt: skip
    collector.add_to(task)
    return collector


def _containers(template: Template, family: str) -> dict[str, dict[str, Any]]:
    (task,) = template.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": family}}
    ).values()
    return {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def _config(container: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_env(container)[telemetry.CONFIG_VARIABLE])
    return loaded


@pytest.fixture(scope="module")
def scratch() -> Template:
    return template_of(_build)


def test_the_collector_runs_beside_twenty_with_its_own_small_share(scratch: Template) -> None:
    containers = _containers(scratch, "crm-test-server")
    collector = containers[telemetry.COLLECTOR]
    assert collector["Image"] == ADOT_COLLECTOR_IMAGE and ":latest" not in ADOT_COLLECTOR_IMAGE
    assert collector["Essential"] is False  # its failure never stops Twenty
    assert (collector["Cpu"], collector["Memory"]) == (128, 256)
    assert collector["ReadonlyRootFilesystem"] is True
    assert "PortMappings" not in collector or collector["PortMappings"] == []
    twenty = containers["server"]
    assert {"Condition": "START", "ContainerName": telemetry.COLLECTOR} in twenty["DependsOn"]
    assert _env(twenty)["METER_DRIVER"] == "opentelemetry"  # Twenty's enum value, exactly
    url = "http://127.0.0.1:4318/v1/metrics"
    assert _env(twenty)["OTLP_COLLECTOR_METRICS_ENDPOINT_URL"] == url
    assert _env(twenty)["OTLP_COLLECTOR_ENDPOINT_URL"] == url


def test_the_collector_config_ships_otlp_metrics_to_emf_in_its_region(scratch: Template) -> None:
    config = _config(_containers(scratch, "crm-test-server")[telemetry.COLLECTOR])
    assert config["receivers"] == {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:4318"}}}}
    emf = config["exporters"]["awsemf"]
    assert emf["region"] == "ap-northeast-1"
    assert emf["log_group_name"] == LOG_GROUP
    assert emf["namespace"] == TWENTY_TELEMETRY_NAMESPACE
    assert emf["dimension_rollup_option"] == "NoDimensionRollup"
    pipeline = config["service"]["pipelines"]
    assert set(pipeline) == {"metrics"}  # Twenty sends no traces or logs over OTLP
    assert pipeline["metrics"]["exporters"] == ["awsemf"]
    (action,) = config["processors"]["attributes/environment"]["actions"]
    assert (action["key"], action["value"]) == (ENVIRONMENT_DIMENSION, "crm-test")
    limiter = config["processors"]["memory_limiter"]
    assert limiter["limit_mib"] + limiter["spike_limit_mib"] <= 256


def test_the_task_role_may_write_only_the_collectors_log_group(scratch: Template) -> None:
    (group_id,) = scratch.find_resources(
        "AWS::Logs::LogGroup", {"Properties": {"LogGroupName": LOG_GROUP}}
    )
    group = scratch.find_resources("AWS::Logs::LogGroup")[group_id]
    assert group["DeletionPolicy"] == "RetainExceptOnCreate" and "KmsKeyId" in group["Properties"]
    assert group["Properties"]["RetentionInDays"] == CONFIG.metrics_log_retention_days
    (policy,) = [
        p for p in scratch.find_resources("AWS::IAM::ManagedPolicy").values()
        if "collector" in p["Properties"].get("Description", "")
    ]  # fmt: skip
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(telemetry.LOG_ACTIONS)
    assert statement["Resource"] == {"Fn::GetAtt": [group_id, "Arn"]}


def test_the_collector_is_nag_clean() -> None:
    assert nag_findings(_build) == []


def test_the_share_is_by_setting() -> None:
    template = template_of(
        lambda s: _build(s, Telemetry(enabled=True, collector_cpu=32, collector_memory_mib=64))
    )
    collector = _containers(template, "crm-test-server")[telemetry.COLLECTOR]
    assert (collector["Cpu"], collector["Memory"]) == (32, 64)
    assert _config(collector)["processors"]["memory_limiter"]["limit_mib"] == 51


def test_a_collector_larger_than_its_share_is_refused(prod_settings: Settings) -> None:
    big = prod_settings.model_copy(
        update={"telemetry": Telemetry(enabled=True, collector_memory_mib=512, collector_cpu=256)}
    )
    assert {path for path, _ in problems(big)} == {
        "telemetry.collector_memory_mib", "telemetry.collector_cpu"}  # fmt: skip
    assert problems(big.model_copy(update={"telemetry": Telemetry(enabled=False,
                    collector_memory_mib=512)})) == []  # fmt: skip


SERVICES = ("server", "worker")


@pytest.mark.parametrize("stack", ["crm-staging-primary", "crm-staging-dr-app"])
def test_staging_runs_the_collector_in_server_and_worker_of_both_regions(
    staging_assembly: Assembly, staging_settings: Settings, stack: str
) -> None:
    assert staging_settings.telemetry.enabled
    template = staging_assembly.template(stack)
    region = staging_assembly.manifest()["artifacts"][stack]["environment"].rsplit("/", 1)[1]
    for role in SERVICES:
        containers = _containers(template, f"crm-staging-{role}")
        emf = _config(containers[telemetry.COLLECTOR])["exporters"]["awsemf"]
        assert emf["region"] == region
        assert emf["log_group_name"] == Names.of(staging_settings).telemetry_log_group
        assert _env(containers[role])["METER_DRIVER"] == "opentelemetry"
        # Pulled from its mirror in the platform repository (the region's own), never
        # from the public registry: the publish step copies it there (mirror_sources).
        image = containers[telemetry.COLLECTOR]["Image"]
        names = Names.of(staging_settings)
        assert image == f"{names.repository_uri(region)}:{mirror_tag(ADOT_COLLECTOR_IMAGE)}"
    assert ADOT_COLLECTOR_IMAGE in mirror_sources(staging_settings)
    # The one-off tasks (migrate, jobs, bootstrap) carry none.
    for task in template.find_resources("AWS::ECS::TaskDefinition").values():
        names = {c["Name"] for c in task["Properties"]["ContainerDefinitions"]}
        if not names & set(SERVICES):
            assert telemetry.COLLECTOR not in names


@pytest.mark.parametrize("stack", ["crm-prod-primary", "crm-prod-dr-app"])
def test_prod_has_no_collector_while_telemetry_is_off(
    assembly: Assembly, prod_settings: Settings, stack: str
) -> None:
    assert not prod_settings.telemetry.enabled
    template = assembly.template(stack)
    for task in template.find_resources("AWS::ECS::TaskDefinition").values():
        for c in task["Properties"]["ContainerDefinitions"]:
            assert c["Name"] != telemetry.COLLECTOR
            assert "METER_DRIVER" not in _env(c)
    assert not template.find_resources(
        "AWS::Logs::LogGroup",
        {"Properties": {"LogGroupName": Names.of(prod_settings).telemetry_log_group}},
    )


def test_the_task_role_may_write_the_metrics_where_telemetry_is_on(
    staging_assembly: Assembly, assembly: Assembly,
    staging_settings: Settings, prod_settings: Settings,
) -> None:  # fmt: skip
    """The collector's calls (compute/permissions.py) decided on the assemblies: allowed
    in both regions of staging (on), denied in prod (off: no statement grants them)."""
    on = evaluate(AuthorizationModel.load(staging_assembly.outdir),
                  telemetry_needs(Names.of(staging_settings)))  # fmt: skip
    assert len(on) == 4 and [v.describe() for v in on if not v.ok] == []
    off = evaluate(AuthorizationModel.load(assembly.outdir),
                   telemetry_needs(Names.of(prod_settings)))  # fmt: skip
    assert [v.ok for v in off] == [False] * 4
