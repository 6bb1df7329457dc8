"""The roles AWS Backup assumes, each with only what its job needs.

- ``backup``: the plan's selection backs up (and copies) RDS and S3; no restore rights.
- ``restore_test``: restore testing restores the *database* only. It carries AWS's
  restore policy (kept current by AWS as RDS restore APIs change) inside a permissions
  boundary that admits RDS and what an RDS restore touches, so the policy's rights over
  DynamoDB, EBS, EFS and the like are never usable through it, and it has no S3 rights
  at all (the S3 restore policy grants read/write on every bucket in the account).
- ``break_glass``: a documented role for an operator's manual restore of anything this
  platform backs up (database and attachment bucket); used by no automation.

No trust condition is added for ``backup.amazonaws.com``: AWS Backup documents
``aws:SourceArn``/``aws:SourceAccount`` for resource policies, not as keys it sends when
assuming a role, and a condition it does not send would break every backup silently
(docs/decisions.md, "Least privilege beyond the gates").
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov

BACKUP_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "AWSBackupServiceRolePolicyForS3Backup",
)
RESTORE_TEST_POLICIES = ("service-role/AWSBackupServiceRolePolicyForRestores",)
BREAK_GLASS_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Restore",
)
_REASONS = {
    "service-role/AWSBackupServiceRolePolicyForBackup": (
        "AWS maintains this policy as services gain backup features; it is the documented "
        "way to let AWS Backup snapshot RDS and use the vault keys"
    ),
    "AWSBackupServiceRolePolicyForS3Backup": (
        "S3 backups (including continuous backup) need bucket, inventory and EventBridge "
        "permissions that AWS keeps current in this policy"
    ),
    "service-role/AWSBackupServiceRolePolicyForRestores": (
        "Restoring an RDS instance needs the create, tag and KMS-grant calls AWS keeps "
        "current in this policy; on the restore-test role a permissions boundary limits it "
        "to RDS"
    ),
    "AWSBackupServiceRolePolicyForS3Restore": (
        "Break-glass only: restoring the attachment bucket needs object write and KMS "
        "permissions that AWS keeps current in this policy; no automation uses this role"
    ),
}
# What an RDS restore touches: the RDS APIs, describing the subnets and groups it is
# placed in, and the vault and database keys through RDS or AWS Backup.
_RDS_RESTORE_BOUNDARY = [
    iam.PolicyStatement(
        sid="RdsRestores",
        actions=[
            "rds:Restore*",
            "rds:CreateDBInstance",
            "rds:ModifyDBInstance",
            "rds:DeleteDBInstance",
            "rds:AddTagsToResource",
            "rds:Describe*",
            "rds:List*",
        ],
        resources=["*"],
    ),
    iam.PolicyStatement(
        sid="DescribePlacement",
        actions=["ec2:Describe*", "tag:GetResources", "backup:Describe*", "backup:Get*"],
        resources=["*"],
    ),
]


def backup_role(
    scope: Construct, construct_id: str, description: str, policies: tuple[str, ...]
) -> iam.Role:
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
        description=description,
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(n) for n in policies],
    )
    for name in policies:
        acknowledge(
            role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
            _REASONS[name],
        )
    return role


class BackupRoles(Construct):
    """``backup``, ``restore_test`` and ``break_glass``: see the module docstring."""

    def __init__(self, scope: Construct, construct_id: str, *, break_glass_name: str) -> None:
        super().__init__(scope, construct_id)
        self.backup = backup_role(
            self, "Backup", "AWS Backup: back up and copy RDS and S3 (no restores)", BACKUP_POLICIES
        )
        self.restore_test = backup_role(
            self,
            "RestoreTest",
            "AWS Backup restore testing: restore the database only",
            RESTORE_TEST_POLICIES,
        )
        region = cdk.Stack.of(self).region
        boundary = iam.ManagedPolicy(
            self,
            "RestoreTestBoundary",
            description="Boundary of the restore-test role: RDS restores and their placement",
            statements=[
                *_RDS_RESTORE_BOUNDARY,
                iam.PolicyStatement(
                    sid="KeysThroughRdsAndBackup",
                    actions=[
                        "kms:CreateGrant",
                        "kms:Decrypt",
                        "kms:DescribeKey",
                        "kms:GenerateDataKey*",
                        "kms:ReEncrypt*",
                        "kms:RetireGrant",
                    ],
                    resources=["*"],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": [
                                f"rds.{region}.amazonaws.com",
                                f"backup.{region}.amazonaws.com",
                            ]
                        }
                    },
                ),
            ],
        )
        iam.PermissionsBoundary.of(self.restore_test).apply(boundary)
        skip_checkov(
            boundary,
            "CKV_AWS_111",
            "A permissions boundary grants nothing; it caps the restore-test role at RDS "
            "restores, whose instance names only exist at restore time",
        )
        boundary_reason = (
            "A permissions boundary is a ceiling, not a grant: it admits the RDS restore "
            "APIs and describe calls on resources that only exist at restore time"
        )
        acknowledge(boundary, "AwsSolutions-IAM5[Resource::*]", boundary_reason)
        for action in (
            "rds:Restore*",
            "rds:Describe*",
            "rds:List*",
            "ec2:Describe*",
            "backup:Describe*",
            "backup:Get*",
            "kms:GenerateDataKey*",
            "kms:ReEncrypt*",
        ):
            acknowledge(boundary, f"AwsSolutions-IAM5[Action::{action}]", boundary_reason)
        self.break_glass = iam.Role(
            self,
            "BreakGlass",
            role_name=break_glass_name,
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description=(
                "Break-glass: an operator's manual restore of the database or the attachment "
                "bucket (docs/emergency-recovery.md); no automation uses it"
            ),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(n) for n in BREAK_GLASS_POLICIES
            ],
        )
        for name in BREAK_GLASS_POLICIES:
            acknowledge(
                self.break_glass,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
                _REASONS[name],
            )
