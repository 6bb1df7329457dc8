"""Primary region: the serving tiers and the source of every replica."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from crm_platform.backup.construct import BackupPlan, BackupVault
from crm_platform.cache.construct import Cache
from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.database.construct import PrimaryDatabase
from crm_platform.monitoring.alerts import AlertTopic
from crm_platform.naming import Names
from crm_platform.networking.construct import Network
from crm_platform.networking.security_groups import TierSecurityGroups
from crm_platform.security.key import RegionKey
from crm_platform.security.secrets import AppSecrets
from crm_platform.stacks.base import PlatformStack
from crm_platform.storage.construct import AccessLogBucket, AttachmentBucket, ReplicationTarget


class PrimaryStack(PlatformStack):
    """Key, network, secrets and the data tier of the primary region."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        s = names.settings
        super().__init__(
            scope,
            construct_id,
            names=names,
            region=s.regions.primary,
            availability_zones=s.network.primary.availability_zones,
            description=f"{names.prefix}: primary region in {s.regions.primary}",
        )
        self.key = RegionKey(self, "Key", alias=names.kms_alias).key
        self.network = Network(
            self,
            "Network",
            config=s.network.primary,
            key=self.key,
            flow_log_retention_days=s.network.flow_log_retention_days,
        )
        self.security_groups = TierSecurityGroups(
            self,
            "SecurityGroups",
            vpc=self.network.vpc,
            cloudfront_prefix_list_id=s.network.primary.cloudfront_prefix_list_id,
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
        self.alerts = AlertTopic(self, "Alerts", key=self.key, email=s.alerts.email).topic
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
            cluster_name=names.ecs_cluster(s.regions.primary),
        )
        cdk.Tags.of(self.database.instance).add(*names.backup_selection_tag)
        self.cache = Cache(
            self,
            "Cache",
            config=s.cache,
            node_type=s.cache.node_type,
            replication_group_id=names.cache_group(s.regions.primary),
            auth_secret_name=names.cache_auth_secret,
            vpc=self.network.vpc,
            subnets=self.network.private_subnets,
            security_group=self.security_groups.cache,
            key=self.key,
        )
        access_logs = AccessLogBucket(
            self, "AccessLogs", bucket_name=names.access_logs_bucket(s.regions.primary)
        )
        self.attachments = AttachmentBucket(
            self,
            "Attachments",
            bucket_name=names.attachments_bucket,
            key=self.key,
            access_logs=access_logs.bucket,
            cors_origin=f"https://{s.domain.name}",
            noncurrent_version_expiration_days=s.storage.noncurrent_version_expiration_days,
            replicate_to=ReplicationTarget(
                bucket_name=names.attachments_bucket_dr,
                region=s.regions.dr,
                kms_key_alias_arn=names.kms_alias_arn(s.regions.dr),
                replication_time_control=s.storage.replication_time_control,
            ),
        )
        cdk.Tags.of(self.attachments.bucket).add(*names.backup_selection_tag)
        vault = BackupVault(
            self,
            "BackupVault",
            vault_name=names.backup_vault(s.regions.primary),
            key=self.key,
            lock=s.backup.vault_lock,
        )
        self.backup = BackupPlan(
            self,
            "Backup",
            config=s.backup,
            vault=vault.vault,
            dr_vault_arn=names.backup_vault_arn(s.regions.dr),
            selection_tag=names.backup_selection_tag,
            database_arn=names.db_instance_arn,
            alerts=self.alerts,
        )
        acknowledge(
            self.database.instance,
            "NIST.800.53.R5-RDSInBackupPlan",
            "Selected by tag (backup-plan) in the AWS Backup plan of this stack; cdk-nag "
            "only recognises selections that list the instance by reference",
        )
