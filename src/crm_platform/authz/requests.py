"""An AWS API call, as the IAM requests AWS authorizes for it.

One call is one or more requests: the action on its resource (named the way the Service
Authorization Reference names it), ``iam:PassRole`` for roles handed to another service,
and the KMS calls the service makes for the caller on an encrypted resource
(encryption.py). The drill turns every call it makes into these requests before the
emulator sees it; the permission tests do the same for recorded calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crm_platform.authz.encryption import USES, WRITES, Encrypted
from crm_platform.authz.model import Principal, Request

# boto3 service names whose IAM prefix differs.
PREFIX = {
    "elbv2": "elasticloadbalancing",
    "stepfunctions": "states",
    "application-autoscaling": "application-autoscaling",
}


@dataclass(frozen=True)
class Call:
    """One API call as the code made it."""

    service: str  # boto3's name: rds, elbv2, stepfunctions, ...
    region: str
    operation: str  # PascalCase, as botocore names it: DescribeDBInstances
    params: Mapping[str, Any]

    def describe(self) -> str:
        return f"{self.service}.{self.operation} ({self.region})"


Resolver = Callable[[Call, str], list[str]]  # (call, account) -> resource ARNs


def _arn(service: str, call: Call, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{call.region}:{account}:{resource}"


def _rds_db(call: Call, account: str) -> list[str]:
    if "ResourceName" in call.params:
        return [str(call.params["ResourceName"])]
    identifier = call.params.get("DBInstanceIdentifier")
    return [_arn("rds", call, account, f"db:{identifier}" if identifier else "db:*")]


def _rds_snapshot(call: Call, account: str) -> list[str]:
    found = [_arn("rds", call, account, f"snapshot:{call.params['DBSnapshotIdentifier']}")]
    if "DBInstanceIdentifier" in call.params:
        found.append(_arn("rds", call, account, f"db:{call.params['DBInstanceIdentifier']}"))
    return found


def _alarms(call: Call, account: str) -> list[str]:
    names = call.params.get("AlarmNames") or []
    if not names:
        return [_arn("cloudwatch", call, account, "alarm:*")]
    return [_arn("cloudwatch", call, account, f"alarm:{n}") for n in names]


def _ecs_services(call: Call, account: str) -> list[str]:
    cluster = str(call.params.get("cluster", "default")).rsplit("/", 1)[-1]
    services = call.params.get("services") or [call.params.get("service")]
    return [
        s if str(s).startswith("arn:") else _arn("ecs", call, account, f"service/{cluster}/{s}")
        for s in services
        if s
    ]


def _ecs_task_definition(call: Call, account: str) -> list[str]:
    found = str(call.params.get("taskDefinition", "*"))
    if found.startswith("arn:"):
        return [found]
    family = found if ":" in found else f"{found}:1"  # a family runs its latest revision
    return [_arn("ecs", call, account, f"task-definition/{family}")]


def _ssm_parameter(call: Call, account: str) -> list[str]:
    name = str(call.params["Name"])
    return [_arn("ssm", call, account, f"parameter/{name.lstrip('/')}")]


def _parameter_list(key: str) -> Resolver:
    def resolve(call: Call, _account: str) -> list[str]:
        return [str(call.params[key])]

    return resolve


def _table(call: Call, account: str) -> list[str]:
    return [_arn("dynamodb", call, account, f"table/{call.params['TableName']}")]


def _function(call: Call, account: str) -> list[str]:
    name = str(call.params["FunctionName"])
    return [name if name.startswith("arn:") else _arn("lambda", call, account, f"function:{name}")]


def _repository(call: Call, account: str) -> list[str]:
    return [_arn("ecr", call, account, f"repository/{call.params['repositoryName']}")]


def _log_stream(call: Call, account: str) -> list[str]:
    """A stream of a log group: what CloudWatch Logs authorizes CreateLogStream and
    PutLogEvents against (a group's ``:*`` ARN in a policy covers its streams)."""
    group, stream = call.params["logGroupName"], call.params["logStreamName"]
    return [_arn("logs", call, account, f"log-group:{group}:log-stream:{stream}")]


def _everything(_call: Call, _account: str) -> list[str]:
    return ["*"]


# (boto3 service, operation) -> resources; the IAM action is <prefix>:<operation> unless
# ACTIONS names another.
RESOURCES: dict[tuple[str, str], Resolver] = {
    ("rds", "DescribeDBInstances"): _rds_db,
    ("rds", "PromoteReadReplica"): _rds_db,
    ("rds", "ModifyDBInstance"): _rds_db,
    ("rds", "AddTagsToResource"): _rds_db,
    ("rds", "CreateDBSnapshot"): _rds_snapshot,
    ("rds", "DescribeDBSnapshots"): _rds_snapshot,
    ("cloudwatch", "DescribeAlarms"): _alarms,
    ("cloudwatch", "DisableAlarmActions"): _alarms,
    ("cloudwatch", "EnableAlarmActions"): _alarms,
    ("cloudwatch", "SetAlarmState"): lambda c, a: [
        _arn("cloudwatch", c, a, f"alarm:{c.params['AlarmName']}")
    ],
    ("cloudwatch", "GetMetricStatistics"): _everything,
    ("cloudwatch", "PutMetricData"): _everything,
    ("application-autoscaling", "RegisterScalableTarget"): _everything,
    ("application-autoscaling", "DescribeScalableTargets"): _everything,
    ("ecs", "UpdateService"): _ecs_services,
    ("ecs", "DescribeServices"): _ecs_services,
    ("ecs", "DescribeTaskDefinition"): _everything,
    ("ecs", "RegisterTaskDefinition"): _everything,
    ("ecs", "RunTask"): _ecs_task_definition,
    ("ecs", "ListTasks"): _everything,
    ("ecs", "DescribeTasks"): lambda c, a: [
        _arn("ecs", c, a, f"task/{str(c.params.get('cluster', 'default')).rsplit('/', 1)[-1]}/*")
    ],
    ("elbv2", "DescribeTargetHealth"): _everything,
    ("ssm", "GetParameter"): _ssm_parameter,
    ("ssm", "PutParameter"): _ssm_parameter,
    ("ssm", "GetParameterHistory"): _ssm_parameter,
    ("secretsmanager", "DescribeSecret"): _parameter_list("SecretId"),
    ("secretsmanager", "GetSecretValue"): _parameter_list("SecretId"),
    ("secretsmanager", "PutSecretValue"): _parameter_list("SecretId"),
    ("secretsmanager", "StopReplicationToReplica"): _parameter_list("SecretId"),
    ("secretsmanager", "RotateSecret"): _parameter_list("SecretId"),
    ("sns", "Publish"): _parameter_list("TopicArn"),
    ("dynamodb", "UpdateItem"): _table,
    ("dynamodb", "GetItem"): _table,
    ("dynamodb", "PutItem"): _table,
    ("dynamodb", "Query"): _table,
    ("dynamodb", "DeleteItem"): _table,
    ("stepfunctions", "StartExecution"): _parameter_list("stateMachineArn"),
    ("stepfunctions", "DescribeExecution"): _parameter_list("executionArn"),
    ("stepfunctions", "ListExecutions"): _parameter_list("stateMachineArn"),
    ("stepfunctions", "SendTaskSuccess"): _everything,
    ("stepfunctions", "StopExecution"): _parameter_list("executionArn"),
    ("backup", "ListCopyJobs"): _everything,
    ("backup", "ListBackupJobs"): _everything,
    ("lambda", "Invoke"): _function,
    ("ecr", "GetAuthorizationToken"): _everything,
    ("ecr", "BatchGetImage"): _repository,
    ("ecr", "GetDownloadUrlForLayer"): _repository,
    ("ecr", "BatchCheckLayerAvailability"): _repository,
    ("ecr", "InitiateLayerUpload"): _repository,
    ("ecr", "UploadLayerPart"): _repository,
    ("ecr", "CompleteLayerUpload"): _repository,
    ("ecr", "PutImage"): _repository,
    ("ecr", "DescribeImages"): _repository,
    ("ecr", "DescribeImageScanFindings"): _repository,
    ("sts", "GetCallerIdentity"): _everything,
    ("sts", "AssumeRole"): _parameter_list("RoleArn"),
    ("backup", "PutRestoreValidationResult"): _everything,
    ("s3", "GetBucketTagging"): lambda c, _a: [f"arn:aws:s3:::{c.params['Bucket']}"],
    ("s3", "PutBucketTagging"): lambda c, _a: [f"arn:aws:s3:::{c.params['Bucket']}"],
    ("logs", "CreateLogStream"): _log_stream,
    ("logs", "PutLogEvents"): _log_stream,
    # The Service Authorization Reference names the log-stream resource for GetLogEvents.
    ("logs", "GetLogEvents"): _log_stream,
    ("kms", "GenerateMac"): _parameter_list("KeyId"),
    ("ec2", "DescribeSecurityGroupRules"): _everything,
    ("ec2", "DescribeSecurityGroups"): _everything,
    ("ec2", "RevokeSecurityGroupIngress"): lambda c, a: [
        _arn("ec2", c, a, f"security-group/{c.params['GroupId']}")
    ],
    ("kms", "VerifyMac"): _parameter_list("KeyId"),
    ("rds", "RestoreDBInstanceFromDBSnapshot"): _rds_snapshot,
    ("cloudformation", "ListStackResources"): lambda c, a: [
        _arn("cloudformation", c, a, f"stack/{c.params['StackName']}/*")
    ],
    ("backup", "ListRecoveryPointsByBackupVault"): lambda c, a: [
        _arn("backup", c, a, f"backup-vault:{c.params['BackupVaultName']}")
    ],
    ("backup", "GetRecoveryPointRestoreMetadata"): _parameter_list("RecoveryPointArn"),
    ("backup", "StartRestoreJob"): _parameter_list("RecoveryPointArn"),
    ("backup", "ListRestoreJobs"): _everything,
    ("backup", "DescribeRestoreJob"): _everything,
    # failback (failover/runtime/failback.py)
    ("rds", "CreateDBInstanceReadReplica"): _rds_db,
    ("rds", "StartDBInstance"): _rds_db,
    ("ec2", "CreateSecurityGroup"): _everything,
    ("ec2", "AuthorizeSecurityGroupIngress"): lambda c, a: [
        _arn("ec2", c, a, f"security-group/{c.params['GroupId']}")
    ],
    ("s3", "ListObjectsV2"): lambda c, _a: [f"arn:aws:s3:::{c.params['Bucket']}"],
    ("s3", "HeadObject"): lambda c, _a: [f"arn:aws:s3:::{c.params['Bucket']}/{c.params['Key']}"],
    ("s3", "CopyObject"): lambda c, _a: [f"arn:aws:s3:::{c.params['Bucket']}/{c.params['Key']}"],
    ("s3", "DeleteBucketTagging"): lambda c, _a: [f"arn:aws:s3:::{c.params['Bucket']}"],
    ("secretsmanager", "ReplicateSecretToRegions"): _parameter_list("SecretId"),
    ("secretsmanager", "CancelRotateSecret"): _parameter_list("SecretId"),
}
# Operations whose IAM action has another name (S3's object and listing calls).
ACTIONS = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
}


