"""What the primary and the replica share, kept in one place so they cannot drift apart."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.database.heartbeat import HEARTBEAT_DATABASE
from crm_platform.networking.security_groups import POSTGRES_PORT
from crm_platform.retention import KEEP, log_retention
from crm_platform.settings.model import Database as DatabaseConfig
from crm_platform.trust import arn_in_stack, confine_role_trust


def engine(version: str) -> rds.IInstanceEngine:
    """The RDS PostgreSQL engine for a full ``major.minor`` version string."""
    major = version.split(".", 1)[0]
    return rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.of(version, major))


def parameter_group(
    scope: Construct, construct_id: str, version: str, slow_query_ms: int
) -> rds.ParameterGroup:
    """TLS forced, slow statements logged, pg_cron loaded; never ``log_statement = all``.

    ``log_statement`` stays ``none``: ``all`` (the seed's choice) and even ``ddl`` write
    statements such as ``ALTER ROLE ... PASSWORD`` to the logs. ``pg_cron`` runs the
    replication heartbeat (``database/heartbeat.py``); the replica loads it too, so the
    job starts by itself on a promoted replica (pg_cron runs nothing on a standby).
    """
    return rds.ParameterGroup(
        scope,
        construct_id,
        engine=engine(version),
        description=f"Twenty on PostgreSQL {version}: TLS only, slow-query log",
        parameters={
            "rds.force_ssl": "1",
            "log_min_duration_statement": str(slow_query_ms),
            "log_statement": "none",
            "log_connections": "1",
            "log_disconnections": "1",
            "password_encryption": "scram-sha-256",
            "shared_preload_libraries": "pg_cron",
            "cron.database_name": HEARTBEAT_DATABASE,
        },
    )


PERFORMANCE_INSIGHTS_RETENTION = {
    7: rds.PerformanceInsightRetention.DEFAULT,
    31: rds.PerformanceInsightRetention.MONTHS_1,
    62: rds.PerformanceInsightRetention.MONTHS_2,
    93: rds.PerformanceInsightRetention.MONTHS_3,
    186: rds.PerformanceInsightRetention.MONTHS_6,
    372: rds.PerformanceInsightRetention.MONTHS_12,
    731: rds.PerformanceInsightRetention.LONG_TERM,
}

LOG_EXPORTS = ["postgresql", "upgrade"]


def log_groups(
    scope: Construct, instance_identifier: str, key: kms.IKey, retention_days: int
) -> list[logs.LogGroup]:
    """The exported-log groups, created by us (encrypted, retained) before RDS would.

    Letting RDS create them means no encryption, and CDK's retention setter would add a
    custom-resource Lambda; naming them up front avoids both.
    """
    return [
        logs.LogGroup(
            scope,
            f"Logs-{export}",
            log_group_name=f"/aws/rds/instance/{instance_identifier}/{export}",
            encryption_key=key,
            retention=log_retention(retention_days),
            removal_policy=KEEP,
        )
        for export in LOG_EXPORTS
    ]


def acknowledge_monitoring_role(instance: rds.DatabaseInstanceBase) -> None:
    """Enhanced monitoring's role must carry the AWS policy RDS documents for it."""
    role = instance.node.try_find_child("MonitoringRole")
    if role is not None:
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]",
            "RDS enhanced monitoring requires this AWS-maintained policy; it only lets RDS "
            "write OS metrics to the RDSOSMetrics log group",
        )


def confine_monitoring_role(instance: rds.DatabaseInstanceBase) -> None:
    """Enhanced monitoring's role trusts RDS only for this account's instances in this
    region ("Protecting against the confused deputy problem", ADR 0038). The instance's
    own ARN would make the role and the instance refer to each other; ``db:*`` of this
    account and region is the pattern RDS documents for more than one instance."""
    role = instance.node.try_find_child("MonitoringRole")
    if role is not None:
        assert isinstance(role, iam.Role)
        confine_role_trust(
            role, "monitoring.rds.amazonaws.com", arn_in_stack(instance, "rds", "db:*")
        )


def instance_type(instance_class: str) -> ec2.InstanceType:
    """``db.t3.medium`` -> ``t3.medium`` (CDK adds the ``db.`` prefix itself)."""
    return ec2.InstanceType(instance_class.removeprefix("db."))


def instance_options(config: DatabaseConfig, key: kms.IKey) -> dict[str, Any]:
    """Protection, encryption and observability options both instances are built with."""
    return {
        "port": POSTGRES_PORT,
        "storage_type": rds.StorageType.GP3,
        "max_allocated_storage": config.max_allocated_storage_gb,
        "storage_encryption_key": key,
        "deletion_protection": True,
        "removal_policy": cdk.RemovalPolicy.SNAPSHOT,
        "copy_tags_to_snapshot": True,
        "auto_minor_version_upgrade": True,
        "publicly_accessible": False,
        "iam_authentication": True,
        "ca_certificate": rds.CaCertificate.RDS_CA_RSA2048_G1,
        "enable_performance_insights": True,
        "performance_insight_encryption_key": key,
        "performance_insight_retention": PERFORMANCE_INSIGHTS_RETENTION[
            config.performance_insights_retention_days
        ],
        "monitoring_interval": cdk.Duration.seconds(config.monitoring_interval_seconds),
        "cloudwatch_logs_exports": LOG_EXPORTS,
    }
