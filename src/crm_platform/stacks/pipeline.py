"""The delivery stack in the primary region, deployed last: CodeBuild, CodePipeline.

It is a stack of its own so that a pipeline change (or a failed connection) never rolls
back the serving tier; it reads the primary stack's key, topic and roles (same region).
The repository it publishes into is the registry stack's (stacks/registry.py, deployed
in every environment, named through naming.py); its DR half (artifact bucket) lives in
the DR stack, which is deployed first.
"""

from __future__ import annotations

from constructs import Construct

from crm_platform.pipeline.artifact_bucket import ArtifactBucket
from crm_platform.pipeline.construct import MigrationRoles, Region, ReleasePipeline
from crm_platform.stacks.base import PlatformStack
from crm_platform.stacks.context import StackContext
from crm_platform.stacks.primary import PrimaryStack


class PipelineStack(PlatformStack):
    def __init__(
        self, scope: Construct, construct_id: str, *, context: StackContext, primary: PrimaryStack
    ) -> None:
        s, names = context.settings, context.names
        region = s.regions.primary
        super().__init__(
            scope,
            construct_id,
            context=context,
            region=region,
            description=f"{names.prefix}: release pipeline in {region}",
            availability_zones=s.network.primary.availability_zones,
        )
        artifacts = ArtifactBucket(
            self,
            "Artifacts",
            bucket_name=names.pipeline_artifacts_bucket(region),
            key=primary.key,
            access_logs=primary.access_logs,
        ).bucket
        app = primary.application
        image_files = ("server.json", "worker.json")
        services = (names.server_service, names.worker_service)
        assert app.migrate_task is not None  # the primary always holds it
        self.release = ReleasePipeline(
            self,
            "Release",
            settings=s,
            names=names,
            key=primary.key,
            alerts_topic_arn=primary.alerts.topic_arn,
            artifacts=artifacts,
            dr_artifacts_bucket=names.pipeline_artifacts_bucket(s.regions.dr),
            dr_key_alias_arn=names.kms_alias_arn(s.regions.dr),
            primary=Region(region, names.ecs_cluster(region), services, image_files),
            dr=Region(
                s.regions.dr,
                names.ecs_cluster(s.regions.dr),
                services,
                tuple(f"dr-{f}" for f in image_files),  # type: ignore[arg-type]
            ),
            migration_roles=MigrationRoles(
                task_role_arn=app.migrate_task.definition.task_role.role_arn,
                execution_role_arn=app.migrate_task.definition.obtain_execution_role().role_arn,
            ),
        )
