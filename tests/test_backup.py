"""Backup vaults and plan: what the templates must say, and that cdk-nag has nothing left.

The plan's copy to DR is the point of the design (the original "copy after 90 days" with
35-day retention never copied anything), so it is checked from several angles.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match, Template

from crm_platform.alerts import AlertTopic
from crm_platform.backup.plan import BackupPlan
from crm_platform.backup.roles import BACKUP_POLICIES, BREAK_GLASS_POLICIES, RESTORE_TEST_POLICIES
from crm_platform.backup.vault import BackupVault
from crm_platform.functions import FunctionDefaults
from crm_platform.naming import Names
from crm_platform.security.key import SERVING_REGION_SERVICES, RegionKey
from crm_platform.settings import Settings
from crm_platform.settings.model import Backup, VaultLock
from tests.support import acknowledged_in, nag_findings, scratch_stack, template_of

SELECTION_TAG = ("backup", "crm-daily")


@pytest.fixture(scope="module")
def names(prod_settings: Settings) -> Names:
    return Names.of(prod_settings)


def plan_builder(names: Names, config: Backup) -> Any:

    def build(stack: cdk.Stack) -> BackupPlan:
        key = RegionKey(stack, "Key", alias="alias/test", services=SERVING_REGION_SERVICES).key
        # An imported VPC: the plan only needs one to place its restore-test security group.
        vpc = ec2.Vpc.from_vpc_attributes(
            stack, "Vpc", vpc_id="vpc-0123456789abcdef0", availability_zones=["ap-northeast-1a"]
        )
        topic = AlertTopic(stack, "Alerts", key=key, email="alerts@example.com").topic
        vault = BackupVault(
            stack,
            "Vault",
            vault_name=names.backup_vault(names.primary_region),
            key=key,
            lock=config.vault_lock,
        )
        return BackupPlan(
            stack,
            "Backup",
            config=config,
            vault=vault.vault,
            dr_vault_arn=names.backup_vault_arn(names.dr_region),
            selection_tag=SELECTION_TAG,
            database_arn=names.db_instance_arn,
            restore_vpc=vpc,
            restore_subnet_group_name="crm-prod-postgres-subnets",
            break_glass_role_name=names.restore_break_glass_role,
            functions=FunctionDefaults(key=key, alerts=topic, reserve_concurrency=False),
        )

    return build


def vault_builder(names: Names, lock: VaultLock) -> Any:
    def build(stack: cdk.Stack) -> BackupVault:
        key = RegionKey(stack, "Key", alias="alias/test", services=SERVING_REGION_SERVICES).key
        region = names.dr_region
        return BackupVault(
            stack, "Vault", vault_name=names.backup_vault(region), key=key, lock=lock
        )

    return build


@pytest.fixture(scope="module")
def plan(names: Names, prod_settings: Settings) -> Template:
    return template_of(plan_builder(names, prod_settings.backup), names.primary_region)


@pytest.fixture(scope="module")
def rule(plan: Template) -> dict[str, Any]:
    plans = plan.find_resources("AWS::Backup::BackupPlan")
    assert len(plans) == 1
    (only,) = plans.values()
    rules = only["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert len(rules) == 1
    found: dict[str, Any] = rules[0]
    return found


def lock(mode: str) -> VaultLock:
    return VaultLock(mode=mode, min_retention_days=7, max_retention_days=400)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dr_vaults(names: Names) -> dict[str, Template]:
    region = names.dr_region
    return {
        mode: template_of(vault_builder(names, lock(mode)), region)
        for mode in ("none", "governance", "compliance")
    }


# --- vaults ----------------------------------------------------------------------------
def test_vault_is_encrypted_with_the_region_key_and_retained(
    dr_vaults: dict[str, Template], names: Names
) -> None:
    template = dr_vaults["governance"]
    (key_id,) = template.find_resources("AWS::KMS::Key")
    template.has_resource(
        "AWS::Backup::BackupVault",
        {
            "Properties": Match.object_like(
                {
                    "BackupVaultName": names.backup_vault(names.dr_region),
                    "EncryptionKeyArn": {"Fn::GetAtt": [key_id, "Arn"]},
                }
            ),
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_dr_vault_name_is_what_the_primary_copies_to(names: Names) -> None:
    dr = names.dr_region
    assert names.backup_vault_arn(dr).endswith(f":backup-vault:{names.backup_vault(dr)}")


def test_governance_lock_has_no_cooling_off_period(dr_vaults: dict[str, Template]) -> None:
    dr_vaults["governance"].has_resource_properties(
        "AWS::Backup::BackupVault",
        {
            "LockConfiguration": {
                "MinRetentionDays": 7,
                "MaxRetentionDays": 400,
                "ChangeableForDays": Match.absent(),
            }
        },
    )


def test_compliance_lock_sets_changeable_for_days(dr_vaults: dict[str, Template]) -> None:
    dr_vaults["compliance"].has_resource_properties(
        "AWS::Backup::BackupVault",
        {
            "LockConfiguration": {
                "MinRetentionDays": 7,
                "MaxRetentionDays": 400,
                "ChangeableForDays": 3,
            }
        },
    )


def test_no_lock_when_mode_is_none(dr_vaults: dict[str, Template]) -> None:
    dr_vaults["none"].has_resource_properties(
        "AWS::Backup::BackupVault", {"LockConfiguration": Match.absent()}
    )


def test_locked_dr_vault_passes_nag(names: Names) -> None:
    build = vault_builder(names, lock("compliance"))
    assert nag_findings(build, names.dr_region) == []


# --- plan rule -------------------------------------------------------------------------
def test_rule_runs_daily_at_three_utc_with_windows(rule: dict[str, Any]) -> None:
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert rule["StartWindowMinutes"] == 60
    assert rule["CompletionWindowMinutes"] == 480
    assert rule["Lifecycle"] == {"DeleteAfterDays": 35}


def test_rule_backs_up_into_the_primary_vault(plan: Template, rule: dict[str, Any]) -> None:
    (vault_id,) = plan.find_resources("AWS::Backup::BackupVault")
    assert rule["TargetBackupVault"] == {"Fn::GetAtt": [vault_id, "BackupVaultName"]}


def test_every_recovery_point_is_copied_to_the_dr_vault(rule: dict[str, Any], names: Names) -> None:
    (copy,) = rule["CopyActions"]
    assert copy["DestinationBackupVaultArn"] == names.backup_vault_arn(names.dr_region)
    assert copy["Lifecycle"] == {"DeleteAfterDays": 35}


def test_copy_is_not_deferred_and_outlives_the_source(rule: dict[str, Any]) -> None:
    """The original bug: cold storage / "copy after 90 days" past a 35-day retention."""
    (copy,) = rule["CopyActions"]
    for lifecycle in (rule["Lifecycle"], copy["Lifecycle"]):
        assert "MoveToColdStorageAfterDays" not in lifecycle
        assert "OptInToArchiveForSupportedResources" not in lifecycle
    assert copy["Lifecycle"]["DeleteAfterDays"] >= rule["Lifecycle"]["DeleteAfterDays"]


def test_continuous_backup_follows_settings(
    rule: dict[str, Any], names: Names, prod_settings: Settings
) -> None:
    assert rule["EnableContinuousBackup"] is True
    off = prod_settings.backup.model_copy(update={"continuous_backup": False})
    template = template_of(plan_builder(names, off), names.primary_region)
    template.has_resource_properties(
        "AWS::Backup::BackupPlan",
        {"BackupPlan": {"BackupPlanRule": [Match.object_like({"EnableContinuousBackup": False})]}},
    )


def test_dr_retention_shorter_than_source_is_refused(names: Names, prod_settings: Settings) -> None:
    short = prod_settings.backup.model_copy(update={"dr_copy_retention_days": 7})
    with pytest.raises(ValueError, match="dr_copy_retention_days"):
        template_of(plan_builder(names, short), names.primary_region)


# --- selection and roles ---------------------------------------------------------------
def role_id(template: Template, description_start: str) -> str:
    roles = template.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"Description": Match.string_like_regexp(f"^{description_start}")}},
    )
    assert len(roles) == 1, roles
    (found,) = roles
    return found


def managed_policy_names(template: Template, logical_id: str) -> set[str]:
    role = template.find_resources("AWS::IAM::Role")[logical_id]
    return {
        json.dumps(arn).rsplit(":iam::aws:policy/", 1)[1].rstrip('"]}')
        for arn in role["Properties"]["ManagedPolicyArns"]
    }


def test_every_backup_role_is_trusted_by_aws_backup_only(plan: Template) -> None:
    roles = plan.find_resources("AWS::IAM::Role")
    backup_roles = [
        r
        for r in roles.values()
        if "backup.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(backup_roles) == 3
    for role in backup_roles:
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "backup.amazonaws.com"}


def test_selection_is_by_tag_with_the_backup_role(plan: Template) -> None:
    key, value = SELECTION_TAG
    plan.has_resource_properties(
        "AWS::Backup::BackupSelection",
        {
            "BackupSelection": Match.object_like(
                {
                    "IamRoleArn": {"Fn::GetAtt": [role_id(plan, "AWS Backup: back up"), "Arn"]},
                    "ListOfTags": [
                        {
                            "ConditionKey": key,
                            "ConditionType": "STRINGEQUALS",
                            "ConditionValue": value,
                        }
                    ],
                    "Resources": Match.absent(),
                }
            )
        },
    )


def test_backup_role_backs_up_and_cannot_restore(plan: Template) -> None:
    names = managed_policy_names(plan, role_id(plan, "AWS Backup: back up"))
    assert names == {
        "service-role/AWSBackupServiceRolePolicyForBackup",
        "AWSBackupServiceRolePolicyForS3Backup",
    }
    assert not any("Restore" in name for name in names)


def test_restore_test_role_cannot_touch_buckets_and_is_bounded_to_rds(plan: Template) -> None:
    logical_id = role_id(plan, "AWS Backup restore testing")
    # Named here, not read from the module: the test must fail if the module's list grows.
    assert managed_policy_names(plan, logical_id) == {
        "service-role/AWSBackupServiceRolePolicyForRestores"
    }
    assert RESTORE_TEST_POLICIES == ("service-role/AWSBackupServiceRolePolicyForRestores",)
    role = plan.find_resources("AWS::IAM::Role")[logical_id]
    boundary_ref = role["Properties"]["PermissionsBoundary"]["Ref"]
    boundary = plan.find_resources("AWS::IAM::ManagedPolicy")[boundary_ref]
    actions = {
        action
        for statement in boundary["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert not any(a.startswith(("s3:", "dynamodb:", "elasticfilesystem:")) for a in actions)
    assert "rds:Restore*" in actions


def test_break_glass_role_is_named_and_may_restore_both(plan: Template, names: Names) -> None:
    logical_id = role_id(plan, "Break-glass")
    role = plan.find_resources("AWS::IAM::Role")[logical_id]
    assert role["Properties"]["RoleName"] == names.restore_break_glass_role
    assert managed_policy_names(plan, logical_id) == {
        "service-role/AWSBackupServiceRolePolicyForRestores",
        "AWSBackupServiceRolePolicyForS3Restore",
    }


# --- restore testing -------------------------------------------------------------------
def test_restore_testing_plan_uses_latest_snapshot_of_the_primary_vault(plan: Template) -> None:
    (vault_id,) = plan.find_resources("AWS::Backup::BackupVault")
    plan.has_resource_properties(
        "AWS::Backup::RestoreTestingPlan",
        {
            "ScheduleExpression": "cron(0 5 ? * SUN *)",
            "RecoveryPointSelection": {
                "Algorithm": "LATEST_WITHIN_WINDOW",
                "IncludeVaults": [{"Fn::GetAtt": [vault_id, "BackupVaultArn"]}],
                "RecoveryPointTypes": ["CONTINUOUS", "SNAPSHOT"],
                "SelectionWindowDays": 7,
            },
        },
    )


def test_restore_testing_selection_tests_the_database(plan: Template, names: Names) -> None:
    (testing_plan,) = plan.find_resources("AWS::Backup::RestoreTestingPlan").values()
    plan.has_resource_properties(
        "AWS::Backup::RestoreTestingSelection",
        {
            "ProtectedResourceType": "RDS",
            "ProtectedResourceArns": [names.db_instance_arn],
            "IamRoleArn": {"Fn::GetAtt": [role_id(plan, "AWS Backup restore testing"), "Arn"]},
            "RestoreTestingPlanName": testing_plan["Properties"]["RestoreTestingPlanName"],
            "ValidationWindowHours": 6,
            "RestoreMetadataOverrides": {
                "dbSubnetGroupName": "crm-prod-postgres-subnets",
                "vpcSecurityGroupIds": Match.any_value(),
            },
        },
    )


def test_restore_tests_land_in_a_closed_security_group(plan: Template) -> None:
    (selection,) = plan.find_resources("AWS::Backup::RestoreTestingSelection").values()
    joined = selection["Properties"]["RestoreMetadataOverrides"]["vpcSecurityGroupIds"]
    group_id = joined["Fn::Join"][1][1]["Fn::GetAtt"][0]
    group = plan.find_resources("AWS::EC2::SecurityGroup")[group_id]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"  # CDK's deny-all


def test_completed_restore_tests_invoke_the_validator(plan: Template) -> None:
    (function_id,) = plan.find_resources("AWS::Lambda::Function")
    plan.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.backup"],
                "detail-type": ["Restore Job State Change"],
                "detail": {
                    "status": ["COMPLETED"],
                    "resourceType": ["RDS"],
                    "restoreTestingPlanArn": [{"exists": True}],
                },
            },
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [function_id, "Arn"]}})],
        },
    )


def test_validator_is_small_logged_and_dead_letters_to_alerts(plan: Template) -> None:
    (log_group_id,) = plan.find_resources("AWS::Logs::LogGroup")
    (topic_id,) = plan.find_resources("AWS::SNS::Topic")
    plan.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": Match.string_like_regexp(r"^python3\.1[234]$"),
            "Handler": "validate_restore.handler",
            "ReservedConcurrentExecutions": Match.absent(),
            "LoggingConfig": {"LogGroup": {"Ref": log_group_id}},
            "DeadLetterConfig": {"TargetArn": {"Ref": topic_id}},
        },
    )
    plan.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"RetentionInDays": Match.any_value(), "KmsKeyId": Match.any_value()},
    )


def test_validator_policy_is_least_privilege(plan: Template) -> None:
    policies = plan.find_resources(
        "AWS::IAM::ManagedPolicy",
        {"Properties": {"Description": Match.string_like_regexp("^Exactly what this function")}},
    )
    assert len(policies) == 1
    (policy,) = policies.values()
    actions = sorted(
        action
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    )
    assert actions == [
        "backup:PutRestoreValidationResult",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "rds:DescribeDBInstances",
        "sns:Publish",
    ]
    # No inline (CDK default) policy was added behind the managed one.
    assert plan.find_resources("AWS::IAM::Policy") == {}


# --- alarms and failure events ---------------------------------------------------------
def test_no_alarm_watches_a_backup_metric_that_may_never_have_data(plan: Template) -> None:
    """Failures arrive as job-state events; AWS/Backup metric alarms would stay silent."""
    alarms = plan.find_resources("AWS::CloudWatch::Alarm")
    assert alarms
    assert all(a["Properties"].get("Namespace") != "AWS/Backup" for a in alarms.values())


def test_every_failure_rule_has_an_alarm_on_its_own_delivery(plan: Template) -> None:
    (topic_id,) = plan.find_resources("AWS::SNS::Topic")
    rules = plan.find_resources(
        "AWS::Events::Rule",
        {"Properties": {"Targets": [Match.object_like({"Arn": {"Ref": topic_id}})]}},
    )
    assert len(rules) == 2
    for rule_id in rules:
        plan.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/Events",
                "MetricName": "FailedInvocations",
                "Dimensions": [{"Name": "RuleName", "Value": {"Ref": rule_id}}],
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "AlarmActions": [{"Ref": topic_id}],
            },
        )


def test_failed_restore_validation_alarms(plan: Template) -> None:
    (topic_id,) = plan.find_resources("AWS::SNS::Topic")
    plan.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {"FilterPattern": Match.string_like_regexp(r'\$\.validation = "FAILED"')},
    )
    plan.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "RestoreValidationFailed", "AlarmActions": [{"Ref": topic_id}]},
    )


def test_failed_backup_and_copy_jobs_are_sent_to_the_topic(plan: Template) -> None:
    (topic_id,) = plan.find_resources("AWS::SNS::Topic")
    plan.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.backup"],
                "detail-type": ["Backup Job State Change", "Copy Job State Change"],
                "detail": {"state": ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"]},
            },
            "Targets": [Match.object_like({"Arn": {"Ref": topic_id}})],
        },
    )


def test_failed_restores_are_sent_to_the_topic(plan: Template) -> None:
    (topic_id,) = plan.find_resources("AWS::SNS::Topic")
    plan.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.backup"],
                "detail-type": ["Restore Job State Change"],
                "detail": {"status": Match.array_with(["FAILED"])},
            },
            "Targets": [Match.object_like({"Arn": {"Ref": topic_id}})],
        },
    )


# --- compliance ------------------------------------------------------------------------
def test_plan_passes_nag(names: Names, prod_settings: Settings) -> None:
    build = plan_builder(names, prod_settings.backup)
    assert nag_findings(build, names.primary_region) == []


def test_acknowledgements_sit_on_the_exact_constructs(
    names: Names, prod_settings: Settings
) -> None:
    _, stack = scratch_stack(names.primary_region)
    plan_builder(names, prod_settings.backup)(stack)
    found = set(acknowledged_in(stack))
    managed = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
    boundary = "Scratch/Backup/Roles/RestoreTestBoundary"
    assert found >= {
        *(("Scratch/Backup/Roles/Backup", f"{managed}{name}]") for name in BACKUP_POLICIES),
        *(("Scratch/Backup/Roles/RestoreTest", f"{managed}{n}]") for n in RESTORE_TEST_POLICIES),
        *(("Scratch/Backup/Roles/BreakGlass", f"{managed}{n}]") for n in BREAK_GLASS_POLICIES),
        (boundary, "AwsSolutions-IAM5[Action::rds:Restore*]"),
        ("Scratch/Backup/RestoreTesting/Validator/Policy", "AwsSolutions-IAM5[Resource::*]"),
        (
            "Scratch/Backup/RestoreTesting/Validator/Policy",
            "AwsSolutions-IAM5[Resource::arn:aws:rds:ap-northeast-1:123456789012:db:*]",
        ),
        ("Scratch/Backup/RestoreTesting/Validator/Function", "NIST.800.53.R5-LambdaInsideVPC"),
    }


# --- DR's standby plan (backup/standby_plan.py) ------------------------------------------------
def test_dr_backs_up_what_serves_there_after_a_failover_and_copies_home(
    assembly: Any, names: Names
) -> None:
    """The primary's plan sees its own region only: DR holds a plan that selects the same
    tag (the failover tags the promoted database and the DR bucket) and copies to the
    primary's vault."""
    dr = Template.from_json(assembly.raw(names.dr_stack))
    (plan,) = dr.find_resources("AWS::Backup::BackupPlan").values()
    (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["CopyActions"][0]["DestinationBackupVaultArn"] == names.backup_vault_arn(
        names.primary_region
    )
    (selection,) = dr.find_resources("AWS::Backup::BackupSelection").values()
    key, value = names.backup_selection_tag
    assert selection["Properties"]["BackupSelection"]["ListOfTags"] == [
        {"ConditionKey": key, "ConditionValue": value, "ConditionType": "STRINGEQUALS"}
    ]
    # Nothing in DR carries the tag before a failover: the plan is idle, and costs nothing.
    for stack in (names.dr_stack, "crm-prod-dr-database", "crm-prod-dr-app"):
        for resource in Template.from_json(assembly.raw(stack)).to_json()["Resources"].values():
            tags = resource.get("Properties", {}).get("Tags", [])
            assert not (isinstance(tags, list) and {"Key": key, "Value": value} in tags), resource[
                "Type"
            ]
