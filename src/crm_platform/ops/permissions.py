"""What the operator's commands need: the incident commands as the operator role, and
the calls ``crm-platform deploy`` makes itself (:func:`deploy_needs`).

``crm-platform failover`` (its readiness, the start, following the timeline),
``crm-platform switch`` and ``crm-platform dr status`` run from the DR region during an
outage of the primary; ``crm-platform restore`` (ops/restore.py) runs in either region.
They are evaluated as the operator role (``Names.operator_role``):
an operator should not need account-wide administrator rights to recover the platform.
"""

from __future__ import annotations

from crm_platform.failover.sql_task import sql_task_needs
from crm_platform.naming import Names
from crm_platform.needs import Need, Who


def needs(names: Names) -> list[Need]:
    who = Who(role_name=names.operator_role)
    dr = names.dr_region
    machine = f"arn:aws:states:{dr}:{names.account}:stateMachine:{names.failover_state_machine}"
    execution = machine.replace(":stateMachine:", ":execution:") + ":failover-1"
    readiness = [
        Need.call(
            who,
            "read the DR database",
            "rds",
            dr,
            "DescribeDBInstances",
            DBInstanceIdentifier=names.db_replica,
        ),
        Need.call(who, "read the replica's lag", "cloudwatch", dr, "GetMetricStatistics"),
        Need.call(
            who,
            "read the impaired signal",
            "cloudwatch",
            dr,
            "DescribeAlarms",
            AlarmNames=[names.impaired_alarm],
        ),
        Need.call(who, "read the switch", "ssm", dr, "GetParameter", Name=names.switch_parameter),
        Need.call(
            who,
            "read the failed-over state",
            "ssm",
            dr,
            "GetParameter",
            Name=names.failover_parameter,
        ),
        Need.call(who, "read the copies in the DR vault", "backup", dr, "ListCopyJobs"),
        Need.call(
            who, "read the backups of what serves, failed over", "backup", dr, "ListBackupJobs"
        ),
        Need.call(
            who,
            "read the DR services",
            "ecs",
            dr,
            "DescribeServices",
            cluster=names.ecs_cluster(dr),
            services=[names.server_service, names.worker_service],
        ),
    ]
    failover = [
        Need.call(
            who,
            "start the failover",
            "stepfunctions",
            dr,
            "StartExecution",
            stateMachineArn=machine,
        ),
        Need.call(
            who,
            "follow the failover",
            "stepfunctions",
            dr,
            "DescribeExecution",
            executionArn=execution,
        ),
        Need.call(
            who,
            "read the failover's timeline",
            "dynamodb",
            dr,
            "Query",
            TableName=names.failover_runs_table,
        ),
    ]
    key = names.switch_key_alias_arn(dr)
    switch = [
        Need.call(
            who,
            "read the switch's versions",
            "ssm",
            dr,
            "GetParameterHistory",
            Name=names.switch_parameter,
        ),
        Need.call(who, "verify the switch", "kms", dr, "VerifyMac", KeyId=key),
        Need.call(who, "sign the switch", "kms", dr, "GenerateMac", KeyId=key),
        Need.call(who, "flip the switch", "ssm", dr, "PutParameter", Name=names.switch_parameter),
        Need.call(
            who,
            "wake the switch's beacon",
            "lambda",
            dr,
            "Invoke",
            FunctionName=names.switch_beacon_function,
        ),
    ]
    fence = [
        Need.call(
            who,
            "fence the old primary now (one round of the fence keeper)",
            "lambda",
            dr,
            "Invoke",
            FunctionName=names.fence_keeper_function,
        ),
    ]
    # Failback reads and changes the database through the SQL task, in either region.
    sql = [
        need
        for region in (dr, names.primary_region)
        for purpose in ("writable", "last-beat")
        for need in sql_task_needs(names, who, region, purpose)
    ]
    return readiness + failover + switch + fence + sql + restore_needs(names) + drill_needs(names)


