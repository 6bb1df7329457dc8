"""The failover's state machine, its one step function, and the run table they write.

Everything a run needs lives in the DR region: the Step Functions state machine
(definition.py, generated from the step list in runtime/steps.py) and its one step
function (runtime/handler.py), which records each step's timeline in the run table
(runtime/timeline.py). The step function's role holds exactly the calls the steps make.

A *part*, not a construct: it adds its resources to the scope it is given (the
orchestrator), whose logical IDs are deployed already; a construct level of its own
would rename them, and CloudFormation would replace the run table.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.failover import definition
from crm_platform.failover.config import StepConfig
from crm_platform.failover.fence_keeper import ANY_PRIMARY_GROUP, fence_statements
from crm_platform.failover.policy import ATTEMPT_TIMEOUT_SECONDS
from crm_platform.failover.sql_task import acknowledge_sql_task, sql_task_statements
from crm_platform.functions import FunctionDefaults, OpsFunction
from crm_platform.retention import KEEP, log_retention
from crm_platform.trust import arn_in_stack, confined_service

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
STATE_MACHINE_LOG_RETENTION_DAYS = 365


def run_table(scope: Construct, *, name: str, key: kms.IKey) -> dynamodb.Table:
    """One item per (run, step): what makes a run resumable and reviewable."""
    runs = dynamodb.Table(
        scope,
        "Runs",
        table_name=name,
        partition_key=dynamodb.Attribute(name="run", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="step", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=KEEP,
    )
    acknowledge(
        runs,
        "NIST.800.53.R5-DynamoDBInBackupPlan",
        "Timelines of failover runs, recreated by every run; point-in-time recovery keeps "
        "35 days of them, and the state that matters is in the failed-over parameter",
    )
    return runs


class FailoverStateMachine:
    """``step_function`` runs one step per invocation; ``state_machine`` runs them in order."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: StepConfig,
        runs: dynamodb.ITable,
        functions: FunctionDefaults,
        key: kms.IKey,
        approval: bool,
        task_role_arns: tuple[str, ...],
        step_role_name: str,
        switch_key_arn: str,
    ) -> None:
        self.runs = runs
        self.step_function = self._step_function(
            scope, config, functions, key, task_role_arns, step_role_name, switch_key_arn
        )
        self.state_machine = self._state_machine(scope, config, key, approval)

    def _step_function(
        self,
        scope: Construct,
        config: StepConfig,
        functions: FunctionDefaults,
        key: kms.IKey,
        task_role_arns: tuple[str, ...],
        step_role_name: str,
        switch_key_arn: str,
    ) -> OpsFunction:
        stack = cdk.Stack.of(scope)
        account, dr, primary = stack.account, config.dr_region, config.primary_region
        clusters = asdict(config.clusters)
        dr_services = [
            f"arn:aws:ecs:{dr}:{account}:service/{clusters['dr']}/{s.name}"
            for s in config.services.values()
        ]
        secrets = [
            f"arn:aws:secretsmanager:{dr}:{account}:secret:{name}-??????" for name in config.secrets
        ]
        db_secret = f"arn:aws:secretsmanager:{dr}:{account}:secret:{config.db_secret}-??????"
        replica = f"arn:aws:rds:{dr}:{account}:db:{config.replica}"
        dr_cluster = f"arn:aws:ecs:{dr}:{account}:cluster/{config.clusters.dr}"
        rotation_function_arn = config.rotation_function_arn
        assert rotation_function_arn is not None, "declare DR's rotation first"
        statements = [
            iam.PolicyStatement(
                sid="PromoteAndHardenTheReplica",
                actions=[
                    "rds:DescribeDBInstances",
                    "rds:PromoteReadReplica",
                    "rds:ModifyDBInstance",
                    "rds:AddTagsToResource",
                ],
                resources=[replica],
            ),
            # fence_primary: the same fence the keeper repeats (failover/fence_keeper.py).
            *fence_statements(config, account),
            iam.PolicyStatement(
                sid="RaiseTheDrServices",
                actions=["ecs:UpdateService", "ecs:DescribeServices"],
                resources=dr_services,
            ),
            iam.PolicyStatement(
                sid="ReadTaskDefinitions",
                actions=[
                    "ecs:DescribeTaskDefinition",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DescribeScalableTargets",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:GetMetricStatistics",
                ],
                resources=["*"],
            ),
            # protect_database: the DR bucket joins DR's backup plan (a merged tag set).
            iam.PolicyStatement(
                sid="TagTheDrBucketForBackups",
                actions=["s3:GetBucketTagging", "s3:PutBucketTagging"],
                resources=[f"arn:aws:s3:::{config.dr_bucket}"],
            ),
            # register_jobs: exactly the jobs task definition, in the DR cluster, with its
            # own two named roles (compute/application.py); the step sends no override.
            iam.PolicyStatement(
                sid="RegisterTheJobs",
                actions=["ecs:RunTask"],
                resources=[
                    f"arn:aws:ecs:{dr}:{account}:task-definition/{config.jobs_family}:*",
                ],
                conditions={"ArnEquals": {"ecs:cluster": dr_cluster}},
            ),
            iam.PolicyStatement(
                sid="FollowTheJobsTask",
                actions=["ecs:DescribeTasks"],
                resources=[f"arn:aws:ecs:{dr}:{account}:task/{config.clusters.dr}/*"],
            ),
            iam.PolicyStatement(
                sid="FindTheJobsTask",
                actions=["ecs:ListTasks"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": dr_cluster}},
            ),
            iam.PolicyStatement(
                sid="PassTheTierRoles",
                actions=["iam:PassRole"],
                resources=list(task_role_arns),
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            ),
            # wait_writable: the DR SQL task (runtime/sql_task.py), exactly its family in
            # the DR cluster, its own two roles, its one log group read back.
            *sql_task_statements(
                config.sql_tasks["dr"], dr, account, server_service=config.services["server"].name
            ),
            iam.PolicyStatement(
                sid="RetireTheLagAlarm",
                actions=["cloudwatch:DisableAlarmActions"],
                resources=[f"arn:aws:cloudwatch:{dr}:{account}:alarm:{config.replica_lag_alarm}"],
            ),
            iam.PolicyStatement(
                sid="SwitchAndStateParameters",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[
                    f"arn:aws:ssm:{dr}:{account}:parameter{config.switch_parameter}",
                    f"arn:aws:ssm:{dr}:{account}:parameter{config.failover_parameter}",
                ],
            ),
            # The switch (failover/runtime/switch.py): sign, read back what verifies, and
            # wake the beacon; the key policy names this role (security/switch_key.py).
            iam.PolicyStatement(
                sid="ReadTheSwitchHistory",
                actions=["ssm:GetParameterHistory"],
                resources=[f"arn:aws:ssm:{dr}:{account}:parameter{config.switch_parameter}"],
            ),
            iam.PolicyStatement(
                sid="SignTheSwitch",
                actions=["kms:GenerateMac", "kms:VerifyMac"],
                resources=[switch_key_arn],
            ),
            iam.PolicyStatement(
                sid="WakeTheBeacon",
                actions=["lambda:InvokeFunction"],
                resources=[f"arn:aws:lambda:{dr}:{account}:function:{config.switch_beacon}"],
            ),
            iam.PolicyStatement(
                sid="MakeTheDrSecretsStandalone",
                actions=[
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:StopReplicationToReplica",
                ],
                resources=secrets,
            ),
            # Only the database secret is read and written: a new APP_SECRET or
            # ENCRYPTION_KEY would make Twenty's stored data unreadable.
            iam.PolicyStatement(
                sid="OwnTheDatabaseSecret",
                actions=[
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:RotateSecret",
                ],
                resources=[db_secret],
            ),
            iam.PolicyStatement(
                sid="SecretsThroughTheDrKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{dr}.amazonaws.com"}
                },
            ),
            iam.PolicyStatement(
                sid="AttachTheDrRotation",
                actions=["lambda:InvokeFunction"],
                resources=[rotation_function_arn],
            ),
            iam.PolicyStatement(
                sid="Timeline",
                actions=[
                    "dynamodb:UpdateItem",
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",  # the incident lock
                ],
                resources=[self.runs.table_arn],
            ),
            iam.PolicyStatement(
                sid="TimelineKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{dr}.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="NotifyOperators",
                actions=["sns:Publish"],
                resources=[config.alert_topic_arn],
            ),
        ]
        function = OpsFunction(
            scope,
            "Step",
            code=RUNTIME_DIR,
            handler="handler.handler",
            description="Runs one step of the regional failover (failover/runtime/steps.py)",
            defaults=functions,
            environment={"FAILOVER_CONFIG": stack.to_json_string(config.to_dict())},
            statements=statements,
            timeout_seconds=ATTEMPT_TIMEOUT_SECONDS,
            role_name=step_role_name,
        )
        no_resource_level = (
            "Describe calls, scalable-target registration (targets are named by the service "
            "they scale), alarm reads and PutMetricData (bounded by namespace) support no "
            "resource-level permissions"
        )
        acknowledge(function.policy, "AwsSolutions-IAM5[Resource::*]", no_resource_level)
        acknowledge(
            function.policy,
            f"AwsSolutions-IAM5[Resource::arn:aws:ecs:{dr}:{account}:task-definition/"
            f"{config.jobs_family}:*]",
            "Every revision of the one jobs task definition: a release registers a new "
            "revision, and the failover runs whichever is current",
        )
        acknowledge_sql_task(function.policy, config.sql_tasks["dr"], dr, account, shared=False)
        acknowledge(
            function.policy,
            f"AwsSolutions-IAM5[Resource::arn:aws:ecs:{dr}:{account}:task/{config.clusters.dr}/*]",
            "Task ids are generated by ECS at RunTask: the step follows the task it started "
            "in the DR cluster, which it can only know by its generated id",
        )
        acknowledge(
            function.policy,
            f"AwsSolutions-IAM5[Resource::arn:aws:ec2:{primary}:{account}:security-group/*]",
            ANY_PRIMARY_GROUP,
        )
        skip_checkov(function.policy, "CKV_AWS_111", no_resource_level)
        return function

    def _state_machine(
        self, scope: Construct, config: StepConfig, key: kms.IKey, approval: bool
    ) -> sfn.StateMachine:
        group = logs.LogGroup(
            scope,
            "StateMachineLogs",
            encryption_key=key,
            retention=log_retention(STATE_MACHINE_LOG_RETENTION_DAYS),
            removal_policy=KEEP,
        )
        role = iam.Role(
            scope,
            "StateMachineRole",
            # Step Functions documents both source keys for a state machine's role.
            assumed_by=confined_service(
                scope,
                "states.amazonaws.com",
                arn_in_stack(scope, "states", f"stateMachine:{config.state_machine}"),
            ),
            description="The failover state machine: invoke its step function, ask for approval",
        )
        policy = iam.ManagedPolicy(
            scope,
            "StateMachinePolicy",
            description="Exactly what the failover state machine calls",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="RunTheSteps",
                    actions=["lambda:InvokeFunction"],
                    resources=[self.step_function.function.function_arn],
                ),
                iam.PolicyStatement(
                    sid="AskForApproval",
                    actions=["sns:Publish"],
                    resources=[config.alert_topic_arn],
                ),
                # The topic is encrypted with the DR key: SNS uses it as the publisher
                # ("The publisher must have the kms:GenerateDataKey and kms:Decrypt
                # permissions", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
                iam.PolicyStatement(
                    sid="AskThroughTheTopicKey",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"sns.{config.dr_region}.amazonaws.com"}
                    },
                ),
                iam.PolicyStatement(
                    sid="DeliverExecutionLogs",
                    actions=[
                        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                        "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                        "logs:DescribeLogGroups",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="Traces",
                    actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                             "xray:GetSamplingRules", "xray:GetSamplingTargets"],
                    resources=["*"],
                ),
            ],
        )  # fmt: skip
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions log delivery and X-Ray tracing calls support no resource-level "
            "permissions (the actions Step Functions documents for logging and tracing)",
        )
        machine = sfn.StateMachine(
            scope,
            "StateMachine",
            state_machine_name=config.state_machine,
            definition_body=sfn.DefinitionBody.from_string(definition.as_json(approval=approval)),
            definition_substitutions={
                "StepFunctionArn": self.step_function.function.function_arn,
                "ApprovalTopicArn": config.alert_topic_arn,
            },
            role=role.without_policy_updates(),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        machine.node.add_dependency(policy)
        return machine