class Unmapped(Exception):
    """A call the model has no mapping for: add it to RESOURCES (its IAM action and ARN)."""


def requests_for(
    call: Call,
    principal: Principal,
    *,
    account: str,
    keys: Mapping[str, Encrypted],
    secret_arn: Callable[[str, str], str],
    task_roles: Callable[[str, str], list[str]] = lambda _region, _family: [],
    key_arn: Callable[[str, str], str] = lambda key, _region: key,
) -> list[Request]:
    """What AWS authorizes for ``call`` made by ``principal``.

    ``keys`` indexes encrypted resources by ARN (encryption.key_index); ``secret_arn``
    turns a secret's name into its ARN in a region (policies match the random suffix);
    ``task_roles`` names the roles a task definition family (region, family) hands to
    ECS, which ``RunTask`` passes; ``key_arn`` turns a KMS key id or alias (region) into
    the key's ARN, which is what IAM and the key policy authorize.
    """
    resolver = RESOURCES.get((call.service, call.operation))
    if resolver is None:
        raise Unmapped(f"no IAM mapping for {call.describe()}")
    action = ACTIONS.get(
        (call.service, call.operation),
        f"{PREFIX.get(call.service, call.service)}:{call.operation}",
    )
    context: dict[str, str | list[str]] = {}
    if call.service == "ecs" and "cluster" in call.params:
        cluster = str(call.params["cluster"])
        context["ecs:cluster"] = (
            cluster
            if cluster.startswith("arn:")
            else f"arn:aws:ecs:{call.region}:{account}:cluster/{cluster}"
        )
    if call.service == "cloudwatch" and call.operation == "PutMetricData":
        context["cloudwatch:namespace"] = str(call.params["Namespace"])
    resources = resolver(call, account)
    if call.service == "secretsmanager":
        resources = [r if r.startswith("arn:") else secret_arn(r, call.region) for r in resources]
    if call.service == "kms":
        resources = [key_arn(r, call.region) for r in resources]
    why = call.describe()
    found = [Request.of(principal, action, r, context, why) for r in resources]
    found += _passed_roles(call, principal, why, task_roles)
    if call.service == "secretsmanager" and call.operation == "RotateSecret":
        fn = str(call.params["RotationLambdaARN"])
        found.append(Request.of(principal, "lambda:InvokeFunction", fn, None, why))
    for resource in resources:
        encrypted = keys.get(resource)
        if encrypted is not None:
            found += key_requests(principal, action, encrypted, why)
    return found