def restore_needs(names: Names) -> list[Need]:
    """``crm-platform restore`` in each region: every call of ops/restore.py, with the
    ``iam:PassRole`` AWS Backup's ``StartRestoreJob`` needs for the restore role it
    passes, and the key RDS uses for the caller when it restores an encrypted manual
    snapshot (docs/adr/0043-restore-from-backup.md)."""
    who = Who(role_name=names.operator_role)
    restored = f"{names.db_instance}-restore-0123456789"
    restore_role = f"arn:aws:iam::{names.account}:role/{names.restore_break_glass_role}"
    found: list[Need] = []
    for region in (names.primary_region, names.dr_region):
        vault = names.backup_vault(region)
        point = f"arn:aws:backup:{region}:{names.account}:recovery-point:continuous:db-1"
        reference = names.db_instance if region == names.primary_region else names.db_replica
        stacks = (
            [names.primary_stack]
            if region == names.primary_region
            else [names.dr_stack, names.dr_database_stack]
        )
        found += [
            Need.call(who, "restore: read the database's placement", "rds", region,
                      "DescribeDBInstances", DBInstanceIdentifier=reference),
            *(Need.call(who, "restore: placement from the stacks (no instance left)",
                        "cloudformation", region, "ListStackResources", StackName=s)
              for s in stacks),
            Need.call(who, "restore: list the vault's recovery points", "backup", region,
                      "ListRecoveryPointsByBackupVault", BackupVaultName=vault),
            Need.call(who, "restore: read the point's restore metadata", "backup", region,
                      "GetRecoveryPointRestoreMetadata", BackupVaultName=vault,
                      RecoveryPointArn=point),
            Need.call(who, "restore: find the job a crashed run started", "backup", region,
                      "ListRestoreJobs"),
            Need.call(who, "restore: start the restore job, passing the restore role",
                      "backup", region, "StartRestoreJob", RecoveryPointArn=point,
                      IamRoleArn=restore_role),
            Need.call(who, "restore: follow the job", "backup", region, "DescribeRestoreJob",
                      RestoreJobId="job-1"),
            Need.call(who, "restore: follow the restored instance", "rds", region,
                      "DescribeDBInstances", DBInstanceIdentifier=restored),
            Need.call(who, "restore: tag the restored instance with the request", "rds",
                      region, "AddTagsToResource",
                      ResourceName=f"arn:aws:rds:{region}:{names.account}:db:{restored}"),
            Need.call(Who(service="backup.amazonaws.com"),
                      "restore: AWS Backup assumes the restore role", "sts", region,
                      "AssumeRole", RoleArn=restore_role),
        ]  # fmt: skip
    found += into_service_needs(names)
    primary = names.primary_region
    snapshot = f"{names.db_instance}-pre-1-2-0-20261207T0300Z"
    found += [
        Need.call(who, "restore: read the pre-migration snapshot", "rds", primary,
                  "DescribeDBSnapshots", DBSnapshotIdentifier=snapshot),
        Need.call(who, "restore: restore the snapshot into a new instance", "rds", primary,
                  "RestoreDBInstanceFromDBSnapshot", DBInstanceIdentifier=restored,
                  DBSnapshotIdentifier=snapshot),
        # RDS creates the restored instance's grant for the caller, an AWS resource's
        # grant (kms:GrantIsForAWSResource), which is all the key policy delegates.
        Need.iam(who, "restore: RDS creates a grant on the snapshot's key for the caller",
                 "kms:CreateGrant", names.kms_alias_arn(primary),
                 **{"kms:ViaService": f"rds.{primary}.amazonaws.com",
                    "kms:GrantIsForAWSResource": "true"}),
        Need.iam(who, "restore: RDS reads the snapshot's key for the caller",
                 "kms:DescribeKey", names.kms_alias_arn(primary),
                 **{"kms:ViaService": f"rds.{primary}.amazonaws.com"}),
    ]  # fmt: skip
    return found


