"""CodePipeline V2: Source -> Build -> Approve -> Migrate -> Deploy primary -> Deploy DR.

- **Source**: CodeConnections to GitHub (repository and branch from configuration); a
  connection CloudFormation creates starts PENDING and needs its one-time handshake in
  the console (README, "Delivery pipeline").
- **Build** (CodeBuild, privileged for Docker, local caches): ``crm-platform release
  build`` publishes the pinned release idempotently, waits for the scan and refuses
  findings at or above ``pipeline.fail_on_severity``, waits for the DR replica and writes
  the deploy files (release/artifacts.py).
- **Approve**: manual approval, announced on the primary's alert topic.
- **Migrate** (CodeBuild): a tagged manual snapshot, then the release's migration as a
  one-off ECS task; the pipeline stops if it fails (release/migration.py).
- **Deploy primary / Deploy DR**: the ECS deploy action per service. The server's ECS
  blue/green (shift, bake, alarm rollback) runs inside that deployment; the worker rolls
  with its circuit breaker. DR task definitions are updated even at zero tasks.

One pipeline role runs every action (``use_pipeline_role_for_actions``), so the grants
live in one reviewed place. Executions are QUEUED: releases reach the database in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codeconnections as connections
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.naming import Names
from crm_platform.pipeline import buildspecs
from crm_platform.retention import KEEP, log_retention
from crm_platform.settings import Settings

BUILD_LOG_RETENTION_DAYS = 365


@dataclass(frozen=True)
class Region:
    """What the deploy actions of one region need."""

    name: str
    cluster: str
    services: tuple[str, str]  # server, worker
    image_files: tuple[str, str]  # server.json, worker.json (or dr-*)


@dataclass(frozen=True)
class MigrationRoles:
    """The roles the migrate task runs with (passed to ECS by the migrate step)."""

    task_role_arn: str
    execution_role_arn: str


class ReleasePipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        names: Names,
        key: kms.IKey,
        alerts_topic_arn: str,
        artifacts: s3.IBucket,
        dr_artifacts_bucket: str,
        dr_key_alias_arn: str,
        primary: Region,
        dr: Region,
        migration_roles: MigrationRoles,
    ) -> None:
        super().__init__(scope, construct_id)
        s = self._settings = settings
        p = s.pipeline
        self._dr_region = dr.name
        assert p.repository is not None  # settings rules require it when enabled
        stack = cdk.Stack.of(self)
        account, here = s.account, s.regions.primary
        connection_arn = (
            p.connection_arn
            or connections.CfnConnection(
                self, "GitHub", connection_name=f"{names.prefix}-github", provider_type="GitHub"
            ).attr_connection_arn
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
            description="CodePipeline: run every action of the release pipeline",
        )
        build = self._project(
            "Build",
            names,
            key,
            privileged=True,
            spec=buildspecs.build(s.environment),
            timeout_minutes=90,
        )
        migrate = self._project(
            "Migrate",
            names,
            key,
            privileged=False,
            spec=buildspecs.migrate(s.environment, "Release"),
            timeout_minutes=p.migration_timeout_minutes + 30,  # + the snapshot
        )
        self._grant_build(build, names)
        self._grant_migrate(migrate, names, primary, migration_roles)

        source, release = codepipeline.Artifact("Source"), codepipeline.Artifact("Release")
        owner, repo = p.repository.split("/", 1)
        dr_key = kms.Key.from_key_arn(self, "DrKey", dr_key_alias_arn)
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_name=names.pipeline,
            pipeline_type=codepipeline.PipelineType.V2,
            execution_mode=codepipeline.ExecutionMode.QUEUED,
            # One store per region where actions run (CodePipeline "ArtifactStoreMap":
            # "There must be an artifact store for the pipeline Region and for each
            # cross-region action"); CDK takes them all from this map.
            cross_region_replication_buckets={
                here: artifacts,
                dr.name: s3.Bucket.from_bucket_attributes(
                    self,
                    "DrArtifacts",
                    bucket_name=dr_artifacts_bucket,
                    region=dr.name,
                    encryption_key=dr_key,
                ),
            },
            role=self.role,
            use_pipeline_role_for_actions=True,
            restart_execution_on_update=False,
        )
        self.pipeline.add_stage(
            stage_name="Source",
            actions=[
                actions.CodeStarConnectionsSourceAction(
                    action_name="GitHub",
                    connection_arn=connection_arn,
                    owner=owner,
                    repo=repo,
                    branch=p.branch,
                    output=source,
                    trigger_on_push=True,
                )
            ],
        )
        self.pipeline.add_stage(
            stage_name="Build",
            actions=[
                actions.CodeBuildAction(
                    action_name="PublishAndScan", project=build, input=source, outputs=[release]
                )
            ],
        )
        self.pipeline.add_stage(
            stage_name="Approve",
            actions=[
                actions.ManualApprovalAction(
                    action_name="Release",
                    notification_topic=sns.Topic.from_topic_arn(self, "Alerts", alerts_topic_arn),
                    additional_information=(
                        f"Release {s.twenty.version} of Twenty to {names.prefix}: approving "
                        "migrates the production database (after a snapshot), then deploys "
                        "the primary and the DR region."
                    ),
                )
            ],
        )
        self.pipeline.add_stage(
            stage_name="Migrate",
            actions=[
                actions.CodeBuildAction(
                    action_name="SnapshotAndMigrate",
                    project=migrate,
                    input=source,
                    extra_inputs=[release],
                )
            ],
        )
        for stage, region in (("DeployPrimary", primary), ("DeployDR", dr)):
            self.pipeline.add_stage(
                stage_name=stage,
                actions=[
                    actions.EcsDeployAction(
                        action_name=f"{role.capitalize()}",
                        service=self._service(region, service, role),
                        image_file=release.at_path(image_file),
                        deployment_timeout=cdk.Duration.minutes(p.deploy_timeout_minutes),
                    )
                    for role, service, image_file in zip(
                        ("server", "worker"), region.services, region.image_files, strict=True
                    )
                ],
            )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="UseTheDrArtifactKeyThroughS3",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                resources=[f"arn:aws:kms:{dr.name}:{account}:key/*"],
                conditions={
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": names.kms_alias},
                    "StringEquals": {"kms:ViaService": f"s3.{dr.name}.amazonaws.com"},
                },
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ApprovalNoticesToTheEncryptedAlertTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{here}.amazonaws.com"}},
            )
        )
        self._use_connection_as_its_arn_says(stack, p.connection_arn)
        del stack
        self._acknowledge_cdk_grants(build, migrate, artifacts, dr_artifacts_bucket)

    def _use_connection_as_its_arn_says(self, stack: cdk.Stack, configured: str | None) -> None:
        """CDK's source action grants ``codestar-connections:UseConnection``; a connection
        made since July 2024 (the one this stack creates among them) has a
        ``codeconnections`` ARN, and "the service prefix needs to match that of the
        resource" (https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html):
        the grant takes the prefix of the connection's ARN, so it grants what it says."""
        prefix = (configured or "arn:aws:codeconnections:").split(":")[2]
        policy: Any = self.role.node.find_child("DefaultPolicy").node.default_child
        document = stack.resolve(policy.policy_document)
        for index, statement in enumerate(document["Statement"]):
            if statement.get("Action") == "codestar-connections:UseConnection":
                policy.add_property_override(
                    f"PolicyDocument.Statement.{index}.Action", f"{prefix}:UseConnection"
                )

    def _acknowledge_cdk_grants(
        self,
        build: codebuild.PipelineProject,
        migrate: codebuild.PipelineProject,
        artifacts: s3.IBucket,
        dr_artifacts_bucket: str,
    ) -> None:
        """CodePipeline and CodeBuild write their artifact grants themselves; each is named."""
        stack = cdk.Stack.of(self)
        bucket = artifacts.node.default_child
        bucket_objects = f"Resource::<{stack.get_logical_id(bucket)}.Arn>/*"  # type: ignore[arg-type]
        artifact_actions = {
            "AwsSolutions-IAM5[Action::s3:GetObject*]": "reads artifacts",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": "reads the artifact bucket's settings",
            "AwsSolutions-IAM5[Action::s3:List*]": "lists artifacts",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "encrypts artifacts",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "re-encrypts artifacts",
            f"AwsSolutions-IAM5[{bucket_objects}]": "objects of the artifact bucket",
        }
        writer = {
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "replaces artifacts",
            "AwsSolutions-IAM5[Action::s3:Abort*]": "aborts artifact uploads",
        }
        inline = (
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "the role's own grants, written by CDK for this one pipeline and reviewed here",
        )
        pipeline_only = {
            f"AwsSolutions-IAM5[Resource::arn:aws:s3:::{dr_artifacts_bucket}/*]":
                "objects of the DR artifact bucket",
            f"AwsSolutions-IAM5[Resource::arn:aws:kms:{self._dr_region}:{stack.account}:key/*]":
                "the DR key, pinned by its alias (kms:ResourceAliases) and S3",
            "AwsSolutions-IAM5[Resource::*]":
                "the ECS deploy action's documented permissions (DescribeServices, "
                "RegisterTaskDefinition ...) have no resource-level form; PassRole is "
                "limited to ecs-tasks",
        }  # fmt: skip
        targets = (
            (self.role, {**artifact_actions, **writer, **pipeline_only}),
            (build.role, {**artifact_actions, **writer, **_codebuild_own(build, stack)}),
            (migrate.role, {**artifact_actions, **_codebuild_own(migrate, stack)}),
        )
        skip_checkov(
            self.role.node.find_child("DefaultPolicy"),
            "CKV_AWS_111",
            "CDK's ECS deploy action grant: RegisterTaskDefinition has no resource-level form "
            "and the action registers the revision it deploys; PassRole only to ecs-tasks",
        )
        for role, findings in targets:
            policy = role.node.find_child("DefaultPolicy")  # type: ignore[union-attr]
            for finding, what in findings.items():
                acknowledge(policy, finding, f"CDK's artifact and log grant: {what}, nothing else")
            acknowledge(policy, *inline)

    def _project(
        self,
        construct_id: str,
        names: Names,
        key: kms.IKey,
        *,
        privileged: bool,
        spec: dict[str, object],
        timeout_minutes: int,
    ) -> codebuild.PipelineProject:
        group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=log_retention(BUILD_LOG_RETENTION_DAYS),
            encryption_key=key,
            removal_policy=KEEP,
        )
        return codebuild.PipelineProject(
            self,
            construct_id,
            project_name=f"{names.prefix}-{construct_id.lower()}",
            description=f"{names.prefix} release pipeline: {construct_id.lower()}",
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_8_0,
                compute_type=codebuild.ComputeType.MEDIUM
                if privileged
                else codebuild.ComputeType.SMALL,
                privileged=privileged,
            ),
            build_spec=codebuild.BuildSpec.from_object(spec),
            cache=codebuild.Cache.local(
                codebuild.LocalCacheMode.DOCKER_LAYER,
                codebuild.LocalCacheMode.SOURCE,
                codebuild.LocalCacheMode.CUSTOM,
            ),
            encryption_key=key,
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=group)
            ),
            timeout=cdk.Duration.minutes(timeout_minutes),
        )

    def _service(self, region: Region, service: str, role: str) -> ecs.IBaseService:
        """The service by ARN (its region is the action's region; no VPC lookup needed)."""
        account = cdk.Stack.of(self).account
        return ecs.BaseService.from_service_arn_with_cluster(
            self,
            f"{region.name}-{role}",
            f"arn:aws:ecs:{region.name}:{account}:service/{region.cluster}/{service}",
        )

    def _grant_build(self, project: codebuild.PipelineProject, names: Names) -> None:
        s = self._settings
        primary, dr = s.regions.primary, s.regions.dr
        statements = [
            iam.PolicyStatement(
                sid="PushTheRelease",
                actions=[
                    "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
                    "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages",
                    "ecr:DescribeImageScanFindings",
                ],
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
                resources=[_parameter_arn(primary, s.account, names.release_parameter)],
            ),
        ]  # fmt: skip
        if s.pipeline.docker_hub_credentials_arn:
            cached = (f"arn:aws:ecr:{primary}:{s.account}:repository/"
                      f"{names.pull_through_prefix}/{s.twenty.image}")  # fmt: skip
            statements.append(
                iam.PolicyStatement(
                    sid="PullThroughTheDockerHubCache",
                    actions=[
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchImportUpstreamImage",
                        "ecr:CreateRepository",
                    ],
                    resources=[cached],
                )
            )
        for statement in statements:
            project.add_to_role_policy(statement)
        acknowledge(
            project.role.node.find_child("DefaultPolicy"),  # type: ignore[union-attr]
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (ECR authorization "
            "reference); every push and read action is scoped to the one repository",
        )

    def _grant_migrate(
        self,
        project: codebuild.PipelineProject,
        names: Names,
        primary: Region,
        roles: MigrationRoles,
    ) -> None:
        s = self._settings
        region, account = s.regions.primary, s.account
        family = names.task_family("migrate")
        snapshots = f"arn:aws:rds:{region}:{account}:snapshot:{names.db_instance}-pre-*"
        statements = [
            iam.PolicyStatement(
                sid="SnapshotBeforeTheUpgrade",
                actions=["rds:CreateDBSnapshot", "rds:AddTagsToResource",
                         "rds:DescribeDBSnapshots"],
                resources=[names.db_instance_arn, snapshots],
            ),
            iam.PolicyStatement(
                sid="RegisterTheReleasesMigrateRevision",
                # Neither action supports resource-level permissions (ECS reference).
                actions=["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="RunTheMigrationInThePrimaryCluster",
                actions=["ecs:RunTask"],
                resources=[f"arn:aws:ecs:{region}:{account}:task-definition/{family}:*"],
                conditions={"ArnEquals": {
                    "ecs:cluster": f"arn:aws:ecs:{region}:{account}:cluster/{primary.cluster}"
                }},
            ),
            iam.PolicyStatement(
                sid="FollowTheMigrationTask",
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[f"arn:aws:ecs:{region}:{account}:task/{primary.cluster}/*"],
            ),
            iam.PolicyStatement(
                sid="ReuseTheServersNetwork",
                actions=["ecs:DescribeServices"],
                resources=[
                    f"arn:aws:ecs:{region}:{account}:service/{primary.cluster}/{primary.services[0]}"
                ],
            ),
            iam.PolicyStatement(
                sid="PassTheMigrateTaskItsRoles",
                actions=["iam:PassRole"],
                resources=[roles.task_role_arn, roles.execution_role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="RecordTheSchemaRelease",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[
                    _parameter_arn(r, account, names.release_parameter)
                    for r in (region, s.regions.dr)
                ],
            ),
        ]  # fmt: skip
        for statement in statements:
            project.add_to_role_policy(statement)
        policy = project.role.node.find_child("DefaultPolicy")  # type: ignore[union-attr]
        for finding, reason in {
            "Resource::*": "ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition have no "
            "resource-level permissions; RunTask is limited to the migrate family and cluster",
            f"Resource::{snapshots}": "the snapshots this step names (<instance>-pre-<release>-"
            "<time>), created before each upgrade",
            f"Resource::arn:aws:ecs:{region}:{account}:task-definition/{family}:*": "every "
            "revision of the migrate family: each release registers one",
            f"Resource::arn:aws:ecs:{region}:{account}:task/{primary.cluster}/*": "the task "
            "this step started (its id is known only at run time), in the primary cluster",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)


def _codebuild_own(project: codebuild.PipelineProject, stack: cdk.Stack) -> dict[str, str]:
    """CodeBuild's grants on its own default log group and report groups."""
    # CDK names them by the project's Ref, which cdk-nag prints as <LogicalId>.
    name = f"<{stack.get_logical_id(project.node.default_child)}>"  # type: ignore[arg-type]
    base = f"arn:aws:{{}}:{stack.region}:{stack.account}"
    return {
        f"AwsSolutions-IAM5[Resource::{base.format('logs')}:log-group:/aws/codebuild/{name}:*]":
            "the project's default log group streams",
        f"AwsSolutions-IAM5[Resource::{base.format('codebuild')}:report-group/{name}-*]":
            "the project's test report groups",
    }  # fmt: skip


def _parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter{name}"
