"""Primary region: the serving tiers and the source of every replica."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from crm_platform.backup.plan import BackupPlan
from crm_platform.database.construct import PrimaryDatabase, ServiceRollTargets, ServiceSet
from crm_platform.naming import Names
from crm_platform.security.secrets import AppSecrets
from crm_platform.stacks.regional import RegionalStack
from crm_platform.storage.construct import ReplicationTarget


class PrimaryStack(RegionalStack):
    """The regional foundation plus secrets, the database and the backup plan."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        s = names.settings
        super().__init__(
            scope,
            construct_id,
            names=names,
            side="primary",
            description=f"{names.prefix}: primary region in {s.regions.primary}",
            replicate_attachments_to=ReplicationTarget(
                bucket_name=names.attachments_bucket_dr,
                region=s.regions.dr,
                kms_key_alias_arn=names.kms_alias_arn(s.regions.dr),
                replication_time_control=s.storage.replication_time_control,
            ),
        )
        self.secrets = AppSecrets(
            self,
            "Secrets",
            key=self.key,
            db_secret_name=names.db_secret,
            encryption_key_secret_name=names.encryption_key_secret,
            dr_region=s.regions.dr,
            dr_key_alias=names.kms_alias,
        )
        self.database = PrimaryDatabase(
            self,
            "Database",
            config=s.database,
            instance_identifier=names.db_instance,
            database_name=names.db_name,
            vpc=self.network.vpc,
            isolated_subnets=self.network.isolated_subnets,
            private_subnets=self.network.private_subnets,
            security_group=self.security_groups.database,
            key=self.key,
            credentials=self.secrets.database,
            roll_targets=ServiceRollTargets(
                primary=ServiceSet(
                    s.regions.primary,
                    names.ecs_cluster(s.regions.primary),
                    (names.server_service, names.worker_service),
                ),
                dr=ServiceSet(
                    s.regions.dr,
                    names.ecs_cluster(s.regions.dr),
                    (names.server_service, names.worker_service),
                ),
                secret_name=names.db_secret,
                family_prefix=names.task_family_prefix,
            ),
            functions=self.functions,
            backup_selection_tag=names.backup_selection_tag,
        )
        self.backup = BackupPlan(
            self,
            "Backup",
            config=s.backup,
            vault=self.vault,
            dr_vault_arn=names.backup_vault_arn(s.regions.dr),
            selection_tag=names.backup_selection_tag,
            database_arn=names.db_instance_arn,
            restore_vpc=self.network.vpc,
            restore_subnet_group_name=self.database.subnet_group.subnet_group_name,
            break_glass_role_name=names.restore_break_glass_role,
            functions=self.functions,
        )
        cdk.Tags.of(self.attachments.bucket).add(*names.backup_selection_tag)
