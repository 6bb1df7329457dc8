"""The regional failover, run from the DR region: state machine, step function, records.

Everything a run needs lives in the DR region: the state machine and its one step
function (runtime/handler.py over runtime/steps.py), the run timeline (DynamoDB), the
failed-over state (SSM parameter: ``crm-platform deploy`` refuses while it is set), the
rotation function the promoted database's secret switches to, and the "primary
impaired" signal (two probes and a composite alarm) that preflight reads and that, in
automatic mode, starts the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sam as sam
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from crm_platform.compliance.acknowledge import acknowledge
from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.compute.load_balancer import ORIGIN_HEADER
from crm_platform.failover import definition
from crm_platform.failover.runtime import probe
from crm_platform.functions import FunctionDefaults, OpsFunction
from crm_platform.monitoring.alerts import notify
from crm_platform.networking.security_groups import HTTPS_PORT, POSTGRES_PORT
from crm_platform.retention import KEEP, log_retention

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
STEP_TIMEOUT_SECONDS = 300
STATE_MACHINE_LOG_RETENTION_DAYS = 365


@dataclass(frozen=True)
class Signals:
    """Names and URLs of the DR-evaluable "primary impaired" signal."""

    public_url: str  # https://<domain>/healthz
    primary_origin_url: str  # https://primary.origin.<domain>/healthz
    origin_secret: str  # the DR replica of an origin-verify slot
    impaired_alarm: str
    detection_minutes: int


class FailoverOrchestrator(Construct):
    """``state_machine`` runs ``config`` (failover/config.py) with the steps of the step list."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: dict[str, Any],
        signals: Signals,
        automatic: bool,
        approval: bool,
        functions: FunctionDefaults,
        key: kms.IKey,
        vpc: ec2.IVpc,
        private_subnets: ec2.SubnetSelection,
        database_security_group: ec2.ISecurityGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runs = dynamodb.Table(
            self,
            "Runs",
            table_name=config["runs_table"],
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
            self.runs,
            "NIST.800.53.R5-DynamoDBInBackupPlan",
            "Timelines of failover runs, recreated by every run; point-in-time recovery keeps "
            "35 days of them, and the state that matters is in the failed-over parameter",
        )
        self.failover_state = ssm.StringParameter(
            self,
            "FailoverState",
            parameter_name=config["failover_parameter"],
            string_value=json.dumps({"state": "none"}),
            description="Failed-over state: deploys refuse while it is not 'none'",
        )
        rotation_arn = self._dr_rotation(config, key, vpc, private_subnets, database_security_group)
        config = {**config, "rotation_function_arn": rotation_arn}
        self.step_function = self._step_function(config, functions, key)
        self.state_machine = self._state_machine(config, key, approval)
        self.impaired = self._impaired_signal(signals, functions, config["environment"])
        if automatic:
            starter = iam.Role(
                self,
                "StartOnImpairedRole",
                assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
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

    # --- the rotation the promoted secret moves to ------------------------------------------
    def _dr_rotation(
        self,
        config: dict[str, Any],
        key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        database: ec2.ISecurityGroup,
    ) -> str:
        """AWS's hosted PostgreSQL single-user rotation, deployed now, attached at failover.

        A replica secret cannot carry a rotation schedule, so the function exists unused
        until ``own_secrets`` points the promoted secret at it.
        """
        stack = cdk.Stack.of(self)
        group = ec2.SecurityGroup(
            self,
            "RotationSecurityGroup",
            vpc=vpc,
            description="DR credential rotation (used after a failover)",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "Secrets Manager API")
        group.add_egress_rule(database, ec2.Port.tcp(POSTGRES_PORT), "The DR database")
        ec2.CfnSecurityGroupIngress(
            self,
            "DatabaseFromRotation",
            group_id=database.security_group_id,
            ip_protocol="tcp",
            from_port=POSTGRES_PORT,
            to_port=POSTGRES_PORT,
            source_security_group_id=group.security_group_id,
            description="DR credential rotation",
        )
        selected = vpc.select_subnets(subnet_group_name=subnets.subnet_group_name)
        app = sm.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER
        sam.CfnApplication(
            self,
            "Rotation",
            location=sam.CfnApplication.ApplicationLocationProperty(
                application_id=app.application_arn_for_partition("aws"),
                semantic_version=app.semantic_version_for_partition("aws"),
            ),
            parameters={
                "endpoint": f"https://secretsmanager.{stack.region}.{stack.url_suffix}",
                "functionName": config["rotation_function"],
                "vpcSubnetIds": cdk.Fn.join(",", selected.subnet_ids),
                "vpcSecurityGroupIds": group.security_group_id,
                "excludeCharacters": config["rotation_exclude_characters"],
                "kmsKeyArn": key.key_arn,
            },
        )
        return stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=config["rotation_function"],
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    # --- the step function -----------------------------------------------------------------
    def _step_function(
        self, config: dict[str, Any], functions: FunctionDefaults, key: kms.IKey
    ) -> OpsFunction:
        stack = cdk.Stack.of(self)
        account, dr, primary = stack.account, config["dr_region"], config["primary_region"]
        clusters = config["clusters"]
        services = [
            f"arn:aws:ecs:{region}:{account}:service/{clusters[side]}/{s['name']}"
            for side, region in (("primary", primary), ("dr", dr))
            for s in config["services"].values()
        ]
        secrets = [
            f"arn:aws:secretsmanager:{dr}:{account}:secret:{name}-??????"
            for name in config["secrets"]
        ]
        replica = f"arn:aws:rds:{dr}:{account}:db:{config['replica']}"
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
            iam.PolicyStatement(
                sid="FenceAndRaiseServices",
                actions=["ecs:UpdateService", "ecs:DescribeServices"],
                resources=services,
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
            iam.PolicyStatement(
                sid="RetireTheLagAlarm",
                actions=["cloudwatch:DisableAlarmActions"],
                resources=[
                    f"arn:aws:cloudwatch:{dr}:{account}:alarm:{config['replica_lag_alarm']}"
                ],
            ),
            iam.PolicyStatement(
                sid="PublishTheSwitch",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "crm-platform/TrafficSwitch"}},
            ),
            iam.PolicyStatement(
                sid="SwitchAndStateParameters",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[
                    f"arn:aws:ssm:{dr}:{account}:parameter{config['switch_parameter']}",
                    f"arn:aws:ssm:{dr}:{account}:parameter{config['failover_parameter']}",
                ],
            ),
            iam.PolicyStatement(
                sid="OwnTheDrSecrets",
                actions=[
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:StopReplicationToReplica",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:RotateSecret",
                ],
                resources=secrets,
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
                resources=[config["rotation_function_arn"]],
            ),
            iam.PolicyStatement(
                sid="Timeline",
                actions=["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"],
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
                resources=[config["alert_topic_arn"]],
            ),
        ]
        function = OpsFunction(
            self,
            "Step",
            code=RUNTIME_DIR,
            handler="handler.handler",
            description="Runs one step of the regional failover (failover/runtime/steps.py)",
            defaults=functions,
            environment={"FAILOVER_CONFIG": stack.to_json_string(config)},
            statements=statements,
            timeout_seconds=STEP_TIMEOUT_SECONDS,
        )
        no_resource_level = (
            "Describe calls, scalable-target registration (targets are named by the service "
            "they scale), alarm reads and PutMetricData (bounded by namespace) support no "
            "resource-level permissions"
        )
        acknowledge(function.policy, "AwsSolutions-IAM5[Resource::*]", no_resource_level)
        skip_checkov(function.policy, "CKV_AWS_111", no_resource_level)
        return function

    def _state_machine(
        self, config: dict[str, Any], key: kms.IKey, approval: bool
    ) -> sfn.StateMachine:
        group = logs.LogGroup(
            self,
            "StateMachineLogs",
            encryption_key=key,
            retention=log_retention(STATE_MACHINE_LOG_RETENTION_DAYS),
            removal_policy=KEEP,
        )
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="The failover state machine: invoke its step function, ask for approval",
        )
        policy = iam.ManagedPolicy(
            self,
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
                    resources=[config["alert_topic_arn"]],
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
            self,
            "StateMachine",
            state_machine_name=config["state_machine"],
            definition_body=sfn.DefinitionBody.from_string(definition.as_json(approval=approval)),
            definition_substitutions={
                "StepFunctionArn": self.step_function.function.function_arn,
                "ApprovalTopicArn": config["alert_topic_arn"],
            },
            role=role.without_policy_updates(),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            timeout=cdk.Duration.hours(3),
        )
        machine.node.add_dependency(policy)
        return machine

    # --- "primary impaired", evaluable from DR ------------------------------------------
    def _impaired_signal(
        self, signals: Signals, functions: FunctionDefaults, environment: str
    ) -> cloudwatch.CompositeAlarm:
        stack = cdk.Stack.of(self)
        prober = OpsFunction(
            self,
            "Probe",
            code=RUNTIME_DIR,
            handler="probe.handler",
            description="Probes the primary from DR: public URL and primary origin, every minute",
            defaults=functions,
            environment={
                "PUBLIC_URL": signals.public_url,
                "PRIMARY_ORIGIN_URL": signals.primary_origin_url,
                "ORIGIN_SECRET": signals.origin_secret,
                "ORIGIN_HEADER": ORIGIN_HEADER,
                "ENVIRONMENT": environment,
            },
            timeout_seconds=40,
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheOriginHeader",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[
                        f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:"
                        f"{signals.origin_secret}-??????"
                    ],
                ),
                iam.PolicyStatement(
                    sid="PublishProbeResults",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": probe.NAMESPACE}},
                ),
            ],
        )
        acknowledge(
            prober.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; the namespace "
            "condition bounds it to the probe's own metrics",
        )
        events.Rule(
            self,
            "ProbeEveryMinute",
            description="Probe the primary region from DR",
            schedule=events.Schedule.rate(cdk.Duration.minutes(1)),
            targets=[targets.LambdaFunction(prober.function, retry_attempts=0)],
        )
        down: list[cloudwatch.Alarm] = []
        for metric_name, what in (
            ("PublicUp", "public URL"),
            ("PrimaryOriginUp", "primary origin"),
        ):
            metric = cloudwatch.Metric(
                namespace=probe.NAMESPACE,
                metric_name=metric_name,
                dimensions_map={"Environment": environment},
                statistic="Maximum",
                period=cdk.Duration.minutes(1),
            )
            down.append(
                cloudwatch.Alarm(
                    self,
                    f"{metric_name}Down",
                    alarm_name=f"{signals.impaired_alarm}-{metric_name.lower()}-down",
                    alarm_description=(
                        f"The {what} has failed from DR for {signals.detection_minutes} min"
                    ),
                    metric=metric,
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    evaluation_periods=signals.detection_minutes,
                    datapoints_to_alarm=signals.detection_minutes,
                    # No data means the probe did not run: a DR-side problem, never a
                    # reason to fail over (the silence alarm below reports it).
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        notify(
            cloudwatch.Alarm(
                self,
                "ProbeSilent",
                alarm_name=f"{signals.impaired_alarm}-probe-silent",
                alarm_description="The DR probe of the primary has stopped reporting",
                metric=cloudwatch.Metric(
                    namespace=probe.NAMESPACE,
                    metric_name="PublicUp",
                    dimensions_map={"Environment": environment},
                    statistic="SampleCount",
                    period=cdk.Duration.minutes(5),
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=2,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            functions.alerts,
        )
        for alarm in down:
            notify(alarm, functions.alerts)
        impaired = cloudwatch.CompositeAlarm(
            self,
            "PrimaryImpaired",
            composite_alarm_name=signals.impaired_alarm,
            alarm_description=(
                "The primary region looks impaired from DR: both the public URL and the "
                "primary origin fail. Decide on a failover (crm-platform failover)"
            ),
            alarm_rule=cloudwatch.AlarmRule.all_of(
                *(cloudwatch.AlarmRule.from_alarm(a, cloudwatch.AlarmState.ALARM) for a in down)
            ),
        )
        impaired.add_alarm_action(cw_actions.SnsAction(functions.alerts))
        return impaired
