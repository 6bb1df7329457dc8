"""CodePipeline V2: Source -> Build -> Approve -> Migrate -> Deploy primary -> Deploy DR.

- **Source**: CodeConnections to GitHub (repository and branch from configuration); a
  connection CloudFormation creates starts PENDING and needs its one-time handshake in
  the console (README, "Delivery pipeline").
- **Build** (CodeBuild, privileged for Docker, local caches): ``crm-platform release
  build`` publishes the pinned release idempotently, waits for the scan and refuses
  findings at or above ``pipeline.fail_on_severity``, waits for the DR replica and writes
  the deploy files (release/artifacts.py).
- **Approve**: manual approval, announced on the primary's alert topic; the notice names
  the commit (``#{Source.CommitId}``) and the image digest the build published
  (``#{Build.RELEASE_DIGEST}``), CodePipeline variables resolved for this execution.
- **Migrate** (CodeBuild): runs the operator's deployed copy of this project, never the
  commit's (pipeline/trusted_source.py), on the approved variables: it refuses deploy
  files naming any other image, takes a tagged manual snapshot, runs the release's
  migration as a one-off ECS task, judges it by its exit code and its log, and records
  it; the pipeline stops if any of this fails (release/migration.py).
- **Deploy primary / Deploy DR**: the ECS deploy action per service. The server's ECS
  blue/green (shift, bake, alarm rollback) runs inside that deployment; the worker rolls
  with its circuit breaker. DR task definitions are updated even at zero tasks.

One pipeline role runs every action (``use_pipeline_role_for_actions``), so the grants
live in one reviewed place. Executions are QUEUED: releases reach the database in order.

The trust boundary (docs/decisions.md, "A trust boundary around releases"): the commit's
code runs only in the build step, whose role can push to the one repository and read
the release record, nothing else. ``iam:PassRole`` names the exact roles, each only to
``ecs-tasks.amazonaws.com``: the pipeline role the server's and worker's roles in both
regions (the ECS deploy action registers their revisions), the migrate role the migrate
task's. Only the migrate step writes the release record.
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
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.naming import Names
from crm_platform.pipeline import buildspecs, trusted_source
from crm_platform.registry.publish_project import (
    PublishScope,
    acknowledge_login,
    parameter_arn,
    publish_statements,
)
from crm_platform.retention import KEEP, log_retention
from crm_platform.settings import Settings
from crm_platform.trust import arn_in_stack, confine_role_trust

BUILD_LOG_RETENTION_DAYS = 365
ECS_DEPLOY_ACTION_DOC = (
    "https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECS.html"
)
ECS_TASKS = "ecs-tasks.amazonaws.com"
# CloudFormation names a role without RoleName "<stack>-<logical id>-<random>", cutting
# the first part to leave room for the suffix (what assembly/physical.py models).
_GENERATED_NAME_HEAD = 64 - 13


@dataclass(frozen=True)
class Region:
    """What the deploy actions of one region need."""

    name: str
    cluster: str
    services: tuple[str, str]  # server, worker
    image_files: tuple[str, str]  # server.json, worker.json (or dr-*)


@dataclass(frozen=True)
class MigrationRoles:
    """The roles the migrate task runs with (passed to ECS by the migrate step).

    Today they are also the server's and worker's roles in the primary (one task role and
    one execution role per region); the DR region's are the same construct's in the DR
    application stack (:func:`dr_role_arn`).
    """

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
            # No source keys: CodePipeline's documentation available to us does not say
            # it sends them when it assumes its role (crm_platform/trust.py, UNCONFINED).
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
        deploy_files = {
            file: names.repository_uri(region.name)
            for region in (primary, dr)
            for file in region.image_files
        }
        # The code the migrate step runs: the operator's deployed copy, not the commit.
        trusted = s3_assets.Asset(self, "TrustedSource", path=str(trusted_source.stage(s)))
        migrate = self._project(
            "Migrate",
            names,
            key,
            privileged=False,
            spec=buildspecs.migrate(s.environment, deploy_files),
            timeout_minutes=p.migration_timeout_minutes + 30,  # + the snapshot
            variables={"TRUSTED_SOURCE": trusted.s3_object_url},
        )
        self._grant_build(build, names)
        self._grant_migrate(migrate, names, primary, migration_roles, trusted)

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
        checkout = actions.CodeStarConnectionsSourceAction(
            action_name="GitHub",
            connection_arn=connection_arn,
            owner=owner,
            repo=repo,
            branch=p.branch,
            output=source,
            trigger_on_push=True,
            variables_namespace="Source",
        )
        self.pipeline.add_stage(stage_name="Source", actions=[checkout])
        publish = actions.CodeBuildAction(
            action_name="PublishAndScan",
            project=build,
            input=source,
            outputs=[release],
            variables_namespace="Build",
        )
        self.pipeline.add_stage(stage_name="Build", actions=[publish])
        # Resolved by CodePipeline for each execution ("Example: Use variables in manual
        # approvals", https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-variables.html):
        # the approver sees what this execution built, not a text fixed at synthesis.
        commit = checkout.variables.commit_id
        version, digest = (publish.variable(v) for v in buildspecs.EXPORTED)
        self.pipeline.add_stage(
            stage_name="Approve",
            actions=[
                actions.ManualApprovalAction(
                    action_name="Release",
                    notification_topic=sns.Topic.from_topic_arn(self, "Alerts", alerts_topic_arn),
                    additional_information=(
                        f"Release {version} of Twenty to {names.prefix}: image "
                        f"{names.repository_uri(here)}@{digest}, built from commit {commit} "
                        f"of {p.repository} ({p.branch}). Approving migrates the production "
                        "database with exactly this image (after a snapshot), then deploys "
                        "it to the primary and the DR region."
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
                    # The build's files only: the migrate step never sees the commit.
                    input=release,
                    environment_variables={
                        "RELEASE_VERSION": codebuild.BuildEnvironmentVariable(value=version),
                        "RELEASE_DIGEST": codebuild.BuildEnvironmentVariable(value=digest),
                        "SOURCE_COMMIT": codebuild.BuildEnvironmentVariable(value=commit),
                    },
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
        self.deploy_roles = self._pass_only_the_services_roles(stack, names, migration_roles)
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

    def _pass_only_the_services_roles(
        self, stack: cdk.Stack, names: Names, roles: MigrationRoles
    ) -> list[str]:
        """The ECS deploy action needs ``ecs:RegisterTaskDefinition``, which it is granted on
        ``*`` (the action's documented service-role permissions, ECS_DEPLOY_ACTION_DOC): it
        registers a copy of the service's current revision with the new image. What bounds
        it is ``iam:PassRole``: CDK grants that on ``*`` to ``ec2`` or ``ecs-tasks``
        (``StringEqualsIfExists``), which would let the role pass any role of the account;
        here it names the server's and worker's task and execution roles in both regions,
        to ``ecs-tasks.amazonaws.com`` only. Returns the role ARNs (tokens and patterns)."""
        passed = [
            roles.task_role_arn,
            roles.execution_role_arn,
            dr_role_arn(names, stack.account, roles.task_role_arn),
            dr_role_arn(names, stack.account, roles.execution_role_arn),
        ]
        policy: Any = self.role.node.find_child("DefaultPolicy").node.default_child
        document = stack.resolve(policy.policy_document)
        found = [
            index
            for index, statement in enumerate(document["Statement"])
            if statement.get("Action") == "iam:PassRole"
        ]
        if len(found) != 1:
            raise ValueError(f"expected CDK's one iam:PassRole statement, found {len(found)}")
        prefix = f"PolicyDocument.Statement.{found[0]}"
        policy.add_property_override(f"{prefix}.Resource", passed)
        policy.add_property_deletion_override(f"{prefix}.Condition.StringEqualsIfExists")
        policy.add_property_override(
            f"{prefix}.Condition.StringEquals", {"iam:PassedToService": ECS_TASKS}
        )
        return passed

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
                "the ECS deploy action's documented service-role permissions "
                f"(RegisterTaskDefinition, DescribeServices ... on *: {ECS_DEPLOY_ACTION_DOC}); "
                "PassRole's * is replaced by the server's and worker's roles, to ecs-tasks "
                "only (a property override applied after this check)",
        }  # fmt: skip
        targets = (
            (self.role, {**artifact_actions, **writer, **pipeline_only}),
            (build.role, {**artifact_actions, **writer, **_codebuild_own(build, stack)}),
            (migrate.role, {**artifact_actions, **_codebuild_own(migrate, stack)}),
        )
        skip_checkov(
            self.role.node.find_child("DefaultPolicy"),
            "CKV_AWS_111",
            "The ECS deploy action registers the revision it deploys: RegisterTaskDefinition on "
            "* is its documented permission; PassRole names the services' roles, to ecs-tasks",
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
        variables: dict[str, str] | None = None,
    ) -> codebuild.PipelineProject:
        group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=log_retention(BUILD_LOG_RETENTION_DAYS),
            encryption_key=key,
            removal_policy=KEEP,
        )
        project_name = f"{names.prefix}-{construct_id.lower()}"
        project = codebuild.PipelineProject(
            self,
            construct_id,
            project_name=project_name,
            description=f"{names.prefix} release pipeline: {construct_id.lower()}",
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_8_0,
                compute_type=codebuild.ComputeType.MEDIUM
                if privileged
                else codebuild.ComputeType.SMALL,
                privileged=privileged,
            ),
            environment_variables={
                name: codebuild.BuildEnvironmentVariable(value=value)
                for name, value in (variables or {}).items()
            },
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
        # CodeBuild presents both source keys as the project (its ECR sample); that it does
        # so when assuming the project role is assumed until the first run (ADR 0038).
        assert project.role is not None  # CDK made it: no role was passed in
        confine_role_trust(
            project.role,
            "codebuild.amazonaws.com",
            arn_in_stack(self, "codebuild", f"project/{project_name}"),
        )
        return project

    def _service(self, region: Region, service: str, role: str) -> ecs.IBaseService:
        """The service by ARN (its region is the action's region; no VPC lookup needed)."""
        account = cdk.Stack.of(self).account
        return ecs.BaseService.from_service_arn_with_cluster(
            self,
            f"{region.name}-{role}",
            f"arn:aws:ecs:{region.name}:{account}:service/{region.cluster}/{service}",
        )

    def _grant_build(self, project: codebuild.PipelineProject, names: Names) -> None:
        """The publish build's grants: the same as the deploy's publish project's."""
        s = self._settings
        scope = PublishScope(
            account=s.account,
            primary_region=s.regions.primary,
            dr_region=s.regions.dr,
            cached_repository=(
                f"{names.pull_through_prefix}/{s.twenty.image}"
                if s.pipeline.docker_hub_credentials_arn
                else None
            ),
        )
        for statement in publish_statements(names, scope):
            project.add_to_role_policy(statement)
        acknowledge_login(project.role)  # type: ignore[arg-type]

    def _grant_migrate(
        self,
        project: codebuild.PipelineProject,
        names: Names,
        primary: Region,
        roles: MigrationRoles,
        trusted: s3_assets.Asset,
    ) -> None:
        """The migrate step's role: what the operator's deployed code needs, exactly.

        Every statement is bounded by a resource or condition: RegisterTaskDefinition and
        RunTask only the ``migrate`` family (RunTask only in the primary cluster), PassRole
        only the migrate task's two roles to ECS tasks. Two things IAM cannot bound are
        held by code a commit cannot change (pipeline/trusted_source.py): RunTask's
        ``overrides`` (no condition key covers them) and what a revision contains (the
        code copies the current revision and changes only the image).
        """
        s = self._settings
        region, account = s.regions.primary, s.account
        family = names.task_family("migrate")
        revisions = f"arn:aws:ecs:{region}:{account}:task-definition/{family}:*"
        snapshots = f"arn:aws:rds:{region}:{account}:snapshot:{names.db_instance}-pre-*"
        verdicts = migration_log_group_arn(region, account, family)
        statements = [
            iam.PolicyStatement(
                sid="InstallTheDeployedMigrateStep",
                actions=["s3:GetObject"],
                resources=[f"arn:aws:s3:::{trusted.s3_bucket_name}/{trusted.s3_object_key}"],
            ),
            iam.PolicyStatement(
                sid="SnapshotBeforeTheUpgrade",
                actions=["rds:CreateDBSnapshot", "rds:AddTagsToResource",
                         "rds:DescribeDBSnapshots"],
                resources=[names.db_instance_arn, snapshots],
            ),
            iam.PolicyStatement(
                sid="FindTheApprovedImageInTheRepository",
                actions=["ecr:DescribeImages"],
                resources=[names.repository_arn(region)],
            ),
            iam.PolicyStatement(
                sid="ReadTheMigrateRevision",
                # No resource-level permissions (Service Authorization Reference, ECS).
                actions=["ecs:DescribeTaskDefinition"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="RegisterTheReleasesMigrateRevision",
                # The reference lists task-definition as RegisterTaskDefinition's resource
                # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html):
                # the migrate family only. Assumed, verify on staging (docs/adr/0030).
                actions=["ecs:RegisterTaskDefinition"],
                resources=[revisions],
            ),
            iam.PolicyStatement(
                sid="RunTheMigrationInThePrimaryCluster",
                actions=["ecs:RunTask"],
                resources=[revisions],
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
                sid="ReadTheMigrationsVerdict",
                actions=["logs:FilterLogEvents"],
                resources=[verdicts],
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
                conditions={"StringEquals": {"iam:PassedToService": ECS_TASKS}},
            ),
            # First of all: no migration while DR serves (release/operations.py).
            iam.PolicyStatement(
                sid="ReadTheFailedOverState",
                actions=["ssm:GetParameter"],
                resources=[parameter_arn(s.regions.dr, account, names.failover_parameter)],
            ),
            iam.PolicyStatement(
                sid="RecordTheSchemaRelease",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[
                    parameter_arn(r, account, names.release_parameter)
                    for r in (region, s.regions.dr)
                ],
            ),
        ]  # fmt: skip
        for statement in statements:
            project.add_to_role_policy(statement)
        policy = project.role.node.find_child("DefaultPolicy")  # type: ignore[union-attr]
        for finding, reason in {
            "Resource::*": "ecs:DescribeTaskDefinition has no resource-level permissions; "
            "RegisterTaskDefinition and RunTask are limited to the migrate family",
            f"Resource::{snapshots}": "the snapshots this step names (<instance>-pre-<release>-"
            "<time>), created before each upgrade",
            f"Resource::{revisions}": "every revision of the migrate family: each release "
            "registers one and runs it",
            f"Resource::arn:aws:ecs:{region}:{account}:task/{primary.cluster}/*": "the task "
            "this step started (its id is known only at run time), in the primary cluster",
            f"Resource::{verdicts}": "the streams of the migrate task's one log group (each "
            "task writes its own, named by its id)",
        }.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)


def migration_log_group_arn(region: str, account: str, family: str) -> str:
    """The migrate task's log group (compute/task.py names it ``/ecs/<family>``)."""
    return f"arn:aws:logs:{region}:{account}:log-group:/ecs/{family}:*"


def dr_role_arn(names: Names, account: str, primary_role_arn: str) -> str:
    """The DR application stack's role built by the same construct as ``primary_role_arn``.

    Stacks in different regions never refer to each other by token (naming.py); the DR
    role has no fixed name, but CloudFormation builds it from the stack's name and the
    resource's logical id, which is the primary role's (same construct path), and adds a
    random suffix: the pattern leaves only that suffix open.
    """
    reference = cdk.Tokenization.reverse_string(primary_role_arn).first_token
    target = getattr(reference, "target", None)
    if not isinstance(target, cdk.CfnResource):
        raise ValueError(f"{primary_role_arn} is not a role of this app")
    logical = cdk.Stack.of(target).get_logical_id(target)
    head = f"{names.dr_app_stack}-{logical}"[:_GENERATED_NAME_HEAD]
    return f"arn:aws:iam::{account}:role/{head}-*"


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
