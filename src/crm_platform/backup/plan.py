"""The daily backup plan in the primary region, copying every recovery point to DR at once.

The DR stack deploys first and creates its vault under a deterministic name; the plan
copies to that vault by ARN (``Names.backup_vault_arn``), so the stacks share no
CloudFormation references across regions.

The original design kept recovery points 35 days and "copied after 90 days", so nothing
ever reached the DR region. Here every recovery point is copied as soon as its backup
completes (a copy action on the rule), with its own DR retention.

Failures are reported by AWS Backup's own job-state events, not by metric alarms: an
alarm on ``AWS/Backup NumberOfBackupJobsFailed`` gets data only for the dimension sets
AWS publishes, which we could not confirm, and an alarm that never gets data never
fires. Each event rule carries an alarm on its own delivery failures.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from constructs import Construct

from crm_platform.alerts import AlertRule
from crm_platform.backup.restore_testing import RestoreTesting
from crm_platform.backup.roles import BackupRoles
from crm_platform.functions import FunctionDefaults
from crm_platform.settings.model import Backup


def daily_rule(name: str, config: Backup, *, copy_to: backup.IBackupVault) -> backup.BackupPlanRule:
    """The daily rule both regions' plans use, copying each recovery point to ``copy_to``."""
    return backup.BackupPlanRule(
        rule_name=name,
        schedule_expression=events.Schedule.expression(config.schedule),
        start_window=cdk.Duration.minutes(config.start_window_minutes),
        completion_window=cdk.Duration.minutes(config.completion_window_minutes),
        delete_after=cdk.Duration.days(config.retention_days),
        enable_continuous_backup=config.continuous_backup,
        copy_actions=[
            backup.BackupPlanCopyActionProps(
                destination_backup_vault=copy_to,
                delete_after=cdk.Duration.days(config.dr_copy_retention_days),
            )
        ],
    )


def job_failures(scope: Construct, description: str, functions: FunctionDefaults) -> AlertRule:
    """AWS Backup's own job-state events for failed backups and copies, to the alert topic."""
    return AlertRule(
        scope,
        "JobFailures",
        description=description,
        pattern=events.EventPattern(
            source=["aws.backup"],
            detail_type=["Backup Job State Change", "Copy Job State Change"],
            detail={"state": ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"]},
        ),
        topic=functions.alerts,
    )


class BackupPlan(Construct):
    """Plan, tag selection, restore testing and failure alerts of the primary region."""

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
        break_glass_role_name: str,
        functions: FunctionDefaults,
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
            backup_plan_rules=[daily_rule("daily-with-dr-copy", config, copy_to=dr_vault)],
        )
        self.roles = BackupRoles(self, "Roles", break_glass_name=break_glass_role_name)
        self.role = self.roles.backup
        key, value = selection_tag
        self.plan.add_selection(
            "Tagged",
            resources=[backup.BackupResource.from_tag(key, value)],
            role=self.role,
            # The role already carries every policy it needs (roles.py).
            disable_default_backup_policy=True,
            allow_restores=False,
        )
        self.restore_testing = RestoreTesting(
            self,
            "RestoreTesting",
            schedule=config.restore_test_schedule,
            vault=vault,
            database_arn=database_arn,
            role=self.roles.restore_test,
            restore_vpc=restore_vpc,
            restore_subnet_group_name=restore_subnet_group_name,
            functions=functions,
        )
        self.job_failures = job_failures(
            self, "Backup and DR-copy jobs that failed, aborted or expired", functions
        )
        self.restore_failures = AlertRule(
            self,
            "RestoreFailures",
            description="Restore jobs (restore tests included) that failed or were aborted",
            pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Restore Job State Change"],
                detail={"status": ["FAILED", "ABORTED"]},
            ),
            topic=functions.alerts,
        )
