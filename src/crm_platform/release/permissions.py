"""What the release pipeline's roles need (needs.py): its source, build and migrate steps.

- The pipeline role uses the source connection. Connections made since July 2024 have
  ``codeconnections`` ARNs, and "the service prefix needs to match that of the resource"
  (https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html).
- The build step (``crm-platform release build``, release/operations.py) reads the release
  record, publishes the image into ECR (a Docker push), reads the scan and waits for the
  DR replica.
- The migrate step (``crm-platform release migrate``) snapshots the database, registers the
  migrate task's revision with the release's image (passing its two roles to ECS), runs it
  with the server service's network, and records the release in both regions.
"""

from __future__ import annotations

from crm_platform.naming import Names
from crm_platform.needs import Need, Who

PUSH = (
    "BatchCheckLayerAvailability",
    "InitiateLayerUpload",
    "UploadLayerPart",
    "CompleteLayerUpload",
    "PutImage",
    "BatchGetImage",
    "DescribeImageScanFindings",
)


def needs(names: Names) -> list[Need]:
    stack, primary, dr = names.pipeline_stack, names.primary_region, names.dr_region
    pipeline = Who(stack, "Release/Role")
    build, migrate = Who(stack, "Release/Build/Role"), Who(stack, "Release/Migrate/Role")
    found = [
        Need.iam(
            pipeline,
            "the source stage uses the GitHub connection",
            "codeconnections:UseConnection",
            "{connection}",
        ),
        Need.call(
            build,
            "read the schema's release",
            "ssm",
            primary,
            "GetParameter",
            Name=names.release_parameter,
        ),
        Need.call(build, "log in to ECR", "ecr", primary, "GetAuthorizationToken"),
        *(
            Need.call(
                build,
                f"publish the release ({op})",
                "ecr",
                primary,
                op,
                repositoryName=names.repository,
            )
            for op in PUSH
        ),
        Need.call(
            build,
            "wait for the DR replica of the image",
            "ecr",
            dr,
            "DescribeImages",
            repositoryName=names.repository,
        ),
        Need.call(
            migrate,
            "read the schema's release",
            "ssm",
            primary,
            "GetParameter",
            Name=names.release_parameter,
        ),
        Need.call(
            migrate,
            "snapshot the database before an upgrade",
            "rds",
            primary,
            "CreateDBSnapshot",
            DBInstanceIdentifier=names.db_instance,
            DBSnapshotIdentifier=f"{names.db_instance}-pre-v2-45-6-20261207-000000",
        ),
        Need.call(
            migrate,
            "read the migrate task's current revision",
            "ecs",
            primary,
            "DescribeTaskDefinition",
            taskDefinition=names.task_family("migrate"),
        ),
        Need.call(
            migrate,
            "run the migration with the server's network",
            "ecs",
            primary,
            "DescribeServices",
            cluster=names.ecs_cluster(primary),
            services=[names.server_service],
        ),
        Need.call(
            migrate,
            "run the migration task once",
            "ecs",
            primary,
            "RunTask",
            cluster=names.ecs_cluster(primary),
            taskDefinition=names.task_family("migrate"),
        ),
        *(
            Need.call(
                migrate,
                f"record the release in {region}",
                "ssm",
                region,
                "PutParameter",
                Name=names.release_parameter,
            )
            for region in (primary, dr)
        ),
    ]
    return found
