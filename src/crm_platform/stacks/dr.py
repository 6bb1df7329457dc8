"""DR region foundation, deployed before the primary: what the primary replicates into."""

from __future__ import annotations

from constructs import Construct

from crm_platform.backup.construct import BackupVault
from crm_platform.cache.construct import Cache
from crm_platform.monitoring.alerts import AlertTopic
from crm_platform.naming import Names
from crm_platform.networking.construct import Network
from crm_platform.networking.security_groups import TierSecurityGroups
from crm_platform.security.key import RegionKey
from crm_platform.stacks.base import PlatformStack
from crm_platform.storage.construct import AccessLogBucket, AttachmentBucket


class DrStack(PlatformStack):
    """The DR region's key, network and security groups (and, later, its standby tiers)."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        s = names.settings
        super().__init__(
            scope,
            construct_id,
            names=names,
            region=s.regions.dr,
            availability_zones=s.network.dr.availability_zones,
            description=f"{names.prefix}: DR region foundation in {s.regions.dr}",
        )
        self.key = RegionKey(self, "Key", alias=names.kms_alias).key
        self.network = Network(
            self,
            "Network",
            config=s.network.dr,
            key=self.key,
            flow_log_retention_days=s.network.flow_log_retention_days,
        )
        self.security_groups = TierSecurityGroups(
            self,
            "SecurityGroups",
            vpc=self.network.vpc,
            cloudfront_prefix_list_id=s.network.dr.cloudfront_prefix_list_id,
        )
        self.alerts = AlertTopic(self, "Alerts", key=self.key, email=s.alerts.email).topic
        self.cache = Cache(
            self,
            "Cache",
            config=s.cache,
            node_type=s.cache.dr_node_type,
            replication_group_id=names.cache_group(s.regions.dr),
            auth_secret_name=names.cache_auth_secret,
            vpc=self.network.vpc,
            subnets=self.network.private_subnets,
            security_group=self.security_groups.cache,
            key=self.key,
        )
        access_logs = AccessLogBucket(
            self, "AccessLogs", bucket_name=names.access_logs_bucket(s.regions.dr)
        )
        self.attachments = AttachmentBucket(
            self,
            "Attachments",
            bucket_name=names.attachments_bucket_dr,
            key=self.key,
            access_logs=access_logs.bucket,
            cors_origin=f"https://{s.domain.name}",
            noncurrent_version_expiration_days=s.storage.noncurrent_version_expiration_days,
        )
        BackupVault(
            self,
            "BackupVault",
            vault_name=names.backup_vault(s.regions.dr),
            key=self.key,
            lock=s.backup.vault_lock,
        )
