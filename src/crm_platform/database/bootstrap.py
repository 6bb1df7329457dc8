"""The master's one-off setup of the database, run by the deploy: once, never at a start.

What the master sets up (Twenty's own user, the ownership of Twenty's database, the
extensions, the replication heartbeat: database/app_user.py, heartbeat.py) must exist
before any Twenty task logs in as that user, and nothing that serves may hold the
master's password. So the setup is its own ECS task (the ``bootstrap`` task definition,
compute/application.py, the only one whose execution role may read the master's secret)
and CloudFormation runs it through this custom resource:

- on the stack's creation (after the instance, before the services: they depend on it),
  and again only when what it sets up changes (``triggers``: the SQL's digest, the
  instance's resource id, so a replaced or restored instance is set up again);
- in the same update that moves the services to the application user, before them: a
  platform migrated as the master gets its user and its ownership handed over before a
  task logs in as that user, which neither the migrate task (it runs before or after the
  stack update, or not at all when the schema is current) nor a start could order.

A failed setup fails the custom resource, so the stack operation stops and rolls back
with the services on the revision they ran. On deletion nothing is undone: the user owns
Twenty's data.

Why a custom resource and not the migrate task: the migrate task's roles are the ones
the pipeline passes to deploy the services (pipeline/construct.py), so giving it the
master's secret would give it to the services' execution role too (docs/adr/0033).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.functions import FunctionDefaults, OpsFunction

RUNTIME_DIR = Path(__file__).parent / "runtime"
RESOURCE_TYPE = "Custom::DatabaseBootstrap"
# The function waits for the task up to its own timeout (Lambda's limit is 15 minutes);
# CloudFormation waits for an answer up to SERVICE_TIMEOUT, room for Lambda's two retries
# of an invocation that crashed (each retry runs the idempotent setup again).
FUNCTION_TIMEOUT_SECONDS = 900
SERVICE_TIMEOUT = cdk.Duration.minutes(50)


def digest(*parts: str) -> str:
    """A short, stable digest of what the setup runs: a change runs it again."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class DatabaseBootstrap(Construct):
    """Runs one revision of ``family`` in ``cluster`` to its end, during the deploy.

    ``container``'s exit code 0 is success; anything else, or no end within the
    function's timeout (the task is then stopped), fails the stack operation.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: str,
        family: str,
        container: str,
        subnet_ids: Sequence[str],
        security_group_ids: Sequence[str],
        roles: Sequence[str],
        triggers: Mapping[str, str],
        functions: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        region, account = stack.region, stack.account
        cluster_arn = f"arn:aws:ecs:{region}:{account}:cluster/{cluster}"
        revisions = f"arn:aws:ecs:{region}:{account}:task-definition/{family}:*"
        tasks = f"arn:aws:ecs:{region}:{account}:task/{cluster}/*"
        runner = OpsFunction(
            self,
            "Runner",
            code=RUNTIME_DIR,
            handler="run_once.handler",
            description="Runs the database bootstrap task once during the deploy (as the master)",
            defaults=functions,
            timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
            statements=[
                iam.PolicyStatement(
                    sid="RunTheBootstrapTask",
                    actions=["ecs:RunTask"],
                    resources=[revisions],
                    conditions={"ArnEquals": {"ecs:cluster": cluster_arn}},
                ),
                iam.PolicyStatement(
                    sid="FollowTheBootstrapTask",
                    actions=["ecs:DescribeTasks", "ecs:StopTask"],
                    resources=[tasks],
                ),
                iam.PolicyStatement(
                    sid="PassTheBootstrapRoles",
                    actions=["iam:PassRole"],
                    resources=list(roles),
                    conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                ),
            ],
        )
        acknowledge(
            runner.policy,
            f"AwsSolutions-IAM5[Resource::{revisions}]",
            "Every revision of the one bootstrap family (CloudFormation registers a new one "
            "at each change), and only in the platform's cluster",
        )
        acknowledge(
            runner.policy,
            f"AwsSolutions-IAM5[Resource::{tasks}]",
            "The task ids are known only once RunTask started them; the cluster is fixed",
        )
        self.function = runner.function
        self.resource = cdk.CustomResource(
            self,
            "Run",
            service_token=runner.function.function_arn,
            resource_type=RESOURCE_TYPE,
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "Cluster": cluster,
                "Family": family,
                "Container": container,
                "Subnets": list(subnet_ids),
                "SecurityGroups": list(security_group_ids),
                "Triggers": dict(triggers),
            },
        )
