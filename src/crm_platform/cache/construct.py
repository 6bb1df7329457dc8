"""The Redis-compatible cache Twenty cannot start without (``REDIS_URL``).

Twenty keeps its BullMQ job queues, its metadata cache and its short-lived
express-session store in this cache. BullMQ loses jobs silently if the server may
evict keys, so the parameter group pins ``maxmemory-policy`` to ``noeviction``: a
full cache then rejects writes loudly (alarmable) instead of dropping queued work.

Availability inside a region comes from a primary and (``nodes`` > 1) replicas in
the other AZ with automatic failover; the DR region's standing cache is one node by
default. Clients connect over TLS only and authenticate with an AUTH
token that Secrets Manager generates at deploy time; the template carries only a
``{{resolve:secretsmanager:...}}`` reference, never the value. The token is
alphanumeric so it can sit unencoded in ``rediss://:TOKEN@host:6379``.

Disaster recovery decision: the DR region keeps a small standing cache of its own
(built by the DR stack from this construct with ``dr_node_type`` and its own auth
token) rather than creating one at failover, because creating a replication group
takes about 10-15 minutes and would come straight off the recovery time objective.
The cache is not replicated across regions, so failover loses its contents: BullMQ
jobs that were queued or in flight (e.g. pending e-mail / calendar syncs and
workflow runs) and cached data, which Twenty rebuilds from PostgreSQL on demand.
Signed-in users are not logged out by this: Twenty's sign-in rests on JWTs whose
refresh tokens are rows in PostgreSQL (``core.appToken``), which does fail over.
Only the Redis-backed express-session (30-minute cookie, used mid SSO sign-in) is
lost, so a sign-in in progress at that moment has to be started again.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.networking.security_groups import REDIS_PORT
from crm_platform.retention import KEEP, log_retention
from crm_platform.security.secrets import url_safe_generator
from crm_platform.settings import model
from crm_platform.settings.catalogs.cache import parameter_group_family

AUTH_TOKEN_LENGTH = 64
SLOW_LOG_RETENTION_DAYS = 30
# UTC. Clear of the database's backup window (00:00-00:30) and maintenance window
# (sun 18:00-18:30) and of the 03:00 AWS Backup plan, so no two tiers are disturbed at
# once; early morning in Tokyo and Singapore. ElastiCache needs >= 60 minutes for each
# and the two must not overlap.
SNAPSHOT_WINDOW = "16:00-17:00"
MAINTENANCE_WINDOW = "sun:19:00-sun:20:00"
# Snapshots older than this would only replay stale queued jobs (see _acknowledge).
NIST_MIN_SNAPSHOT_DAYS = 15


def _slow_log_delivery(
    group: logs.ILogGroup,
) -> elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty:
    """Slow commands are the first thing to read when Twenty's queues or pages lag."""
    rg = elasticache.CfnReplicationGroup
    return rg.LogDeliveryConfigurationRequestProperty(
        destination_type="cloudwatch-logs",
        destination_details=rg.DestinationDetailsProperty(
            cloud_watch_logs_details=rg.CloudWatchLogsDestinationDetailsProperty(
                log_group=group.log_group_name
            )
        ),
        log_format="json",
        log_type="slow-log",
    )