def into_service_needs(names: Names) -> list[Need]:
    """``crm-platform restore --execute`` after the restore (ops/restore_service.py): the
    renames, the fence of the replaced instance, the restored one's protection; in the
    primary the services stopped and started again and the tier's checks; in DR the
    failover's state machine (its start and following are the incident commands')."""
    who = Who(role_name=names.operator_role)
    request = "0123456789"
    found: list[Need] = []
    for region in (names.primary_region, names.dr_region):
        serving = names.db_instance if region == names.primary_region else names.db_replica
        restored = f"{names.db_instance}-restore-{request}"
        aside = f"{serving}-replaced-{request}"
        found += [
            Need.call(who, "restore: protect the restored instance", "rds", region,
                      "ModifyDBInstance", DBInstanceIdentifier=restored, DeletionProtection=True),
            Need.call(who, "restore: rename the replaced instance aside", "rds", region,
                      "ModifyDBInstance", DBInstanceIdentifier=serving,
                      NewDBInstanceIdentifier=aside),
            Need.call(who, "restore: read the replaced instance", "rds", region,
                      "DescribeDBInstances", DBInstanceIdentifier=aside),
            Need.call(who, "restore: find the VPC's default security group", "ec2", region,
                      "DescribeSecurityGroups"),
            Need.call(who, "restore: fence the replaced instance", "rds", region,
                      "ModifyDBInstance", DBInstanceIdentifier=aside,
                      VpcSecurityGroupIds=["sg-default"]),
            Need.call(who, "restore: the restored instance takes the serving name", "rds",
                      region, "ModifyDBInstance", DBInstanceIdentifier=restored,
                      NewDBInstanceIdentifier=serving),
            Need.call(who, "restore: read the serving instance", "rds", region,
                      "DescribeDBInstances", DBInstanceIdentifier=serving),
        ]  # fmt: skip
    primary = names.primary_region
    cluster = names.ecs_cluster(primary)
    services = [names.server_service, names.worker_service]
    found += [
        Need.call(who, "restore: read the primary's services", "ecs", primary,
                  "DescribeServices", cluster=cluster, services=services),
        *(Need.call(who, "restore: stop and start a primary service", "ecs", primary,
                    "UpdateService", cluster=cluster, service=s, desiredCount=0)
          for s in services),
        Need.call(who, "restore: the primary's scaling bounds", "application-autoscaling",
                  primary, "RegisterScalableTarget", ServiceNamespace="ecs",
                  ResourceId=f"service/{cluster}/{names.server_service}"),
        Need.call(who, "restore: the tier names the serving endpoint", "ecs", primary,
                  "DescribeTaskDefinition", taskDefinition=names.task_family("server")),
        Need.call(who, "restore: healthy targets", "elbv2", primary, "DescribeTargetHealth",
                  TargetGroupArn=f"arn:aws:elasticloadbalancing:{primary}:{names.account}:"
                                 "targetgroup/server/1"),
        *_reset_logins_needs(names, who, primary),
        *_reset_logins_needs(names, who, names.dr_region),
        *_dr_stop_writes_needs(names, who),
    ]  # fmt: skip
    return found


def _dr_stop_writes_needs(names: Names, who: Who) -> list[Need]:
    """stop_writes in a restore from DR's vault: DR's services read, and a warm standby's
    server held at zero (bounds first) before the replica's name moves."""
    dr = names.dr_region
    cluster = names.ecs_cluster(dr)
    services = [names.server_service, names.worker_service]
    return [
        Need.call(who, "restore: read DR's services", "ecs", dr, "DescribeServices",
                  cluster=cluster, services=services),
        Need.call(who, "restore: stop DR's warm-standby server", "ecs", dr, "UpdateService",
                  cluster=cluster, service=names.server_service, desiredCount=0),
        Need.call(who, "restore: DR's scaling bounds to zero", "application-autoscaling", dr,
                  "RegisterScalableTarget", ServiceNamespace="ecs",
                  ResourceId=f"service/{cluster}/{names.server_service}"),
    ]  # fmt: skip


