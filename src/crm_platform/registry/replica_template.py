"""How ECR creates the DR replica of the repository: same rules as the source.

Registry replication creates the destination repository on first push with *default*
settings (mutable tags, AES-256, no lifecycle) unless a repository creation template
matches it (ECR user guide, "Repository creation templates"). This template, in the DR
region and deployed before anything is pushed, gives the replica immutable tags, the DR
region's key and the same lifecycle. ECR needs a role of ours to use a customer key
from a template ("If you intend to use KMS keys, resource tags ... you need to" create
one), so the template carries one limited to that key.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.registry.repository import lifecycle_rules


class ReplicaTemplate(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository_name: str,
        key: kms.IKey,
        keep_release_tags: int,
    ) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ecr.amazonaws.com"),
            description="ECR: create the DR replica of Twenty's repository with the DR key",
        )
        policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Encrypt replicated repositories with the DR region key, tag them",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="EncryptReplicasWithTheRegionKey",
                    actions=["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"],
                    resources=[key.key_arn],
                ),
                iam.PolicyStatement(
                    sid="TagReplicas",
                    actions=["ecr:TagResource"],
                    resources=[
                        cdk.Stack.of(self).format_arn(
                            service="ecr", resource="repository", resource_name=repository_name
                        )
                    ],
                ),
            ],
        )
        self.template = ecr.CfnRepositoryCreationTemplate(
            self,
            "Template",
            prefix=repository_name,
            applied_for=["REPLICATION"],
            description="The DR replica of Twenty's image repository",
            image_tag_mutability="IMMUTABLE",
            encryption_configuration=ecr.CfnRepositoryCreationTemplate.EncryptionConfigurationProperty(
                encryption_type="KMS", kms_key=key.key_arn
            ),
            lifecycle_policy=json.dumps({"rules": lifecycle_rules(keep_release_tags)}),
            custom_role_arn=role.role_arn,
            resource_tags=[cdk.CfnTag(key="crm-platform:replica-of", value=repository_name)],
        )
        self.template.node.add_dependency(policy)
