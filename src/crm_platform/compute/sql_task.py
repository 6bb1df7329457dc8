"""The region's SQL task: the one way a step outside the VPC reads the database.

A one-off task definition (``<prefix>sql``, in both regions' clusters) of the platform's
own image, which ships ``psql``; its entry point (compute/wrapper.py,
``sql_entry_point``) holds the SQL of each named purpose, so the caller (the failover's
steps, failback, the operator) picks a purpose as the container's command and never
sends SQL. It logs in as Twenty's own user, never the master: the writability check
needs nothing more than any session has (``pg_is_in_recovery()``, a temporary table
rolled back), and the heartbeat's last beat is one ``SELECT`` the bootstrap grants
(database/heartbeat.py). Its result is one log line, read back from its log group
(named, so the failover's role in the DR stack can be granted ``logs:GetLogEvents``).

Its roles are its own and named (``Names.sql_task_roles``), so the roles that start it
(in the DR stack) can be allowed to pass exactly them: the task role holds no permission
(the task talks to PostgreSQL only), the execution role pulls the image, reads the
application user's secret and writes the task's log, nothing else.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compute.task import TaskSpec, TwentyTask
from crm_platform.contracts import SQL_TASK_ROLE
from crm_platform.database.heartbeat import HEARTBEAT_DATABASE
from crm_platform.settings.model import TaskSize
from crm_platform.trust import arn_in_stack, confined_service

# Fargate's smallest size: psql and two queries.
SQL_TASK_SIZE = TaskSize(cpu=256, memory_mib=512, desired_count=1)


class SqlTask(Construct):
    """The SQL task definition of one region, with its own two roles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        family: str,
        role_names: tuple[str, str],
        image: ecs.ContainerImage,
        environment: dict[str, str],
        database_secret: sm.ISecret,
        secret_arn: str,
        key: kms.IKey,
        pull_statements: list[iam.PolicyStatement],
        read_only_root_filesystem: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        region = cdk.Stack.of(self).region
        task_role_name, execution_role_name = role_names
        self.task_role = iam.Role(
            self,
            "TaskRole",
            role_name=task_role_name,
            # ECS documents aws:SourceAccount/aws:SourceArn for task roles (compute/application.py).
            assumed_by=confined_service(
                self, "ecs-tasks.amazonaws.com", arn_in_stack(self, "ecs", "*")
            ),
            description="The SQL task: no AWS permission (it talks to PostgreSQL only)",
        )
        execution_role = iam.Role(
            self,
            "ExecutionRole",
            role_name=execution_role_name,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="ECS: start the SQL task with Twenty's own login",
        )
        self.task = TwentyTask(
            self,
            "Task",
            spec=TaskSpec(SQL_TASK_ROLE, family, SQL_TASK_SIZE, (), {
                **environment, "HEARTBEAT_DATABASE": HEARTBEAT_DATABASE,
            }, None),
            image=image,
            secrets={
                "PG_USER": ecs.Secret.from_secrets_manager(database_secret, "username"),
                "PG_PASSWORD": ecs.Secret.from_secrets_manager(database_secret, "password"),
            },
            task_role=self.task_role,
            execution_role=execution_role.without_policy_updates(),
            key=key,
            read_only_root_filesystem=read_only_root_filesystem,
        )  # fmt: skip
        self.execution_role = execution_role
        self.policy = iam.ManagedPolicy(
            self,
            "ExecutionPolicy",
            description="What ECS needs to start the SQL task, nothing more",
            roles=[execution_role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheApplicationUsersSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[secret_arn],
                ),
                iam.PolicyStatement(
                    sid="DecryptSecretsThroughSecretsManager",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                    },
                ),
                *pull_statements,
                iam.PolicyStatement(
                    sid="WriteTaskLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.task.log_group.log_group_arn],
                ),
            ],
        )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (ECR authorization "
            "reference); every pull action is scoped to the platform's repository",
        )
        self.task.definition.node.add_dependency(self.policy)

    @property
    def role_arns(self) -> tuple[str, str]:
        """What a caller of RunTask passes (iam:PassRole)."""
        return self.task_role.role_arn, self.execution_role.role_arn
