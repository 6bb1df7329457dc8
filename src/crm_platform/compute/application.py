"""Twenty in one region: cluster, roles, server and worker, the origin load balancer, alarms.

The primary and the DR region build the same thing from different inputs: the DR side
points at the DR replica of the database, the DR cache and the DR bucket and starts at
pilot light (zero tasks) or warm standby (server tasks only, read-only database) — the
failover raises it.

No service migrates (``DISABLE_DB_MIGRATIONS=true`` and no cron registration everywhere):
the primary holds a ``migrate`` task definition, the same image run once per release by
``crm-platform release migrate`` (pipeline or deploy) before any service moves, so a
rollback of traffic never runs an old image on a schema it does not know and a canary
never runs two releases against a half-migrated schema (release/migration.py).

Every Twenty task logs in as Twenty's own database user (database/app_user.py), whose
secret is the only database secret their execution role may read. The primary also holds
the one-off ``bootstrap`` task (:meth:`TwentyApplication.add_bootstrap`): the only task
that reads the master's secret, run by the deploy before the services move, never by a
service (docs/adr/0033). DR holds its definition only
(:meth:`TwentyApplication.add_bootstrap_task`), run by a restore from DR's vault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.alerts import notify
from crm_platform.capacity import Capacity
from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compute import wrapper
from crm_platform.compute.load_balancer import OriginLoadBalancer, OriginNames
from crm_platform.compute.services import ServerService, ServicePlacement, WorkerService
from crm_platform.compute.sql_task import SqlTask
from crm_platform.compute.task import (
    BOOTSTRAP_ROLE,
    MIGRATE_COMMAND,
    SERVER_COMMAND,
    WORKER_COMMAND,
    TaskSpec,
    TwentyTask,
)
from crm_platform.compute.telemetry import TelemetryCollector
from crm_platform.contracts import TWENTY_NAMESPACE
from crm_platform.database import app_user, heartbeat
from crm_platform.database.bootstrap import DatabaseBootstrap, digest
from crm_platform.email.construct import SmtpSettings
from crm_platform.functions import FunctionDefaults
from crm_platform.monitoring.resource_alarms import ROLLBACK_RESOURCE_ALARMS
from crm_platform.networking.security_groups import APP_PORT, POSTGRES_PORT, REDIS_PORT
from crm_platform.settings.model import Compute, Telemetry
from crm_platform.trust import arn_in_stack, confined_service

# What Twenty's entrypoint prints when `upgrade` fails and it starts the server anyway
# (and the message of releases that stop instead); either means a half-migrated schema.
UPGRADE_FAILED_PATTERNS = ("Upgrade completed with errors", "Upgrade failed")


@dataclass(frozen=True)
class AppSecrets:
    """The secrets every Twenty task reads, as seen from its own region."""

    database: (
        sm.ISecret
    )  # JSON: Twenty's own user's username, password (rotated); never the master's
    app_secret: sm.ISecret  # APP_SECRET
    encryption_key: sm.ISecret  # ENCRYPTION_KEY
    cache_token: sm.ISecret  # the region's own cache AUTH token


@dataclass(frozen=True)
class Backends:
    """Where this region's Twenty finds its data."""

    database_host: str
    database_name: str
    cache_host: str
    bucket_name: str
    bucket_arn: str


@dataclass(frozen=True)
class Role:
    """How this region runs: ``migrations``, the migrate task (the primary's runs in every
    release; DR's only in a release into DR while it serves, release/into_dr.py); the
    primary sets the database up (``heartbeat``: the bootstrap task, which installs the
    replication heartbeat among the rest, :meth:`TwentyApplication.add_bootstrap`);
    ``jobs_task``: the task that registers Twenty's scheduled jobs (DR's after a failover,
    the primary's after a failback, which also purges the stale queues with it)."""

    migrations: bool
    heartbeat: bool
    server: Capacity
    worker: Capacity
    jobs_task: bool = False


def ecs_tasks(scope: Construct) -> iam.IPrincipal:
    """ECS tasks of this account and region only, as a *task* role's trusted principal.

    ECS documents aws:SourceAccount/aws:SourceArn for task roles, with a wildcard for the
    cluster ("specify a specific cluster is not currently supported"); execution roles
    keep the plain principal (crm_platform/trust.py, ``UNCONFINED``).
    """
    return confined_service(scope, "ecs-tasks.amazonaws.com", arn_in_stack(scope, "ecs", "*"))


