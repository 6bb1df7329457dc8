"""What the release pipeline's roles need (needs.py): its source, build and migrate steps.

- The pipeline role uses the source connection. Connections made since July 2024 have
  ``codeconnections`` ARNs, and "the service prefix needs to match that of the resource"
  (https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html).
- The build step (``crm-platform release build``, release/operations.py) reads the release
  record, publishes the image into ECR (a Docker push), reads the scan and waits for the
  DR replica.
- The migrate step (``crm-platform release migrate``, the operator's deployed copy)
  checks the approved image is in the repository, snapshots the database, registers the
  migrate task's revision with the release's image (passing its two roles to ECS), runs it
  with the server service's network, reads its verdict from the task's log, and records
  the release in both regions.
- The pipeline role's ECS deploy actions register each service's revision and pass its
  roles (:func:`deploy_needs`, given the roles the task definitions name).

:func:`forbidden` is the other half of the contract, what the trust boundary around
releases must refuse (docs/adr/0030): no pipeline role passes a role it was not given,
the migrate step registers and runs nothing but the migrate family, and only the
migrate step writes the release record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crm_platform.naming import Names
from crm_platform.needs import Need, Who

ECS_TASKS = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}

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
        *(
            Need.call(
                who,
                "read the failed-over state in DR before anything else",
                "ssm",
                dr,
                "GetParameter",
                Name=names.failover_parameter,
            )
            for who in (migrate,)
        ),
        Need.iam(
            pipeline,
            "the source stage uses the GitHub connection",
            "codeconnections:UseConnection",
            "{connection}",
        ),
        *publish_needs(names, build),
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
            "find the approved image in the platform's repository",
            "ecr",
            primary,
            "DescribeImages",
            repositoryName=names.repository,
        ),
        Need.call(
            migrate,
            "read the migrate task's current revision",
            "ecs",
            primary,
            "DescribeTaskDefinition",
            taskDefinition=names.task_family("migrate"),
        ),
        Need.iam(
            migrate,
            "register the release's revision of the migrate family",
            "ecs:RegisterTaskDefinition",
            _revision(names, names.task_family("migrate")),
        ),
        Need.iam(
            migrate,
            "read the migration's verdict from its log",
            "logs:FilterLogEvents",
            f"arn:aws:logs:{primary}:{names.account}:log-group:/ecs/"
            f"{names.task_family('migrate')}:*",
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


def publish_needs(names: Names, who: Who) -> list[Need]:
    """The publish build's calls (``crm-platform release build``), as the pipeline's build
    step and as the registry's publish project (the deploy's) make them: the same code,
    the same grants (registry/publish_project.py)."""
    primary, dr = names.primary_region, names.dr_region
    return [
        Need.call(
            who, "read the failed-over state in DR before anything else", "ssm", dr,
            "GetParameter", Name=names.failover_parameter,
        ),
        Need.call(
            who, "read the schema's release", "ssm", primary, "GetParameter",
            Name=names.release_parameter,
        ),
        Need.call(who, "log in to ECR", "ecr", primary, "GetAuthorizationToken"),
        *(
            Need.call(
                who, f"publish the release ({op})", "ecr", primary, op,
                repositoryName=names.repository,
            )
            for op in PUSH
        ),
        Need.call(
            who, "wait for the DR replica of the image", "ecr", dr, "DescribeImages",
            repositoryName=names.repository,
        ),
    ]  # fmt: skip


def registry_needs(names: Names) -> list[Need]:
    """The deploy's publish build, in the registry stack (every environment)."""
    return publish_needs(names, Who(names.registry_stack, "Publish/Project/Role"))


def deploy_needs(names: Names, roles: Mapping[tuple[str, str], Sequence[str]]) -> list[Need]:
    """The pipeline role's ECS deploy actions: register each service's revision and pass
    the roles its task definition names (``roles``: (region, family) -> role ARNs)."""
    pipeline = Who(names.pipeline_stack, "Release/Role")
    return [
        Need.call(
            pipeline,
            f"deploy {family} in {region}",
            "ecs",
            region,
            "RegisterTaskDefinition",
            family=family,
            **dict(zip(("taskRoleArn", "executionRoleArn"), arns, strict=False)),
        )
        for (region, family), arns in roles.items()
    ]


def forbidden(names: Names) -> list[Need]:
    """What no pipeline role may do: each of these must be refused."""
    stack, primary, dr = names.pipeline_stack, names.primary_region, names.dr_region
    roles = {
        "pipeline": Who(stack, "Release/Role"),
        "build": Who(stack, "Release/Build/Role"),
        "migrate": Who(stack, "Release/Migrate/Role"),
    }
    unrelated = [
        f"arn:aws:iam::{names.account}:role/{names.prefix}-unrelated",
        f"arn:aws:iam::{names.account}:role/{names.operator_role}",
    ]
    found = [
        Need.iam(who, f"{label} passes {arn} to ECS tasks", "iam:PassRole", arn, **ECS_TASKS)
        for label, who in roles.items()
        for arn in unrelated
    ]
    migrate = roles["migrate"]
    for family in ("server", "worker"):
        found += [
            Need.iam(
                migrate,
                f"migrate registers a {family} revision",
                "ecs:RegisterTaskDefinition",
                _revision(names, names.task_family(family)),
            ),
            Need.call(
                migrate,
                f"migrate runs the {family} family",
                "ecs",
                primary,
                "RunTask",
                cluster=names.ecs_cluster(primary),
                taskDefinition=names.task_family(family),
            ),
        ]
    found += [
        Need.call(who, f"{label} writes the release record in {region}", "ssm", region,
                  "PutParameter", Name=names.release_parameter)
        for label, who in roles.items()
        if label != "migrate"
        for region in (primary, dr)
    ]  # fmt: skip
    # StartBuild accepts a buildspecOverride: only CodePipeline (the pipeline role) starts
    # the migrate step. And the commit's code cannot approve its own release.
    migrate_project = f"arn:aws:codebuild:{primary}:{names.account}:project/{names.prefix}-migrate"
    approval = f"arn:aws:codepipeline:{primary}:{names.account}:{names.pipeline}/Approve/Release"
    found += [
        Need.iam(roles[label], f"{label} starts the migrate step", "codebuild:StartBuild",
                 migrate_project)
        for label in ("build", "migrate")
    ]  # fmt: skip
    found += [
        Need.iam(roles[label], f"{label} approves the release", "codepipeline:PutApprovalResult",
                 approval)
        for label in ("build", "migrate")
    ]  # fmt: skip
    return found


def _revision(names: Names, family: str) -> str:
    return f"arn:aws:ecs:{names.primary_region}:{names.account}:task-definition/{family}:1"
