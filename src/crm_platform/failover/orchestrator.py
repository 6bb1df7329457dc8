"""The regional failover, run from the DR region: what the DR application stack holds of it.

Everything a run needs lives in the DR region: the state machine with its step function
and run table (state_machine.py), the failed-over state (an SSM parameter that
``crm-platform deploy`` refuses to deploy past), the rotation the promoted database's
secret switches to (database/dr_rotation.py), and the "primary impaired" signal
(impaired_signal.py) that preflight reads and that, in automatic mode, starts the run.

Each of those modules builds into this construct's scope, in the order below: the order
and the scope are what the deployed logical IDs were made from.
"""

from __future__ import annotations

import json

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from crm_platform.alerts import AlertRule
from crm_platform.database.dr_rotation import DrRotation
from crm_platform.database.dr_rotation_roll import DrRotationRoll
from crm_platform.failover.config import StepConfig
from crm_platform.failover.fence_keeper import FenceKeeper
from crm_platform.failover.impaired_signal import ImpairedSignal, Signals
from crm_platform.failover.state_machine import FailoverStateMachine, run_table
from crm_platform.functions import FunctionDefaults
from crm_platform.trust import arn_in_stack, confined_service

__all__ = ["FailoverOrchestrator", "Signals"]


class FailoverOrchestrator(Construct):
    """``state_machine`` runs ``config`` with the steps of the step list (runtime/steps.py)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StepConfig,
        signals: Signals,
        automatic: bool,
        approval: bool,
        functions: FunctionDefaults,
        key: kms.IKey,
        vpc: ec2.IVpc,
        private_subnets: ec2.SubnetSelection,
        database_security_group: ec2.ISecurityGroup,
        task_role_arns: tuple[str, ...],
        step_role_name: str,
        switch_key_arn: str,
        fence_keeper_function: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runs: dynamodb.Table = run_table(self, name=config.runs_table, key=key)
        self.failover_state = ssm.StringParameter(
            self,
            "FailoverState",
            parameter_name=config.failover_parameter,
            string_value=json.dumps({"state": "none"}),
            description="Failed-over state: deploys refuse while it is not 'none'",
        )
        rotation = DrRotation(
            self,
            function_name=config.rotation_function,
            exclude_characters=config.rotation_exclude_characters,
            key=key,
            vpc=vpc,
            subnets=private_subnets,
            database=database_security_group,
        )
        machine = FailoverStateMachine(
            self,
            config=config.with_rotation(rotation.function_arn),
            runs=self.runs,
            functions=functions,
            key=key,
            approval=approval,
            task_role_arns=task_role_arns,
            step_role_name=step_role_name,
            switch_key_arn=switch_key_arn,
        )
        DrRotationRoll(
            self,
            "RotationRoll",
            secret_name=config.db_secret,
            cluster=config.clusters.dr,
            services=tuple(s.name for s in config.services.values()),
            family_prefix=config.environment + "-",
            functions=functions,
        )
        # While DR serves, the old primary is fenced again every few minutes.
        self.fence_keeper = FenceKeeper(
            self,
            "FenceKeeper",
            config=config,
            function_name=fence_keeper_function,
            switch_key_arn=switch_key_arn,
            runs_table_arn=self.runs.table_arn,
            key=key,
            functions=functions,
        )
        self.step_function = machine.step_function
        self.state_machine: sfn.StateMachine = machine.state_machine
        self.impaired = ImpairedSignal(
            self, signals=signals, functions=functions, environment=config.environment
        ).alarm
        if automatic:
            self._start_on_impaired()
        # A run that fails, times out or is aborted pages the operators, from DR: Step
        # Functions emits "Step Functions Execution Status Change" events to EventBridge
        # for standard workflows (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html).
        AlertRule(
            self,
            "RunStopped",
            description="A regional failover run failed, timed out or was aborted",
            pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            topic=functions.alerts,
        )

    def _start_on_impaired(self) -> None:
        """Automatic mode: EventBridge starts the run when the composite alarm goes to ALARM."""
        starter = iam.Role(
            self,
            "StartOnImpairedRole",
            # "For EventBridge event bus rule targets, the value of aws:SourceArn must be
            # the rule ARN"; the rule's name is generated (naming it here would make the
            # role and the rule refer to each other), so any rule of this account and region.
            assumed_by=confined_service(
                self, "events.amazonaws.com", arn_in_stack(self, "events", "rule/*")
            ),
            description="EventBridge starts the failover state machine (automatic mode)",
        )
        iam.ManagedPolicy(
            self,
            "StartOnImpairedPolicy",
            description="Start the failover state machine, nothing else",
            roles=[starter],
            statements=[
                iam.PolicyStatement(
                    actions=["states:StartExecution"],
                    resources=[self.state_machine.state_machine_arn],
                )
            ],
        )
        events.Rule(
            self,
            "StartOnImpaired",
            description="Automatic failover: the primary looked impaired from DR long enough",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.impaired.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object({"force": False}),
                    role=starter.without_policy_updates(),
                )
            ],
        )
