"""``crm-platform drill --local``: a regional failover rehearsed against the emulator.

1. start moto on loopback and stand the synthesized platform up in it (ops/standup.py);
2. inject a primary-region outage: the DR probes report the primary down (the drill
   sets the alarm states that data would produce: moto evaluates no alarms) and the
   primary's endpoints stop answering (``partial``: its data plane only, so the fence
   can still reach its ECS API; ``full``: every endpoint);
3. run the failover through the same step code the state machine runs, with the local
   runner and a virtual clock (ops/local_runner.py);
4. check the end state from the emulator's own answers.

What the emulator cannot do is reported per step as "not emulated", never as passed:
it runs no tasks (so no healthy targets), evaluates no alarms or health checks, has no
network to the public URL, and its promotion and secret-replication gaps are closed by
the extensions in ops/emulator.py (said in the report).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from crm_platform.failover.runtime import steps, switch, timeline
from crm_platform.naming import Names
from crm_platform.ops import emulator
from crm_platform.ops.local_runner import RunReport, StepReport, VirtualClock, run_local
from crm_platform.ops.standup import Standup, stand_up

Outage = Literal["partial", "full"]
NOT_EMULATED = {
    "wait_healthy": "the emulator runs no Fargate tasks, so no target ever turns healthy",
    "verify_public": "no network to the public URL from the drill",
}
EMULATOR_NOTES = [
    "promotion: moto only flips a status; an emulator extension removes the replica link",
    "secrets: moto lacks StopReplicationToReplica; an emulator extension implements it",
    "alarms: moto evaluates none; the drill sets the states the probes' data would produce",
    "replica: created without its DB subnet group (moto looks it up in the source region)",
    "composite alarm: moto has none; stood up as a metric alarm of the same name",
    "rotation: AWS's rotation app (SAR) is stood up as an empty function; never invoked",
]


@dataclass
class Check:
    name: str
    ok: bool
    observed: Any


@dataclass
class DrillReport:
    environment: str
    outage: str
    run: str
    seconds: float
    standup: dict[str, Any]
    steps: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    notes: list[str] = field(default_factory=lambda: list(EMULATOR_NOTES))

    @property
    def passed(self) -> bool:
        ran = all(s["status"] in ("done", "not emulated") for s in self.steps)
        return ran and all(c["ok"] for c in self.checks)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "verdict": "pass" if self.passed else "fail"},
                          indent=1, default=str)  # fmt: skip


def failover_config(up: Standup, names: Names) -> dict[str, Any]:
    """The step function's own FAILOVER_CONFIG, resolved from the synthesized template."""
    stack = up.stacks[names.dr_app_stack]
    for resource in stack.template["Resources"].values():
        props = resource.get("Properties", {})
        if (
            resource["Type"] == "AWS::Lambda::Function"
            and props.get("Handler") == "handler.handler"
        ):
            config: dict[str, Any] = json.loads(
                up.resolve(props["Environment"]["Variables"]["FAILOVER_CONFIG"], stack)
            )
            return config
    raise ValueError(f"{names.dr_app_stack} holds no failover step function")


def inject_outage(client: emulator.Client, config: dict[str, Any], clock: VirtualClock) -> None:
    """What DR sees when the primary region is down, as the emulator can show it."""
    dr = config["dr_region"]
    cw = client("cloudwatch", dr)
    cw.put_metric_data(
        Namespace="crm-platform/Probe",
        MetricData=[
            {"MetricName": m, "Dimensions": [{"Name": "Environment", "Value": config["environment"]}],
             "Value": 0.0, "Timestamp": clock.now()}
            for m in ("PublicUp", "PrimaryOriginUp")
        ],
    )  # fmt: skip
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{"MetricName": "ReplicaLag", "Value": 2.0, "Timestamp": clock.now() - 60,
                     "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": config["replica"]}]}],
    )  # fmt: skip
    impaired = config["impaired_alarm"]
    for name in (f"{impaired}-publicup-down", f"{impaired}-primaryoriginup-down", impaired):
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="drill: primary down")


