"""The primary PostgreSQL instance: Multi-AZ, encrypted, protected, rotated, observable.

Two users log in to it, each with its own secret and rotation: the RDS master (created
with the instance, ``rds_superuser``), which only the one-off bootstrap task reads (it
creates Twenty's user, the extensions and the heartbeat: database/bootstrap.py), and
Twenty's own user (database/app_user.py), which every Twenty task reads. The roll after
a rotation follows Twenty's secret: no task reads the master's at run time.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets_
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from crm_platform.alerts import AlertRule
from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.database.app_user import app_user_secret
from crm_platform.database.common import (
    acknowledge_monitoring_role,
    confine_monitoring_role,
    engine,
    instance_options,
    instance_type,
    log_groups,
    parameter_group,
)
from crm_platform.functions import FunctionDefaults, OpsFunction
from crm_platform.networking.security_groups import HTTPS_PORT, POSTGRES_PORT
from crm_platform.settings.model import Database as DatabaseConfig

RUNTIME_DIR = Path(__file__).parent / "runtime"


@dataclass(frozen=True)
class ServiceSet:
    """The Twenty services of one region that read the application user's password."""

    region: str
    cluster: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class ServiceRollTargets:
    """What the roll after a rotation restarts, and the secret whose versions it compares
    (the application user's: the one the services read)."""

    primary: ServiceSet
    dr: ServiceSet
    secret_name: str
    family_prefix: str  # task definitions of this platform are named under it

    def as_json(self) -> dict[str, object]:
        def side(s: ServiceSet) -> dict[str, object]:
            return {"region": s.region, "cluster": s.cluster, "services": list(s.services)}

        return {"primary": side(self.primary), "dr": side(self.dr), "secret": self.secret_name}


@dataclass(frozen=True)
class AppUserSecretName:
    """Where the application user's secret lives: its name, and its DR replica's key."""

    name: str
    replica_region: str
    replica_key_alias: str


