"""The role an operator assumes in the DR region for the incident commands, and no more.

``crm-platform failover`` (readiness, start or resume, follow, approve), ``switch``,
``dr status``, ``restore``, "fence now" (one round of the fence keeper) and the SQL task
in either region (failback reads the database through it) need these
permissions and nothing else; ops/permissions.py lists the
calls they make, and the permission contracts evaluate them as this role
(tests/test_authorization.py). The trust policy admits principals of this account only
with MFA (``aws:MultiFactorAuthPresent``). IAM is a global service whose control plane
lives in us-east-1, but assuming a role is a data-plane call to STS, which a regional
endpoint serves: the break-glass sign-in in docs/emergency-recovery.md uses
``sts.<dr region>.amazonaws.com``, so it depends on neither the primary region nor
us-east-1 (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_enable-regions.html).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.failover.config import SqlTask
from crm_platform.failover.sql_task import acknowledge_sql_task, sql_task_statements
from crm_platform.naming import Names


@dataclass(frozen=True)
class Incident:
    """What the incident commands read and change in the DR region."""

    role_name: str
    state_machine: str
    runs_table_arn: str
    replica: str
    cluster: str
    services: tuple[str, ...]
    parameters: tuple[str, ...]  # read: switch, failed-over state, release record
    switch_parameter: str  # and write
    switch_key_arn: str  # signs and verifies the switch's state (security/switch_key.py)
    switch_beacon: str  # the beacon function woken after a flip
    fence_keeper: str  # "fence now": one round of the keeper (failover/fence_keeper.py)
    restore: RestoreAccess | None = None  # crm-platform restore (ops/restore.py)
    # The SQL task in each region (failback reads the database through it, as the operator):
    # (region, its task), the server service whose network it borrows.
    sql_tasks: tuple[tuple[str, SqlTask], ...] = ()
    server_service: str = ""


@dataclass(frozen=True)
class RestoreAccess:
    """What ``crm-platform restore`` reads and creates, in both serving regions.

    IAM is global, so the DR region's role also acts in the primary region: a restore
    there is the common case (a corrupted database, a failed migration)."""

    primary_region: str
    regions: tuple[str, ...]
    database: str  # the primary instance: restored instances are ``<database>-restore-*``
    replica: str  # the DR database (its placement is read)
    vaults: tuple[str, ...]  # vault ARNs whose recovery points are listed
    stacks: tuple[str, ...]  # stack ARN patterns the placement is read from, no instance left
    restore_role_arn: str  # the only role AWS Backup may be handed
    # Putting the restored instance into service (ops/restore_service.py): the primary's
    # cluster and services it stops and starts again.
    primary_cluster: str = ""
    services: tuple[str, ...] = ()

    @staticmethod
    def of(names: Names) -> RestoreAccess:
        primary, dr = names.primary_region, names.dr_region

        def stack(region: str, name: str) -> str:
            return f"arn:aws:cloudformation:{region}:{names.account}:stack/{name}/*"

        return RestoreAccess(
            primary_region=primary,
            regions=(primary, dr),
            database=names.db_instance,
            replica=names.db_replica,
            vaults=(names.backup_vault_arn(primary), names.backup_vault_arn(dr)),
            stacks=(
                stack(primary, names.primary_stack),
                stack(dr, names.dr_stack),
                stack(dr, names.dr_database_stack),
            ),
            restore_role_arn=f"arn:aws:iam::{names.account}:role/{names.restore_break_glass_role}",
            primary_cluster=names.ecs_cluster(primary),
            services=(names.server_service, names.worker_service),
        )


class OperatorRole(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, incident: Incident, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        region, account = stack.region, stack.account
        self.role = iam.Role(
            self,
            "Role",
            role_name=incident.role_name,
            assumed_by=iam.AccountPrincipal(account).with_conditions(
                {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            ),
            max_session_duration=cdk.Duration.hours(4),
            description="Incident commands in the DR region: failover, switch, dr status",
        )
        machine = f"arn:aws:states:{region}:{account}:stateMachine:{incident.state_machine}"
        executions = f"arn:aws:states:{region}:{account}:execution:{incident.state_machine}:*"

        def parameter(name: str) -> str:
            return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"

        restore = incident.restore
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Exactly what the incident commands call",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheDrDatabase",
                    actions=["rds:DescribeDBInstances"],
                    resources=[f"arn:aws:rds:{region}:{account}:db:{incident.replica}"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheDrServices",
                    actions=["ecs:DescribeServices"],
                    resources=[
                        f"arn:aws:ecs:{region}:{account}:service/{incident.cluster}/{s}"
                        for s in incident.services
                    ],
                ),
                iam.PolicyStatement(
                    sid="ReadTheSignalsAndBackups",
                    actions=[
                        "cloudwatch:GetMetricStatistics",
                        "cloudwatch:DescribeAlarms",
                        "backup:ListCopyJobs",
                        "backup:ListBackupJobs",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheRecordedState",
                    actions=["ssm:GetParameter"],
                    resources=[parameter(p) for p in incident.parameters],
                ),
                iam.PolicyStatement(
                    sid="FlipTheSwitch",
                    actions=["ssm:PutParameter"],
                    resources=[parameter(incident.switch_parameter)],
                ),
                iam.PolicyStatement(
                    sid="ReadTheSwitchHistory",
                    actions=["ssm:GetParameterHistory"],
                    resources=[parameter(incident.switch_parameter)],
                ),
                iam.PolicyStatement(
                    sid="SignTheSwitch",
                    actions=["kms:GenerateMac", "kms:VerifyMac"],
                    resources=[incident.switch_key_arn],
                ),
                iam.PolicyStatement(
                    sid="WakeTheBeacon",
                    actions=["lambda:InvokeFunction"],
                    resources=[
                        f"arn:aws:lambda:{region}:{account}:function:{incident.switch_beacon}"
                    ],
                ),
                # The operator fences through the keeper (its role holds the fence's
                # permissions), never with EC2 or ECS rights of its own.
                iam.PolicyStatement(
                    sid="FenceNow",
                    actions=["lambda:InvokeFunction"],
                    resources=[
                        f"arn:aws:lambda:{region}:{account}:function:{incident.fence_keeper}"
                    ],
                ),
                iam.PolicyStatement(
                    sid="StartOrResumeTheFailover",
                    actions=["states:StartExecution", "states:ListExecutions"],
                    resources=[machine],
                ),
                iam.PolicyStatement(
                    sid="FollowTheFailover",
                    actions=["states:DescribeExecution"],
                    resources=[executions],
                ),
                iam.PolicyStatement(
                    sid="ApproveAnAutomaticFailover",
                    actions=["states:SendTaskSuccess"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheTimeline",
                    actions=["dynamodb:Query", "dynamodb:GetItem"],
                    resources=[incident.runs_table_arn],
                ),
                iam.PolicyStatement(
                    sid="TimelineThroughTheDrKey",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}
                    },
                ),
            ],
        )
        no_resource_level = (
            "CloudWatch reads, AWS Backup's "
            "job lists and SendTaskSuccess (a task token, not a resource) have no "
            "resource-level form; executions are those of the failover's state machine"
        )
        acknowledge(self.policy, "AwsSolutions-IAM5[Resource::*]", no_resource_level)
        acknowledge(self.policy, f"AwsSolutions-IAM5[Resource::{executions}]", no_resource_level)
        skip_checkov(self.policy, "CKV_AWS_111", no_resource_level)
        if incident.sql_tasks:
            # Its own policy too (size): the SQL task in both regions, as the failover's
            # step role runs it in DR (failover/sql_task.py), for failback.
            self.sql_policy = iam.ManagedPolicy(
                self,
                "SqlTaskPolicy",
                description="Run the SQL task in either region and read its answer",
                roles=[self.role],
                statements=[
                    statement
                    for where, task in incident.sql_tasks
                    for statement in sql_task_statements(
                        task, where, account, server_service=incident.server_service,
                        label="Dr" if where == region else "Primary",
                    )
                ],
            )  # fmt: skip
            for where, task in incident.sql_tasks:
                acknowledge_sql_task(self.sql_policy, task, where, account)
        if restore is not None:
            # Its own policy: a managed policy holds 6,144 characters, and the incident
            # commands' grew close to it.
            self.restore_policy = iam.ManagedPolicy(
                self,
                "RestorePolicy",
                description="Exactly what crm-platform restore calls",
                roles=[self.role],
                statements=_restore_statements(restore, account),
            )
            _acknowledge_restore(self.restore_policy, restore, account)
        # crm-platform drill --env NAME --stop (ops/live_drill.py): a live drill's failover
        # is stopped where it stands; resuming it is failover --execute.
        self.drill_policy = iam.ManagedPolicy(
            self,
            "DrillPolicy",
            description="crm-platform drill --stop: stop the live drill's failover execution",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="StopTheDrillsFailover",
                    actions=["states:StopExecution"],
                    resources=[executions],
                )
            ],
        )
        acknowledge(
            self.drill_policy,
            f"AwsSolutions-IAM5[Resource::{executions}]",
            "executions are named at run time; only those of the failover's state machine",
        )


def _restore_statements(r: RestoreAccess, account: str) -> list[iam.PolicyStatement]:
    """``crm-platform restore``: reads, a restore into ``<database>-restore-*`` only, and
    AWS Backup handed the restore role only (docs/adr/0043-restore-from-backup.md)."""

    def rds(region: str, resource: str) -> str:
        return f"arn:aws:rds:{region}:{account}:{resource}"

    restored = [rds(region, f"db:{r.database}-restore-*") for region in r.regions]
    replaced = [
        rds(region, f"db:{name}-replaced-*")
        for region in r.regions
        for name in (r.database, r.replica)
    ]
    via_rds = f"rds.{r.primary_region}.amazonaws.com"
    into_service = _into_service_statements(r, account, restored, replaced)
    return [
        *into_service,
        iam.PolicyStatement(
            sid="RestoreReadsTheDatabases",
            actions=["rds:DescribeDBInstances"],
            resources=[
                *(
                    rds(region, f"db:{name}")
                    for region in r.regions
                    for name in (r.database, r.replica)
                ),
                *restored,
                *replaced,
            ],
        ),
        iam.PolicyStatement(
            sid="RestoreReadsThePlacementStacks",
            actions=["cloudformation:ListStackResources"],
            resources=list(r.stacks),
        ),
        iam.PolicyStatement(
            sid="RestoreListsTheVaults",
            actions=["backup:ListRecoveryPointsByBackupVault"],
            resources=list(r.vaults),
        ),
        iam.PolicyStatement(
            sid="RestoreStartsAndFollowsRestoreJobs",
            actions=[
                "backup:GetRecoveryPointRestoreMetadata",
                "backup:StartRestoreJob",
                "backup:ListRestoreJobs",
                "backup:DescribeRestoreJob",
            ],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="RestoreHandsAwsBackupTheRestoreRole",
            actions=["iam:PassRole"],
            resources=[r.restore_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}},
        ),
        iam.PolicyStatement(
            sid="RestoreTagsTheRestoredInstance",
            actions=["rds:AddTagsToResource"],
            resources=restored,
        ),
        iam.PolicyStatement(
            sid="RestoreAPreMigrationSnapshot",
            actions=["rds:DescribeDBSnapshots", "rds:RestoreDBInstanceFromDBSnapshot"],
            resources=[
                rds(r.primary_region, f"snapshot:{r.database}-pre-*"),
                rds(r.primary_region, f"db:{r.database}-restore-*"),
                # RestoreDBInstanceFromDBSnapshot also authorizes the groups it names.
                rds(r.primary_region, "pg:*"),
                rds(r.primary_region, "subgrp:*"),
                rds(r.primary_region, "og:*"),
            ],
        ),
        iam.PolicyStatement(
            sid="RestoreSnapshotKeyThroughRds",
            actions=["kms:DescribeKey"],
            resources=[f"arn:aws:kms:{r.primary_region}:{account}:key/*"],
            conditions={"StringEquals": {"kms:ViaService": via_rds}},
        ),
        iam.PolicyStatement(
            sid="RestoreSnapshotGrantThroughRds",
            actions=["kms:CreateGrant"],
            resources=[f"arn:aws:kms:{r.primary_region}:{account}:key/*"],
            conditions={
                "StringEquals": {"kms:ViaService": via_rds},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        ),
    ]


def _into_service_statements(
    r: RestoreAccess, account: str, restored: list[str], replaced: list[str]
) -> list[iam.PolicyStatement]:
    """Putting the restored instance into service (ops/restore_service.py): renames (the
    replaced instance aside, the restored one to the serving name), the fence of the
    replaced one, deletion protection and retention on the restored one; the primary's
    services to zero and back; the tier's checks. ModifyDBInstance authorizes on the
    instance being modified only (the new identifier is not a resource of the request:
    assumed from the Service Authorization Reference, verify on staging)."""
    primary = r.primary_region

    def rds(region: str, resource: str) -> str:
        return f"arn:aws:rds:{region}:{account}:{resource}"

    return [
        iam.PolicyStatement(
            sid="RestoreRenamesAndFences",
            actions=["rds:ModifyDBInstance"],
            resources=[
                rds(primary, f"db:{r.database}"),
                *(rds(region, f"db:{r.replica}") for region in r.regions if region != primary),
                *restored,
                *replaced,
            ],
        ),
        iam.PolicyStatement(
            sid="RestoreStopsAndStartsThePrimary",
            actions=["ecs:UpdateService", "ecs:DescribeServices"],
            resources=[
                f"arn:aws:ecs:{primary}:{account}:service/{r.primary_cluster}/{s}"
                for s in r.services
            ],
        ),
        iam.PolicyStatement(
            sid="RestoreScalesAndChecksTheTier",
            actions=[
                "application-autoscaling:RegisterScalableTarget",
                "ecs:DescribeTaskDefinition",
                "elasticloadbalancing:DescribeTargetHealth",
                "ec2:DescribeSecurityGroups",
            ],
            resources=["*"],
        ),
    ]


def _acknowledge_restore(policy: iam.ManagedPolicy, r: RestoreAccess, account: str) -> None:
    reason = (
        "A restore creates an instance named at run time (<database>-restore-<request>) and "
        "reads snapshots named per release; AWS Backup's restore calls authorize on the "
        "recovery point's underlying resource, so the only role AWS Backup may be handed "
        "(iam:PassRole) is what limits what it creates; putting it into service renames "
        "instances named per request, and scaling targets, task definitions, target health "
        "and security-group reads have no resource-level form"
    )
    patterns = [
        *(f"arn:aws:rds:{region}:{account}:db:{r.database}-restore-*" for region in r.regions),
        *(
            f"arn:aws:rds:{region}:{account}:db:{name}-replaced-*"
            for region in r.regions
            for name in (r.database, r.replica)
        ),
        *r.stacks,
        f"arn:aws:rds:{r.primary_region}:{account}:snapshot:{r.database}-pre-*",
        *(f"arn:aws:rds:{r.primary_region}:{account}:{kind}:*" for kind in ("pg", "subgrp", "og")),
        f"arn:aws:kms:{r.primary_region}:{account}:key/*",
    ]
    for pattern in ["*", *patterns]:
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::{pattern}]", reason)
    skip_checkov(policy, "CKV_AWS_111", reason)
