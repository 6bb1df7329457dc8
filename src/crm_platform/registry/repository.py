"""The one ECR repository of Twenty's image (and the images mirrored beside it), replicated
to the DR region.

The seed had two repositories for one image. Here: scan on push (or the registry's
enhanced scanning), immutable tags, the region's KMS key, a lifecycle that keeps the last
release tags and expires untagged images after 7 days, and registry replication to the
DR region (a registry-wide setting: the registry stack owns the registry's replication
rules, see docs/decisions.md). The DR replica gets this repository's rules from a
creation template in the DR stack (replica_template.py), deployed before the registry
stack. Optionally an ECR pull-through cache of Docker Hub, so builds pull with the
configured Docker Hub credentials instead of anonymously (docs/adr/0039).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ecr as ecr
from constructs import Construct

from crm_platform.retention import KEEP

UNTAGGED_DAYS = 7


def lifecycle_rules(keep_release_tags: int) -> list[dict[str, Any]]:
    """ECR lifecycle rules (the JSON form, shared with the DR creation template)."""
    return [
        {
            "rulePriority": 1,
            "description": f"expire untagged images after {UNTAGGED_DAYS} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": UNTAGGED_DAYS,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"keep the last {keep_release_tags} release tags",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["v"],
                "countType": "imageCountMoreThan",
                "countNumber": keep_release_tags,
            },
            "action": {"type": "expire"},
        },
    ]


class ImageRepository(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository_name: str,
        key_arn: str,
        dr_region: str,
        account: str,
        keep_release_tags: int,
        enhanced_scanning: bool,
        docker_hub_credentials_arn: str | None,
        pull_through_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.CfnRepository(
            self,
            "Repository",
            repository_name=repository_name,
            image_tag_mutability="IMMUTABLE",
            # Basic scanning on push; with enhanced scanning the registry setting rules.
            image_scanning_configuration=ecr.CfnRepository.ImageScanningConfigurationProperty(
                scan_on_push=not enhanced_scanning
            ),
            encryption_configuration=ecr.CfnRepository.EncryptionConfigurationProperty(
                encryption_type="KMS", kms_key=key_arn
            ),
            lifecycle_policy=ecr.CfnRepository.LifecyclePolicyProperty(
                lifecycle_policy_text=_json({"rules": lifecycle_rules(keep_release_tags)})
            ),
            empty_on_delete=False,
        )
        self.repository.apply_removal_policy(KEEP)
        ecr.CfnReplicationConfiguration(
            self,
            "Replication",
            replication_configuration=ecr.CfnReplicationConfiguration.ReplicationConfigurationProperty(
                rules=[
                    ecr.CfnReplicationConfiguration.ReplicationRuleProperty(
                        destinations=[
                            ecr.CfnReplicationConfiguration.ReplicationDestinationProperty(
                                region=dr_region, registry_id=account
                            )
                        ],
                        repository_filters=[
                            ecr.CfnReplicationConfiguration.RepositoryFilterProperty(
                                filter=repository_name, filter_type="PREFIX_MATCH"
                            )
                        ],
                    )
                ]
            ),
        )
        if enhanced_scanning:
            ecr.CfnRegistryScanningConfiguration(
                self,
                "EnhancedScanning",
                scan_type="ENHANCED",
                rules=[
                    ecr.CfnRegistryScanningConfiguration.ScanningRuleProperty(
                        scan_frequency="CONTINUOUS_SCAN",
                        repository_filters=[
                            ecr.CfnRegistryScanningConfiguration.RepositoryFilterProperty(
                                filter=repository_name, filter_type="WILDCARD"
                            )
                        ],
                    )
                ],
            )
        self.pull_through: ecr.CfnPullThroughCacheRule | None = None
        if docker_hub_credentials_arn:
            self.pull_through = ecr.CfnPullThroughCacheRule(
                self,
                "DockerHubCache",
                ecr_repository_prefix=pull_through_prefix,
                upstream_registry="docker-hub",
                upstream_registry_url="registry-1.docker.io",
                credential_arn=docker_hub_credentials_arn,
            )


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)
