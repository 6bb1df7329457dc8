"""Stand the synthesized platform up in the emulator, from the templates' own properties.

moto's CloudFormation cannot take these templates (it fails on KMS tags and on the
``Fn::GetStackOutput`` references between stacks before any resource exists), so the
drill creates resources itself: stacks in deployment order, each resource of a type the
failover touches created by the matching API call with the properties the template
gives it, intrinsic functions resolved against what was created so far. Everything
else is listed by type as not emulated, never silently dropped.

Adaptations, on this path only: the cross-region read replica is created without its
DB subnet group (moto looks the group up in the source region); task definitions keep
only what the failover reads (names, image, environment); services get no load
balancer; secrets get random values where the template asks Secrets Manager to generate
one.
"""

from __future__ import annotations

import json
import secrets
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_platform.toolchain.synth import stack_artifacts

Client = Callable[[str, str], Any]


class Unresolved(Exception):
    """An intrinsic function that depends on something the emulator does not create."""


@dataclass
class Created:
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class StackState:
    name: str
    region: str
    template: dict[str, Any]
    created: dict[str, Created] = field(default_factory=dict)


@dataclass
class Standup:
    stacks: dict[str, StackState]
    created: Counter[str] = field(default_factory=Counter)
    not_emulated: Counter[str] = field(default_factory=Counter)

    # --- intrinsic functions ------------------------------------------------------------
    def resolve(self, value: Any, stack: StackState) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, stack) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v, stack) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self._ref(arg, stack)
        if fn == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            found = stack.created.get(logical)
            if found is None or attribute not in found.attrs:
                raise Unresolved(f"{stack.name}/{logical}.{attribute}")
            return found.attrs[attribute]
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(str(self.resolve(p, stack)) for p in parts)
        if fn == "Fn::Select":
            index, items = arg
            return self.resolve(items, stack)[int(index)]
        if fn == "Fn::Split":
            separator, text = arg
            return str(self.resolve(text, stack)).split(separator)
        if fn == "Fn::GetStackOutput":
            other = self.stacks[arg["StackName"]]
            return self.resolve(other.template["Outputs"][arg["OutputName"]]["Value"], other)
        if fn == "Fn::Sub":
            return self._sub(arg, stack)
        if fn.startswith("Fn::"):
            raise Unresolved(fn)
        return {k: self.resolve(v, stack) for k, v in value.items()}

    def _ref(self, name: str, stack: StackState) -> str:
        pseudo = {
            "AWS::Region": stack.region,
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.name,
        }
        if name in pseudo:
            return pseudo[name]
        if name in stack.created:
            return str(stack.created[name].ref)
        parameter = stack.template.get("Parameters", {}).get(name)
        if parameter is not None and "Default" in parameter:
            return str(parameter["Default"])
        raise Unresolved(f"{stack.name}/{name}")

    def _sub(self, arg: Any, stack: StackState) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        out, i = "", 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                return out + str(text[i:])
            end = text.index("}", start)
            out += text[i:start]
            key = text[start + 2 : end]
            if key in variables:
                out += str(self.resolve(variables[key], stack))
            elif "." in key:
                out += str(self.resolve({"Fn::GetAtt": key.split(".", 1)}, stack))
            else:
                out += self._ref(key, stack)
            i = end + 1
        return out

    def value(self, value: Any, stack: StackState, default: Any = None) -> Any:
        try:
            return self.resolve(value, stack)
        except (Unresolved, KeyError, IndexError, TypeError):
            return default


