"""``crm-platform drill --local``: a regional failover rehearsed against the emulator.

1. start moto on loopback and stand the synthesized platform up in it (drill/standup.py);
2. inject a primary-region outage: the DR probes report the primary down (the drill
   sets the alarm states that data would produce: moto evaluates no alarms) and the
   primary's endpoints stop answering (``partial``: its data plane only, so the fence
   can still reach its ECS API; ``full``: every endpoint);
3. run the failover through the same step code the state machine runs, with the local
   runner and a virtual clock (failover/local_runner.py);
4. check the end state from the emulator's own answers.

What the emulator cannot do is reported per step as "not emulated", never as passed:
it runs no tasks (so no healthy targets), evaluates no alarms or health checks, has no
network to the public URL, and its promotion and secret-replication gaps are closed by
the extensions in drill/emulator.py (said in the report).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from crm_platform.contracts import ENVIRONMENT_DIMENSION, PROBE_METRICS, PROBE_NAMESPACE
from crm_platform.drill import emulator
from crm_platform.drill.standup import Standup, stand_up
from crm_platform.failover.local_runner import RunReport, StepReport, VirtualClock, run_local
from crm_platform.failover.runtime import steps, switch, timeline
from crm_platform.naming import Names

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


def inject_outage(
    client: emulator.Client, config: dict[str, Any], clock: VirtualClock, names: Names
) -> None:
    """What DR sees when the primary region is down, as the emulator can show it."""
    dr = config["dr_region"]
    cw = client("cloudwatch", dr)
    cw.put_metric_data(
        Namespace=PROBE_NAMESPACE,
        MetricData=[
            {"MetricName": m, "Value": 0.0, "Timestamp": clock.now(),
             "Dimensions": [{"Name": ENVIRONMENT_DIMENSION, "Value": config["environment"]}]}
            for m in PROBE_METRICS
        ],
    )  # fmt: skip
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{"MetricName": "ReplicaLag", "Value": 2.0, "Timestamp": clock.now() - 60,
                     "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": config["replica"]}]}],
    )  # fmt: skip
    for name in (*(names.probe_down_alarm(m) for m in PROBE_METRICS), names.impaired_alarm):
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="drill: primary down")


def check_end_state(client: emulator.Client, config: dict[str, Any], outage: Outage) -> list[Check]:
    """What the failover must have left behind, read back from the emulator."""
    dr, primary = config["dr_region"], config["primary_region"]
    checks: list[Check] = []

    def check(name: str, ok: bool, observed: Any) -> None:
        checks.append(Check(name, ok, observed))

    rds = client("rds", dr)
    db = rds.describe_db_instances(DBInstanceIdentifier=config["replica"])["DBInstances"][0]
    source = db.get("ReadReplicaSourceDBInstanceIdentifier")
    check("replica promoted (no source link)", not source, source)
    retention = db["BackupRetentionPeriod"]
    check(
        "backups on the promoted database", retention >= config["backup_retention_days"], retention
    )
    check(
        "Multi-AZ on the promoted database", db["MultiAZ"] or not config["multi_az"], db["MultiAZ"]
    )

    sm = client("secretsmanager", dr)
    regions = {
        n: sm.describe_secret(SecretId=n).get("PrimaryRegion", dr) for n in config["secrets"]
    }
    check("DR secrets standalone in DR", set(regions.values()) == {dr}, regions)
    value = json.loads(sm.get_secret_value(SecretId=config["db_secret"])["SecretString"])
    check(
        "database secret names the promoted endpoint",
        value.get("host") == db["Endpoint"]["Address"],
        value.get("host"),
    )
    rotation = sm.describe_secret(SecretId=config["db_secret"])
    attached = rotation.get("RotationLambdaARN")
    check(
        "DR rotation attached",
        bool(rotation.get("RotationEnabled")) and attached == config["rotation_function_arn"],
        attached,
    )

    scaling = client("application-autoscaling", dr)
    targets = {
        t["ResourceId"]: t
        for t in scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    }
    ecs, cluster = client("ecs", dr), config["clusters"]["dr"]
    for role, service in config["services"].items():
        target = targets[f"service/{cluster}/{service['name']}"]
        (found,) = ecs.describe_services(cluster=cluster, services=[service["name"]])["services"]
        observed = {"min": target["MinCapacity"], "desired": found["desiredCount"]}
        check(
            f"DR {role} raised to {service['desired']}",
            observed == {"min": service["desired"], "desired": service["desired"]},
            observed,
        )

    ssm = client("ssm", dr)
    state = switch.read(ssm, config["switch_parameter"])
    check("traffic switch set to dr", state == "dr", state)
    recorded = json.loads(
        ssm.get_parameter(Name=config["failover_parameter"])["Parameter"]["Value"]
    )
    check(
        "failed-over state recorded (deploys refuse)",
        recorded.get("state") == "failed-over",
        recorded.get("state"),
    )
    lag = client("cloudwatch", dr).describe_alarms(AlarmNames=[config["replica_lag_alarm"]])
    enabled = [a["ActionsEnabled"] for a in lag["MetricAlarms"]]
    check("replica-lag alarm retired", enabled == [False], enabled)

    if outage == "partial":  # the primary's ECS API still answers: it must be fenced
        pecs, pcluster = client("ecs", primary), config["clusters"]["primary"]
        names = [s["name"] for s in config["services"].values()]
        desired = {
            s["serviceName"]: s["desiredCount"]
            for s in pecs.describe_services(cluster=pcluster, services=names)["services"]
        }
        limits = client("application-autoscaling", primary).describe_scalable_targets(
            ServiceNamespace="ecs"
        )["ScalableTargets"]
        maxima = {t["ResourceId"]: t["MaxCapacity"] for t in limits}
        check(
            "primary fenced (services and scaling at 0)",
            set(desired.values()) == {0} and set(maxima.values()) == {0},
            {"desired": desired, "max": maxima},
        )
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
        inject_outage(client, config, clock, names)
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
