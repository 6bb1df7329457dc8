"""Stand the synthesized platform up in the emulator, from the templates' own properties.

moto's CloudFormation cannot take these templates (it fails on KMS tags and on the
``Fn::GetStackOutput`` references between stacks before any resource exists), so the
drill creates resources itself: stacks in deployment order, each resource of a type the
failover touches created by the matching API call with the properties the template
gives it, intrinsic functions resolved against what was created so far. Everything
else is listed by type as not emulated, never silently dropped.

Adaptations, on this path only: the cross-region read replica is created without its
DB subnet group (moto looks the group up in the source region); task definitions keep
only what the failover reads (names, image, command, environment); services get no load
balancer and run in a stand-in subnet and security group; secrets get random values
where the template asks Secrets Manager to generate one.
"""

from __future__ import annotations

import json
import secrets
import string
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_platform.assembly.intrinsics import Intrinsics, Unresolved
from crm_platform.assembly.physical import PhysicalResources
from crm_platform.assembly.reader import StackTemplate, load

Client = Callable[[str, str], Any]


@dataclass
class Created:
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class StackState(StackTemplate):
    """A stack of the assembly and what the stand-up created of it in the emulator."""

    created: dict[str, Created] = field(default_factory=dict)


class Standup(Intrinsics):
    """The stacks in the emulator; intrinsics resolve against what was created."""

    def __init__(self, stacks: dict[str, StackState]) -> None:
        super().__init__(stacks)
        self.states = stacks
        self.created: Counter[str] = Counter()
        self.not_emulated: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.physical = PhysicalResources(stacks)
        self._networks: dict[str, tuple[str, str]] = {}

    def stand_in_network(self, client: Client, region: str) -> tuple[str, str]:
        """One subnet and security group per region for what runs in a VPC."""
        if region not in self._networks:
            ec2 = client("ec2", region)
            vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
            # As the platform's VPCs have it (and moto's awsvpc tasks need it).
            ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
            group = ec2.create_security_group(
                GroupName="drill-stand-in", Description="drill", VpcId=vpc
            )["GroupId"]
            self._networks[region] = (subnet, group)
        return self._networks[region]

    def ref(self, logical: str, stack: StackTemplate) -> str:
        found = self.states[stack.name].created.get(logical)
        if found is None:
            raise Unresolved(f"{stack.name}/{logical}")
        return str(found.ref)

    def get_att(self, logical: str, attribute: str, stack: StackTemplate) -> str:
        found = self.states[stack.name].created.get(logical)
        if found is None or attribute not in found.attrs:
            raise Unresolved(f"{stack.name}/{logical}.{attribute}")
        return found.attrs[attribute]


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
def _secret(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    sm = client("secretsmanager", st.region)
    value = _generated(props.get("GenerateSecretString", {}))
    replicas = [{"Region": r["Region"]} for r in props.get("ReplicaRegions", [])]
    extra = {"AddReplicaRegions": replicas} if replicas else {}
    made = sm.create_secret(Name=props["Name"], SecretString=value, **extra)
    return Created(made["ARN"])


def _db_instance(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
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
            MultiAZ=bool(props.get("MultiAZ", False)),
            Tags=tags,
            # The template's own groups (moto would copy the source region's otherwise).
            VpcSecurityGroupIds=[
                str(up.resolve(g, st)) for g in props.get("VPCSecurityGroups", [])
            ],
        )
        if int(props.get("BackupRetentionPeriod", 0)):
            # CreateDBInstanceReadReplica takes no retention; CloudFormation applies it.
            rds.modify_db_instance(
                DBInstanceIdentifier=identifier,
                BackupRetentionPeriod=int(props["BackupRetentionPeriod"]),
                ApplyImmediately=True,
            )
    else:
        groups = [str(up.resolve(g, st)) for g in props.get("VPCSecurityGroups", [])]
        rds.create_db_instance(
            DBInstanceIdentifier=identifier,
            VpcSecurityGroupIds=groups,
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


def _security_group(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    """In the region's stand-in VPC (the VPC itself is not emulated); inline rules are
    left out (the fence reads the rules between groups, separate resources here)."""
    _subnet, _group = up.stand_in_network(client, st.region)
    ec2 = client("ec2", st.region)
    vpc = ec2.describe_security_groups(GroupIds=[_group])["SecurityGroups"][0]["VpcId"]
    made = ec2.create_security_group(
        GroupName=logical, Description=str(props.get("GroupDescription", logical)), VpcId=vpc
    )["GroupId"]
    return Created(made, {"GroupId": made})


def _security_group_ingress(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    """A rule from another group (the only kind the fence reads)."""
    if "SourceSecurityGroupId" not in props:
        raise Unresolved(f"{st.name}/{logical} (not a rule between groups)")
    group = str(up.resolve(props["GroupId"], st))
    client("ec2", st.region).authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": props.get("IpProtocol", "tcp"),
                "FromPort": int(props["FromPort"]),
                "ToPort": int(props["ToPort"]),
                "UserIdGroupPairs": [
                    {
                        "GroupId": str(up.resolve(props["SourceSecurityGroupId"], st)),
                        "Description": str(props.get("Description", "")),
                    }
                ],
            }
        ],
    )
    return Created(f"{group}-{logical}")


def _cluster(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    made = client("ecs", st.region).create_cluster(clusterName=props["ClusterName"])["cluster"]
    return Created(props["ClusterName"], {"Arn": made["clusterArn"]})


def _named(up: Standup, value: Any, st: StackState) -> str:
    """A value, or what it refers to when the stand-up did not create that: two task
    definitions naming the same cache stay comparable ("<crm-prod-dr/Cache....>")."""
    try:
        return str(up.resolve(value, st))
    except Unresolved as err:
        return f"<{err}>"
    except (KeyError, IndexError, TypeError):
        return "<unresolved>"


def _task_definition(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    containers = [
        {
            "name": c["Name"],
            "image": c["Image"],
            "essential": bool(c.get("Essential", True)),
            "memory": 512,
            "command": [str(x) for x in c.get("Command", [])],
            "environment": [
                {"name": e["Name"], "value": _named(up, e["Value"], st)}
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


def _service(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    cluster = up.resolve(props["Cluster"], st)
    network: dict[str, Any] = {}
    vpc = props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration")
    if vpc:
        # The networks are not stood up: the service runs in a stand-in subnet and
        # security group of its region, which a one-off task started "like the service"
        # then carries.
        subnet, group = up.stand_in_network(client, st.region)
        network["networkConfiguration"] = {"awsvpcConfiguration": {
            "subnets": [subnet], "securityGroups": [group],
            "assignPublicIp": vpc.get("AssignPublicIp", "DISABLED"),
        }}  # fmt: skip
    made = client("ecs", st.region).create_service(
        cluster=cluster, serviceName=props["ServiceName"],
        taskDefinition=up.resolve(props["TaskDefinition"], st),
        desiredCount=int(props.get("DesiredCount", 0)), launchType="FARGATE", **network,
    )["service"]  # fmt: skip
    return Created(made["serviceArn"], {"Name": props["ServiceName"]})


def _scalable_target(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    resource = up.resolve(props["ResourceId"], st)
    client("application-autoscaling", st.region).register_scalable_target(
        ServiceNamespace=props["ServiceNamespace"], ResourceId=resource,
        ScalableDimension=props["ScalableDimension"],
        MinCapacity=int(props["MinCapacity"]), MaxCapacity=int(props["MaxCapacity"]),
    )  # fmt: skip
    return Created(resource)


def _parameter(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    client("ssm", st.region).put_parameter(
        Name=props["Name"], Value=up.resolve(props["Value"], st), Type=props.get("Type", "String")
    )
    return Created(props["Name"])


def _topic(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    # The name CloudFormation would generate (assembly/physical.py): the policies the
    # authorization model reads name the topic by it.
    name = up.physical.ref(logical, st).rsplit(":", 1)[-1]
    arn = client("sns", st.region).create_topic(Name=name)["TopicArn"]
    return Created(arn, {"TopicArn": arn, "TopicName": name})


def _table(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    made = client("dynamodb", st.region).create_table(
        TableName=props["TableName"], KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]  # fmt: skip
    return Created(props["TableName"], {"Arn": made["TableArn"]})


def _alarm(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
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


def _composite(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
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
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
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


def _bucket(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    """A bucket under its template name (or the name CloudFormation would generate), with
    its tags: the failover tags the DR bucket for DR's backup plan."""
    name = str(up.value(props.get("BucketName"), st, "") or up.physical.ref(logical, st)).lower()
    s3 = client("s3", st.region)
    where = {} if st.region == "us-east-1" else {"LocationConstraint": st.region}
    s3.create_bucket(Bucket=name, **({"CreateBucketConfiguration": where} if where else {}))
    tags = [
        {"Key": t["Key"], "Value": str(up.value(t["Value"], st, ""))} for t in props.get("Tags", [])
    ]
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
    return Created(name, {"Arn": f"arn:aws:s3:::{name}"})


def _key(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    """A KMS key of the template's spec and usage (the switch's HMAC key signs in the
    drill); its policy is the authorization model's to decide, not moto's."""
    made = client("kms", st.region).create_key(
        KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
        KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        Description=str(up.value(props.get("Description"), st, "")),
    )["KeyMetadata"]
    return Created(made["KeyId"], {"Arn": made["Arn"], "KeyId": made["KeyId"]})


def _alias(
    up: Standup, st: StackState, logical: str, props: dict[str, Any], client: Client
) -> Created:
    target = str(up.resolve(props["TargetKeyId"], st))
    client("kms", st.region).create_alias(AliasName=props["AliasName"], TargetKeyId=target)
    return Created(props["AliasName"])


CREATORS: dict[str, Callable[[Standup, StackState, str, dict[str, Any], Client], Created]] = {
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::S3::Bucket": _bucket,
    "AWS::SNS::Topic": _topic,
    "AWS::SSM::Parameter": _parameter,
    "AWS::DynamoDB::Table": _table,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::EC2::SecurityGroupIngress": _security_group_ingress,
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


def stand_up(
    outdir: Path,
    client: Client,
    wanted: Callable[[StackTemplate, dict[str, Any]], bool] = lambda _s, _r: True,
    stacks: Mapping[str, StackTemplate] | None = None,
) -> Standup:
    """Create every emulated resource of the assembly at ``outdir``, stacks in order.

    ``wanted`` may leave out resources of an emulated type that the caller never reads
    (they are counted as skipped, not as not emulated); ``stacks``, the assembly's stacks
    when the caller has read them already.
    """
    states = {
        name: StackState(s.name, s.account, s.region, s.template, s.dependencies)
        for name, s in (stacks if stacks is not None else load(outdir)).items()
    }
    up = Standup(states)
    for st in states.values():
        for kind in ORDER:
            for logical, resource in st.resources.items():
                if resource["Type"] != kind:
                    continue
                if not wanted(st, resource):
                    up.skipped[kind] += 1
                    continue
                try:
                    st.created[logical] = CREATORS[kind](
                        up, st, logical, resource.get("Properties", {}), client
                    )
                    up.created[kind] += 1
                except Unresolved:
                    up.not_emulated[f"{kind} (unresolvable input)"] += 1
        for resource in st.resources.values():
            if resource["Type"] not in CREATORS:
                up.not_emulated[resource["Type"]] += 1
    return up
