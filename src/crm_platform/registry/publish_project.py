"""The CodeBuild project ``crm-platform deploy`` publishes the pinned release with.

``crm-platform deploy`` needs the release in the platform's repository before any
application stack deploys (the task definitions name it there, and the bootstrap task
runs it while the primary stack deploys). The operator's machine needs no Docker for
that: the deploy starts this project, which runs the very buildspec of the pipeline's
build step (pipeline/buildspecs.py ``build``: ``crm-platform release build``, the one
definition of the idempotent publish, the derived image and the scan gate), on the
operator's deployed copy of this project (an S3 asset, like the pipeline's migrate
step) instead of a commit. The role is the pipeline build's (:func:`publish_statements`):
push to the one repository, read the release record and the failed-over state, see the
DR replica, pull through the Docker Hub cache when one is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.naming import Names
from crm_platform.retention import KEEP, log_retention
from crm_platform.trust import arn_in_stack, confine_role_trust

BUILD_LOG_RETENTION_DAYS = 365
PUBLISH_TIMEOUT_MINUTES = 90  # a pull, a build, a push, the scan and the DR replica
PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages", "ecr:DescribeImageScanFindings",
)  # fmt: skip


@dataclass(frozen=True)
class PublishScope:
    """What a publish build may touch, by name (no cross-stack token)."""

    account: str
    primary_region: str
    dr_region: str
    # The ECR repository the Docker Hub pull-through cache creates for Twenty's image
    # (``<prefix>/<image>``), when the cache is configured; None: Docker Hub directly.
    cached_repository: str | None = None


def publish_statements(names: Names, scope: PublishScope) -> list[iam.PolicyStatement]:
    """The publish build's grants, shared by the pipeline's build step and this project."""
    primary, dr, account = scope.primary_region, scope.dr_region, scope.account
    statements = [
        iam.PolicyStatement(
            sid="PushTheRelease",
            actions=list(PUSH_ACTIONS),
            resources=[names.repository_arn(primary)],
        ),
        iam.PolicyStatement(
            sid="SeeTheDrReplica",
            actions=["ecr:DescribeImages"],
            resources=[names.repository_arn(dr)],
        ),
        iam.PolicyStatement(
            sid="LogInToTheRegistry",
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="ReadTheReleaseRecord",
            actions=["ssm:GetParameter"],
            resources=[parameter_arn(primary, account, names.release_parameter)],
        ),
        # First of all: no release while DR serves (release/operations.py).
        iam.PolicyStatement(
            sid="ReadTheFailedOverState",
            actions=["ssm:GetParameter"],
            resources=[parameter_arn(dr, account, names.failover_parameter)],
        ),
    ]
    if scope.cached_repository:
        statements.append(
            iam.PolicyStatement(
                sid="PullThroughTheDockerHubCache",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchImportUpstreamImage",
                    "ecr:CreateRepository",
                ],
                resources=[f"arn:aws:ecr:{primary}:{account}:repository/{scope.cached_repository}"],
            )
        )
    return statements


def acknowledge_login(role: iam.IRole) -> None:
    acknowledge(
        role.node.find_child("DefaultPolicy"),
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken has no resource-level permissions (ECR authorization "
        "reference); every push and read action is scoped to the one repository",
    )


class PublishProject(Construct):
    """A privileged (Docker) CodeBuild project running ``spec`` on ``source``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: Names,
        key: kms.IKey,
        source: s3_assets.Asset,
        spec: Mapping[str, object],
        grants: PublishScope,
    ) -> None:
        super().__init__(scope, construct_id)
        group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(BUILD_LOG_RETENTION_DAYS),
            encryption_key=key,
            removal_policy=KEEP,
        )
        self.project = codebuild.Project(
            self,
            "Project",
            project_name=names.publish_project,
            description=f"{names.prefix}: publish the pinned release (crm-platform deploy)",
            source=codebuild.Source.s3(bucket=source.bucket, path=source.s3_object_key),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_8_0,
                compute_type=codebuild.ComputeType.MEDIUM,
                privileged=True,  # docker pull, build and push
            ),
            build_spec=codebuild.BuildSpec.from_object(dict(spec)),
            cache=codebuild.Cache.local(
                codebuild.LocalCacheMode.DOCKER_LAYER, codebuild.LocalCacheMode.CUSTOM
            ),
            encryption_key=key,
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=group)
            ),
            timeout=cdk.Duration.minutes(PUBLISH_TIMEOUT_MINUTES),
            concurrent_build_limit=1,  # one publish at a time: the tag check is not atomic
        )
        for statement in publish_statements(names, grants):
            self.project.add_to_role_policy(statement)
        role = self.project.role
        assert role is not None  # CDK creates one
        acknowledge_login(role)
        # As the pipeline's build projects (ADR 0038): only this project may assume it.
        confine_role_trust(
            role,
            "codebuild.amazonaws.com",
            arn_in_stack(self, "codebuild", f"project/{names.publish_project}"),
        )
        stack = cdk.Stack.of(self)
        policy = role.node.find_child("DefaultPolicy")
        name = f"<{stack.get_logical_id(self.project.node.default_child)}>"  # type: ignore[arg-type]
        base = f"arn:aws:{{}}:{stack.region}:{stack.account}"
        for finding, what in {
            f"Resource::{base.format('logs')}:log-group:/aws/codebuild/{name}:*":
                "the project's default log group streams",
            f"Resource::{base.format('codebuild')}:report-group/{name}-*":
                "the project's test report groups",
            "Action::s3:GetObject*": "reads the deployed copy of this project (its source)",
            "Action::s3:GetBucket*": "reads the asset bucket's settings to fetch the source",
            "Action::s3:List*": "lists the source object in the asset bucket",
            "Action::kms:GenerateDataKey*": "encrypts the build's own output with the key",
            "Action::kms:ReEncrypt*": "re-encrypts the build's own output with the key",
        }.items():  # fmt: skip
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", f"CDK's CodeBuild grant: {what}")
        acknowledge(
            policy,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "the publish build's own grants, written for this one project and reviewed here",
        )


def parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter{name}"
