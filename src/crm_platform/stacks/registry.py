"""The registry stack in the primary region: Twenty's repository and its publish build.

In every environment, after the DR foundation (whose creation template gives the DR
replica its rules before the first push) and before the primary stack (whose task
definitions and bootstrap task run the image from this repository): ``crm-platform
deploy`` deploys these two, publishes the release through :class:`PublishProject`, then
deploys the rest (docs/adr/0039). It holds its own small key, because the primary
region's key lives in the primary stack, which deploys after it; an account whose
repository the pipeline stack created keeps that repository's key
(``pipeline.imported_repository_key_arn``: a repository's encryption cannot change).
Nothing here is referenced by token from another stack: the others name the repository
through ``naming.py``.
"""

from __future__ import annotations

from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from crm_platform.pipeline import buildspecs, trusted_source
from crm_platform.registry.publish_project import PublishProject, PublishScope
from crm_platform.registry.repository import ImageRepository
from crm_platform.security.key import RegionKey
from crm_platform.stacks.base import PlatformStack
from crm_platform.stacks.context import StackContext

# ECR encrypts the repository (and its pull-through cache), S3 the build's cache/output.
REGISTRY_KEY_SERVICES = ("ecr", "s3")


class RegistryStack(PlatformStack):
    def __init__(self, scope: Construct, construct_id: str, *, context: StackContext) -> None:
        s, names = context.settings, context.names
        region = s.regions.primary
        super().__init__(
            scope,
            construct_id,
            context=context,
            region=region,
            description=f"{names.prefix}: Twenty's image registry and publish build in {region}",
            availability_zones=s.network.primary.availability_zones,
        )
        p = s.pipeline
        self.key = RegionKey(
            self,
            "Key",
            alias=names.registry_key_alias,
            services=REGISTRY_KEY_SERVICES,
            encrypted_topics=False,
        ).key
        self.repository = ImageRepository(
            self,
            "Images",
            repository_name=names.repository,
            key_arn=p.imported_repository_key_arn or self.key.key_arn,
            dr_region=s.regions.dr,
            account=s.account,
            keep_release_tags=p.keep_release_tags,
            enhanced_scanning=p.enhanced_scanning,
            docker_hub_credentials_arn=p.docker_hub_credentials_arn,
            pull_through_prefix=names.pull_through_prefix,
        )
        # The operator's deployed copy of this project (settings included): what the
        # publish build installs and runs, never a commit.
        source = s3_assets.Asset(self, "PublishSource", path=str(trusted_source.stage(s)))
        self.publish = PublishProject(
            self,
            "Publish",
            names=names,
            key=self.key,
            source=source,
            spec=buildspecs.build(s.environment),
            grants=PublishScope(
                account=s.account,
                primary_region=region,
                dr_region=s.regions.dr,
                cached_repository=(
                    f"{names.pull_through_prefix}/{s.twenty.image}"
                    if p.docker_hub_credentials_arn
                    else None
                ),
            ),
        )
        self.publish.node.add_dependency(self.repository)
