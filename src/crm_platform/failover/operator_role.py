"""The role an operator assumes in the DR region for the incident commands, and no more.

``crm-platform failover`` (readiness, start or resume, follow, approve), ``switch``,
``dr status`` and "fence now" (one round of the fence keeper) need these permissions and
nothing else; ops/permissions.py lists the
calls they make, and the permission contracts evaluate them as this role
(tests/test_authorization.py). The trust policy admits principals of this account only
with MFA (``aws:MultiFactorAuthPresent``). IAM is a global service whose control plane
lives in us-east-1, but assuming a role is a data-plane call to STS, which a regional
endpoint serves: the break-glass sign-in in docs/emergency-recovery.md uses
``sts.<dr region>.amazonaws.com``, so it depends on neither the primary region nor
us-east-1 (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_enable-regions.html).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov


@dataclass(frozen=True)
class Incident:
    """What the incident commands read and change in the DR region."""

    role_name: str
    state_machine: str
    runs_table_arn: str
    replica: str
    cluster: str
    services: tuple[str, ...]
    parameters: tuple[str, ...]  # read: switch, failed-over state, release record
    switch_parameter: str  # and write
    switch_key_arn: str  # signs and verifies the switch's state (security/switch_key.py)
    switch_beacon: str  # the beacon function woken after a flip
    fence_keeper: str  # "fence now": one round of the keeper (failover/fence_keeper.py)


class OperatorRole(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, incident: Incident, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        region, account = stack.region, stack.account
        self.role = iam.Role(
            self,
            "Role",
            role_name=incident.role_name,
            assumed_by=iam.AccountPrincipal(account).with_conditions(
                {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            ),
            max_session_duration=cdk.Duration.hours(4),
            description="Incident commands in the DR region: failover, switch, dr status",
        )
        machine = f"arn:aws:states:{region}:{account}:stateMachine:{incident.state_machine}"
        executions = f"arn:aws:states:{region}:{account}:execution:{incident.state_machine}:*"

        def parameter(name: str) -> str:
            return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"

        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Exactly what the incident commands call",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheDrDatabase",
                    actions=["rds:DescribeDBInstances"],
                    resources=[f"arn:aws:rds:{region}:{account}:db:{incident.replica}"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheDrServices",
                    actions=["ecs:DescribeServices"],
                    resources=[
                        f"arn:aws:ecs:{region}:{account}:service/{incident.cluster}/{s}"
                        for s in incident.services
                    ],
                ),
                iam.PolicyStatement(
                    sid="ReadTheSignalsAndBackups",
                    actions=[
                        "cloudwatch:GetMetricStatistics",
                        "cloudwatch:DescribeAlarms",
                        "backup:ListCopyJobs",
                        "backup:ListBackupJobs",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheRecordedState",
                    actions=["ssm:GetParameter"],
                    resources=[parameter(p) for p in incident.parameters],
                ),
                iam.PolicyStatement(
                    sid="FlipTheSwitch",
                    actions=["ssm:PutParameter"],
                    resources=[parameter(incident.switch_parameter)],
                ),
                iam.PolicyStatement(
                    sid="ReadTheSwitchHistory",
                    actions=["ssm:GetParameterHistory"],
                    resources=[parameter(incident.switch_parameter)],
                ),
                iam.PolicyStatement(
                    sid="SignTheSwitch",
                    actions=["kms:GenerateMac", "kms:VerifyMac"],
                    resources=[incident.switch_key_arn],
                ),
                iam.PolicyStatement(
                    sid="WakeTheBeacon",
                    actions=["lambda:InvokeFunction"],
                    resources=[
                        f"arn:aws:lambda:{region}:{account}:function:{incident.switch_beacon}"
                    ],
                ),
                # The operator fences through the keeper (its role holds the fence's
                # permissions), never with EC2 or ECS rights of its own.
                iam.PolicyStatement(
                    sid="FenceNow",
                    actions=["lambda:InvokeFunction"],
                    resources=[
                        f"arn:aws:lambda:{region}:{account}:function:{incident.fence_keeper}"
                    ],
                ),
                iam.PolicyStatement(
                    sid="StartOrResumeTheFailover",
                    actions=["states:StartExecution", "states:ListExecutions"],
                    resources=[machine],
                ),
                iam.PolicyStatement(
                    sid="FollowTheFailover",
                    actions=["states:DescribeExecution"],
                    resources=[executions],
                ),
                iam.PolicyStatement(
                    sid="ApproveAnAutomaticFailover",
                    actions=["states:SendTaskSuccess"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheTimeline",
                    actions=["dynamodb:Query", "dynamodb:GetItem"],
                    resources=[incident.runs_table_arn],
                ),
                iam.PolicyStatement(
                    sid="TimelineThroughTheDrKey",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}
                    },
                ),
            ],
        )
        no_resource_level = (
            "CloudWatch reads, AWS Backup's "
            "job lists and SendTaskSuccess (a task token, not a resource) have no "
            "resource-level form; executions are those of the failover's state machine"
        )
        acknowledge(self.policy, "AwsSolutions-IAM5[Resource::*]", no_resource_level)
        acknowledge(self.policy, f"AwsSolutions-IAM5[Resource::{executions}]", no_resource_level)
        skip_checkov(self.policy, "CKV_AWS_111", no_resource_level)
