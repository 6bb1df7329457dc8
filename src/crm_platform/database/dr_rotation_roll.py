"""After a failover, DR's own rotation rolls DR's services, as the primary's roll does there.

Twenty composes its database URL from the secret once, at task start: after a rotation
running tasks cannot open new connections until they are replaced. While the DR secret
is a replica, the primary's roll (database/construct.py) restarts DR's services once
the replica caught up. Once the failover made it standalone and attached DR's own
rotation (failover step ``attach_rotation``), nothing in the primary region sees DR's
rotations: this rule, in DR, on DR's own "Secret Label Updated" event, does. It matches
the secret by name (a replica's ARN suffix is the primary's, unknown at synthesis) and
its function does nothing while the secret is still a replica.

Source: Secrets Manager sends "Secret Label Updated" natively to EventBridge when
AWSCURRENT moves (https://docs.aws.amazon.com/secretsmanager/latest/userguide/event-detail-secret-label-updated-secretsmanager.html).
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from crm_platform.functions import FunctionDefaults, OpsFunction

RUNTIME_DIR = Path(__file__).parent / "runtime"


class DrRotationRoll(Construct):
    """Rolls ``services`` of ``cluster`` (this region) after ``secret_name`` rotated here."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret_name: str,
        cluster: str,
        services: tuple[str, ...],
        family_prefix: str,
        functions: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        region, account = stack.region, stack.account
        roller = OpsFunction(
            self,
            "Roll",
            code=RUNTIME_DIR,
            handler="roll_services.own_handler",
            description="Rolls DR's Twenty services after DR's own rotation (after a failover)",
            defaults=functions,
            environment={
                "TARGET": json.dumps(
                    {"region": region, "cluster": cluster, "services": list(services)}
                ),
                "SECRET": secret_name,
            },
            statements=[
                iam.PolicyStatement(
                    sid="RollTheDrServices",
                    actions=["ecs:UpdateService"],
                    resources=[
                        f"arn:aws:ecs:{region}:{account}:service/{cluster}/{s}" for s in services
                    ],
                    # A roll only forces a new deployment: no other family, no ECS Exec.
                    conditions={
                        "ArnLikeIfExists": {
                            "ecs:task-definition": [
                                f"arn:aws:ecs:{region}:{account}:task-definition/{family_prefix}*:*"
                            ]
                        },
                        "BoolIfExists": {"ecs:enable-execute-command": "false"},
                    },
                ),
                iam.PolicyStatement(
                    sid="IsTheSecretStandalone",
                    actions=["secretsmanager:DescribeSecret"],
                    resources=[
                        f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_name}-??????"
                    ],
                ),
            ],
        )
        self.function = roller.function
        events.Rule(
            self,
            "OwnRotationSucceeded",
            description="DR's own rotation finished: roll DR's services",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"],
                detail_type=["Secret Label Updated"],
                detail={"name": [secret_name], "labelUpdated": ["AWSCURRENT"]},
            ),
            targets=[targets.LambdaFunction(roller.function, retry_attempts=4)],
        )
