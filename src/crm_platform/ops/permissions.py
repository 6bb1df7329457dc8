"""What the operator's commands need: the incident commands as the operator role, and
the calls ``crm-platform deploy`` makes itself (:func:`deploy_needs`).

``crm-platform failover`` (its readiness, the start, following the timeline),
``crm-platform switch`` and ``crm-platform dr status`` run from the DR region during an
outage of the primary. They are evaluated as the operator role (``Names.operator_role``):
an operator should not need account-wide administrator rights to recover the platform.
"""

from __future__ import annotations

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
    return readiness + failover + switch + fence


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
