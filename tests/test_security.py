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
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
        },
    )
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/crm-prod"})


def key_statements(template: Template) -> dict[str, dict]:  # type: ignore[type-arg]
    """The region key's statements (DR also holds the switch's HMAC key, tests/test_switch.py)."""
    (key,) = [
        k for k in template.find_resources("AWS::KMS::Key").values()
        if k["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    ]  # fmt: skip
    every = key["Properties"]["KeyPolicy"]["Statement"]
    assert all("Sid" in s and s["Effect"] == "Allow" for s in every), every
    return {s["Sid"]: s for s in every}


def actions(statement: dict) -> list[str]:  # type: ignore[type-arg]
    found = statement["Action"]
    return found if isinstance(found, list) else [found]


BASE = {"AccountAdministersKey", "CloudWatchLogsEncryptsLogGroups"}
SERVING = BASE | {
    "AccountUsesKeyThroughServices",
    "ServicesCreateGrantsForTheirResources",
    "CloudWatchAlarmsPublishToEncryptedTopics",
    "EventBridgePublishesToEncryptedTopics",
}


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        # no replica secrets live here; SES publishes bounces to the alert topic (email/)
        ("crm-prod-primary", SERVING | {"SesPublishesToEncryptedTopics"}),
        (
            "crm-prod-dr",
            SERVING | {"SecretsManagerReplicatesPlatformSecrets", "SesPublishesToEncryptedTopics"},
        ),
        # us-east-1: replicas of the origin-verify secrets, the alert topic, edge logs,
        # and the cost controls (budget and anomaly alerts, the usage report bucket).
        (
            "crm-prod-global",
            SERVING
            | {
                "SecretsManagerReplicatesPlatformSecrets",
                "CostAlertsPublishToEncryptedTopics",
                "BillingWritesEncryptedUsageReports",
            },
        ),
    ],
)
def test_each_key_has_exactly_the_statements_its_region_needs(
    stack: str, expected: set[str], assembly: Assembly
) -> None:
    assert set(key_statements(assembly.template(stack))) == expected


def test_administration_cannot_use_the_key_or_grant_itself_use(primary: Template) -> None:
    admin = actions(key_statements(primary)["AccountAdministersKey"])
    for forbidden in ("kms:Decrypt", "kms:Encrypt", "kms:CreateGrant", "kms:*"):
        assert forbidden not in admin
    assert not any(a in ("kms:Create*", "kms:Put*", "kms:ReEncrypt*") for a in admin)
    # CloudFormation updates the policy as the account: without it the key is frozen.
    assert "kms:PutKeyPolicy" in admin


def test_grants_are_only_for_aws_resources_through_listed_services(primary: Template) -> None:
    statements = key_statements(primary)
    holders = [sid for sid, s in statements.items() if "kms:CreateGrant" in actions(s)]
    assert holders == ["ServicesCreateGrantsForTheirResources"]
    grants = statements["ServicesCreateGrantsForTheirResources"]["Condition"]
    assert grants["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    via = grants["StringEquals"]["kms:ViaService"]
    assert "rds.ap-northeast-1.amazonaws.com" in via
    use = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]
    assert use["kms:CallerAccount"] == "123456789012"
    assert "secretsmanager.ap-northeast-1.amazonaws.com" in use["kms:ViaService"]


def test_eventbridge_may_encrypt_for_topics_without_source_conditions(primary: Template) -> None:
    """SNS documents source conditions as unsupported for EventBridge-to-encrypted-topic."""
    statements = key_statements(primary)
    events = statements["EventBridgePublishesToEncryptedTopics"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert "Condition" not in events
    assert sorted(actions(events)) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    alarms = statements["CloudWatchAlarmsPublishToEncryptedTopics"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_replica_secrets_key_use_is_pinned_to_this_platforms_secrets(dr: Template) -> None:
    replicas = key_statements(dr)["SecretsManagerReplicatesPlatformSecrets"]
    assert replicas["Principal"] == {"AWS": "*"}
    assert sorted(actions(replicas)) == ["kms:Encrypt", "kms:GenerateDataKey"]  # writes only
    assert replicas["Condition"] == {
        "StringEquals": {
            "kms:ViaService": "secretsmanager.ap-southeast-1.amazonaws.com",
            "kms:CallerAccount": "123456789012",
        },
        "StringLike": {
            "kms:EncryptionContext:SecretARN": (
                "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:crm/prod/*"
            )
        },
    }


def test_logs_encrypt_only_this_accounts_log_groups(primary: Template) -> None:
    logs = key_statements(primary)["CloudWatchLogsEncryptsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.ap-northeast-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": (
                "arn:aws:logs:ap-northeast-1:123456789012:log-group:*"
            )
        }
    }


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
            "DeletionPolicy": "RetainExceptOnCreate",
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


def test_rotation_rolls_the_named_services_of_both_regions(primary: Template) -> None:
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
    (function,) = primary.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "roll_services.handler"}}
    ).values()
    targets = json.loads(function["Properties"]["Environment"]["Variables"]["TARGETS"])
    assert targets == {
        "primary": {
            "region": "ap-northeast-1",
            "cluster": "crm-prod-cluster",
            "services": ["crm-prod-server", "crm-prod-worker"],
        },
        "dr": {
            "region": "ap-southeast-1",
            "cluster": "crm-prod-cluster-dr",
            "services": ["crm-prod-server", "crm-prod-worker"],
        },
        "secret": "crm/prod/database/app",  # Twenty's own user's: the one the tasks read
    }


def test_roll_may_only_force_deployments_of_the_named_services(primary: Template) -> None:
    (policy,) = primary.find_resources(
        "AWS::IAM::ManagedPolicy",
        {"Properties": {"Description": Match.string_like_regexp("Rolls the Twenty services")}},
    ).values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    roll = statements["RollTheTwentyServices"]
    assert roll["Action"] == "ecs:UpdateService"
    assert sorted(roll["Resource"]) == sorted(
        f"arn:aws:ecs:{region}:123456789012:service/{cluster}/crm-prod-{role}"
        for region, cluster in (
            ("ap-northeast-1", "crm-prod-cluster"),
            ("ap-southeast-1", "crm-prod-cluster-dr"),
        )
        for role in ("server", "worker")
    )
    assert roll["Condition"]["BoolIfExists"] == {"ecs:enable-execute-command": "false"}
    families = roll["Condition"]["ArnLikeIfExists"]["ecs:task-definition"]
    assert families == [
        "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/crm-prod-*:*",
        "arn:aws:ecs:ap-southeast-1:123456789012:task-definition/crm-prod-*:*",
    ]
    assert "ecs:ListServices" not in json.dumps(policy)
