"""What both serving regions hold, built the same way so the DR region mirrors the primary."""

from __future__ import annotations

from typing import Literal

from constructs import Construct

from crm_platform.alerts import AlertTopic
from crm_platform.backup.vault import BackupVault
from crm_platform.cache.construct import Cache
from crm_platform.email.construct import EmailNames, OutboundEmail, RollTarget, Sender
from crm_platform.functions import FunctionDefaults
from crm_platform.networking.construct import Network
from crm_platform.networking.security_groups import TierSecurityGroups
from crm_platform.security.key import DR_REGION_SERVICES, SERVING_REGION_SERVICES, RegionKey
from crm_platform.stacks.base import PlatformStack
from crm_platform.stacks.context import StackContext
from crm_platform.storage.construct import AccessLogBucket, AttachmentBucket, ReplicationTarget

Side = Literal["primary", "dr"]


class RegionalStack(PlatformStack):
    """Key, network, security groups, alert topic, cache, attachment bucket and backup vault.

    ``side`` picks the region, network and sizes from configuration; the primary passes
    ``replicate_attachments_to`` so its bucket replicates into the DR one.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        context: StackContext,
        side: Side,
        description: str,
        replicate_attachments_to: ReplicationTarget | None = None,
    ) -> None:
        s, names = context.settings, context.names
        region: str = getattr(s.regions, side)
        net = getattr(s.network, side)
        super().__init__(
            scope,
            construct_id,
            context=context,
            region=region,
            availability_zones=net.availability_zones,
            description=description,
        )
        self.key = RegionKey(
            self,
            "Key",
            alias=names.kms_alias,
            services=DR_REGION_SERVICES if side == "dr" else SERVING_REGION_SERVICES,
            # Replicas of the primary's secrets live in the DR region only.
            secret_replicas_prefix=names.secrets_prefix if side == "dr" else None,
        ).key
        self.network = Network(
            self,
            "Network",
            config=net,
            key=self.key,
            flow_log_retention_days=s.network.flow_log_retention_days,
        )
        self.security_groups = TierSecurityGroups(
            self,
            "SecurityGroups",
            vpc=self.network.vpc,
            cloudfront_prefix_list_id=net.cloudfront_prefix_list_id,
            smtp_submission=s.email.enabled,
        )
        self.alerts = AlertTopic(self, "Alerts", key=self.key, email=s.alerts.email).topic
        self.functions = FunctionDefaults(
            key=self.key,
            alerts=self.alerts,
            reserve_concurrency=s.functions.reserve_concurrency,
        )
        # Twenty's e-mail: this region's own SES identity and SMTP credentials (email/).
        self.email: OutboundEmail | None = None
        if s.email.enabled:
            self.email = OutboundEmail(
                self,
                "Email",
                names=EmailNames(
                    configuration_set=names.email_configuration_set,
                    smtp_secret=names.smtp_secret,
                    smtp_user=names.smtp_user(region),
                    senders_group=names.smtp_senders_group(region),
                ),
                sender=Sender(
                    domain=s.domain.name,
                    from_address=f"{s.email.from_local_part}@{s.domain.name}",
                    from_name=s.email.from_name,
                    system_address=s.email.system_address or s.alerts.email,
                ),
                zone_id=s.domain.hosted_zone_id,
                key=self.key,
                alerts=self.alerts,
                functions=self.functions,
                rotation_days=s.email.credentials_rotation_days,
                roll=RollTarget(
                    cluster=names.ecs_cluster(region),
                    services=(names.server_service, names.worker_service),
                    family_prefix=names.task_family_prefix,
                ),
            )
        self.cache = Cache(
            self,
            "Cache",
            config=s.cache,
            node_type=s.cache.node_type if side == "primary" else s.cache.dr_node_type,
            nodes=s.cache.nodes if side == "primary" else s.cache.dr_nodes,
            replication_group_id=names.cache_group(region),
            auth_secret_name=names.cache_auth_secret,
            vpc=self.network.vpc,
            subnets=self.network.private_subnets,
            security_group=self.security_groups.cache,
            key=self.key,
        )
        self.access_logs = AccessLogBucket(
            self, "AccessLogs", bucket_name=names.access_logs_bucket(region)
        ).bucket
        self.attachments = AttachmentBucket(
            self,
            "Attachments",
            bucket_name=names.attachments_bucket_in(region),
            key=self.key,
            access_logs=self.access_logs,
            cors_origin=f"https://{s.domain.name}",
            noncurrent_version_expiration_days=s.storage.noncurrent_version_expiration_days,
            replicate_to=replicate_attachments_to,
        )
        self.vault = BackupVault(
            self,
            "BackupVault",
            vault_name=names.backup_vault(region),
            key=self.key,
            lock=s.backup.vault_lock,
        ).vault
