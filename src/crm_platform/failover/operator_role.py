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
    failback: FailbackAccess | None = None  # crm-platform failback (ops/failback.py)


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
    # reset_logins: the serving region's bootstrap task (its family, and each region's
    # two named roles, Names.bootstrap_task_roles), run once as the master after the
    # rename, in the primary or (a restore from DR's vault) in DR. Reading the master's
    # secret in either region is failback's statement already (FailbackAccess.secrets).
    bootstrap_family: str = ""
    bootstrap_roles: tuple[str, ...] = ()
    clusters: tuple[tuple[str, str], ...] = ()  # (region, cluster): where it runs

    def cluster_arns(self, account: str) -> list[str]:
        """Each serving region's cluster, where reset_logins runs the bootstrap task."""
        return [f"arn:aws:ecs:{region}:{account}:cluster/{name}" for region, name in self.clusters]

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
            bootstrap_family=names.task_family("bootstrap"),
            bootstrap_roles=(*names.bootstrap_task_roles(primary), *names.bootstrap_task_roles(dr)),
            clusters=((primary, names.ecs_cluster(primary)), (dr, names.ecs_cluster(dr))),
        )


@dataclass(frozen=True)
class FailbackAccess:
    """What ``crm-platform failback`` (failover/runtime/failback.py) reads and changes, in
    both regions: the databases by their identifiers and the ``-aside-*`` copies, the
    services, the attachment buckets, the database secrets, the failed-over state, the
    run table (timeline and lock), the replica-lag alarm, the primary's jobs task, the
    release record and the DR alert topic. The SQL tasks it reads the database through
    are the incident's ``sql_tasks`` (a policy of their own), granted once."""

    primary_region: str
    dr_region: str
    database: str
    replica: str
    clusters: dict[str, str]  # region -> cluster
    services: tuple[str, ...]
    buckets: dict[str, str]  # region -> attachment bucket
    secrets: tuple[str, ...]  # every secret whose replication is restored
    db_secrets: tuple[str, ...]  # the ones whose value is written (database logins)
    failover_parameter: str
    replica_lag_alarm: str
    # The primary's jobs task (purge_queues, register_jobs): its family and its two named
    # roles (Names.jobs_task_roles), the only roles the operator hands ECS for it.
    jobs_family: str
    jobs_roles: tuple[str, str]
    # The release record (release/record.py), copied from DR to the primary.
    release_parameter: str
    # The DR alert topic (its ARN from the DR foundation) the end-of-failback notice goes to.
    alert_topic_arn: str = ""

    @staticmethod
    def of(names: Names, *, alert_topic_arn: str = "") -> FailbackAccess:
        primary, dr = names.primary_region, names.dr_region
        return FailbackAccess(
            primary_region=primary,
            dr_region=dr,
            database=names.db_instance,
            replica=names.db_replica,
            clusters={primary: names.ecs_cluster(primary), dr: names.ecs_cluster(dr)},
            services=(names.server_service, names.worker_service),
            buckets={primary: names.attachments_bucket, dr: names.attachments_bucket_dr},
            secrets=names.dr_stack_secret_names,
            db_secrets=(names.db_secret, names.db_app_secret),
            failover_parameter=names.failover_parameter,
            replica_lag_alarm=names.replica_lag_alarm,
            jobs_family=names.task_family("jobs"),
            jobs_roles=names.jobs_task_roles(primary),
            release_parameter=names.release_parameter,
            alert_topic_arn=alert_topic_arn,
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
        if incident.failback is not None:
            # Its own policies too (the same 6,144-character limit): the databases and
            # secrets, then the services, buckets, SQL tasks and the run table.
            f = incident.failback
            data, rest = _failback_statements(f, account, incident.runs_table_arn)
            self.failback_policy = iam.ManagedPolicy(
                self, "FailbackPolicy", description="crm-platform failback: databases, secrets",
                roles=[self.role], statements=data,
            )  # fmt: skip
            self.failback_tier_policy = iam.ManagedPolicy(
                self, "FailbackTierPolicy", roles=[self.role], statements=rest,
                description="crm-platform failback: services, buckets, jobs task, timeline, notice",
            )  # fmt: skip
            _acknowledge_failback(self.failback_policy, self.failback_tier_policy, f, account)


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
        # reset_logins: the master password through ModifyDBInstance is
        # RestoreRenamesAndFences (the serving instance, the primary's or DR's); the
        # bootstrap task exactly, in a serving region's cluster, handed exactly its region's
        # two roles. Finding it by startedBy and borrowing the server's network are the SQL
        # task's statements already (both regions).
        iam.PolicyStatement(
            sid="RestoreRunsTheBootstrapTask",
            actions=["ecs:RunTask"],
            resources=[
                f"arn:aws:ecs:{region}:{account}:task-definition/{r.bootstrap_family}:*"
                for region in r.regions
            ],
            conditions={"ArnEquals": {"ecs:cluster": r.cluster_arns(account)}},
        ),
        iam.PolicyStatement(
            sid="RestorePassesTheBootstrapTaskItsRoles",
            actions=["iam:PassRole"],
            resources=[f"arn:aws:iam::{account}:role/{name}" for name in r.bootstrap_roles],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
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
    for region in r.regions:
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::arn:aws:ecs:{region}:{account}:task-definition/"
            f"{r.bootstrap_family}:*]",
            "Every revision of the region's one bootstrap task definition (a release "
            "registers a new revision), in the platform's clusters only (ecs:cluster)",
        )
    skip_checkov(policy, "CKV_AWS_111", reason)


def _failback_statements(
    f: FailbackAccess, account: str, runs_table_arn: str
) -> tuple[list[iam.PolicyStatement], list[iam.PolicyStatement]]:
    """``crm-platform failback`` (docs/adr/0046-failback.md): the two databases by name and
    their ``-aside-*`` copies only; the keys only through the service that uses them."""
    regions = (f.primary_region, f.dr_region)

    def db(region: str, name: str) -> str:
        return f"arn:aws:rds:{region}:{account}:db:{name}"

    def key(region: str) -> str:
        return f"arn:aws:kms:{region}:{account}:key/*"

    def secret(region: str, name: str) -> str:
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-*"

    instances = [db(r, n) for r in regions for n in (f.database, f.replica)]
    aside = [db(r, f"{n}-aside-*") for r in regions for n in (f.database, f.replica)]
    via = {
        service: [f"{service}.{r}.amazonaws.com" for r in regions]
        for service in ("rds", "secretsmanager", "s3", "dynamodb")
    }
    data = [
        iam.PolicyStatement(
            sid="FailbackReadsAndMovesTheDatabases",
            actions=[
                "rds:DescribeDBInstances",
                "rds:ModifyDBInstance",
                "rds:StartDBInstance",
                "rds:CreateDBInstanceReadReplica",
                "rds:PromoteReadReplica",
            ],
            resources=[*instances, *aside],
        ),
        # The copies aside only: never the platform's own instances (restore's contract).
        iam.PolicyStatement(
            sid="FailbackTagsTheCopiesAside",
            actions=["rds:AddTagsToResource"],
            resources=aside,
        ),
        # CreateDBInstanceReadReplica also authorizes the groups it names.
        iam.PolicyStatement(
            sid="FailbackPlacesTheReplicas",
            actions=["rds:CreateDBInstanceReadReplica"],
            resources=[
                f"arn:aws:rds:{r}:{account}:{kind}:*"
                for r in regions
                for kind in ("pg", "subgrp", "og")
            ],
        ),
        iam.PolicyStatement(
            sid="FailbackReadsTheReplicaKeysThroughRds",
            actions=["kms:DescribeKey"],
            resources=[key(r) for r in regions],
            conditions={"StringEquals": {"kms:ViaService": via["rds"]}},
        ),
        iam.PolicyStatement(
            sid="FailbackRdsGrantsForTheReplicas",
            actions=["kms:CreateGrant"],
            resources=[key(r) for r in regions],
            conditions={
                "StringEquals": {"kms:ViaService": via["rds"]},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        ),
        iam.PolicyStatement(
            sid="FailbackFencesTheKeptInstances",
            actions=[
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSecurityGroupRules",
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
            ],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="FailbackRestoresTheSecrets",
            actions=[
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:ReplicateSecretToRegions",
                "secretsmanager:CancelRotateSecret",
            ],
            resources=[secret(r, n) for r in regions for n in f.secrets],
        ),
        iam.PolicyStatement(
            sid="FailbackWritesOnlyTheDatabaseLogins",
            actions=["secretsmanager:PutSecretValue"],
            resources=[secret(f.primary_region, n) for n in f.db_secrets],
        ),
        iam.PolicyStatement(
            sid="FailbackSecretsThroughSecretsManager",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key(r) for r in regions],
            conditions={"StringEquals": {"kms:ViaService": via["secretsmanager"]}},
        ),
    ]
    rest = [
        iam.PolicyStatement(
            sid="FailbackSizesTheServices",
            actions=["ecs:UpdateService", "ecs:DescribeServices"],
            resources=[
                f"arn:aws:ecs:{r}:{account}:service/{f.clusters[r]}/{s}"
                for r in regions
                for s in f.services
            ],
        ),
        iam.PolicyStatement(
            sid="FailbackScalingAndAlarms",
            actions=[
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DescribeScalableTargets",
            ],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="FailbackEnablesTheLagAlarm",
            actions=["cloudwatch:EnableAlarmActions"],
            resources=[f"arn:aws:cloudwatch:{f.dr_region}:{account}:alarm:{f.replica_lag_alarm}"],
        ),
        iam.PolicyStatement(
            sid="FailbackRecordsItsState",
            actions=["ssm:PutParameter"],
            resources=[
                f"arn:aws:ssm:{f.dr_region}:{account}:parameter/{f.failover_parameter.lstrip('/')}"
            ],
        ),
        iam.PolicyStatement(
            sid="FailbackTimelineAndLock",
            actions=["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            resources=[runs_table_arn],
        ),
        iam.PolicyStatement(
            sid="FailbackTimelineThroughTheDrKey",
            actions=["kms:Encrypt", "kms:GenerateDataKey"],
            resources=[key(f.dr_region)],
            conditions={
                "StringEquals": {"kms:ViaService": f"dynamodb.{f.dr_region}.amazonaws.com"}
            },
        ),
        iam.PolicyStatement(
            sid="FailbackListsTheDrAttachments",
            actions=["s3:ListBucket"],
            resources=[f"arn:aws:s3:::{f.buckets[f.dr_region]}"],
        ),
        iam.PolicyStatement(
            sid="FailbackReadsTheDrAttachments",
            actions=["s3:GetObject", "s3:GetObjectTagging"],
            resources=[f"arn:aws:s3:::{b}/*" for b in f.buckets.values()],
        ),
        iam.PolicyStatement(
            sid="FailbackCopiesThemBack",
            actions=["s3:PutObject", "s3:PutObjectTagging"],
            resources=[f"arn:aws:s3:::{f.buckets[f.primary_region]}/*"],
        ),
        iam.PolicyStatement(
            sid="FailbackRetagsTheDrBucket",
            actions=["s3:GetBucketTagging", "s3:PutBucketTagging"],
            resources=[f"arn:aws:s3:::{f.buckets[f.dr_region]}"],
        ),
        iam.PolicyStatement(
            sid="FailbackAttachmentsThroughS3",
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[key(r) for r in regions],
            conditions={"StringEquals": {"kms:ViaService": via["s3"]}},
        ),
        *_primary_jobs_statements(f, account),
        iam.PolicyStatement(
            sid="FailbackCopiesTheReleaseRecord",
            actions=["ssm:GetParameter", "ssm:PutParameter"],
            resources=[
                f"arn:aws:ssm:{f.primary_region}:{account}:parameter/"
                f"{f.release_parameter.lstrip('/')}"
            ],
        ),
        *_notice_statements(f, account),
    ]
    return data, rest


def _primary_jobs_statements(f: FailbackAccess, account: str) -> list[iam.PolicyStatement]:
    """purge_queues and register_jobs: exactly the jobs family in the primary's cluster,
    handing ECS exactly that task's two roles. Finding and following the task by
    ``startedBy`` (ListTasks, DescribeTasks) and borrowing the server's network
    (DescribeServices) in that cluster are the SQL task's statements already
    (failover/sql_task.py, the incident's ``sql_tasks``), not repeated here."""
    primary = f.primary_region
    cluster = f"arn:aws:ecs:{primary}:{account}:cluster/{f.clusters[primary]}"
    return [
        iam.PolicyStatement(
            sid="FailbackRunsThePrimaryJobsTask",
            actions=["ecs:RunTask"],
            resources=[f"arn:aws:ecs:{primary}:{account}:task-definition/{f.jobs_family}:*"],
            conditions={"ArnEquals": {"ecs:cluster": cluster}},
        ),
        iam.PolicyStatement(
            sid="FailbackPassesTheJobsTaskItsRoles",
            actions=["iam:PassRole"],
            resources=[f"arn:aws:iam::{account}:role/{name}" for name in f.jobs_roles],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
    ]


def _notice_statements(f: FailbackAccess, account: str) -> list[iam.PolicyStatement]:
    """finish: the notice to the DR alert topic, which is encrypted with the DR key: SNS
    uses the key as the publisher ("The publisher must have the kms:GenerateDataKey and
    kms:Decrypt permissions", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html),
    here only through SNS (kms:ViaService), as the failover's state machine does; the key
    policy lets the account's principals use it through SNS (security/key.py)."""
    if not f.alert_topic_arn:
        return []
    dr = f.dr_region
    return [
        iam.PolicyStatement(
            sid="FailbackNotifiesTheOperators",
            actions=["sns:Publish"],
            resources=[f.alert_topic_arn],
        ),
        iam.PolicyStatement(
            sid="FailbackNoticeThroughTheTopicKey",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[f"arn:aws:kms:{dr}:{account}:key/*"],
            conditions={"StringEquals": {"kms:ViaService": f"sns.{dr}.amazonaws.com"}},
        ),
    ]


def _acknowledge_failback(
    data: iam.ManagedPolicy, rest: iam.ManagedPolicy, f: FailbackAccess, account: str
) -> None:
    reason = (
        "Failback renames instances aside under names derived from the incident "
        "(<name>-aside-<digest>), creates groups it cannot name before they exist, and "
        "uses the region's key only through the service named in kms:ViaService; secret "
        "ARNs end in a suffix Secrets Manager generates"
    )
    for policy in (data, rest):
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", reason)
        skip_checkov(policy, "CKV_AWS_111", reason)
        skip_checkov(policy, "CKV_AWS_109", reason)
    for r in (f.primary_region, f.dr_region):
        for pattern in (
            *(f"arn:aws:rds:{r}:{account}:db:{n}-aside-*" for n in (f.database, f.replica)),
            *(f"arn:aws:rds:{r}:{account}:{kind}:*" for kind in ("pg", "subgrp", "og")),
            f"arn:aws:kms:{r}:{account}:key/*",
            *(f"arn:aws:secretsmanager:{r}:{account}:secret:{n}-*" for n in f.secrets),
        ):
            acknowledge(data, f"AwsSolutions-IAM5[Resource::{pattern}]", reason)
        acknowledge(rest, f"AwsSolutions-IAM5[Resource::arn:aws:kms:{r}:{account}:key/*]", reason)
    acknowledge(
        rest,
        f"AwsSolutions-IAM5[Resource::arn:aws:ecs:{f.primary_region}:{account}:task-definition/"
        f"{f.jobs_family}:*]",
        "Every revision of the primary's one jobs task definition (a release registers a new "
        "revision), in the primary's cluster only (ecs:cluster)",
    )
    for bucket in f.buckets.values():
        acknowledge(rest, f"AwsSolutions-IAM5[Resource::arn:aws:s3:::{bucket}/*]", reason)
