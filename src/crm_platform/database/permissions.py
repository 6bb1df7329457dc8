"""What the database's runtime paths need (needs.py).

The rotation roll (database/runtime/roll_services.py): after Secrets Manager rotates
Twenty's own user's password it reads which version is current (in the primary, then in
the DR replica) and forces a new deployment of the four services, so every task reads
the new password. The bootstrap (database/runtime/run_once.py): during the deploy it
runs the bootstrap task once in the primary's cluster and follows it to its end.
"""

from __future__ import annotations

from crm_platform.naming import Names
from crm_platform.needs import Need, Who


def needs(names: Names) -> list[Need]:
    who = Who(names.primary_stack, "Database/RollServices/Role")
    found = [
        Need.call(
            who,
            f"read the rotated secret's versions in {region}",
            "secretsmanager",
            region,
            "DescribeSecret",
            SecretId=names.db_app_secret,
        )
        for region in (names.primary_region, names.dr_region)
    ]
    for region in (names.primary_region, names.dr_region):
        for service in (names.server_service, names.worker_service):
            found.append(
                Need.call(
                    who,
                    f"roll {service} in {region}",
                    "ecs",
                    region,
                    "UpdateService",
                    cluster=names.ecs_cluster(region),
                    service=service,
                )
            )
    return found


def bootstrap_needs(names: Names) -> list[Need]:
    """The custom resource's function runs exactly the bootstrap family (passing the
    roles its task definition names) and follows its task; the bootstrap task's
    execution role reads the master's secret and Twenty's user's (its first password),
    and so does DR's bootstrap task's, in DR (a restore from DR's vault runs it)."""
    region, stack = names.primary_region, names.primary_stack
    runner = Who(stack, "Twenty/Bootstrap/Runner/Role")
    task = Who(stack, "Twenty/BootstrapExecutionRole")
    cluster = names.ecs_cluster(region)
    return [
        Need.call(
            runner,
            "run the bootstrap task in the primary's cluster",
            "ecs",
            region,
            "RunTask",
            cluster=cluster,
            taskDefinition=names.task_family("bootstrap"),
        ),
        Need.call(
            runner, "follow the bootstrap task", "ecs", region, "DescribeTasks", cluster=cluster
        ),
        *_bootstrap_task_reads(names, task, region, ""),
        *_bootstrap_task_reads(
            names,
            Who(names.dr_app_stack, "Twenty/BootstrapExecutionRole"),
            names.dr_region,
            " (DR's, which a restore from DR's vault runs: its secrets are DR's replicas, "
            "under DR's key)",
        ),
    ]


def _bootstrap_task_reads(names: Names, task: Who, region: str, which: str) -> list[Need]:
    """What a bootstrap task's execution role reads at its start in ``region``: the
    master's and Twenty's user's secrets (their key policy included) and the image."""
    return [
        *(
            Need.call(
                task,
                f"inject {secret} into the bootstrap task{which}",
                "secretsmanager",
                region,
                "GetSecretValue",
                SecretId=secret,
            )
            for secret in (names.db_secret, names.db_app_secret)
        ),
        Need.call(
            task,
            f"pull the platform image from {names.repository} in {region}",
            "ecr",
            region,
            "BatchGetImage",
            repositoryName=names.repository,
        ),
    ]


def bootstrap_forbidden(names: Names) -> list[Need]:
    """What the bootstrap's function may not do: run any other family (the server's),
    or pass the services' roles."""
    region, stack = names.primary_region, names.primary_stack
    runner = Who(stack, "Twenty/Bootstrap/Runner/Role")
    return [
        Need.call(
            runner,
            f"run the {family} task",
            "ecs",
            region,
            "RunTask",
            cluster=names.ecs_cluster(region),
            taskDefinition=names.task_family(family),
        )
        for family in ("server", "migrate")
    ]
