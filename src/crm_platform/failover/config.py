"""What a failover run needs to know, derived from the settings, handed to the steps as JSON.

Written once, here, so the state machine's step function and the local drill run the same
steps with the same facts. The Lambda code reads the JSON as a plain dict (it runs without
this package); the field order below is the order of its keys, which the deployed
function's environment already holds (reordering would change the template for nothing).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from crm_platform.contracts import SQL_TASK_ROLE, sql_task_log_group
from crm_platform.naming import Names
from crm_platform.settings import Settings

# What DR's own rotation may not generate: any punctuation or space (Twenty reads the
# password inside PG_DATABASE_URL, where URL-special characters would break it).
ROTATION_EXCLUDE_CHARACTERS = string.punctuation + " "


@dataclass(frozen=True)
class Clusters:
    primary: str
    dr: str


@dataclass(frozen=True)
class SqlTask:
    """One region's SQL task (runtime/sql_task.py, compute/sql_task.py): what RunTask is
    given and where its one result line is read back. The container's name is also its
    awslogs stream prefix."""

    family: str
    cluster: str
    log_group: str
    container: str
    # Its task role and execution role (names): what RunTask passes (iam:PassRole).
    roles: list[str]

    @classmethod
    def of(cls, names: Names, region: str) -> SqlTask:
        return cls(
            family=names.task_family(SQL_TASK_ROLE),
            cluster=names.ecs_cluster(region),
            log_group=sql_task_log_group(names.task_family(SQL_TASK_ROLE)),
            container=SQL_TASK_ROLE,
            roles=list(names.sql_task_roles(region)),
        )


@dataclass(frozen=True)
class ServiceSize:
    """One ECS service as the failover raises it (the primary is fenced to zero)."""

    name: str
    desired: int
    max: int


@dataclass(frozen=True)
class StepConfig:
    environment: str
    primary_region: str
    dr_region: str
    replica: str
    replica_lag_alarm: str
    backup_retention_days: int
    backup_window: str
    backup_tag: list[str]
    multi_az: bool
    secrets: list[str]
    db_secret: str
    rotation_function: str
    rotation_days: int
    rotation_exclude_characters: str
    clusters: Clusters
    services: dict[str, ServiceSize]
    switch_parameter: str
    failover_parameter: str
    impaired_alarm: str
    runs_table: str
    state_machine: str
    alert_topic_arn: str
    public_url: str
    rpo_seconds: int
    # The DR-only task definition that registers Twenty's scheduled jobs (register_jobs).
    jobs_family: str
    # The DR attachment bucket, tagged for DR's backup plan by protect_database.
    dr_bucket: str
    # The switch: its HMAC key (alias) and the beacon to wake after a change.
    switch_key: str
    switch_beacon: str
    # The primary's database: the fence closes it to the tasks (runtime/steps.py).
    primary_database: str
    # The SQL task in each region ("primary", "dr"): the only way a step reads the database.
    sql_tasks: dict[str, SqlTask]
    # Known once the DR rotation function is declared (failover/orchestrator.py).
    rotation_function_arn: str | None = field(default=None)

    @classmethod
    def of(cls, settings: Settings, names: Names, *, alert_topic_arn: str) -> StepConfig:
        s, c = settings, settings.compute
        return cls(
            environment=names.prefix,
            primary_region=s.regions.primary,
            dr_region=s.regions.dr,
            replica=names.db_replica,
            replica_lag_alarm=names.replica_lag_alarm,
            backup_retention_days=s.database.backup_retention_days,
            backup_window=s.database.backup_window,
            backup_tag=list(names.backup_selection_tag),
            multi_az=s.database.multi_az,
            secrets=list(names.dr_stack_secret_names),
            # Twenty's own user's: its host follows the promoted endpoint, DR's rotation
            # is attached to it (the master's is made standalone with the others).
            db_secret=names.db_app_secret,
            rotation_function=names.dr_rotation_function,
            rotation_days=s.database.credentials_rotation_days,
            rotation_exclude_characters=ROTATION_EXCLUDE_CHARACTERS,
            clusters=Clusters(
                primary=names.ecs_cluster(s.regions.primary), dr=names.ecs_cluster(s.regions.dr)
            ),
            services={
                "server": ServiceSize(
                    names.server_service, c.server.desired_count, c.autoscaling_max_tasks
                ),
                "worker": ServiceSize(
                    names.worker_service, c.worker.desired_count, c.worker.desired_count
                ),
            },
            switch_parameter=names.switch_parameter,
            failover_parameter=names.failover_parameter,
            impaired_alarm=names.impaired_alarm,
            runs_table=names.failover_runs_table,
            state_machine=names.failover_state_machine,
            alert_topic_arn=alert_topic_arn,
            public_url=names.public_url,
            rpo_seconds=s.dr.rpo_seconds,
            jobs_family=names.task_family("jobs"),
            dr_bucket=names.attachments_bucket_dr,
            switch_key=names.switch_key_alias,
            switch_beacon=names.switch_beacon_function,
            primary_database=names.db_instance,
            sql_tasks={
                "primary": SqlTask.of(names, s.regions.primary),
                "dr": SqlTask.of(names, s.regions.dr),
            },
        )

    def with_rotation(self, function_arn: str) -> StepConfig:
        return replace(self, rotation_function_arn=function_arn)

    def to_dict(self) -> dict[str, Any]:
        """What the step function receives (``FAILOVER_CONFIG``); unset fields are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}
