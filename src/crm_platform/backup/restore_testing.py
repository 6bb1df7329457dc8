"""Weekly restore tests of the database, and a verdict on each restored instance.

A restore test only proves that AWS Backup could start a restore; the validator function
(``runtime/validate_restore.py``) proves the result is usable and reports back.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from crm_platform.alerts import notify
from crm_platform.compliance.acknowledge import acknowledge, nag_arn
from crm_platform.contracts import BACKUP_NAMESPACE
from crm_platform.functions import FunctionDefaults, OpsFunction

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"

# Restore tests pick the newest snapshot of the last week and keep the restored instance
# for this long so the validator (and an operator) can look at it before it is deleted.
RESTORE_SELECTION_WINDOW_DAYS = 7
RESTORE_VALIDATION_WINDOW_HOURS = 6
VALIDATOR_LOG_RETENTION_DAYS = 365  # a year of restore-test evidence for audits
VALIDATOR_TIMEOUT_SECONDS = 600


class RestoreTesting(Construct):
    """Restore-testing plan and selection, a quarantine group, the validator and its alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schedule: str,
        vault: backup.IBackupVault,
        database_arn: str,
        role: iam.IRole,
        restore_vpc: ec2.IVpc,
        restore_subnet_group_name: str,
        functions: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        # Restored test instances land in the database's own isolated subnets behind a
        # group that admits nothing: AWS Backup would otherwise pick the default VPC,
        # which production accounts often delete (the restore then fails).
        quarantine = ec2.SecurityGroup(
            self,
            "RestoreTestSecurityGroup",
            vpc=restore_vpc,
            description="Restore-test databases: no inbound, no outbound",
            allow_all_outbound=False,
        )
        plan = backup.CfnRestoreTestingPlan(
            self,
            "RestoreTestingPlan",
            restore_testing_plan_name=cdk.Names.unique_resource_name(self, max_length=50),
            schedule_expression=schedule,
            recovery_point_selection=backup.CfnRestoreTestingPlan.RestoreTestingRecoveryPointSelectionProperty(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[vault.backup_vault_arn],
                # With continuous backup on, the vault holds one CONTINUOUS recovery point
                # rather than daily snapshots; test whichever kind exists.
                recovery_point_types=["CONTINUOUS", "SNAPSHOT"],
                selection_window_days=RESTORE_SELECTION_WINDOW_DAYS,
            ),
        )
        selection = backup.CfnRestoreTestingSelection(
            self,
            "RestoreTestingSelection",
            restore_testing_plan_name=plan.restore_testing_plan_name,
            restore_testing_selection_name="database",
            protected_resource_type="RDS",
            protected_resource_arns=[database_arn],
            iam_role_arn=role.role_arn,
            validation_window_hours=RESTORE_VALIDATION_WINDOW_HOURS,
            restore_metadata_overrides={
                "dbSubnetGroupName": restore_subnet_group_name,
                "vpcSecurityGroupIds": cdk.Fn.join("", ['["', quarantine.security_group_id, '"]']),
            },
        )
        # The selection names the plan by a literal string, so CloudFormation needs the order.
        selection.node.add_dependency(plan)
        self._validator(functions)

    def _validator(self, functions: FunctionDefaults) -> None:
        stack = cdk.Stack.of(self)
        rds_instances = stack.format_arn(
            service="rds",
            resource="db",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        validator = OpsFunction(
            self,
            "Validator",
            code=RUNTIME_DIR,
            handler="validate_restore.handler",
            description="Checks each restore-test RDS instance is available and encrypted",
            defaults=functions,
            statements=[
                iam.PolicyStatement(
                    sid="ReadRestoredInstance",
                    actions=["rds:DescribeDBInstances"],
                    resources=[rds_instances],
                ),
                iam.PolicyStatement(
                    sid="ReportValidation",
                    actions=["backup:PutRestoreValidationResult"],
                    resources=["*"],
                ),
            ],
            timeout_seconds=VALIDATOR_TIMEOUT_SECONDS,
            log_retention_days=VALIDATOR_LOG_RETENTION_DAYS,
        )
        acknowledge(
            validator.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "backup:PutRestoreValidationResult supports no resource-level permissions; the "
            "restore job id is only known when the event arrives",
        )
        acknowledge(
            validator.policy,
            f"AwsSolutions-IAM5[Resource::{nag_arn(rds_instances, stack)}]",
            "Restore testing names each restored instance randomly at run time; read-only "
            "describe is limited to this account's instances in this region",
        )
        events.Rule(
            self,
            "RestoreTestCompleted",
            description="Validate every completed restore-test restore of an RDS instance",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Restore Job State Change"],
                detail={
                    "status": ["COMPLETED"],
                    "resourceType": ["RDS"],
                    "restoreTestingPlanArn": events.Match.exists(),
                },
            ),
            targets=[
                targets.LambdaFunction(
                    validator.function, retry_attempts=4, max_event_age=cdk.Duration.hours(2)
                )
            ],
        )
        failed = logs.MetricFilter(
            self,
            "ValidationFailedFilter",
            log_group=validator.log_group,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.event", "=", "validated"),
                logs.FilterPattern.string_value("$.validation", "=", "FAILED"),
            ),
            metric_namespace=BACKUP_NAMESPACE,
            metric_name="RestoreValidationFailed",
            metric_value="1",
        )
        self.validation_alarm = notify(
            cloudwatch.Alarm(
                self,
                "RestoreValidationFailedAlarm",
                alarm_description=(
                    "A restore test restored the database but the instance was unusable or "
                    "unencrypted"
                ),
                metric=failed.metric(statistic="Sum", period=cdk.Duration.hours(1)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                # No restore test in an hour is normal (one a week), not a failure.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            functions.alerts,
        )
