"""Primary region: the serving tiers and the source of every replica."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from crm_platform.backup.plan import BackupPlan
from crm_platform.compute.application import AppSecrets as TaskSecrets
from crm_platform.database.construct import (
    AppUserSecretName,
    PrimaryDatabase,
    ServiceRollTargets,
    ServiceSet,
)
from crm_platform.edge.origin_records import OriginRecords
from crm_platform.failover.switch import SwitchHealthCheck
from crm_platform.naming import GLOBAL_REGION
from crm_platform.security.secrets import ORIGIN_SLOTS, AppSecrets, SecretNames
from crm_platform.stacks.application import application_tier, observe
from crm_platform.stacks.context import StackContext
from crm_platform.stacks.regional import RegionalStack
from crm_platform.storage.construct import ReplicationTarget


class PrimaryStack(RegionalStack):
    """The regional foundation plus secrets, the database, backups and Twenty itself."""

    def __init__(self, scope: Construct, construct_id: str, *, context: StackContext) -> None:
        s, names = context.settings, context.names
        super().__init__(
            scope,
            construct_id,
            context=context,
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
            names=SecretNames(
                database=names.db_secret,
                app_secret=names.app_secret,
                encryption_key=names.encryption_key_secret,
                origin_verify={slot: names.origin_secret(slot) for slot in ORIGIN_SLOTS},
            ),
            dr_region=s.regions.dr,
            edge_region=GLOBAL_REGION,
            key_alias=names.kms_alias,
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
            app_user=AppUserSecretName(
                name=names.db_app_secret,
                replica_region=s.regions.dr,
                replica_key_alias=names.kms_alias,
            ),
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
                secret_name=names.db_app_secret,
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
        self.application = application_tier(
            self,
            context=context,
            side="primary",
            foundation=self,
            secrets=TaskSecrets(
                database=self.database.app_credentials,
                app_secret=self.secrets.app_secret,
                encryption_key=self.secrets.encryption_key,
                cache_token=self.cache.auth_token,
            ),
            database_host=self.database.instance.db_instance_endpoint_address,
        )
        # The master's one-off setup (Twenty's user, extensions, heartbeat), run by the
        # deploy before the services move to Twenty's user (docs/adr/0033).
        resource_id = self.database.instance.instance_resource_id
        assert resource_id is not None  # a DatabaseInstance has one (DbiResourceId)
        bootstrap = self.application.add_bootstrap(
            family=names.task_family("bootstrap"),
            master=self.secrets.database,
            instance_resource_id=resource_id,
            functions=self.functions,
            after=[self.database.instance, self.network.vpc],
            role_names=names.bootstrap_task_roles(names.primary_region),
        )
        # A new rotation schedule rotates at once: only once the user exists.
        self.database.app_rotation.node.add_dependency(bootstrap)
        # The origin-verify secrets must exist before the listener rule resolves them.
        for secret in self.secrets.origin_verify.values():
            self.application.origin.production_rule.node.add_dependency(secret)
        self.resource_alarms = observe(
            self,
            context=context,
            foundation=self,
            app=self.application,
            database=names.db_instance,
            database_class=s.database.instance_class,
            cache_nodes=s.cache.nodes,
        )
        switch = SwitchHealthCheck(
            self, "TrafficSwitch", dr_region=s.regions.dr, alarm_name=names.switch_alarm
        )
        self.origin_records = OriginRecords(
            self,
            "OriginRecords",
            zone_id=s.domain.hosted_zone_id,
            origin_name=names.origin_domain,
            direct_name=names.direct_origin_domain(s.regions.primary),
            load_balancer=self.application.origin.load_balancer,
            failover="PRIMARY",
            health_check_id=switch.health_check_id,
        )