def _reset_logins_needs(names: Names, who: Who, region: str) -> list[Need]:
    """reset_logins in the region the restore serves from (the primary, or DR after a
    restore from DR's vault): the master's password from its secret (DR: its replica,
    under DR's key) onto the serving instance, then the region's bootstrap task once (an
    environment override), found again by ``startedBy``, in the server's network, handed
    its region's two named roles."""
    serving = names.db_instance if region == names.primary_region else names.db_replica
    cluster = names.ecs_cluster(region)
    task = f"arn:aws:ecs:{region}:{names.account}:task/{cluster}/0123456789abcdef"
    reset = {
        "containerOverrides": [
            {"name": "bootstrap", "environment": [{"name": "BOOTSTRAP_SQL", "value": "…"}]}
        ]
    }
    return [
        Need.call(who, "restore: read the master's secret", "secretsmanager", region,
                  "GetSecretValue", SecretId=names.db_secret),
        Need.call(who, "restore: the master's password from its secret", "rds", region,
                  "ModifyDBInstance", DBInstanceIdentifier=serving,
                  MasterUserPassword="from-the-secret", ApplyImmediately=True),
        Need.call(who, "restore: the bootstrap task borrows the server's network", "ecs",
                  region, "DescribeServices", cluster=cluster, services=[names.server_service]),
        Need.call(who, "restore: run the bootstrap task (the app user's password too)", "ecs",
                  region, "RunTask", cluster=cluster,
                  taskDefinition=names.task_family("bootstrap"), overrides=reset),
        Need.call(who, "restore: find the bootstrap task by startedBy", "ecs", region,
                  "ListTasks", cluster=cluster, startedBy="restore-logins-0123"),
        Need.call(who, "restore: follow the bootstrap task", "ecs", region, "DescribeTasks",
                  cluster=cluster, tasks=[task]),
    ]  # fmt: skip


def drill_needs(names: Names) -> list[Need]:
    """``crm-platform drill --env NAME --stop`` (ops/live_drill.py): stop the live drill's
    failover execution (reading it is the incident commands')."""
    who = Who(role_name=names.operator_role)
    machine = f"arn:aws:states:{names.dr_region}:{names.account}:stateMachine:"
    execution = f"{machine}{names.failover_state_machine}".replace(":stateMachine:", ":execution:")
    return [
        Need.call(who, "drill --stop: stop the drill's failover execution", "stepfunctions",
                  names.dr_region, "StopExecution", executionArn=f"{execution}:drill-1"),
    ]  # fmt: skip


def restore_forbidden(names: Names) -> list[Need]:
    """What the operator role must NOT be able to do through a restore: overwrite or
    create the platform's own instances, or hand AWS Backup any other role."""
    who = Who(role_name=names.operator_role)
    primary = names.primary_region
    snapshot = f"{names.db_instance}-pre-1-2-0-20261207T0300Z"
    other_role = f"arn:aws:iam::{names.account}:role/{names.failover_step_role}"
    point = f"arn:aws:backup:{primary}:{names.account}:recovery-point:continuous:db-1"
    return [
        Need.call(who, "restore over the platform's instance", "rds", primary,
                  "RestoreDBInstanceFromDBSnapshot", DBInstanceIdentifier=names.db_instance,
                  DBSnapshotIdentifier=snapshot),
        Need.call(who, "restore under the DR replica's name", "rds", names.dr_region,
                  "RestoreDBInstanceFromDBSnapshot", DBInstanceIdentifier=names.db_replica,
                  DBSnapshotIdentifier=snapshot),
        Need.call(who, "pass another role to AWS Backup", "backup", primary,
                  "StartRestoreJob", RecoveryPointArn=point, IamRoleArn=other_role),
        Need.call(who, "tag the platform's instance", "rds", primary, "AddTagsToResource",
                  ResourceName=names.db_instance_arn),
        Need.call(who, "modify an instance that is not the platform's", "rds", primary,
                  "ModifyDBInstance", DBInstanceIdentifier="another-teams-database"),
        # reset_logins' RunTask reaches the bootstrap family in the platform's clusters only.
        Need.call(who, "run the bootstrap task in a cluster that is not the platform's",
                  "ecs", names.dr_region, "RunTask", cluster="another-teams-cluster",
                  taskDefinition=names.task_family("bootstrap")),
    ]  # fmt: skip


