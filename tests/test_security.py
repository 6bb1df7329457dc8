"""Keys and secrets: rotation, retention, scoped key policy, URL-safe generated secrets."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from tests.conftest import Assembly


@pytest.mark.parametrize("stack", ["crm-prod-primary", "crm-prod-dr", "crm-prod-global"])
def test_each_region_has_a_rotating_retained_key(stack: str, assembly: Assembly) -> None:
    template = assembly.template(stack)
    template.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": {"EnableKeyRotation": True, "PendingWindowInDays": 30},
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/crm-prod"})


def test_key_policy_limits_use_to_services_and_logs(primary: Template) -> None:
    key = next(iter(primary.find_resources("AWS::KMS::Key").values()))
    every = key["Properties"]["KeyPolicy"]["Statement"]
    # Statements CDK adds for grants (e.g. Secrets Manager) must be conditioned too.
    for statement in every:
        if statement.get("Sid") != "AccountAdministersKey":
            assert "Condition" in statement, statement
        assert statement["Effect"] == "Allow"
    statements = {s["Sid"]: s for s in every if "Sid" in s}
    assert set(statements) == {
        "AccountAdministersKey",
        "AccountUsesKeyThroughServices",
        "CloudWatchLogsEncryptsLogGroups",
        "AlarmsAndEventsPublishToEncryptedTopics",
        "SecretsManagerReplicatesForTheAccount",
    }
    replication = statements["SecretsManagerReplicatesForTheAccount"]["Condition"]["StringEquals"]
    assert replication == {
        "kms:ViaService": "secretsmanager.ap-northeast-1.amazonaws.com",
        "kms:CallerAccount": "123456789012",
    }
    admin = statements["AccountAdministersKey"]["Action"]
    assert "kms:Decrypt" not in admin and "kms:*" not in admin
    via = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert "rds.ap-northeast-1.amazonaws.com" in via
    assert "secretsmanager.ap-northeast-1.amazonaws.com" in via
    logs = statements["CloudWatchLogsEncryptsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.ap-northeast-1.amazonaws.com"}


def test_database_secret_is_generated_url_safe_and_replicated(primary: Template) -> None:
    primary.has_resource(
        "AWS::SecretsManager::Secret",
        {
            "Properties": {
                "Name": "crm/prod/database/master",
                "GenerateSecretString": Match.object_like(
                    {"ExcludePunctuation": True, "GenerateStringKey": "password"}
                ),
                "ReplicaRegions": [{"Region": "ap-southeast-1", "KmsKeyId": "alias/crm-prod"}],
                "KmsKeyId": Match.any_value(),
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_encryption_key_secret_exists_in_both_regions(primary: Template) -> None:
    primary.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Name": "crm/prod/app/encryption-key",
            "ReplicaRegions": [{"Region": "ap-southeast-1", "KmsKeyId": "alias/crm-prod"}],
            "GenerateSecretString": Match.object_like({"ExcludePunctuation": True}),
        },
    )


def test_database_credentials_rotate_on_schedule(primary: Template, prod_settings) -> None:  # type: ignore[no-untyped-def]
    primary.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "HostedRotationLambda": Match.object_like(
                {
                    "RotationType": "PostgreSQLSingleUser",
                    "ExcludeCharacters": Match.string_like_regexp(r"^[!-/:-@\[-`{-~ ]+$"),
                }
            ),
            "RotationRules": {
                "ScheduleExpression": f"rate({prod_settings.database.credentials_rotation_days} days)"
            },
        },
    )


def test_rotation_rolls_the_services(primary: Template) -> None:
    rule = primary.find_resources(
        "AWS::Events::Rule",
        {
            "Properties": {
                "EventPattern": {
                    "source": ["aws.secretsmanager"],
                    "detail-type": ["Secret Label Updated"],
                    "detail": {"labelUpdated": ["AWSCURRENT"]},
                    "resources": [{"Ref": Match.any_value()}],
                }
            }
        },
    )
    assert len(rule) == 1
    primary.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"CLUSTER_NAME": "crm-prod-cluster"}}},
    )
    text = json.dumps(primary.to_json())
    assert "ecs:UpdateService" in text