class Cache(Construct):
    """One region's cache: primary + replica across two AZs, TLS, AUTH, KMS at rest.

    Both regions build it (the DR stack with ``dr_node_type``), which is why the node
    type, replication group id and secret name are arguments rather than read from
    ``config`` here.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: model.Cache,
        node_type: str,
        nodes: int,
        replication_group_id: str,
        auth_secret_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.port = REDIS_PORT

        self.auth_token = sm.Secret(
            self,
            "AuthToken",
            secret_name=auth_secret_name,
            description=(
                f"AUTH token of the {replication_group_id} cache (alphanumeric: safe "
                "unencoded in REDIS_URL)"
            ),
            encryption_key=key,
            generate_secret_string=url_safe_generator(AUTH_TOKEN_LENGTH),
            removal_policy=KEEP,
        )

        parameters = elasticache.CfnParameterGroup(
            self,
            "Parameters",
            cache_parameter_group_family=parameter_group_family(
                config.engine, config.engine_version
            ),
            description="Twenty: noeviction, because BullMQ must never lose queued jobs",
            properties={"maxmemory-policy": "noeviction"},
        )

        # jsii's Python binding takes the selection's fields as keywords, not the struct.
        selected = vpc.select_subnets(
            availability_zones=subnets.availability_zones,
            one_per_az=subnets.one_per_az,
            subnet_filters=subnets.subnet_filters,
            subnet_group_name=subnets.subnet_group_name,
            subnets=subnets.subnets,
            subnet_type=subnets.subnet_type,
        )
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description=f"Subnets of the {replication_group_id} cache",
            subnet_ids=selected.subnet_ids,
        )

        slow_log = logs.LogGroup(
            self,
            "SlowLog",
            encryption_key=key,
            retention=log_retention(SLOW_LOG_RETENTION_DAYS),
            removal_policy=KEEP,
        )

        snapshots = config.snapshot_retention_days > 0
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_id=replication_group_id,
            replication_group_description="Twenty CRM cache and BullMQ job queues",
            engine=config.engine,
            engine_version=config.engine_version,
            cache_node_type=node_type,
            cache_parameter_group_name=parameters.ref,
            # BullMQ's multi-key scripts need every key on one shard.
            cluster_mode="disabled",
            num_cache_clusters=nodes,
            # One node cannot fail over; two or more fail over across the zones.
            automatic_failover_enabled=nodes > 1,
            multi_az_enabled=nodes > 1,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[security_group.security_group_id],
            port=self.port,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=self.auth_token.secret_value.unsafe_unwrap(),
            at_rest_encryption_enabled=True,
            kms_key_id=key.key_arn,
            snapshot_retention_limit=config.snapshot_retention_days,
            snapshot_window=SNAPSHOT_WINDOW if snapshots else None,
            preferred_maintenance_window=MAINTENANCE_WINDOW,
            auto_minor_version_upgrade=True,
            log_delivery_configurations=[_slow_log_delivery(slow_log)],
        )
        # Deleting or replacing the group keeps a final snapshot of whatever was queued.
        self.replication_group.apply_removal_policy(cdk.RemovalPolicy.SNAPSHOT)
        self.endpoint_address = self.replication_group.attr_primary_end_point_address

        self._acknowledge(config, slow_log)

    def _acknowledge(self, config: model.Cache, slow_log: logs.LogGroup) -> None:
        rotation = (
            "ElastiCache only accepts a new AUTH token through ModifyReplicationGroup with "
            "AuthTokenUpdateStrategy=ROTATE then SET; a Secrets Manager rotation that only "
            "changes the stored value would lock Twenty out, so the token is rotated as a "
            "planned change"
        )
        acknowledge(self.auth_token, "AwsSolutions-SMG4", rotation)
        acknowledge(self.auth_token, "NIST.800.53.R5-SecretsManagerRotationEnabled", rotation)
        skip_checkov(self.auth_token, "CKV2_AWS_57", rotation)

        if self.replication_group.num_cache_clusters == 1:
            acknowledge(
                self.replication_group,
                "AwsSolutions-AEC4",
                "The DR region's standing cache holds nothing until a failover (queues start "
                "empty there), so one node is enough to skip the 10-15 minutes of creating "
                "one; cache.dr_nodes: 2 adds a replica in the other zone",
            )
        if config.engine == "redis":
            # cdk-nag only treats 6379 as a default port for the "redis" engine.
            acknowledge(
                self.replication_group,
                "AwsSolutions-AEC5",
                "Port 6379 is the contract with the tier security groups and Twenty's "
                "REDIS_URL; the cache is reachable only from the task security group over "
                "TLS with AUTH, so a non-default port adds no protection",
            )
        if config.snapshot_retention_days < NIST_MIN_SNAPSHOT_DAYS:
            acknowledge(
                self.replication_group,
                "NIST.800.53.R5-ElastiCacheRedisClusterAutomaticBackup",
                "The cache holds derived data and transient BullMQ jobs, not records: "
                "PostgreSQL is the system of record and has its own long-term backups; "
                "restoring a cache snapshot weeks old would only replay stale jobs, so "
                f"{config.snapshot_retention_days} day(s) of snapshots are kept",
            )

        skip_checkov(
            slow_log,
            "CKV_AWS_338",
            "Slow-command log for performance diagnosis, not an audit trail; 30 days covers "
            "investigating a slowdown",
        )