# The principal that runs ``crm-platform deploy`` (the operator's deploy credentials,
# which also run ``cdk deploy``): no role of the assembly, so these needs are a contract
# the deploy's fakes are held to (tests/test_deploy.py), not a request the model decides.
DEPLOYER = Who(role_name="the operator's deploy credentials")


def deploy_needs(names: Names) -> list[Need]:
    """The runtime AWS calls of ``crm-platform deploy`` beyond ``cdk deploy`` and the
    release's migration (release/permissions.py): reading the release record and the
    publish step (ops/publish_build.py)."""
    primary = names.primary_region
    return [
        Need.call(
            DEPLOYER, "read the schema's release", "ssm", primary, "GetParameter",
            Name=names.release_parameter,
        ),
        Need.call(
            DEPLOYER, "start the publish build", "codebuild", primary, "StartBuild",
            projectName=names.publish_project,
        ),
        Need.call(
            DEPLOYER, "follow the publish build and read its digest", "codebuild", primary,
            "BatchGetBuilds", ids=[f"{names.publish_project}:build-1"],
        ),
        Need.call(
            DEPLOYER, "check the published digest is in the repository", "ecr", primary,
            "DescribeImages", repositoryName=names.repository,
        ),
    ]  # fmt: skip


def failback_needs(names: Names, *, alert_topic_arn: str = "") -> list[Need]:
    """``crm-platform failback`` as the operator role: every call of
    failover/runtime/failback.py, in the region it is made in (docs/adr/0046-failback.md).
    KMS calls the services make for the caller (RDS for the replicas' keys, Secrets
    Manager, S3, DynamoDB, SNS for the encrypted alert topic) are derived by the
    authorization model from each call, and so is the ``iam:PassRole`` of the primary's
    jobs task's roles RunTask needs. ``alert_topic_arn``: the DR alert topic (its name is
    generated, so the caller resolves it from the assembly); without it the notice is left
    out."""
    who = Who(role_name=names.operator_role)
    primary, dr = names.primary_region, names.dr_region
    acct = names.account
    original, replica = names.db_instance, names.db_replica
    aside = {primary: f"{original}-aside-0123abcd", dr: f"{replica}-aside-0123abcd"}
    serving = f"arn:aws:rds:{dr}:{acct}:db:{replica}"
    new_primary = f"arn:aws:rds:{primary}:{acct}:db:{original}"
    found: list[Need] = [
        Need.call(who, "failback: read the failed-over state", "ssm", dr, "GetParameter",
                  Name=names.failover_parameter),
        Need.call(who, "failback: record failing-back and none", "ssm", dr, "PutParameter",
                  Name=names.failover_parameter),
        Need.call(who, "failback: the original region's probes", "cloudwatch", dr,
                  "DescribeAlarms", AlarmNames=[names.impaired_alarm]),
        Need.call(who, "failback: hold the lock; record the timeline", "dynamodb", dr,
                  "PutItem", TableName=names.failover_runs_table),
        Need.call(who, "failback: the timeline", "dynamodb", dr, "UpdateItem",
                  TableName=names.failover_runs_table),
        Need.call(who, "failback: release the lock", "dynamodb", dr, "DeleteItem",
                  TableName=names.failover_runs_table),
        Need.call(who, "failback: the fence's revoked rules", "dynamodb", dr, "Query",
                  TableName=names.failover_runs_table),
        Need.call(who, "failback: replicate back with the original region's key", "rds",
                  primary, "CreateDBInstanceReadReplica", DBInstanceIdentifier=original,
                  SourceDBInstanceIdentifier=serving,
                  KmsKeyId=names.kms_alias_arn(primary)),
        Need.call(who, "failback: promote the original region's replica", "rds", primary,
                  "PromoteReadReplica", DBInstanceIdentifier=original),
        Need.call(who, "failback: rebuild the DR replica with DR's key", "rds", dr,
                  "CreateDBInstanceReadReplica", DBInstanceIdentifier=replica,
                  SourceDBInstanceIdentifier=new_primary, KmsKeyId=names.kms_alias_arn(dr)),
        Need.call(who, "failback: the lag alarm's actions back", "cloudwatch", dr,
                  "EnableAlarmActions", AlarmNames=[names.replica_lag_alarm]),
        Need.call(who, "failback: list DR's attachments", "s3", dr, "ListObjectsV2",
                  Bucket=names.attachments_bucket_dr),
        Need.call(who, "failback: read a DR attachment", "s3", dr, "HeadObject",
                  Bucket=names.attachments_bucket_dr, Key="a/b.png"),
        Need.call(who, "failback: copy it back", "s3", primary, "CopyObject",
                  Bucket=names.attachments_bucket, Key="a/b.png",
                  CopySource={"Bucket": names.attachments_bucket_dr, "Key": "a/b.png"}),
        Need.call(who, "failback: verify the copy", "s3", primary, "HeadObject",
                  Bucket=names.attachments_bucket, Key="a/b.png"),
        Need.call(who, "failback: untag the DR bucket", "s3", dr, "PutBucketTagging",
                  Bucket=names.attachments_bucket_dr),
        *(
            Need.iam(who, f"failback: RDS {action} on {region}'s key for the replica",
                     action, names.kms_alias_arn(region),
                     **{"kms:ViaService": f"rds.{region}.amazonaws.com",
                        **({"kms:GrantIsForAWSResource": "true"}
                           if action == "kms:CreateGrant" else {})})
            for region in (primary, dr) for action in ("kms:CreateGrant", "kms:DescribeKey")
        ),
        Need.iam(who, "failback: S3 decrypts the DR attachment", "kms:Decrypt",
                 names.kms_alias_arn(dr), **{"kms:ViaService": f"s3.{dr}.amazonaws.com"}),
        Need.iam(who, "failback: S3 encrypts the copy", "kms:GenerateDataKey",
                 names.kms_alias_arn(primary),
                 **{"kms:ViaService": f"s3.{primary}.amazonaws.com"}),
        Need.call(who, "failback: the switch back to primary", "ssm", dr, "PutParameter",
                  Name=names.switch_parameter),
        Need.call(who, "failback: sign it", "kms", dr, "GenerateMac",
                  KeyId=names.switch_key_alias_arn(dr)),
        Need.call(who, "failback: find the DR alert topic (the lag alarm's action)",
                  "cloudwatch", dr, "DescribeAlarms", AlarmNames=[names.replica_lag_alarm]),
        Need.call(who, "failback: DR's release record", "ssm", dr, "GetParameter",
                  Name=names.release_parameter),
        Need.call(who, "failback: the primary's release record", "ssm", primary,
                  "GetParameter", Name=names.release_parameter),
        Need.call(who, "failback: DR's release record copied to the primary", "ssm", primary,
                  "PutParameter", Name=names.release_parameter),
        *_primary_jobs_needs(names, who),
        *([Need.call(who, "failback: the notice to the DR alert topic", "sns", dr, "Publish",
                     TopicArn=alert_topic_arn)] if alert_topic_arn else []),
    ]  # fmt: skip
    for region in (primary, dr):
        found += [
            Need.call(who, "failback: read the database", "rds", region, "DescribeDBInstances",
                      DBInstanceIdentifier=original if region == primary else replica),
            Need.call(who, "failback: rename it aside, fenced", "rds", region,
                      "ModifyDBInstance",
                      DBInstanceIdentifier=original if region == primary else replica),
            Need.call(who, "failback: the copy aside", "rds", region, "ModifyDBInstance",
                      DBInstanceIdentifier=aside[region]),
            Need.call(who, "failback: tag the copy aside", "rds", region, "AddTagsToResource",
                      ResourceName=f"arn:aws:rds:{region}:{acct}:db:{aside[region]}"),
            Need.call(who, "failback: the no-ingress group", "ec2", region,
                      "CreateSecurityGroup", GroupName="crm-platform-fenced-database"),
            Need.call(who, "failback: find the groups", "ec2", region,
                      "DescribeSecurityGroups"),
            Need.call(who, "failback: size the services", "ecs", region, "UpdateService",
                      cluster=names.ecs_cluster(region), service=names.server_service),
            Need.call(who, "failback: scaling bounds", "application-autoscaling", region,
                      "RegisterScalableTarget"),
            Need.call(who, "failback: the SQL task (last beat, writable)", "ecs", region,
                      "DescribeServices", cluster=names.ecs_cluster(region),
                      services=[names.server_service]),
        ]  # fmt: skip
        for secret in names.dr_stack_secret_names:
            found.append(Need.call(who, "failback: read the secret", "secretsmanager", region,
                                   "DescribeSecret", SecretId=secret))  # fmt: skip
    for secret in (names.db_secret, names.db_app_secret):
        found += [
            Need.call(who, "failback: the serving password", "secretsmanager", dr,
                      "GetSecretValue", SecretId=secret),
            Need.call(who, "failback: the primary's password", "secretsmanager", primary,
                      "GetSecretValue", SecretId=secret),
            Need.call(who, "failback: the primary holds the serving password",
                      "secretsmanager", primary, "PutSecretValue", SecretId=secret),
        ]  # fmt: skip
    for secret in names.dr_stack_secret_names:
        found += [
            Need.call(who, "failback: DR's rotation off (a replica cannot rotate)",
                      "secretsmanager", dr, "CancelRotateSecret", SecretId=secret),
            Need.call(who, "failback: replicate to DR again", "secretsmanager", primary,
                      "ReplicateSecretToRegions", SecretId=secret),
        ]  # fmt: skip
    return found