def check_end_state(client: emulator.Client, config: dict[str, Any], outage: Outage) -> list[Check]:
    dr, primary = config["dr_region"], config["primary_region"]
    checks: list[Check] = []
    db = client("rds", dr).describe_db_instances(DBInstanceIdentifier=config["replica"])[
        "DBInstances"
    ][0]  # noqa: E501
    checks.append(
        Check(
            "replica promoted (no source link)",
            not db.get("ReadReplicaSourceDBInstanceIdentifier"),
            db.get("ReadReplicaSourceDBInstanceIdentifier"),
        )
    )  # noqa: E501
    checks.append(
        Check(
            "backups on the promoted database",
            db["BackupRetentionPeriod"] >= config["backup_retention_days"],
            db["BackupRetentionPeriod"],
        )
    )  # noqa: E501
    checks.append(
        Check(
            "Multi-AZ requested",
            db["MultiAZ"] is bool(config["multi_az"]) or not config["multi_az"],
            db["MultiAZ"],
        )
    )  # noqa: E501
    sm = client("secretsmanager", dr)
    standalone = {
        n: sm.describe_secret(SecretId=n).get("PrimaryRegion", dr) for n in config["secrets"]
    }  # noqa: E501
    checks.append(
        Check("DR secrets standalone in DR", all(r == dr for r in standalone.values()), standalone)
    )  # noqa: E501
    host = json.loads(sm.get_secret_value(SecretId=config["db_secret"])["SecretString"]).get("host")
    checks.append(
        Check(
            "database secret names the promoted endpoint", host == db["Endpoint"]["Address"], host
        )
    )  # noqa: E501
    rotation = sm.describe_secret(SecretId=config["db_secret"])
    checks.append(
        Check(
            "DR rotation attached",
            bool(rotation.get("RotationEnabled"))
            and rotation.get("RotationLambdaARN") == config["rotation_function_arn"],
            rotation.get("RotationLambdaARN"),
        )
    )  # noqa: E501
    scaling = client("application-autoscaling", dr).describe_scalable_targets(
        ServiceNamespace="ecs"
    )["ScalableTargets"]  # noqa: E501
    ecs = client("ecs", dr)
    for role, service in config["services"].items():
        resource = f"service/{config['clusters']['dr']}/{service['name']}"
        (target,) = [t for t in scaling if t["ResourceId"] == resource]
        desired = ecs.describe_services(
            cluster=config["clusters"]["dr"], services=[service["name"]]
        )["services"][0]["desiredCount"]  # noqa: E501
        checks.append(
            Check(
                f"DR {role} raised to {service['desired']}",
                target["MinCapacity"] == service["desired"] and desired == service["desired"],
                {"min": target["MinCapacity"], "desired": desired},
            )
        )  # noqa: E501
    state = switch.read(client("ssm", dr), config["switch_parameter"])
    checks.append(Check("traffic switch set to dr", state == "dr", state))
    failed_over = json.loads(
        client("ssm", dr).get_parameter(Name=config["failover_parameter"])["Parameter"]["Value"]
    )  # noqa: E501
    checks.append(
        Check(
            "failed-over state recorded (deploys refuse)",
            failed_over.get("state") == "failed-over",
            failed_over.get("state"),
        )
    )  # noqa: E501
    lag = client("cloudwatch", dr).describe_alarms(AlarmNames=[config["replica_lag_alarm"]])[
        "MetricAlarms"
    ]  # noqa: E501
    checks.append(
        Check(
            "replica-lag alarm retired",
            bool(lag) and lag[0]["ActionsEnabled"] is False,
            lag[0]["ActionsEnabled"] if lag else "missing",
        )
    )  # noqa: E501
    if outage == "partial":
        pecs = client("ecs", primary)
        names = [s["name"] for s in config["services"].values()]
        counts = {
            s["serviceName"]: s["desiredCount"]
            for s in pecs.describe_services(cluster=config["clusters"]["primary"], services=names)[
                "services"
            ]
        }  # noqa: E501
        limits = {
            t["ResourceId"]: t["MaxCapacity"]
            for t in client("application-autoscaling", primary).describe_scalable_targets(
                ServiceNamespace="ecs"
            )["ScalableTargets"]
        }  # noqa: E501
        checks.append(
            Check(
                "primary fenced (services and scaling at 0)",
                all(v == 0 for v in counts.values()) and all(v == 0 for v in limits.values()),
                {"desired": counts, "max": limits},
            )
        )  # noqa: E501
    return checks


def run_drill(
    outdir: Path,
    names: Names,
    *,
    outage: Outage = "partial",
    progress: Callable[[str], None] = lambda _m: None,
    on_step: Callable[[StepReport], None] = lambda _r: None,
) -> DrillReport:
    started = time.perf_counter()
    clock = VirtualClock()
    with emulator.emulator() as endpoint:
        progress(f"emulator on {endpoint}")
        client = emulator.client_factory(endpoint)
        up = stand_up(outdir, client)
        progress(f"stood up {sum(up.created.values())} resources of {len(up.created)} types")
        config = failover_config(up, names)
        inject_outage(client, config, clock)
        primary = config["primary_region"]
        impaired = (
            emulator.with_outage(client, primary)
            if outage == "full"
            else emulator.with_outage(client, primary, services=frozenset({"cloudwatch", "elbv2"}))
        )
        progress(f"outage injected in {primary} ({outage}); failing over to {config['dr_region']}")
        run = f"drill-{int(clock.now())}"
        ctx = steps.Context(config=config, client=impaired, now=clock.now)
        dynamodb = client("dynamodb", config["dr_region"])
        report: RunReport = run_local(
            ctx, run=run, dynamodb=dynamodb, table=config["runs_table"], sleep=clock.sleep,
            not_emulated=NOT_EMULATED, progress=on_step,
        )  # fmt: skip
        checks = check_end_state(client, config, outage) if report.ok else []
        rows = timeline.read(dynamodb, config["runs_table"], run)
    return DrillReport(
        environment=names.prefix,
        outage=outage,
        run=run,
        seconds=round(time.perf_counter() - started, 2),
        standup={"created": dict(up.created), "not_emulated": dict(up.not_emulated)},
        steps=[asdict(s) for s in report.steps],
        timeline=rows,
        checks=[asdict(c) for c in checks],
    )
