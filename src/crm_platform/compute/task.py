"""Twenty's task definitions: one image, run as the server or the worker.

Both run the wrapper (compute/wrapper.py) before the image's entrypoint, read the same
secrets (Twenty's own database user's, never the master's: only the one-off ``bootstrap``
task, which runs no Twenty at all, reads the master's), write logs to their own
KMS-encrypted group, and keep a read-only root filesystem when configuration asks for it
(the default). Twenty writes at run time only
to ``/tmp`` (uploads are buffered there; the wrapper puts the RDS certificate bundle
there) and ``$HOME`` (pointed at ``/tmp``). Fargate has no tmpfs, so ``/tmp`` is a task
volume; Fargate mounts such a volume owned by root with mode 0755 and the image runs as
user 1000, so a short-lived init container (same image, user 0) opens it to 1777 before
Twenty starts (it has no other job and exits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compute import wrapper
from crm_platform.contracts import SQL_TASK_ROLE, sql_task_log_group
from crm_platform.database.app_user import PASSWORD_VARIABLE
from crm_platform.networking.security_groups import APP_PORT
from crm_platform.retention import KEEP, log_retention
from crm_platform.settings.model import TaskSize

TMP = "/tmp"  # noqa: S108 - the task's own ephemeral volume, not the host's
APP_LOG_RETENTION_DAYS = 90
SERVER_COMMAND = ("node", "dist/main")  # the image's CMD
WORKER_COMMAND = ("yarn", "worker:prod")  # Twenty's documented worker command
MIGRATE_COMMAND = ("true",)  # after the entrypoint migrated: nothing more to run
MIGRATION_ROLE = "migrate"  # the migration task's role: its container and log stream prefix
# The master's one-off setup (database/app_user.py): its own program, no command, no Twenty.
BOOTSTRAP_ROLE = "bootstrap"


def migration_log_group(family: str) -> str:
    """The migration task's log group, named so the pipeline's migrate step can be granted
    ``logs:FilterLogEvents`` on it from another stack (a generated name is unknown there);
    the step reads the task's verdict from it before it records a release."""
    return f"/ecs/{family}"


@dataclass(frozen=True)
class TaskSpec:
    """What differs between the server and the worker task (and between regions)."""

    role: str  # "server", "worker", ...: the container name and the log stream prefix
    family: str
    size: TaskSize
    command: tuple[str, ...]
    environment: Mapping[str, str]
    port: int | None  # the server listens on APP_PORT; the worker has no port


class TwentyTask(Construct):
    """One Fargate task definition running Twenty as ``spec.role``.

    ``secrets`` are injected as environment variables (single JSON fields where the
    secret is JSON); ``task_role`` is Twenty's own identity (the attachment bucket);
    ``execution_role`` pulls the image and reads exactly these secrets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: TaskSpec,
        image: ecs.ContainerImage,
        secrets: Mapping[str, ecs.Secret],
        task_role: iam.IRole,
        execution_role: iam.IRole,
        key: kms.IKey,
        read_only_root_filesystem: bool,
        cpu_architecture: ecs.CpuArchitecture = ecs.CpuArchitecture.X86_64,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        migration = spec.role == MIGRATION_ROLE
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=(
                migration_log_group(spec.family)
                if migration
                else sql_task_log_group(spec.family)
                if spec.role == SQL_TASK_ROLE
                else None
            ),
            retention=log_retention(APP_LOG_RETENTION_DAYS),
            encryption_key=key,
            removal_policy=KEEP,
        )
        self.definition = ecs.FargateTaskDefinition(
            self,
            "Definition",
            family=spec.family,
            cpu=spec.size.cpu,
            memory_limit_mib=spec.size.memory_mib,
            task_role=task_role,
            execution_role=execution_role,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
                cpu_architecture=cpu_architecture,
            ),
        )
        environment = {**spec.environment, "HOME": TMP, "YARN_ENABLE_TELEMETRY": "0"}
        if migration:  # the wrapper judges what Twenty reported, not only its exit code
            environment[wrapper.MIGRATION_SWITCH] = "1"
        self.container = self.definition.add_container(
            spec.role,
            container_name=spec.role,
            image=image,
            entry_point=(
                wrapper.bootstrap_entry_point(PASSWORD_VARIABLE)
                if spec.role == BOOTSTRAP_ROLE
                else wrapper.sql_entry_point()
                if spec.role == SQL_TASK_ROLE
                else wrapper.entry_point()
            ),
            command=list(spec.command) or None,
            environment=environment,
            secrets=dict(secrets),
            essential=True,
            readonly_root_filesystem=read_only_root_filesystem,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=spec.role, log_group=self.log_group),
            port_mappings=(
                [ecs.PortMapping(container_port=spec.port, name="http")] if spec.port else None
            ),
            health_check=(
                ecs.HealthCheck(
                    command=[
                        "CMD-SHELL",
                        f"curl -fsS http://localhost:{APP_PORT}/healthz || exit 1",
                    ],
                    interval=cdk.Duration.seconds(30),
                    timeout=cdk.Duration.seconds(5),
                    retries=3,
                    # The first start migrates the database before the server listens.
                    start_period=cdk.Duration.seconds(300),
                )
                if spec.port
                else None
            ),
            stop_timeout=cdk.Duration.seconds(60),
        )
        pulled_by_the_execution_role(self.container)
        if read_only_root_filesystem:
            self._writable_tmp(image)
        acknowledge(
            self.definition,
            "AwsSolutions-ECS2",
            "The environment holds only non-secret settings (hosts, ports, names); every "
            "secret arrives through the task's secrets from Secrets Manager",
        )

    def _writable_tmp(self, image: ecs.ContainerImage) -> None:
        self.definition.add_volume(name="tmp")
        prepare = self.definition.add_container(
            "prepare-tmp",
            container_name="prepare-tmp",
            image=image,
            user="0",
            entry_point=["/bin/sh", "-c"],
            command=[f"chmod 1777 {TMP}"],
            essential=False,
            readonly_root_filesystem=True,
            memory_reservation_mib=32,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=f"{self.spec.role}-prepare", log_group=self.log_group
            ),
        )
        pulled_by_the_execution_role(prepare)
        for container in (prepare, self.container):
            container.add_mount_points(
                ecs.MountPoint(container_path=TMP, source_volume="tmp", read_only=False)
            )
        self.container.add_container_dependencies(
            ecs.ContainerDependency(
                container=prepare, condition=ecs.ContainerDependencyCondition.SUCCESS
            )
        )


def pulled_by_the_execution_role(container: ecs.ContainerDefinition) -> None:
    """CDK warns that an ECR image named by URI needs a pull policy: the execution role
    holds it (compute/application.py, ``PullTwentyFromThePlatformRepository``, tested in
    both regions; the repository holds Twenty's image and the mirrors, such as the
    telemetry collector's), and the image is named by URI because the repository belongs
    to the registry stack (no cross-stack token, docs/adr/0039)."""
    cdk.Annotations.of(container).acknowledge_warning(
        "@aws-cdk/aws-ecs:ecrImageRequiresPolicy",
        "the execution role's PullTwentyFromThePlatformRepository statement grants the pull",
    )
