"""The names and ARNs CloudFormation would give each resource of an assembly, offline.

Where a template names a resource (a table, a bucket, a secret, a role with
``RoleName``), that name is used. Where CloudFormation generates one (most roles, keys,
functions without a name), a deterministic stand-in of the same shape is made from the
stack and logical id, so a policy statement that refers to the resource by ``Ref`` or
``Fn::GetAtt`` and a request the model builds for it name the same ARN.

Two generated shapes matter to IAM and are kept faithful: a secret's ARN ends in a dash
and six random characters (policies match it with ``-??????``), and a key's ARN holds a
key id, never its alias (requests against an alias are resolved to the key first).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from crm_platform.assembly.intrinsics import Intrinsics, Unresolved
from crm_platform.assembly.reader import StackTemplate


def _token(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _generated(stack: StackTemplate, logical: str, limit: int = 64) -> str:
    """CloudFormation's ``<stack>-<logical>-<random>`` name, truncated as AWS does."""
    suffix = _token(stack.name, logical, length=12).upper()
    head = f"{stack.name}-{logical}"[: limit - 13]
    return f"{head}-{suffix}"


class PhysicalResources(Intrinsics):
    """``Ref`` and ``Fn::GetAtt`` answered with the physical ids a deploy would produce."""

    def __init__(self, stacks: Mapping[str, StackTemplate]) -> None:
        super().__init__(stacks)

    def _props(self, logical: str, stack: StackTemplate) -> dict[str, Any]:
        props: dict[str, Any] = stack.resources[logical].get("Properties", {})
        return props

    def _named(self, logical: str, stack: StackTemplate, key: str, limit: int = 64) -> str:
        props = self._props(logical, stack)
        if key in props:
            return str(self.resolve(props[key], stack))
        return _generated(stack, logical, limit)

    def arn(self, logical: str, stack: StackTemplate) -> str:
        """The resource's ARN (``Fn::GetAtt ... Arn`` and its type-specific spellings)."""
        kind = stack.resources[logical]["Type"]
        region, account = stack.region, stack.account
        name = self.ref(logical, stack)
        arns = {
            "AWS::IAM::Role": lambda: (
                f"arn:aws:iam::{account}:role{self._props(logical, stack).get('Path', '/')}{name}"
            ),
            "AWS::KMS::Key": lambda: f"arn:aws:kms:{region}:{account}:key/{name}",
            "AWS::SNS::Topic": lambda: name,
            "AWS::SQS::Queue": lambda: f"arn:aws:sqs:{region}:{account}:{name.rsplit('/', 1)[-1]}",
            "AWS::DynamoDB::Table": lambda: f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            "AWS::S3::Bucket": lambda: f"arn:aws:s3:::{name}",
            "AWS::SecretsManager::Secret": lambda: name,
            "AWS::Logs::LogGroup": lambda: f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            "AWS::Lambda::Function": lambda: f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::StepFunctions::StateMachine": lambda: name,
            "AWS::ECS::Cluster": lambda: f"arn:aws:ecs:{region}:{account}:cluster/{name}",
            "AWS::ECS::Service": lambda: name,
            "AWS::ECS::TaskDefinition": lambda: name,
            "AWS::ECR::Repository": lambda: f"arn:aws:ecr:{region}:{account}:repository/{name}",
            "AWS::CodeBuild::Project": lambda: (
                f"arn:aws:codebuild:{region}:{account}:project/{name}"
            ),
            "AWS::CodePipeline::Pipeline": lambda: (
                f"arn:aws:codepipeline:{region}:{account}:{name}"
            ),
            "AWS::CloudWatch::Alarm": lambda: f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
            "AWS::CloudWatch::CompositeAlarm": lambda: (
                f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
            ),
            "AWS::Events::Rule": lambda: f"arn:aws:events:{region}:{account}:rule/{name}",
            "AWS::IAM::ManagedPolicy": lambda: name,
            "AWS::Backup::BackupVault": lambda: (
                f"arn:aws:backup:{region}:{account}:backup-vault:{name}"
            ),
            "AWS::RDS::DBInstance": lambda: f"arn:aws:rds:{region}:{account}:db:{name}",
            "AWS::SSM::Parameter": lambda: (
                f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
            ),
            "AWS::CodeConnections::Connection": lambda: (
                f"arn:aws:codeconnections:{region}:{account}:connection/"
                f"{_token(stack.name, logical, length=8)}-0000-4000-8000-"
                f"{_token(logical, length=12)}"
            ),
            "AWS::WAFv2::WebACL": lambda: (
                f"arn:aws:wafv2:{region}:{account}:global/webacl/{name}/{_token(logical)}"
            ),
        }
        make = arns.get(kind)
        if make is None:
            return f"arn:aws:{kind.split('::')[1].lower()}:{region}:{account}:{logical}/{name}"
        return make()

    def ref(self, logical: str, stack: StackTemplate) -> str:
        kind = stack.resources[logical]["Type"]
        region, account = stack.region, stack.account
        named = {
            "AWS::IAM::Role": "RoleName",
            "AWS::IAM::Policy": "PolicyName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::ECS::Cluster": "ClusterName",
            "AWS::ECR::Repository": "RepositoryName",
            "AWS::CodeBuild::Project": "Name",
            "AWS::CodePipeline::Pipeline": "Name",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::CloudWatch::CompositeAlarm": "AlarmName",
            "AWS::SSM::Parameter": "Name",
            "AWS::Backup::BackupVault": "BackupVaultName",
            "AWS::RDS::DBInstance": "DBInstanceIdentifier",
            "AWS::KMS::Alias": "AliasName",
            "AWS::Events::Rule": "Name",
            "AWS::WAFv2::WebACL": "Name",
        }
        if kind == "AWS::KMS::Key":
            raw = _token(stack.name, logical, length=32)
            return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{region}:{account}:{self._named(logical, stack, 'TopicName', 256)}"
        if kind == "AWS::SecretsManager::Secret":
            name = self._named(logical, stack, "Name", 512)
            return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{secret_suffix(name)}"
        if kind == "AWS::IAM::ManagedPolicy":
            name = self._named(logical, stack, "ManagedPolicyName", 128)
            return (
                f"arn:aws:iam::{account}:policy{self._props(logical, stack).get('Path', '/')}{name}"
            )
        if kind == "AWS::StepFunctions::StateMachine":
            name = self._named(logical, stack, "StateMachineName", 80)
            return f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        if kind == "AWS::ECS::Service":
            props = self._props(logical, stack)
            cluster = self.value(props.get("Cluster"), stack, "default")
            name = self._named(logical, stack, "ServiceName")
            return f"arn:aws:ecs:{region}:{account}:service/{cluster}/{name}"
        if kind == "AWS::ECS::TaskDefinition":
            family = self._named(logical, stack, "Family", 255)
            return f"arn:aws:ecs:{region}:{account}:task-definition/{family}:1"
        if kind in named:
            return self._named(logical, stack, named[kind])
        return _generated(stack, logical)

    def get_att(self, logical: str, attribute: str, stack: StackTemplate) -> str:
        if logical not in stack.resources:
            raise Unresolved(f"{stack.name}/{logical}.{attribute}")
        kind = stack.resources[logical]["Type"]
        if attribute in ("Arn", "ConnectionArn", "BackupVaultArn", "TopicArn", "MonitorArn"):
            return self.arn(logical, stack)
        if kind == "AWS::ECS::Service" and attribute == "Name":
            return self._named(logical, stack, "ServiceName")
        if kind == "AWS::Backup::BackupVault" and attribute == "BackupVaultName":
            return self.ref(logical, stack)
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return self.ref(logical, stack).rsplit(":", 1)[-1]
        if kind == "AWS::RDS::DBInstance" and attribute == "Endpoint.Address":
            host = f"{_token(stack.account)}.{stack.region}.rds.amazonaws.com"
            return f"{self.ref(logical, stack)}.{host}"
        if kind == "AWS::RDS::DBInstance" and attribute == "DBInstanceArn":
            return self.arn(logical, stack)
        if kind == "AWS::KMS::Key" and attribute == "KeyId":
            return self.ref(logical, stack)
        if kind == "AWS::IAM::Role" and attribute == "RoleId":
            return f"AROA{_token(stack.name, logical, length=17).upper()}"
        return f"{self.ref(logical, stack)}.{attribute}"


def secret_suffix(name: str) -> str:
    """Secrets Manager's six random characters, made deterministic."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    digest = hashlib.sha256(name.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:6])
