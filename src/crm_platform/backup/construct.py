"""AWS Backup for the platform: a vault in each region and one plan in the primary.

The DR stack deploys first and creates its vault under a deterministic name; the primary
stack's plan copies to that vault by ARN (``Names.backup_vault_arn``), so the stacks share
no CloudFormation references across regions.

The original design kept recovery points 35 days and "copied after 90 days", so nothing
ever reached the DR region. Here every recovery point is copied as soon as its backup
completes (a copy action on the rule), with its own DR retention.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge, nag_arn
from crm_platform.functions import OpsFunction
from crm_platform.monitoring.alerts import AlertRuleTarget
from crm_platform.settings.model import Backup, VaultLock

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"

# AWS-managed policies the backup role needs: snapshots and restores of RDS (service-role/
# ones) and of S3 (the S3 ones live outside service-role/).
BACKUP_MANAGED_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)
_MANAGED_POLICY_REASONS = {
    "service-role/AWSBackupServiceRolePolicyForBackup": (
        "AWS maintains this policy as services gain backup features; it is the documented "
        "way to let AWS Backup snapshot RDS and use the vault keys"
    ),
    "service-role/AWSBackupServiceRolePolicyForRestores": (
        "Restore testing restores and then deletes RDS instances; AWS keeps this policy in "
        "step with the APIs those restores and clean-ups need"
    ),
    "AWSBackupServiceRolePolicyForS3Backup": (
        "S3 backups (including continuous backup) need bucket, inventory and EventBridge "
        "permissions that AWS keeps current in this policy"
    ),
    "AWSBackupServiceRolePolicyForS3Restore": (
        "Restoring the attachment bucket needs object write and KMS permissions that AWS "
        "keeps current in this policy"
    ),
}

# Restore tests pick the newest snapshot of the last week and keep the restored instance
# for this long so the validator (and an operator) can look at it before it is deleted.
RESTORE_SELECTION_WINDOW_DAYS = 7
RESTORE_VALIDATION_WINDOW_HOURS = 6
VALIDATOR_LOG_RETENTION_DAYS = 365  # a year of restore-test evidence for audits
VALIDATOR_TIMEOUT_SECONDS = 600
VALIDATION_METRIC_NAMESPACE = "crm-platform/Backup"


class BackupVault(Construct):
    """One region's vault, encrypted with that region's key, retained, optionally locked."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vault_name: str,
        key: kms.IKey,
        lock: VaultLock,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=vault_name,
            encryption_key=key,
            lock_configuration=_lock_configuration(lock),
            # Recovery points outlive the stack: deleting it must never delete backups.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )


def _lock_configuration(lock: VaultLock) -> backup.LockConfiguration | None:
    """Governance locks stay removable by privileged users; compliance locks set after
    ``changeable_for_days`` and can then never be removed, so that mode is opt-in."""
    if lock.mode == "none":
        return None
    return backup.LockConfiguration(
        min_retention=cdk.Duration.days(lock.min_retention_days),
        max_retention=cdk.Duration.days(lock.max_retention_days),
        changeable_for=(
            cdk.Duration.days(lock.changeable_for_days) if lock.mode == "compliance" else None
        ),
    )