def key_requests(
    principal: Principal, action: str, encrypted: Encrypted, why: str
) -> list[Request]:
    """The KMS calls ``encrypted``'s service makes as ``principal`` for ``action``."""
    use = USES.get(encrypted.service)
    if use is None or action not in use.data_actions:
        return []
    region = encrypted.key.split(":")[3]
    context: dict[str, str | list[str]] = {
        "kms:ViaService": f"{use.service}.{region}.amazonaws.com",
    }
    if use.service == "secretsmanager":
        context["kms:EncryptionContext:SecretARN"] = encrypted.arn
    if use.service == "s3":  # with an S3 Bucket Key, the context is the bucket's ARN
        context["kms:EncryptionContext:aws:s3:arn"] = encrypted.arn
    kms_actions = use.writes if action in WRITES else use.reads
    return [
        Request.of(
            principal,
            kms,
            encrypted.key,
            context,
            f"{why}: {use.service} uses {encrypted.label}'s key for the caller",
        )
        for kms in kms_actions
    ]


def _passed_roles(
    call: Call,
    principal: Principal,
    why: str,
    task_roles: Callable[[str, str], list[str]],
) -> list[Request]:
    """``iam:PassRole`` for the roles a call hands to ECS: those it names, and for
    ``RunTask`` those of the task definition it runs; and the role ``StartRestoreJob``
    hands to AWS Backup."""
    if call.service == "backup" and call.operation == "StartRestoreJob":
        passed = call.params.get("IamRoleArn")
        context = {"iam:PassedToService": "backup.amazonaws.com"}
        return [Request.of(principal, "iam:PassRole", str(passed), context, why)] if passed else []
    if call.service != "ecs" or call.operation not in ("RegisterTaskDefinition", "RunTask"):
        return []
    roles = [call.params.get("taskRoleArn"), call.params.get("executionRoleArn")]
    overrides = call.params.get("overrides") or {}
    roles += [overrides.get("taskRoleArn"), overrides.get("executionRoleArn")]
    if call.operation == "RunTask":
        definition = str(call.params.get("taskDefinition", ""))
        family = definition.rsplit("/", 1)[-1].split(":", 1)[0]
        roles += task_roles(call.region, family)
    return [
        Request.of(
            principal,
            "iam:PassRole",
            str(r),
            {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
            why,
        )
        for r in dict.fromkeys(roles)
        if r
    ]
