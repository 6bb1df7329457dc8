"""The cross-region read replica in the DR region, and the alarm that guards the RPO.

A cross-region encrypted replica needs the *source ARN* and DR-region resources only:
its own subnet group, security group, parameter group and KMS key (the seed referenced
primary-region ones, which cannot work). Replication traffic between regions is billed
as inter-region data transfer (see docs/cost.md).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.database.common import (
    acknowledge_monitoring_role,
    confine_monitoring_role,
    instance_options,
    instance_type,
    log_groups,
    parameter_group,
)
from crm_platform.networking.security_groups import POSTGRES_PORT
from crm_platform.settings.model import Database as DatabaseConfig


class ReplicaDatabase(Construct):
    """``instance`` replicates ``source_arn``; ``lag_alarm`` fires above ``rpo_seconds``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DatabaseConfig,
        source_arn: str,
        instance_identifier: str,
        vpc: ec2.IVpc,
        isolated_subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        key: kms.IKey,
        rpo_seconds: int,
        alerts: sns.ITopic,
        lag_alarm_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        parameters = parameter_group(
            self, "Parameters", config.engine_version, config.slow_query_ms
        )
        # The L2 replica wants an IDatabaseInstance in this region; the real source is named
        # by ARN below, so this stand-in only satisfies the type.
        source = rds.DatabaseInstance.from_database_instance_attributes(
            self,
            "Source",
            instance_identifier=source_arn.rsplit(":", 1)[-1],
            instance_endpoint_address="source.invalid",
            port=POSTGRES_PORT,
            security_groups=[],
        )
        self.instance = rds.DatabaseInstanceReadReplica(
            self,
            "Instance",
            source_database_instance=source,
            instance_identifier=instance_identifier,
            instance_type=instance_type(config.replica_instance_class),
            vpc=vpc,
            vpc_subnets=isolated_subnets,
            security_groups=[security_group],
            parameter_group=parameters,
            storage_encrypted=True,
            multi_az=False,
            preferred_maintenance_window=config.replica_maintenance_window,
            # Automated backups of its own (RDS for PostgreSQL 14.1 and later), so that a
            # promotion takes no backup on its way: AWS's advice for replicas that may be
            # promoted (API_PromoteReadReplica; docs/adr/0031). A replica in "backing-up"
            # cannot be promoted; the failover waits that out.
            backup_retention=cdk.Duration.days(config.backup_retention_days),
            preferred_backup_window=config.backup_window,
            **instance_options(config, key),
        )
        cfn = self.instance.node.default_child
        assert isinstance(cfn, rds.CfnDBInstance)
        cfn.source_db_instance_identifier = source_arn
        # Encryption is inherited from the source; CloudFormation rejects the flag on a
        # replica (the KMS key id still selects the DR-region key).
        cfn.add_property_deletion_override("StorageEncrypted")
        for group in log_groups(self, instance_identifier, key, config.log_retention_days):
            self.instance.node.add_dependency(group)
        acknowledge_monitoring_role(self.instance)
        confine_monitoring_role(self.instance)
        self.lag_alarm = cloudwatch.Alarm(
            self,
            "ReplicaLag",
            alarm_name=lag_alarm_name,
            alarm_description=(
                f"Replica {instance_identifier} is more than {rpo_seconds}s behind the primary: "
                "the recovery point objective is at risk"
            ),
            metric=cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name="ReplicaLag",
                dimensions_map={"DBInstanceIdentifier": instance_identifier},
                statistic="Maximum",
                period=cdk.Duration.minutes(1),
            ),
            threshold=rpo_seconds,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            # No data means replication stopped or the replica is gone: that is a breach.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.lag_alarm.add_alarm_action(actions.SnsAction(alerts))
        self.lag_alarm.add_ok_action(actions.SnsAction(alerts))
        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "Same port as the primary it replicates (5432), reachable only from the DR "
            "task security group",
        )
        standby = (
            "A standby replica: single-AZ keeps the DR region cheap until it is needed; "
            "promotion at failover must turn on Multi-AZ (docs/decisions.md)"
        )
        acknowledge(self.instance, "AwsSolutions-RDS3", standby)
        skip_checkov(cfn, "CKV_AWS_157", standby)
        skip_checkov(
            cfn,
            "CKV_AWS_16",
            "Encrypted: a replica inherits encryption and names its DR key in KmsKeyId; "
            "CloudFormation rejects StorageEncrypted on replicas, which checkov looks for",
        )
        acknowledge(self.instance, "NIST.800.53.R5-RDSMultiAZSupport", standby)
        acknowledge(
            self.instance,
            "NIST.800.53.R5-RDSInBackupPlan",
            "A replica holds no data of its own; the primary is in the backup plan and "
            "every recovery point is copied to this region's vault",
        )