class BackupPlan(Construct):
    """Daily plan in the primary region, copying every recovery point to the DR vault right away."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Backup,
        vault: backup.IBackupVault,
        dr_vault_arn: str,
        selection_tag: tuple[str, str],
        database_arn: str,
        restore_vpc: ec2.IVpc,
        restore_subnet_group_name: str,
        alerts: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        if config.dr_copy_retention_days < config.retention_days:
            # DR must still hold a copy for as long as the primary holds the original,
            # or losing the primary region loses the older half of the history.
            raise ValueError(
                f"dr_copy_retention_days ({config.dr_copy_retention_days}) must be >= "
                f"retention_days ({config.retention_days})"
            )
        dr_vault = backup.BackupVault.from_backup_vault_arn(self, "DrVault", dr_vault_arn)
        self.plan = backup.BackupPlan(
            self,
            "Plan",
            # Plan names are unique per account and region; the path keeps environments apart.
            backup_plan_name=cdk.Names.unique_resource_name(self, max_length=50, separator="-"),
            backup_vault=vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="daily-with-dr-copy",
                    schedule_expression=events.Schedule.expression(config.schedule),
                    start_window=cdk.Duration.minutes(config.start_window_minutes),
                    completion_window=cdk.Duration.minutes(config.completion_window_minutes),
                    delete_after=cdk.Duration.days(config.retention_days),
                    enable_continuous_backup=config.continuous_backup,
                    copy_actions=[
                        backup.BackupPlanCopyActionProps(
                            destination_backup_vault=dr_vault,
                            delete_after=cdk.Duration.days(config.dr_copy_retention_days),
                        )
                    ],
                )
            ],
        )
        self.role = self._role()
        key, value = selection_tag
        self.plan.add_selection(
            "Tagged",
            resources=[backup.BackupResource.from_tag(key, value)],
            role=self.role,
            # The role already carries every policy it needs, added (and acknowledged) here.
            disable_default_backup_policy=True,
            allow_restores=False,
        )
        self._restore_testing(
            config, vault, database_arn, restore_vpc, restore_subnet_group_name, alerts
        )
        self._failure_alerts(alerts)

    def _role(self) -> iam.Role:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description="AWS Backup: back up, copy, restore-test and clean up RDS and S3",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name)
                for name in BACKUP_MANAGED_POLICIES
            ],
        )
        for name in BACKUP_MANAGED_POLICIES:
            acknowledge(
                role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
                _MANAGED_POLICY_REASONS[name],
            )
        return role

    # --- restore testing ----------------------------------------------------------------
    def _restore_testing(
        self,
        config: Backup,
        vault: backup.IBackupVault,
        database_arn: str,
        restore_vpc: ec2.IVpc,
        restore_subnet_group_name: str,
        alerts: sns.ITopic,
    ) -> None:
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
            schedule_expression=config.restore_test_schedule,
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
            iam_role_arn=self.role.role_arn,
            validation_window_hours=RESTORE_VALIDATION_WINDOW_HOURS,
            restore_metadata_overrides={
                "dbSubnetGroupName": restore_subnet_group_name,
                "vpcSecurityGroupIds": cdk.Fn.join("", ['["', quarantine.security_group_id, '"]']),
            },
        )
        # The selection names the plan by a literal string, so CloudFormation needs the order.
        selection.node.add_dependency(plan)
        self._validator(alerts)

    def _validator(self, alerts: sns.ITopic) -> None:
        key = alerts.master_key
        if key is None:
            raise ValueError(
                "the alert topic must be KMS-encrypted: its key also encrypts the restore "
                "validator's logs and dead-letter messages"
            )
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
            key=key,
            alerts=alerts,
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
        function, log_group = validator.function, validator.log_group
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
                    function, retry_attempts=4, max_event_age=cdk.Duration.hours(2)
                )
            ],
        )
        failed = logs.MetricFilter(
            self,
            "ValidationFailedFilter",
            log_group=log_group,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.event", "=", "validated"),
                logs.FilterPattern.string_value("$.validation", "=", "FAILED"),
            ),
            metric_namespace=VALIDATION_METRIC_NAMESPACE,
            metric_name="RestoreValidationFailed",
            metric_value="1",
        )
        self._alarm(
            "RestoreValidationFailedAlarm",
            failed.metric(statistic="Sum", period=cdk.Duration.hours(1)),
            "A restore test restored the database but the instance was unusable or unencrypted",
            alerts,
        )

    # --- alerts -------------------------------------------------------------------------
    def _failure_alerts(self, alerts: sns.ITopic) -> None:
        for name, metric_name, what in (
            ("BackupJobsFailedAlarm", "NumberOfBackupJobsFailed", "A backup job failed"),
            ("CopyJobsFailedAlarm", "NumberOfCopyJobsFailed", "A copy to the DR vault failed"),
        ):
            self._alarm(
                name,
                cloudwatch.Metric(
                    namespace="AWS/Backup",
                    metric_name=metric_name,
                    statistic="Sum",
                    period=cdk.Duration.hours(1),
                ),
                what,
                alerts,
            )
        topic = AlertRuleTarget(alerts)
        events.Rule(
            self,
            "JobFailures",
            description="Backup and DR-copy jobs that failed, aborted or expired",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Backup Job State Change", "Copy Job State Change"],
                detail={"state": ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"]},
            ),
            targets=[topic],
        )
        events.Rule(
            self,
            "RestoreFailures",
            description="Restore jobs (restore tests included) that failed or were aborted",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Restore Job State Change"],
                detail={"status": ["FAILED", "ABORTED"]},
            ),
            targets=[topic],
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, description: str, alerts: sns.ITopic
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # No jobs in an hour is normal (one plan run a day), not a failure.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(alerts))
