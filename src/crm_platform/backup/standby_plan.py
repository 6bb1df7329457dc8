"""The DR region's backup plan: idle until a failover, then it protects what serves there.

AWS Backup plans and their tag selections work in their own region only
(https://docs.aws.amazon.com/aws-backup/latest/devguide/assigning-resources.html: a plan
assigns resources of its Region), so the primary's plan never sees the promoted DR
database or the DR attachment bucket. This plan selects the same tag in DR; nothing there
carries it until the failover's ``protect_database`` step tags the promoted database and
the DR bucket, so before a failover it backs up nothing and costs nothing.

Each recovery point is copied to the primary region's vault. While that region is down
the copy jobs fail (the job-failure rule pages DR's alert topic); once it is back, the
next day's copies land there again, and a copy of any earlier point can be started by
hand (docs/emergency-recovery.md). A copy of a continuous backup becomes a snapshot
("the copied recovery point (backup) becomes a snapshot (periodic) backup",
https://docs.aws.amazon.com/aws-backup/latest/devguide/recov-point-create-a-copy.html).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from constructs import Construct

from crm_platform.backup.plan import daily_rule, job_failures
from crm_platform.backup.roles import BACKUP_POLICIES, backup_role
from crm_platform.functions import FunctionDefaults
from crm_platform.settings.model import Backup


class StandbyPlan(Construct):
    """``plan`` backs up what carries ``selection_tag`` in this region, copying home."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Backup,
        vault: backup.IBackupVault,
        primary_vault_arn: str,
        selection_tag: tuple[str, str],
        functions: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        primary_vault = backup.BackupVault.from_backup_vault_arn(
            self, "PrimaryVault", primary_vault_arn
        )
        self.plan = backup.BackupPlan(
            self,
            "Plan",
            backup_plan_name=cdk.Names.unique_resource_name(self, max_length=50, separator="-"),
            backup_vault=vault,
            backup_plan_rules=[daily_rule("daily-after-failover", config, copy_to=primary_vault)],
        )
        self.role = backup_role(
            self, "Role", "AWS Backup in DR after a failover: back up, copy home", BACKUP_POLICIES
        )
        key, value = selection_tag
        self.plan.add_selection(
            "Tagged",
            resources=[backup.BackupResource.from_tag(key, value)],
            role=self.role,
            disable_default_backup_policy=True,
            allow_restores=False,
        )
        self.job_failures = job_failures(
            self, "DR backup and copy-home jobs that failed, aborted or expired", functions
        )