def _generated(spec: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    template = spec.get("SecretStringTemplate")
    if template:
        body = json.loads(template)
        body[spec["GenerateStringKey"]] = value
        return json.dumps(body)
    return value


# --- one creator per emulated type ---------------------------------------------------------
def _secret(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    sm = client("secretsmanager", st.region)
    value = _generated(props.get("GenerateSecretString", {}))
    replicas = [{"Region": r["Region"]} for r in props.get("ReplicaRegions", [])]
    extra = {"AddReplicaRegions": replicas} if replicas else {}
    made = sm.create_secret(Name=props["Name"], SecretString=value, **extra)
    return Created(made["ARN"])


def _db_instance(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    rds = client("rds", st.region)
    identifier = props["DBInstanceIdentifier"]
    tags = [
        {"Key": t["Key"], "Value": str(up.value(t["Value"], st, ""))} for t in props.get("Tags", [])
    ]
    if "SourceDBInstanceIdentifier" in props:
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier=identifier,
            SourceDBInstanceIdentifier=up.resolve(props["SourceDBInstanceIdentifier"], st),
            DBInstanceClass=props["DBInstanceClass"],
            Tags=tags,
        )
    else:
        rds.create_db_instance(
            DBInstanceIdentifier=identifier,
            Engine=props["Engine"],
            EngineVersion=props.get("EngineVersion", ""),
            DBInstanceClass=props["DBInstanceClass"],
            AllocatedStorage=int(props.get("AllocatedStorage", 20)),
            MasterUsername="twenty_admin",
            MasterUserPassword=_generated({"PasswordLength": 32}),
            MultiAZ=bool(props.get("MultiAZ", False)),
            BackupRetentionPeriod=int(props.get("BackupRetentionPeriod", 1)),
            DeletionProtection=bool(props.get("DeletionProtection", False)),
            Tags=tags,
        )
    found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    return Created(
        identifier,
        {"Endpoint.Address": found["Endpoint"]["Address"], "Endpoint.Port": "5432",
         "DBInstanceArn": found["DBInstanceArn"]},
    )  # fmt: skip


def _cluster(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    made = client("ecs", st.region).create_cluster(clusterName=props["ClusterName"])["cluster"]
    return Created(props["ClusterName"], {"Arn": made["clusterArn"]})


def _task_definition(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    containers = [
        {
            "name": c["Name"],
            "image": c["Image"],
            "essential": bool(c.get("Essential", True)),
            "memory": 512,
            "environment": [
                {"name": e["Name"], "value": str(up.value(e["Value"], st, "<unresolved>"))}
                for e in c.get("Environment", [])
            ],
        }
        for c in props["ContainerDefinitions"]
    ]
    made = client("ecs", st.region).register_task_definition(
        family=props["Family"], containerDefinitions=containers,
        cpu=str(props.get("Cpu", "256")), memory=str(props.get("Memory", "512")),
        requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
    )["taskDefinition"]  # fmt: skip
    return Created(made["taskDefinitionArn"])


def _service(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    cluster = up.resolve(props["Cluster"], st)
    made = client("ecs", st.region).create_service(
        cluster=cluster, serviceName=props["ServiceName"],
        taskDefinition=up.resolve(props["TaskDefinition"], st),
        desiredCount=int(props.get("DesiredCount", 0)), launchType="FARGATE",
    )["service"]  # fmt: skip
    return Created(made["serviceArn"], {"Name": props["ServiceName"]})


def _scalable_target(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    resource = up.resolve(props["ResourceId"], st)
    client("application-autoscaling", st.region).register_scalable_target(
        ServiceNamespace=props["ServiceNamespace"], ResourceId=resource,
        ScalableDimension=props["ScalableDimension"],
        MinCapacity=int(props["MinCapacity"]), MaxCapacity=int(props["MaxCapacity"]),
    )  # fmt: skip
    return Created(resource)


def _parameter(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    client("ssm", st.region).put_parameter(
        Name=props["Name"], Value=up.resolve(props["Value"], st), Type=props.get("Type", "String")
    )
    return Created(props["Name"])


def _topic(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    name = props.get("TopicName") or f"{st.name}-{len(st.created)}"
    arn = client("sns", st.region).create_topic(Name=name)["TopicArn"]
    return Created(arn, {"TopicArn": arn, "TopicName": name})


def _table(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    made = client("dynamodb", st.region).create_table(
        TableName=props["TableName"], KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]  # fmt: skip
    return Created(props["TableName"], {"Arn": made["TableArn"]})


def _alarm(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    name = props.get("AlarmName") or f"{st.name}-alarm-{len(st.created)}"
    if "MetricName" not in props:
        raise Unresolved("metric-math alarm")
    client("cloudwatch", st.region).put_metric_alarm(
        AlarmName=name, MetricName=props["MetricName"], Namespace=props["Namespace"],
        Statistic=props.get("Statistic", "Maximum"), Period=int(props.get("Period", 60)),
        EvaluationPeriods=int(props["EvaluationPeriods"]), Threshold=float(props["Threshold"]),
        ComparisonOperator=props["ComparisonOperator"],
        Dimensions=[{"Name": d["Name"], "Value": str(up.value(d["Value"], st, "<unresolved>"))}
                    for d in props.get("Dimensions", [])],
        AlarmActions=[str(up.value(a, st, "")) for a in props.get("AlarmActions", [])],
        TreatMissingData=props.get("TreatMissingData", "missing"),
    )  # fmt: skip
    arn = f"arn:aws:cloudwatch:{st.region}:123456789012:alarm:{name}"
    return Created(name, {"Arn": arn})


def _composite(up: Standup, st: StackState, props: dict[str, Any], client: Client) -> Created:
    """moto has no composite alarms: stood up as a metric alarm of the same name, whose
    state the drill sets (it evaluates no alarm anyway)."""
    name = props["AlarmName"]
    client("cloudwatch", st.region).put_metric_alarm(
        AlarmName=name, AlarmDescription=str(up.value(props.get("AlarmRule"), st, "")),
        MetricName="composite", Namespace="crm-platform/Drill", Statistic="Maximum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    return Created(name, {"Arn": f"arn:aws:cloudwatch:{st.region}:123456789012:alarm:{name}"})


def _rotation_application(
    up: Standup, st: StackState, props: dict[str, Any], client: Client
) -> Created:
    """AWS's rotation app from the Serverless Application Repository: stood up as an empty
    function of the same name (the drill attaches rotation but never runs it)."""
    import io
    import zipfile

    name = str(up.resolve(props["Parameters"]["functionName"], st))
    iam = client("iam", st.region)
    role = iam.create_role(RoleName=f"{name}-drill", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("lambda_function.py", "def lambda_handler(event, context):\n    pass\n")
    made = client("lambda", st.region).create_function(
        FunctionName=name, Runtime="python3.12", Role=role,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )  # fmt: skip
    return Created(name, {"Arn": made["FunctionArn"]})


CREATORS: dict[str, Callable[[Standup, StackState, dict[str, Any], Client], Created]] = {
    "AWS::SNS::Topic": _topic,
    "AWS::SSM::Parameter": _parameter,
    "AWS::DynamoDB::Table": _table,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::RDS::DBInstance": _db_instance,
    "AWS::ECS::Cluster": _cluster,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::ECS::Service": _service,
    "AWS::ApplicationAutoScaling::ScalableTarget": _scalable_target,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::CompositeAlarm": _composite,
    "AWS::Serverless::Application": _rotation_application,
}
ORDER = list(CREATORS)  # dependencies run in this order within a stack


def stand_up(outdir: Path, client: Client) -> Standup:
    """Create every emulated resource of the assembly at ``outdir``, stacks in order."""
    artifacts = stack_artifacts(outdir)
    ordered = _deployment_order(artifacts)
    stacks = {
        name: StackState(
            name,
            artifacts[name]["environment"].rsplit("/", 1)[-1],
            json.loads((outdir / artifacts[name]["properties"]["templateFile"]).read_text()),
        )
        for name in ordered
    }
    up = Standup(stacks)
    for name in ordered:
        st = stacks[name]
        resources = st.template.get("Resources", {})
        for kind in ORDER:
            for logical, resource in resources.items():
                if resource["Type"] != kind:
                    continue
                try:
                    st.created[logical] = CREATORS[kind](
                        up, st, resource.get("Properties", {}), client
                    )
                    up.created[kind] += 1
                except Unresolved:
                    up.not_emulated[f"{kind} (unresolvable input)"] += 1
        for resource in resources.values():
            if resource["Type"] not in CREATORS:
                up.not_emulated[resource["Type"]] += 1
    return up


def _deployment_order(artifacts: dict[str, Any]) -> list[str]:
    done: list[str] = []
    pending = dict(artifacts)
    while pending:
        ready = [
            n
            for n, a in pending.items()
            if all(d in done or d not in artifacts for d in a.get("dependencies", []))
        ]
        if not ready:
            raise ValueError(f"stack dependencies form a cycle: {sorted(pending)}")
        for name in sorted(ready):
            done.append(name)
            del pending[name]
    return done