def _primary_jobs_needs(names: Names, who: Who) -> list[Need]:
    """purge_queues (the jobs task with the purge command) and register_jobs (as
    defined) in the primary's cluster, found again by ``startedBy`` and followed."""
    primary = names.primary_region
    cluster = names.ecs_cluster(primary)
    family = names.task_family("jobs")
    task = f"arn:aws:ecs:{primary}:{names.account}:task/{cluster}/0123456789abcdef"
    purge = {"containerOverrides": [{"name": "jobs", "command": ["node", "-e", "purge"]}]}
    return [
        Need.call(who, "failback: purge the primary's queues (jobs task, purge command)",
                  "ecs", primary, "RunTask", cluster=cluster, taskDefinition=family,
                  overrides=purge),
        Need.call(who, "failback: register the jobs in the primary (jobs task)", "ecs",
                  primary, "RunTask", cluster=cluster, taskDefinition=family),
        Need.call(who, "failback: find the jobs task by startedBy", "ecs", primary,
                  "ListTasks", cluster=cluster, startedBy="failback-jobs-0123"),
        Need.call(who, "failback: follow the jobs task", "ecs", primary, "DescribeTasks",
                  cluster=cluster, tasks=[task]),
    ]  # fmt: skip


def failback_forbidden(names: Names) -> list[Need]:
    """What failback must not allow the operator role: writing ``APP_SECRET`` or
    ``ENCRYPTION_KEY`` (a new value destroys stored data), or creating a replica under
    any name but the platform's two."""
    who = Who(role_name=names.operator_role)
    primary = names.primary_region
    return [
        Need.call(who, "write APP_SECRET", "secretsmanager", primary, "PutSecretValue",
                  SecretId=names.app_secret),
        Need.call(who, "write ENCRYPTION_KEY", "secretsmanager", primary, "PutSecretValue",
                  SecretId=names.encryption_key_secret),
        Need.call(who, "a replica under another name", "rds", primary,
                  "CreateDBInstanceReadReplica", DBInstanceIdentifier="someone-elses-db",
                  SourceDBInstanceIdentifier=names.db_instance_arn),
        # The jobs task's RunTask and PassRole reach no other family and no other cluster.
        Need.call(who, "run the primary's migrate task", "ecs", primary, "RunTask",
                  cluster=names.ecs_cluster(primary), taskDefinition=names.task_family("migrate")),
        Need.call(who, "run the jobs task in the DR cluster", "ecs", names.dr_region, "RunTask",
                  cluster=names.ecs_cluster(names.dr_region),
                  taskDefinition=names.task_family("jobs")),
        Need.call(who, "write the release record in DR", "ssm", names.dr_region,
                  "PutParameter", Name=names.release_parameter),
    ]  # fmt: skip