class TwentyApplication(Construct):
    """Everything that runs Twenty in one region; ``origin`` is what CloudFront reaches."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: AppNames,
        config: Compute,
        image: ecs.ContainerImage,
        role: Role,
        pull_from: str,
        vpc: ec2.IVpc,
        public_subnets: ec2.SubnetSelection,
        private_subnets: ec2.SubnetSelection,
        groups: AppSecurityGroups,
        key: kms.IKey,
        alerts: sns.ITopic,
        zone: route53.IHostedZone,
        origin_names: OriginNames,
        origin_header_values: list[str],
        access_logs: s3.IBucket,
        secrets: AppSecrets,
        backends: Backends,
        public_url: str,
        email: SmtpSettings | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        region = cdk.Stack.of(self).region
        self.names, self.role, self.config, self.image, self.key = names, role, config, image, key
        self.vpc, self.private_subnets, self.groups = vpc, private_subnets, groups
        self.secrets, self.pull_from = secrets, pull_from
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=names.cluster,
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENHANCED,
        )
        task_role, execution_role = self._roles(key, backends, secrets, pull_from)
        # What a one-off task of this tier passes to ECS (the failover's register_jobs):
        # the jobs task's own roles where it exists (below).
        self.task_role_arns = (task_role.role_arn, execution_role.role_arn)
        environment = {
            "NODE_PORT": str(APP_PORT),
            "SERVER_URL": public_url,
            "STORAGE_TYPE": "S_3",
            "STORAGE_S3_REGION": region,
            "STORAGE_S3_NAME": backends.bucket_name,
            "PG_HOST": backends.database_host,
            "PG_PORT": str(POSTGRES_PORT),
            "PG_DATABASE": backends.database_name,
            "REDIS_HOST": backends.cache_host,
            "REDIS_PORT": str(REDIS_PORT),
        }
        self.environment = environment
        # Twenty's own user only: no task that runs Twenty can read the master's secret.
        task_secrets = {
            "PG_USER": ecs.Secret.from_secrets_manager(secrets.database, "username"),
            "PG_PASSWORD": ecs.Secret.from_secrets_manager(secrets.database, "password"),
            "REDIS_TOKEN": ecs.Secret.from_secrets_manager(secrets.cache_token),
            "APP_SECRET": ecs.Secret.from_secrets_manager(secrets.app_secret),
            "ENCRYPTION_KEY": ecs.Secret.from_secrets_manager(secrets.encryption_key),
        }
        # E-mail through SES (email/): EMAIL_* settings, the SMTP login as ECS secrets only.
        if email is not None:
            environment.update(email.environment())
            task_secrets.update(email.task_secrets())
            self.execution_policy.add_statements(email.read_statement())

        service_env = {
            **environment,
            "DISABLE_DB_MIGRATIONS": "true",
            "DISABLE_CRON_JOBS_REGISTRATION": "true",
        }
        server_env = dict(service_env)
        common = {
            "image": image,
            "secrets": task_secrets,
            "task_role": task_role,
            "execution_role": execution_role,
            "key": key,
            "read_only_root_filesystem": config.read_only_root_filesystem,
        }
        self.server_task = TwentyTask(
            self,
            "ServerTask",
            spec=TaskSpec("server", names.server_family, config.server, SERVER_COMMAND,
                          server_env, APP_PORT),
            **common,  # type: ignore[arg-type]
        )  # fmt: skip
        self.worker_task = TwentyTask(
            self,
            "WorkerTask",
            spec=TaskSpec("worker", names.worker_family, config.worker, WORKER_COMMAND,
                          service_env, None),
            **common,  # type: ignore[arg-type]
        )  # fmt: skip
        tasks = [self.server_task, self.worker_task]
        # Twenty's OpenTelemetry metrics (compute/telemetry.py): a collector sidecar in the
        # services' tasks only (the one-off tasks run for minutes and report nothing).
        self.telemetry: TelemetryCollector | None = None
        if telemetry is not None and telemetry.enabled:
            self.telemetry = TelemetryCollector(
                self,
                "Telemetry",
                config=telemetry,
                log_group_name=names.telemetry_log_group,
                environment=names.environment,
                key=key,
                task_role=task_role,
                image=names.collector_image,
            )
            for task in tasks:
                self.telemetry.add_to(task)
        self.migrate_task: TwentyTask | None = None
        if role.migrations:
            # Twenty's entrypoint migrates (setup on an empty database, then `upgrade`),
            # registers the cron jobs, then runs the command: `true` ends the task.
            migrate_env = {
                **environment,
                "DISABLE_DB_MIGRATIONS": "false",
                "DISABLE_CRON_JOBS_REGISTRATION": "false",
            }
            self.migrate_task = TwentyTask(
                self,
                "MigrateTask",
                spec=TaskSpec("migrate", names.migrate_family, config.server, MIGRATE_COMMAND,
                              migrate_env, None),
                **common,  # type: ignore[arg-type]
            )  # fmt: skip
            tasks.append(self.migrate_task)
        self.jobs_task: TwentyTask | None = None
        if role.jobs_task:
            # Run once by the failover after the switch (register_jobs) in DR, and by
            # failback in the primary (purge_queues with a command override, then
            # register_jobs): the entrypoint registers the cron jobs against this region's
            # cache, never migrates, and `true` ends the task. Its roles are its own and
            # named (Names.jobs_task_roles), so the DR stack's operator role can pass the
            # primary's; whoever may run it may override its command, so its task role
            # holds no AWS permission (cron registration and the purge talk to Redis and
            # PostgreSQL only: assumed, verify on staging) and its execution role only
            # what ECS needs to start Twenty's tasks (the tier's execution policy).
            jobs_env = {
                **environment,
                "DISABLE_DB_MIGRATIONS": "true",
                "DISABLE_CRON_JOBS_REGISTRATION": "false",
            }
            self.jobs_task = TwentyTask(
                self,
                "JobsTask",
                spec=TaskSpec("jobs", names.jobs_family, config.worker, MIGRATE_COMMAND,
                              jobs_env, None),
                **{**common, **self._jobs_roles(names.jobs_roles)},  # type: ignore[arg-type]
            )  # fmt: skip
            tasks.append(self.jobs_task)
        self._allow_logs(*tasks)
        # The one way to run SQL in this region (compute/sql_task.py), its roles its own.
        self.sql_task = SqlTask(
            self,
            "SqlTask",
            family=names.sql_family,
            role_names=names.sql_roles,
            image=image,
            environment={k: environment[k] for k in ("PG_HOST", "PG_PORT", "PG_DATABASE")},
            database_secret=secrets.database,
            secret_arn=_arn(secrets.database),
            key=key,
            pull_statements=_pull_statements(pull_from),
            read_only_root_filesystem=config.read_only_root_filesystem,
        )
        self.origin = OriginLoadBalancer(
            self,
            "Origin",
            vpc=vpc,
            public_subnets=public_subnets,
            https_from_cloudfront=groups.cloudfront_https,
            to_tasks=groups.load_balancer,
            zone=zone,
            names=origin_names,
            origin_header_values=origin_header_values,
            access_logs=access_logs,
        )
        self.rollback_alarms = self._rollback_alarms(names, alerts)
        placement = ServicePlacement(self.cluster, private_subnets, groups.tasks)
        self.server = ServerService(
            self,
            "Server",
            service_name=names.server_service,
            task=self.server_task,
            placement=placement,
            origin=self.origin,
            capacity=role.server,
            deployment=config.deployment,
            rollback_alarm_names=[
                *(a.alarm_name for a in self.rollback_alarms),
                # The region's resource alarms (monitoring/resource_alarms.py), by name:
                # latency and the server's CPU and memory also roll a release back.
                *(names.alarm(what) for what in ROLLBACK_RESOURCE_ALARMS),
            ],
            cpu_target_percent=config.autoscaling_target_cpu_percent,
            requests_per_task_per_minute=config.requests_per_task_per_minute,
        )
        for alarm in self.rollback_alarms:
            self.server.service.node.add_dependency(alarm)
        self.worker = WorkerService(
            self,
            "Worker",
            service_name=names.worker_service,
            task=self.worker_task,
            placement=placement,
            capacity=role.worker,
        )

    def add_bootstrap(
        self,
        *,
        family: str,
        master: sm.ISecret,
        instance_resource_id: str,
        functions: FunctionDefaults,
        after: Sequence[Construct] = (),
        role_names: tuple[str, str] = ("", ""),
    ) -> DatabaseBootstrap:
        """The master's one-off setup of the database (the primary only): the ``bootstrap``
        task definition (:meth:`add_bootstrap_task`) and the custom resource that runs it
        during the deploy, before the services (they depend on it), again only when what
        it sets up changes. ``after``: what must exist first (the instance, the network's
        routes).
        """
        assert self.role.heartbeat, "only the primary sets the database up"
        task, policy, (task_role, execution_role) = self._bootstrap_task(
            family=family, master=master, role_names=role_names
        )
        subnets = self.vpc.select_subnets(
            subnet_group_name=self.private_subnets.subnet_group_name
        ).subnet_ids
        bootstrap = DatabaseBootstrap(
            self,
            "Bootstrap",
            cluster=self.names.cluster,  # by name: a policy's resource (depends on it below)
            family=family,
            container=BOOTSTRAP_ROLE,
            subnet_ids=subnets,
            security_group_ids=[self.groups.tasks.security_group_id],
            roles=[task_role.role_arn, execution_role.role_arn],
            triggers={
                # A change of what it runs, or a new instance (a replacement, a restore
                # under the same name), runs it again.
                "Sql": digest(app_user.BOOTSTRAP_SQL, heartbeat.SETUP_SQL),
                "User": app_user.APP_USERNAME,
                "Instance": instance_resource_id,
            },
            functions=functions,
        )
        for dependency in (task.definition, policy, self.cluster, *after):
            bootstrap.node.add_dependency(dependency)
        for service in (self.server.service, self.worker.service):
            service.node.add_dependency(bootstrap)
        return bootstrap

    def add_bootstrap_task(
        self, *, family: str, master: sm.ISecret, role_names: tuple[str, str]
    ) -> TwentyTask:
        """The ``bootstrap`` task definition alone, nothing that runs it (the DR region):
        DR's database is a replica the primary's bootstrap already set up, but a restore
        from DR's vault (the primary region and the replica lost) runs it once after the
        restored instance takes the replica's name, so Twenty's user gets its secret's
        password (ops/restore_service.py, reset_logins; docs/adr/0048). ``master``: the
        master's secret as this region sees it (DR: its replica, under DR's key)."""
        task, _policy, _roles = self._bootstrap_task(
            family=family, master=master, role_names=role_names
        )
        return task

    def _bootstrap_task(
        self, *, family: str, master: sm.ISecret, role_names: tuple[str, str]
    ) -> tuple[TwentyTask, iam.ManagedPolicy, tuple[iam.Role, iam.Role]]:
        """The bootstrap task definition and its roles.

        The task has roles of its own: an execution role that reads the master's secret
        and the application user's (its first password), and a task role with no
        permission at all (it talks to PostgreSQL only). The services' execution role
        never reads the master's secret (compute/permissions.py, ``forbidden``).
        ``role_names``: the two roles' names (Names.bootstrap_task_roles), so the DR
        stack's operator role can hand them to ECS when a restore runs the task again
        (ops/restore_service.py, reset_logins).
        """
        region = cdk.Stack.of(self).region
        task_role = iam.Role(
            self,
            "BootstrapTaskRole",
            role_name=role_names[0] or None,
            assumed_by=ecs_tasks(self),
            description="The database bootstrap task: no AWS permission (it talks to PostgreSQL)",
        )
        execution_role = iam.Role(
            self,
            "BootstrapExecutionRole",
            role_name=role_names[1] or None,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="ECS: start the database bootstrap task with the master's secret",
        )
        task = TwentyTask(
            self,
            "BootstrapTask",
            spec=TaskSpec(
                BOOTSTRAP_ROLE,
                family,
                self.config.worker,
                (),
                {
                    **{k: self.environment[k] for k in
                       ("PG_HOST", "PG_PORT", "PG_DATABASE")},
                    "HEARTBEAT_DATABASE": heartbeat.HEARTBEAT_DATABASE,
                    wrapper.BOOTSTRAP_SQL_VARIABLE: app_user.BOOTSTRAP_SQL,
                    wrapper.HEARTBEAT_SQL_VARIABLE: heartbeat.SETUP_SQL,
                },
                None,
            ),
            image=self.image,
            secrets={
                "PG_PASSWORD": ecs.Secret.from_secrets_manager(self.secrets.database, "password"),
                "MASTER_USER": ecs.Secret.from_secrets_manager(master, "username"),
                "MASTER_PASSWORD": ecs.Secret.from_secrets_manager(master, "password"),
            },
            task_role=task_role,
            execution_role=execution_role.without_policy_updates(),
            key=self.key,
            read_only_root_filesystem=self.config.read_only_root_filesystem,
        )  # fmt: skip
        policy = iam.ManagedPolicy(
            self,
            "BootstrapExecutionPolicy",
            description="What ECS needs to start the database bootstrap task, nothing more",
            roles=[execution_role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheMasterAndTheApplicationUsersSecrets",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=sorted({_arn(master), _arn(self.secrets.database)}),
                ),
                iam.PolicyStatement(
                    sid="DecryptSecretsThroughSecretsManager",
                    actions=["kms:Decrypt"],
                    resources=[self.key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                    },
                ),
                *_pull_statements(self.pull_from),
                iam.PolicyStatement(
                    sid="WriteTaskLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[task.log_group.log_group_arn],
                ),
            ],
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (ECR authorization "
            "reference); every pull action is scoped to the platform's repository",
        )
        self.bootstrap_task = task
        return task, policy, (task_role, execution_role)

    def _roles(
        self, key: kms.IKey, backends: Backends, secrets: AppSecrets, pull_from: str
    ) -> tuple[iam.Role, iam.IRole]:
        """Twenty's task role: its bucket and key, nothing else. Execution: pull, logs, secrets."""
        task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=ecs_tasks(self),
            description="Twenty (server and worker): read and write its attachment bucket",
        )
        region = cdk.Stack.of(self).region
        bucket_policy = iam.ManagedPolicy(
            self,
            "TaskPolicy",
            description="Twenty's attachments: objects of its one bucket, through its one key",
            roles=[task_role],
            statements=[
                iam.PolicyStatement(
                    sid="ListTheBucket",
                    actions=["s3:ListBucket", "s3:GetBucketLocation"],
                    resources=[backends.bucket_arn],
                ),
                iam.PolicyStatement(
                    sid="ObjectsOfTheBucket",
                    actions=[
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                        "s3:ListMultipartUploadParts",
                    ],
                    resources=[f"{backends.bucket_arn}/*"],
                ),
                iam.PolicyStatement(
                    sid="BucketKeyThroughS3",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                ),
            ],
        )
        acknowledge(
            bucket_policy,
            f"AwsSolutions-IAM5[Resource::{backends.bucket_arn}/*]",
            "Twenty stores every attachment under keys it chooses; the wildcard is the "
            "object part of its one bucket",
        )
        execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="ECS: pull Twenty's image, write its logs, read exactly its secrets",
        )

        self.execution_policy = iam.ManagedPolicy(
            self,
            "ExecutionPolicy",
            description="Exactly what ECS needs to start Twenty's tasks",
            roles=[execution_role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTwentysSecrets",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=sorted(
                        {
                            _arn(s)
                            for s in (
                                secrets.database,
                                secrets.app_secret,
                                secrets.encryption_key,
                                secrets.cache_token,
                            )
                        }
                    ),
                ),
                iam.PolicyStatement(
                    sid="DecryptSecretsThroughSecretsManager",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                    },
                ),
            ],
        )
        # Always, not only once a release is recorded: the pipeline's first Migrate stage
        # and every deploy after it run the platform repository's image (its DR replica in
        # DR) by digest, and ECS pulls it as this role.
        self.execution_policy.add_statements(*_pull_statements(pull_from))
        acknowledge(
            self.execution_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (ECR authorization "
            "reference); every pull action is scoped to the platform's repository",
        )
        # The policy above (plus the log statement added once the groups exist) is
        # complete: CDK's automatic grants would add an inline policy next to it.
        return task_role, execution_role.without_policy_updates()

    def _jobs_roles(self, role_names: tuple[str, str]) -> dict[str, iam.IRole]:
        """The jobs task's two named roles: a task role with no permission, an execution
        role holding the tier's execution policy (pull, secrets, logs)."""
        task_name, execution_name = role_names
        task_role = iam.Role(
            self,
            "JobsTaskRole",
            role_name=task_name or None,
            assumed_by=ecs_tasks(self),
            description="Twenty's jobs task (cron registration, failback's purge): no AWS "
            "permission",
        )
        execution_role = iam.Role(
            self,
            "JobsExecutionRole",
            role_name=execution_name or None,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="ECS: start Twenty's jobs task (the tier's execution policy)",
        )
        self.execution_policy.attach_to_role(execution_role)
        self.task_role_arns = (task_role.role_arn, execution_role.role_arn)
        return {"task_role": task_role, "execution_role": execution_role.without_policy_updates()}

    def _allow_logs(self, *tasks: TwentyTask) -> None:
        self.execution_policy.add_statements(
            iam.PolicyStatement(
                sid="WriteTaskLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                # A log group's ARN attribute already ends in ":*" (its streams).
                resources=[t.log_group.log_group_arn for t in tasks],
            )
        )

    def _rollback_alarms(self, names: AppNames, alerts: sns.ITopic) -> list[cloudwatch.Alarm]:
        """Alarms that roll a server deployment back (and page): errors, failed upgrade."""
        lb = self.origin.load_balancer.load_balancer_full_name
        errors = notify(
            cloudwatch.Alarm(
                self,
                "Server5xx",
                alarm_name=names.alarm("server-5xx"),
                alarm_description="More than 10 server errors (5XX from the tasks) per minute",
                metric=cloudwatch.Metric(
                    namespace="AWS/ApplicationELB",
                    metric_name="HTTPCode_Target_5XX_Count",
                    # The load balancer's ARN suffix: the seed's target-group name made its
                    # alarm unable to fire.
                    dimensions_map={"LoadBalancer": lb},
                    statistic="Sum",
                    period=cdk.Duration.minutes(1),
                ),
                threshold=10,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            alerts,
        )
        # Only the migrate task upgrades (in DR too, in a release into DR).
        upgrading = self.migrate_task or self.server_task
        failed_upgrade = logs.MetricFilter(
            self,
            "UpgradeFailedFilter",
            log_group=upgrading.log_group,
            filter_pattern=logs.FilterPattern.any_term(*UPGRADE_FAILED_PATTERNS),
            metric_namespace=TWENTY_NAMESPACE,
            metric_name="UpgradeFailed",
            metric_value="1",
            dimensions=None,
        )
        upgrade = notify(
            cloudwatch.Alarm(
                self,
                "UpgradeFailed",
                alarm_name=names.alarm("upgrade-failed"),
                alarm_description=(
                    "Twenty's database upgrade failed and the server started anyway: the "
                    "schema may be half-migrated (see docs/emergency-recovery.md)"
                ),
                metric=failed_upgrade.metric(statistic="Sum", period=cdk.Duration.minutes(1)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            alerts,
        )
        return [errors, upgrade]


def _arn(secret: sm.ISecret) -> str:
    """A secret's ARN for a policy; a replica imported by name has no full ARN, so its
    six-character suffix is matched."""
    return secret.secret_full_arn or f"{secret.secret_arn}-??????"


def _pull_statements(pull_from: str) -> list[iam.PolicyStatement]:
    """Pull Twenty's image from the platform repository (its DR replica in DR)."""
    return [
        iam.PolicyStatement(
            sid="PullTwentyFromThePlatformRepository",
            actions=[
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            resources=[pull_from],
        ),
        # ECR documents no resource-level scoping for the registry login token.
        iam.PolicyStatement(
            sid="LogInToTheRegistry",
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],
        ),
    ]


@dataclass(frozen=True)
class AppNames:
    """The names one region's application tier is built under."""

    cluster: str
    server_service: str
    worker_service: str
    server_family: str
    worker_family: str
    migrate_family: str
    jobs_family: str
    alarm_prefix: str
    # The SQL task (compute/sql_task.py): its family and its two roles' names.
    sql_family: str = ""
    sql_roles: tuple[str, str] = ("", "")
    # The jobs task's two roles' names (Names.jobs_task_roles).
    jobs_roles: tuple[str, str] = ("", "")
    # The collector's EMF log group and the Environment dimension's value (telemetry).
    telemetry_log_group: str = ""
    environment: str = ""
    # Where the collector's image is pulled from: its mirror in the platform repository.
    collector_image: str = ""

    def alarm(self, what: str) -> str:
        return f"{self.alarm_prefix}{what}"


@dataclass(frozen=True)
class AppSecurityGroups:
    load_balancer: ec2.ISecurityGroup
    cloudfront_https: ec2.ISecurityGroup
    tasks: ec2.ISecurityGroup
