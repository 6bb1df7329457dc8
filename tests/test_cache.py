"""The cache construct: what Twenty and BullMQ depend on, and that cdk-nag has nothing left.

Synthesis costs seconds, so each scratch stack is built once per module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from crm_platform.cache.construct import Cache
from crm_platform.networking.construct import Network
from crm_platform.networking.security_groups import TierSecurityGroups
from crm_platform.security.key import SERVING_REGION_SERVICES, RegionKey
from crm_platform.settings import Settings, load_settings
from crm_platform.settings.catalogs.cache import parameter_group_family
from crm_platform.settings.model import Cache as CacheSettings
from tests.support import nag_findings, template_of

CONFIG = Path(__file__).resolve().parent.parent / "config" / "prod.yaml"
REPLICATION_GROUP_ID = "crm-prod-cache"
SECRET_NAME = "crm/prod/cache-auth-token"
RG = "AWS::ElastiCache::ReplicationGroup"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(CONFIG)


def builder(
    settings: Settings, cache: CacheSettings, built: dict[str, Cache] | None = None
) -> Callable[[cdk.Stack], object]:
    def build(stack: cdk.Stack) -> Cache:
        key = RegionKey(stack, "Key", alias="alias/crm-test", services=SERVING_REGION_SERVICES).key
        net = Network(
            stack, "Net", config=settings.network.primary, key=key, flow_log_retention_days=30
        )
        groups = TierSecurityGroups(
            stack,
            "Groups",
            vpc=net.vpc,
            cloudfront_prefix_list_id=settings.network.primary.cloudfront_prefix_list_id,
        )
        construct = Cache(
            stack,
            "Cache",
            config=cache,
            node_type=cache.node_type,
            nodes=cache.nodes,
            replication_group_id=REPLICATION_GROUP_ID,
            auth_secret_name=SECRET_NAME,
            vpc=net.vpc,
            subnets=net.private_subnets,
            security_group=groups.cache,
            key=key,
        )
        if built is not None:
            built["cache"] = construct
        return construct

    return build


@pytest.fixture(scope="module")
def built(settings: Settings) -> tuple[Template, Cache]:
    holder: dict[str, Cache] = {}
    template = template_of(builder(settings, settings.cache, holder))
    return template, holder["cache"]


@pytest.fixture(scope="module")
def template(built: tuple[Template, Cache]) -> Template:
    return built[0]


def only(template: Template, resource_type: str) -> dict[str, Any]:
    found = template.find_resources(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.values()))


def logical_ids(template: Template, resource_type: str, props: Any = None) -> set[str]:
    kwargs = {"props": props} if props is not None else {}
    return set(template.find_resources(resource_type, **kwargs))


def test_prod_settings_use_valkey_8(settings: Settings) -> None:
    # The assertions below are written against the prod defaults.
    assert (settings.cache.engine, settings.cache.engine_version) == ("valkey", "8.0")


def test_engine_node_type_and_two_nodes(template: Template, settings: Settings) -> None:
    template.has_resource_properties(
        RG,
        {
            "Engine": "valkey",
            "EngineVersion": "8.0",
            "CacheNodeType": settings.cache.node_type,
            "NumCacheClusters": 2,
            "ReplicationGroupId": REPLICATION_GROUP_ID,
            "ClusterMode": "disabled",
            "Port": 6379,
        },
    )


def test_automatic_failover_across_azs(template: Template) -> None:
    template.has_resource_properties(RG, {"AutomaticFailoverEnabled": True, "MultiAZEnabled": True})


def test_tls_required_and_encrypted_at_rest_with_the_region_key(template: Template) -> None:
    (key_id,) = logical_ids(template, "AWS::KMS::Key")
    template.has_resource_properties(
        RG,
        {
            "TransitEncryptionEnabled": True,
            "TransitEncryptionMode": "required",
            "AtRestEncryptionEnabled": True,
            "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
        },
    )


def test_auth_token_is_a_dynamic_reference_to_the_generated_secret(template: Template) -> None:
    (secret_id,) = logical_ids(template, "AWS::SecretsManager::Secret")
    token = only(template, RG)["Properties"]["AuthToken"]
    assert isinstance(token, dict), "the AUTH token must never be a literal in the template"
    rendered = json.dumps(token)
    assert "{{resolve:secretsmanager:" in rendered
    assert json.dumps({"Ref": secret_id}) in rendered


def test_no_literal_secret_value_anywhere(template: Template) -> None:
    secret = only(template, "AWS::SecretsManager::Secret")["Properties"]
    assert "SecretString" not in secret
    assert "GenerateSecretString" in secret
    for resource in template.to_json()["Resources"].values():
        props = resource.get("Properties", {})
        assert not isinstance(props.get("AuthToken"), str)
        assert "SecretString" not in props
    # Nothing shaped like a generated 64-character token was written into the template
    # (lower-case hex of that length is a CDK asset hash, not a token).
    shaped = re.findall(r"\b[A-Za-z0-9]{64}\b", json.dumps(template.to_json()))
    assert [s for s in shaped if not re.fullmatch(r"[0-9a-f]{64}", s)] == []


def test_auth_secret_is_url_safe_retained_and_encrypted(template: Template) -> None:
    (key_id,) = logical_ids(template, "AWS::KMS::Key")
    template.has_resource(
        "AWS::SecretsManager::Secret",
        {
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "Name": SECRET_NAME,
                    "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
                    "GenerateSecretString": {
                        "ExcludePunctuation": True,
                        "IncludeSpace": False,
                        "PasswordLength": 64,
                    },
                }
            ),
        },
    )


def test_parameter_group_never_evicts_and_matches_the_engine(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ElastiCache::ParameterGroup",
        {
            "CacheParameterGroupFamily": "valkey8",
            "Properties": {"maxmemory-policy": "noeviction"},
        },
    )
    (group_id,) = logical_ids(template, "AWS::ElastiCache::ParameterGroup")
    template.has_resource_properties(RG, {"CacheParameterGroupName": {"Ref": group_id}})


@pytest.mark.parametrize(
    ("engine", "version", "family"),
    [
        ("valkey", "8.0", "valkey8"),
        ("valkey", "8.1", "valkey8"),
        ("valkey", "7.2", "valkey7"),
        ("redis", "7.1", "redis7"),
    ],
)
def test_parameter_group_family(engine: str, version: str, family: str) -> None:
    assert parameter_group_family(engine, version) == family


def test_unknown_engine_version_is_refused() -> None:
    with pytest.raises(ValueError, match="parameter group family"):
        parameter_group_family("redis", "6.2")


def test_subnet_group_uses_the_private_subnets(template: Template) -> None:
    private = logical_ids(
        template,
        "AWS::EC2::Subnet",
        {
            "Properties": {
                "Tags": Match.array_with([{"Key": "aws-cdk:subnet-name", "Value": "private"}])
            }
        },
    )
    assert len(private) == 2
    subnet_ids = only(template, "AWS::ElastiCache::SubnetGroup")["Properties"]["SubnetIds"]
    assert sorted(json.dumps(s) for s in subnet_ids) == sorted(
        json.dumps({"Ref": s}) for s in private
    )
    (group_id,) = logical_ids(template, "AWS::ElastiCache::SubnetGroup")
    template.has_resource_properties(RG, {"CacheSubnetGroupName": {"Ref": group_id}})


def test_uses_the_cache_security_group_only(template: Template) -> None:
    cache_groups = logical_ids(
        template,
        "AWS::EC2::SecurityGroup",
        {"Properties": {"GroupDescription": Match.string_like_regexp("^Redis/Valkey")}},
    )
    (sg_id,) = cache_groups
    template.has_resource_properties(RG, {"SecurityGroupIds": [{"Fn::GetAtt": [sg_id, "GroupId"]}]})


def test_snapshots_maintenance_and_minor_upgrades(template: Template, settings: Settings) -> None:
    template.has_resource_properties(
        RG,
        {
            "SnapshotRetentionLimit": settings.cache.snapshot_retention_days,
            "SnapshotWindow": Match.string_like_regexp(r"^\d\d:\d\d-\d\d:\d\d$"),
            "PreferredMaintenanceWindow": Match.string_like_regexp(
                r"^[a-z]{3}:\d\d:\d\d-[a-z]{3}:\d\d:\d\d$"
            ),
            "AutoMinorVersionUpgrade": True,
        },
    )
    template.has_resource(RG, {"DeletionPolicy": "Snapshot"})


def test_slow_log_goes_to_an_encrypted_log_group(template: Template) -> None:
    (key_id,) = logical_ids(template, "AWS::KMS::Key")
    slow_logs = logical_ids(
        template,
        "AWS::Logs::LogGroup",
        {"Properties": {"RetentionInDays": 30, "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}},
    )
    assert slow_logs
    template.has_resource_properties(
        RG,
        {
            "LogDeliveryConfigurations": [
                {
                    "DestinationType": "cloudwatch-logs",
                    "LogFormat": "json",
                    "LogType": "slow-log",
                    "DestinationDetails": {
                        "CloudWatchLogsDetails": {
                            "LogGroup": {"Ref": Match.any_value()},
                        }
                    },
                }
            ]
        },
    )
    destination = only(template, RG)["Properties"]["LogDeliveryConfigurations"][0]
    log_group = destination["DestinationDetails"]["CloudWatchLogsDetails"]["LogGroup"]["Ref"]
    assert log_group in slow_logs


def test_exposes_endpoint_and_port(built: tuple[Template, Cache]) -> None:
    _, cache = built
    assert cache.port == 6379
    assert cdk.Token.is_unresolved(cache.endpoint_address)
    resolved = cdk.Stack.of(cache).resolve(cache.endpoint_address)
    assert resolved["Fn::GetAtt"][1] == "PrimaryEndPoint.Address"


def test_no_unacknowledged_nag_findings(settings: Settings) -> None:
    assert nag_findings(builder(settings, settings.cache)) == []


def test_redis_engine_is_also_clean(settings: Settings) -> None:
    # cdk-nag judges the default port and family differently for "redis".
    redis = settings.cache.model_copy(update={"engine": "redis", "engine_version": "7.1"})
    assert nag_findings(builder(settings, redis)) == []