class PrimaryDatabase(Construct):
    """RDS for PostgreSQL in the isolated subnets, reachable from the tasks only.

    The master's credentials come from ``credentials`` (generated URL-safe); the
    application user's (``app_credentials``) are generated here, from ``app_user``. Both
    rotate on a schedule with AWS's hosted single-user rotation; after each rotation of
    the application user's password the services named in ``roll_targets`` (both
    regions) are rolled so new tasks read it (docs/decisions.md, "Database credentials",
    and docs/adr/0033).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DatabaseConfig,
        instance_identifier: str,
        database_name: str,
        vpc: ec2.IVpc,
        isolated_subnets: ec2.SubnetSelection,
        private_subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        key: kms.IKey,
        credentials: sm.Secret,
        app_user: AppUserSecretName,
        roll_targets: ServiceRollTargets,
        functions: FunctionDefaults,
        backup_selection_tag: tuple[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.parameters = parameter_group(
            self, "Parameters", config.engine_version, config.slow_query_ms
        )
        self.subnet_group = rds.SubnetGroup(
            self,
            "SubnetGroup",
            description=f"{instance_identifier}: isolated subnets",
            vpc=vpc,
            vpc_subnets=isolated_subnets,
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            instance_identifier=instance_identifier,
            engine=engine(config.engine_version),
            instance_type=instance_type(config.instance_class),
            vpc=vpc,
            subnet_group=self.subnet_group,
            security_groups=[security_group],
            credentials=rds.Credentials.from_secret(credentials),
            database_name=database_name,
            parameter_group=self.parameters,
            multi_az=config.multi_az,
            allocated_storage=config.allocated_storage_gb,
            storage_encrypted=True,
            backup_retention=cdk.Duration.days(config.backup_retention_days),
            preferred_backup_window=config.backup_window,
            preferred_maintenance_window=config.maintenance_window,
            delete_automated_backups=False,
            **instance_options(config, key),
        )
        for group in log_groups(self, instance_identifier, key, config.log_retention_days):
            self.instance.node.add_dependency(group)
        acknowledge_monitoring_role(self.instance)
        confine_monitoring_role(self.instance)
        cdk.Tags.of(self.instance).add(*backup_selection_tag)
        acknowledge(
            self.instance,
            "NIST.800.53.R5-RDSInBackupPlan",
            f"Selected by its {backup_selection_tag[0]} tag in the AWS Backup plan; cdk-nag "
            "only recognises selections that list the instance by reference",
        )
        self.app_credentials = app_user_secret(
            self,
            "AppUserCredentials",
            name=app_user.name,
            database_name=database_name,
            key=key,
            replica_region=app_user.replica_region,
            replica_key_alias=app_user.replica_key_alias,
        )
        self._rotation(config, credentials, vpc, private_subnets)
        # A Multi-AZ failover is routine inside this region: it notifies, nothing more. It
        # never starts a regional failover (the seed promoted the DR replica on it and
        # split the database).
        self.multi_az_failover = AlertRule(
            self,
            "MultiAzFailover",
            description="RDS failed over to its standby inside the primary region (notice only)",
            pattern=events.EventPattern(
                source=["aws.rds"],
                detail_type=["RDS DB Instance Event"],
                resources=[self.instance.instance_arn],
                detail={"EventCategories": ["failover"]},
            ),
            topic=functions.alerts,
        )
        self._roll_services_after_rotation(self.app_credentials, roll_targets, functions)
        if not config.multi_az:
            single_az = (
                "database.multi_az is false in this environment's configuration: a recorded "
                "cost choice for a non-production environment"
            )
            acknowledge(self.instance, "AwsSolutions-RDS3", single_az)
            acknowledge(self.instance, "NIST.800.53.R5-RDSMultiAZSupport", single_az)
            skip_checkov(self.instance, "CKV_AWS_157", single_az)
        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "Twenty and every PostgreSQL client default to 5432; the instance is reachable "
            "only from the task security group, so a non-default port adds no protection",
        )

    def _rotation(
        self,
        config: DatabaseConfig,
        credentials: sm.Secret,
        vpc: ec2.IVpc,
        private_subnets: ec2.SubnetSelection,
    ) -> None:
        """Single-user rotation by the Secrets Manager hosted Lambda, URL-safe passwords,
        for both users: each logs in with its current password and changes its own (the
        hosted PostgreSQL single-user function: ``ALTER USER ... WITH PASSWORD``), so the
        application user's rotation needs no master (docs/adr/0033)."""
        rotation_sg = ec2.SecurityGroup(
            self,
            "RotationSecurityGroup",
            vpc=vpc,
            description="Secrets Manager rotation function for the database credentials",
            allow_all_outbound=False,
        )
        rotation_sg.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "Secrets Manager API"
        )
        self.instance.connections.allow_from(
            rotation_sg, ec2.Port.tcp(POSTGRES_PORT), "Credential rotation"
        )
        # On the *attached* secret: the schedule then waits for the instance and for
        # host/engine to be written into the secret, which the rotation function needs.
        attached = self.instance.secret
        assert attached is not None
        self.rotation = attached.add_rotation_schedule(
            "Rotation",
            hosted_rotation=sm.HostedRotation.postgre_sql_single_user(
                vpc=vpc,
                vpc_subnets=private_subnets,
                security_groups=[rotation_sg],
                # Same alphabet as the generated password: no URL-special characters.
                exclude_characters=string.punctuation + " ",
            ),
            automatically_after=cdk.Duration.days(config.credentials_rotation_days),
        )
        # The attachment writes host, port and engine into the application user's secret
        # (its template holds username and dbname), as the instance's own attachment does
        # for the master's: what the hosted rotation function connects with.
        app_attached = self.app_credentials.attach(self.instance)
        self.app_rotation = app_attached.add_rotation_schedule(
            "Rotation",
            hosted_rotation=sm.HostedRotation.postgre_sql_single_user(
                vpc=vpc,
                vpc_subnets=private_subnets,
                security_groups=[rotation_sg],
                exclude_characters=string.punctuation + " ",
            ),
            automatically_after=cdk.Duration.days(config.credentials_rotation_days),
        )

    def _roll_services_after_rotation(
        self, credentials: sm.ISecret, targets: ServiceRollTargets, functions: FunctionDefaults
    ) -> None:
        stack = cdk.Stack.of(self)
        account = stack.account
        service_arns = [
            f"arn:aws:ecs:{side.region}:{account}:service/{side.cluster}/{service}"
            for side in (targets.primary, targets.dr)
            for service in side.services
        ]
        secret_arns = [
            f"arn:aws:secretsmanager:{region}:{account}:secret:{targets.secret_name}-??????"
            for region in (targets.primary.region, targets.dr.region)
        ]
        roller = OpsFunction(
            self,
            "RollServices",
            code=RUNTIME_DIR,
            handler="roll_services.handler",
            description="Rolls the Twenty services of both regions after the password rotated",
            defaults=functions,
            environment={"TARGETS": json.dumps(targets.as_json())},
            # Waiting for the DR replica of the secret takes up to two minutes.
            timeout_seconds=300,
            statements=[
                iam.PolicyStatement(
                    sid="RollTheTwentyServices",
                    actions=["ecs:UpdateService"],
                    resources=service_arns,
                    # A roll only forces a new deployment: it may not switch to a task
                    # definition of another family or turn on ECS Exec.
                    conditions={
                        "ArnLikeIfExists": {
                            "ecs:task-definition": [
                                f"arn:aws:ecs:{side.region}:{account}:task-definition/"
                                f"{targets.family_prefix}*:*"
                                for side in (targets.primary, targets.dr)
                            ]
                        },
                        "BoolIfExists": {"ecs:enable-execute-command": "false"},
                    },
                ),
                iam.PolicyStatement(
                    sid="CompareSecretVersions",
                    actions=["secretsmanager:DescribeSecret"],
                    resources=secret_arns,
                ),
            ],
        )
        # Secrets Manager's native event (no CloudTrail trail needed): AWSCURRENT moved to a
        # new version, i.e. the rotation finished and the database accepts the new password.
        events.Rule(
            self,
            "RotationSucceeded",
            description="Database credentials rotated: roll the services",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"],
                detail_type=["Secret Label Updated"],
                resources=[credentials.secret_arn],
                detail={"labelUpdated": ["AWSCURRENT"]},
            ),
            targets=[targets_.LambdaFunction(roller.function, retry_attempts=4)],
        )
