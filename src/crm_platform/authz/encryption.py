"""Which key protects which resource, and the KMS calls a service makes for a caller.

A service that encrypts a resource with a customer managed key calls KMS itself, on behalf
of whoever asked it to: CloudFormation's role when the resource is created, the caller of
each data call later. KMS then decides as if that principal had called, with
``kms:ViaService`` naming the service, so the key policy must allow the principal through
that service. The table below writes those calls down per service, each with its AWS
source (docs/adr/0026-an-authorization-model-of-the-assembly.md):

- DynamoDB: at creation ``CreateGrant`` (for its table grant) and ``DescribeKey``; every
  read or write decrypts the table key as the caller ("The user is the principal in your
  AWS account who is accessing the table",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.usagenotes.html).
- SNS: a publisher "must have the kms:GenerateDataKey and kms:Decrypt permissions"
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html); AWS service
  publishers need them in the key policy for their service principal.
- Secrets Manager: reading needs ``kms:Decrypt``, writing ``kms:Decrypt`` and
  ``kms:GenerateDataKey``; a replica is encrypted with ``kms:GenerateDataKey`` and
  ``kms:Encrypt`` on the replica region's key
  (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html,
  .../apireference/API_ReplicateSecretToRegions.html).
- RDS, ElastiCache, AWS Backup, Lambda and ECR create a grant at creation for the resource
  they encrypt (``kms:GrantIsForAWSResource``) and use it afterwards, so callers need no key
  permission of their own; ECR: "Amazon ECR adds an AWS KMS grant to the KMS key"
  (https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html).
- S3 with SSE-KMS: ``kms:GenerateDataKey`` to write, ``kms:Decrypt`` to read, as the caller.
- CloudWatch Logs: its regional service principal encrypts log groups, with the log
  group's ARN as encryption context
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).

Grants are modelled as the service's creation calls: whether the service may create the
grant is decided from the key policy; what the grant then allows is assumed to be exactly
the service's use of that resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from crm_platform.assembly.reader import StackTemplate
from crm_platform.authz.model import AuthorizationModel


@dataclass(frozen=True)
class ServiceUse:
    """How one service uses a resource's key: at creation, and for a caller's data calls."""

    service: str  # the kms:ViaService prefix (dynamodb -> dynamodb.<region>.amazonaws.com)
    creation: tuple[str, ...]  # KMS actions at creation, as CloudFormation's role
    grant: bool  # the creation includes a grant for the resource (GrantIsForAWSResource)
    reads: tuple[str, ...] = ()  # KMS actions a caller's read needs through the service
    writes: tuple[str, ...] = ()  # ... a caller's write
    data_actions: tuple[str, ...] = ()  # the service's actions that read or write the data


USES: dict[str, ServiceUse] = {
    "dynamodb": ServiceUse(
        "dynamodb",
        ("kms:CreateGrant", "kms:DescribeKey"),
        True,
        reads=("kms:Decrypt",),
        writes=("kms:Decrypt",),
        data_actions=(
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
        ),
    ),
    "sns": ServiceUse(
        "sns",
        (),
        False,
        writes=("kms:GenerateDataKey", "kms:Decrypt"),
        data_actions=("sns:Publish",),
    ),
    "secretsmanager": ServiceUse(
        "secretsmanager",
        ("kms:GenerateDataKey", "kms:Decrypt"),
        False,
        reads=("kms:Decrypt",),
        writes=("kms:GenerateDataKey", "kms:Decrypt"),
        data_actions=("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"),
    ),
    "s3": ServiceUse(
        "s3",
        (),
        False,
        reads=("kms:Decrypt",),
        writes=("kms:GenerateDataKey",),
        data_actions=("s3:GetObject", "s3:PutObject"),
    ),
    "rds": ServiceUse("rds", ("kms:CreateGrant", "kms:DescribeKey"), True),
    "elasticache": ServiceUse("elasticache", ("kms:CreateGrant", "kms:DescribeKey"), True),
    "backup": ServiceUse("backup", ("kms:CreateGrant", "kms:DescribeKey"), True),
    "lambda": ServiceUse("lambda", ("kms:CreateGrant",), True),
    "ecr": ServiceUse("ecr", ("kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"), True),
}

# Writes among a service's data actions (the rest read).
WRITES = frozenset(
    {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "sns:Publish",
        "secretsmanager:PutSecretValue",
        "s3:PutObject",
    }
)


@dataclass(frozen=True)
class Encrypted:
    """A resource encrypted with a customer managed key."""

    arn: str  # the resource (for a log group: its ARN without the trailing ":*")
    service: str  # a key of USES, or "logs"
    key: str  # the key's ARN
    stack: str
    label: str  # stack/construct path, or a description for resources AWS creates


def _dig(props: dict[str, Any], path: str) -> Any:
    value: Any = props
    for part in path.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# Where each type names its key (a dotted path into Properties) and the service using it.
KEY_PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    "AWS::DynamoDB::Table": (("SSESpecification.KMSMasterKeyId", "dynamodb"),),
    "AWS::SNS::Topic": (("KmsMasterKeyId", "sns"),),
    "AWS::SecretsManager::Secret": (("KmsKeyId", "secretsmanager"),),
    "AWS::S3::Bucket": (
        (
            "BucketEncryption.ServerSideEncryptionConfiguration.ServerSideEncryptionByDefault"
            ".KMSMasterKeyID",
            "s3",
        ),
    ),
    "AWS::RDS::DBInstance": (("KmsKeyId", "rds"), ("PerformanceInsightsKMSKeyId", "rds")),
    "AWS::ElastiCache::ReplicationGroup": (("KmsKeyId", "elasticache"),),
    "AWS::Backup::BackupVault": (("EncryptionKeyArn", "backup"),),
    "AWS::Lambda::Function": (("KmsKeyArn", "lambda"),),
    "AWS::ECR::Repository": (("EncryptionConfiguration.KmsKey", "ecr"),),
    "AWS::Logs::LogGroup": (("KmsKeyId", "logs"),),
}


def encrypted_resources(model: AuthorizationModel) -> Iterator[Encrypted]:
    """Every resource of the assembly encrypted with a customer managed key, and the
    secret replicas Secrets Manager creates in other regions."""
    for stack in model.stacks.values():
        for logical, resource in stack.resources.items():
            for path, service in KEY_PROPERTIES.get(resource["Type"], ()):
                props = resource.get("Properties", {})
                raw = _dig(props, path)
                if raw is None:
                    continue
                key = model.key_arn(str(model.physical.resolve(raw, stack)), stack.region)
                arn = _resource_arn(model, logical, stack)
                yield Encrypted(
                    arn, service, key, stack.name, stack.path(logical).removesuffix("/Resource")
                )
            if resource["Type"] == "AWS::SecretsManager::Secret":
                yield from _replicas(model, logical, stack)


def _resource_arn(model: AuthorizationModel, logical: str, stack: StackTemplate) -> str:
    arn = model.physical.arn(logical, stack)
    return arn.removesuffix(":*")


def _replicas(model: AuthorizationModel, logical: str, stack: StackTemplate) -> Iterator[Encrypted]:
    props = stack.resources[logical].get("Properties", {})
    primary = model.physical.arn(logical, stack)
    for replica in props.get("ReplicaRegions", []):
        region = str(model.physical.resolve(replica["Region"], stack))
        raw = replica.get("KmsKeyId")
        if raw is None:
            continue
        key = model.key_arn(str(model.physical.resolve(raw, stack)), region)
        arn = primary.replace(f":{stack.region}:", f":{region}:", 1)
        label = f"{stack.path(logical).removesuffix('/Resource')} (replica in {region})"
        yield Encrypted(arn, "secretsmanager", key, stack.name, label)


def key_index(model: AuthorizationModel) -> dict[str, Encrypted]:
    """Encrypted resources by ARN (one key per resource: the data's, not Performance Insights')."""
    index: dict[str, Encrypted] = {}
    for found in encrypted_resources(model):
        index.setdefault(found.arn, found)
    return index
