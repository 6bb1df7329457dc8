"""The regional failover as one ordered list of steps: the only definition there is.

The Step Functions state machine (failover/definition.py) and the local runner used by
the drill (failover/local_runner.py) are both generated from ``STEPS``, so they cannot drift.
Each step is a plain function of a ``Context`` that reads the world first and does
nothing when its effect is already there: a run that crashed half-way and is started
again resumes instead of repeating (a replica is never promoted twice). A step returns
an ``Outcome``; ``done=False`` asks to be called again after ``wait`` seconds (polling),
within the step's own timeout.

Everything here runs in the DR region, or reaches the primary region only to fence it
where it can still be reached. Nothing calls a us-east-1 control plane (Route 53 record
changes, CloudFront): traffic moves through the DR-region switch (runtime/switch.py).

Runs on the Lambda runtime's own boto3; nothing else is packaged.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

try:  # imported as a package by the CLI and the drill ...
    from crm_platform.failover.runtime import switch
except ImportError:  # pragma: no cover - ... and flat inside the Lambda asset
    import switch  # type: ignore[no-redef]

THROTTLING = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "ProvisionedThroughputExceededException", "LimitExceededException",
})  # fmt: skip

Client = Callable[[str, str], Any]  # (service, region) -> boto3 client


class Retryable(Exception):
    """A transient failure (throttling): retried with backoff."""


class StepFailed(Exception):
    """The step cannot succeed as things stand; the message says what to do next."""


class PreflightRefused(StepFailed):
    """The primary does not look impaired: refusing to fail over without --force."""


@dataclass(frozen=True)
class Outcome:
    done: bool
    detail: dict[str, Any] = field(default_factory=dict)
    wait: int = 0


@dataclass
class Context:
    """What a step needs: configuration, clients by region, the run's input and clock."""

    config: dict[str, Any]
    client: Client
    force: bool = False
    now: Callable[[], float] = time.time
    http_get: Callable[[str, float], int] | None = None
    # Filled by the runner: the incident this run belongs to, and what earlier steps of
    # it recorded.
    run: str = ""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def dr(self) -> str:
        return str(self.config["dr_region"])

    @property
    def primary(self) -> str:
        return str(self.config["primary_region"])

    def aws(self, service: str, region: str | None = None) -> Any:
        return self.client(service, region or self.dr)


@dataclass(frozen=True)
class Step:
    name: str
    summary: str
    run: Callable[[Context], Outcome]
    timeout_seconds: int
    poll: bool = False  # may return done=False and be called again
    reads_results: bool = False  # reads what earlier steps of the run recorded (ctx.results)


def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """An AWS call whose throttling becomes ``Retryable`` (retried with backoff)."""
    try:
        return fn(**kwargs)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in THROTTLING:
            raise Retryable(str(err)) from err
        raise


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _replica(ctx: Context) -> dict[str, Any] | None:
    rds = ctx.aws("rds")
    try:
        found = call(rds.describe_db_instances, DBInstanceIdentifier=ctx.config["replica"])
    except ClientError as err:
        if _code(err) == "DBInstanceNotFound":
            return None
        raise
    instances = found["DBInstances"]
    return dict(instances[0]) if instances else None


# --- the steps ---------------------------------------------------------------------------
def preflight(ctx: Context) -> Outcome:
    """Confirm the primary is impaired (from DR-evaluable signals) and the replica usable,
    then hold the failover lock for this incident.

    An incident that is resuming (the failed-over state names it) is never refused: it
    may be past the fence already, and stopping half-way would leave two databases.
    """
    c = ctx.config
    cw = ctx.aws("cloudwatch")
    alarms = call(
        cw.describe_alarms,
        AlarmNames=[c["impaired_alarm"]],
        AlarmTypes=["CompositeAlarm", "MetricAlarm"],
    )
    states = [
        a["StateValue"] for a in alarms.get("CompositeAlarms", []) + alarms.get("MetricAlarms", [])
    ]
    impaired = states == ["ALARM"]
    primary_alarms = _primary_alarms(ctx)
    replica = _replica(ctx)
    if replica is None:
        raise StepFailed(
            f"the DR database {c['replica']} does not exist: nothing to promote. Restore from "
            "the DR vault instead (docs/emergency-recovery.md, 'No replica')"
        )
    promoted = not replica.get("ReadReplicaSourceDBInstanceIdentifier")
    recorded = _failed_over_state(ctx)
    resuming = recorded.get("incident") == ctx.run and recorded.get("state") != "none"
    lag = _replica_lag(ctx)
    detail = {
        "impaired_signal": states[0] if states else "missing",
        "primary_alarms": primary_alarms,
        "replica_status": replica.get("DBInstanceStatus"),
        "replica_already_promoted": promoted,
        "replica_lag_seconds": lag,
        "estimated_data_loss_seconds": lag,
        "forced": ctx.force,
        "resuming": resuming,
    }
    if recorded.get("state") in ("failed-over", "failing-back") and not resuming:
        raise PreflightRefused(
            f"the platform is {str(recorded.get('state')).replace('-', ' ')} already (incident "
            f"{recorded.get('incident')}): fail back first (crm-platform failback)"
        )
    if not (impaired or promoted or ctx.force or resuming):
        raise PreflightRefused(
            f"{c['impaired_alarm']} is {detail['impaired_signal']}, not ALARM: the primary "
            "region does not look impaired from DR. Refusing to split the database; run with "
            "--force only if you have confirmed the outage by other means"
        )
    _hold_lock(ctx)
    return Outcome(True, detail)


LOCK = {"run": {"S": "#lock"}, "step": {"S": "#lock"}}


def _hold_lock(ctx: Context) -> None:
    """One incident at a time: a conditional write in the DR region's run table."""
    dynamodb = ctx.aws("dynamodb")
    try:
        call(
            dynamodb.put_item,
            TableName=ctx.config["runs_table"],
            Item={**LOCK, "incident": {"S": ctx.run}, "since": {"N": repr(ctx.now())}},
            ConditionExpression="attribute_not_exists(#r) OR incident = :incident",
            ExpressionAttributeNames={"#r": "run"},
            ExpressionAttributeValues={":incident": {"S": ctx.run}},
        )
    except ClientError as err:
        if _code(err) != "ConditionalCheckFailedException":
            raise
        held = call(dynamodb.get_item, TableName=ctx.config["runs_table"], Key=LOCK,
                    ConsistentRead=True).get("Item", {})  # fmt: skip
        holder = held.get("incident", {}).get("S", "another incident")
        raise PreflightRefused(
            f"incident {holder} is under way: one failover at a time. Follow or resume it "
            "with crm-platform failover --execute"
        ) from err


def _release_lock(ctx: Context) -> None:
    try:
        call(
            ctx.aws("dynamodb").delete_item,
            TableName=ctx.config["runs_table"],
            Key=LOCK,
            ConditionExpression="incident = :incident",
            ExpressionAttributeValues={":incident": {"S": ctx.run}},
        )
    except ClientError as err:
        if _code(err) != "ConditionalCheckFailedException":
            raise


def _failed_over_state(ctx: Context) -> dict[str, Any]:
    found = call(ctx.aws("ssm").get_parameter, Name=ctx.config["failover_parameter"])
    value: dict[str, Any] = json.loads(found["Parameter"]["Value"])
    return value


def _primary_alarms(ctx: Context) -> Any:
    """The primary's own alarms in ALARM, when its CloudWatch can still be reached."""
    try:
        cw = ctx.client("cloudwatch", ctx.primary)
        found = cw.describe_alarms(StateValue="ALARM", AlarmNamePrefix=ctx.config["environment"])
        return sorted(a["AlarmName"] for a in found.get("MetricAlarms", []))
    except (BotoCoreError, ClientError) as err:
        return f"unreachable ({type(err).__name__})"


def _replica_lag(ctx: Context) -> float | None:
    end = ctx.now()
    stats = call(
        ctx.aws("cloudwatch").get_metric_statistics,
        Namespace="AWS/RDS",
        MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": ctx.config["replica"]}],
        StartTime=end - 900,
        EndTime=end,
        Period=60,
        Statistics=["Maximum"],
    )
    points = sorted(stats.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Maximum"]) if points else None


# The primary database's port: the data-layer fence closes what reaches it.
POSTGRES_PORT = 5432


def _fence_services(ctx: Context) -> dict[str, Any]:
    """Scaling limits, then desired counts, of the primary's services to zero.

    The scaling limits go first, or the autoscaling minimum would start them again.
    """
    c = ctx.config
    scaling = ctx.client("application-autoscaling", ctx.primary)
    ecs = ctx.client("ecs", ctx.primary)
    stopped: dict[str, int] = {}
    for service in c["services"].values():
        resource = f"service/{c['clusters']['primary']}/{service['name']}"
        scaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=resource,
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=0,
            MaxCapacity=0,
        )
        found = ecs.update_service(
            cluster=c["clusters"]["primary"], service=service["name"], desiredCount=0
        )
        stopped[service["name"]] = int(found.get("service", {}).get("runningCount", 0))
    return {"services": "fenced", "running": stopped}


def _fence_database(ctx: Context) -> dict[str, Any]:
    """Close the stale primary database to everything that reaches it through a security
    group (the tasks, the rotation function): its security groups' ingress rules on the
    database port that name another group are revoked.

    Why the network and not the login: it needs neither the database running nor its
    master password, and it holds however the instance comes back (RDS starts a stopped
    instance again after seven days, so "stopped" is no fence). What was revoked is
    recorded, so failback can put exactly that back (CloudFormation does not: the rules
    drifted, the template did not change).
    """
    c = ctx.config
    rds = ctx.client("rds", ctx.primary)
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=c["primary_database"])
    except ClientError as err:
        if _code(err) == "DBInstanceNotFound":
            return {"database": "fenced (no instance)", "revoked": []}
        raise
    groups = [g["VpcSecurityGroupId"] for g in found["DBInstances"][0]["VpcSecurityGroups"]]
    ec2 = ctx.client("ec2", ctx.primary)
    revoked: list[dict[str, Any]] = []
    for group in groups:
        rules = ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group]}]
        )["SecurityGroupRules"]
        doomed = [
            r
            for r in rules
            if not r.get("IsEgress")
            and r.get("ReferencedGroupInfo", {}).get("GroupId")
            and int(r.get("FromPort", -1)) <= POSTGRES_PORT <= int(r.get("ToPort", -1))
        ]
        if not doomed:
            continue
        ec2.revoke_security_group_ingress(
            GroupId=group, SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in doomed]
        )
        revoked += [
            {"group": group, "source": r["ReferencedGroupInfo"]["GroupId"],
             "from": r.get("FromPort"), "to": r.get("ToPort"),
             "description": r.get("Description", "")}
            for r in doomed
        ]  # fmt: skip
    return {"database": "fenced", "groups": groups, "revoked": revoked}


def _attempt(part: Callable[[Context], dict[str, Any]], ctx: Context, name: str) -> dict[str, Any]:
    """One part of the fence; what stops it becomes ``"unfenced (<why>)"``."""
    try:
        return part(ctx)
    except ClientError as err:
        code = _code(err)
        if code in ("ClusterNotFoundException", "ServiceNotFoundException"):
            return {name: f"fenced ({code})"}
        return {name: f"unfenced ({code})"}
    except (BotoCoreError, OSError) as err:  # unreachable, timed out
        return {name: f"unfenced ({type(err).__name__})"}


def fence(ctx: Context) -> dict[str, Any]:
    """Fence the primary as far as its region takes the order: its services to zero and
    its database closed to them, each tried on its own. Never raises for the primary's
    sake: whatever stops a part (unreachable, a 5xx, AccessDenied while IAM there is
    impaired, a timeout) makes the whole ``"unfenced (<why>)"``. The failover's
    ``fence_primary`` and the fence keeper (runtime/fence_keeper.py), which repeats it
    until it holds, both call this.
    """
    done = {
        **_attempt(_fence_services, ctx, "services"),
        **_attempt(_fence_database, ctx, "database"),
    }
    why = sorted(
        {
            str(done[part])[len("unfenced (") : -1]
            for part in ("services", "database")
            if str(done[part]).startswith("unfenced")
        }
    )
    return {**done, "primary": f"unfenced ({', '.join(why)})" if why else "fenced"}


# The run table's items of the fence (run = FENCE_RUN): the keeper's latest outcome, and
# one item per security-group rule ever revoked, which failback puts back.
FENCE_RUN = "#fence"


def record_revoked(dynamodb: Any, table: str, at: float, revoked: list[dict[str, Any]]) -> None:
    """One item per revoked rule (puts only: the same rule twice is one item)."""
    for rule in revoked:
        call(
            dynamodb.put_item,
            TableName=table,
            Item={
                "run": {"S": FENCE_RUN},
                "step": {"S": f"revoked#{rule['group']}#{rule['source']}#{rule['from']}"},
                "at": {"N": str(at)},
                "detail": {"S": json.dumps(rule, default=str)},
            },
        )


def fence_primary(ctx: Context) -> Outcome:
    """Fence the primary where its region still takes the order (``fence``), and keep
    what it revoked where failback finds it.

    A fence never blocks the failover: "unfenced" is recorded and the run goes on. The
    switch keeps traffic away from the primary either way, and the fence keeper in DR
    repeats the fence every few minutes, alerting, until it holds.
    """
    done = fence(ctx)
    record_revoked(
        ctx.aws("dynamodb"), ctx.config["runs_table"], ctx.now(), done.get("revoked", [])
    )
    return Outcome(True, done)


def record_failed_over(ctx: Context) -> Outcome:
    """From here on the primary's data is no longer the truth: deploys must stop.

    The state only moves forward: a resumed incident that already reached "failed-over"
    keeps it. The fence's outcome is recorded with it ("unfenced" tells the operator,
    and failback, that the primary's services may still run).
    """
    c = ctx.config
    recorded = _failed_over_state(ctx)
    if recorded.get("state") == "failed-over":
        return Outcome(True, {**recorded, "kept": True})
    fence = ctx.results.get("fence_primary", {}).get("primary", "not fenced yet")
    state = {"state": "failing-over", "since": recorded.get("since", ctx.now()),
             "replica": c["replica"], "incident": ctx.run, "fence": fence}  # fmt: skip
    call(ctx.aws("ssm").put_parameter, Name=c["failover_parameter"], Value=json.dumps(state),
         Type="String", Overwrite=True)  # fmt: skip
    return Outcome(True, state)


def promote_replica(ctx: Context) -> Outcome:
    """Start the promotion; the steps after it run while RDS works (wait_writable waits).

    The replica takes automated backups of its own (PostgreSQL 14.1 and later), so the
    promotion takes none on its way: AWS recommends exactly that ("This ensures that no
    backup is taken during the promotion process"). A replica in ``backing-up`` cannot be
    promoted, so the step polls until it is available.
    """
    c = ctx.config
    replica = _replica(ctx)
    if replica is None:
        raise StepFailed(f"{c['replica']} disappeared during the failover")
    if not replica.get("ReadReplicaSourceDBInstanceIdentifier"):
        return Outcome(True, {"promoted": "already"})
    status = replica.get("DBInstanceStatus")
    if status != "available":
        # Promotion needs an available replica (it may still be creating or backing up).
        return Outcome(False, {"replica_status": status}, wait=30)
    try:
        call(ctx.aws("rds").promote_read_replica, DBInstanceIdentifier=c["replica"],
             BackupRetentionPeriod=c["backup_retention_days"],
             PreferredBackupWindow=c["backup_window"])  # fmt: skip
    except ClientError as err:
        # A resumed run whose first attempt started the promotion: RDS says so this way.
        if _code(err) != "InvalidDBInstanceState":
            raise
        return Outcome(False, {"replica_status": "promotion under way"}, wait=30)
    return Outcome(True, {"promoted": "now"})


def start_services(ctx: Context) -> Outcome:
    """Raise the DR services while the promotion runs, so their cold start is off the
    critical path.

    Nothing reaches them yet: traffic moves only after the database is writable and the
    server has healthy targets, and the DR queue holds no job until the jobs are
    registered after the switch. A warm standby runs the server against the read-only
    replica every day; Twenty boots without writing when migrations are off
    (docs/adr/0031). Scaling limits first, or autoscaling would undo the count.
    """
    c = ctx.config
    scaling, ecs = ctx.aws("application-autoscaling"), ctx.aws("ecs")
    for service in c["services"].values():
        call(
            scaling.register_scalable_target,
            ServiceNamespace="ecs",
            ResourceId=f"service/{c['clusters']['dr']}/{service['name']}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=service["desired"],
            MaxCapacity=service["max"],
        )
        call(ecs.update_service, cluster=c["clusters"]["dr"], service=service["name"],
             desiredCount=service["desired"])  # fmt: skip
    return Outcome(True, {s["name"]: s["desired"] for s in c["services"].values()})


# RDS statuses of a promoted instance that accepts writes: the first automated backup
# after promotion ("backing-up") does not stop writes.
WRITABLE = frozenset({"available", "backing-up"})


def wait_writable(ctx: Context) -> Outcome:
    """The promotion is over and the database takes writes.

    First RDS's own report: no source link, and a status in which the instance takes
    writes. Then the database's own word, through the DR SQL task (runtime/sql_task.py):
    ``pg_is_in_recovery()`` is false and a write that leaves nothing succeeds. Steps
    outside the VPC never pretend to read the database: this one asks the task, which
    runs inside it as Twenty's own user, and waits (one task at a time, a new one while
    the answer is "still in recovery" or a refused write) until the answer is yes.
    """
    # Imported here, not at the top: sql_task imports this module.
    try:  # imported as a package by the CLI and the drill ...
        from crm_platform.failover.runtime import sql_task
    except ImportError:  # pragma: no cover - ... and flat inside the Lambda asset
        import sql_task  # type: ignore[no-redef]

    replica = _replica(ctx)
    if replica is None:
        raise StepFailed(f"{ctx.config['replica']} disappeared during the failover")
    status = replica.get("DBInstanceStatus")
    linked = replica.get("ReadReplicaSourceDBInstanceIdentifier")
    if status not in WRITABLE or linked:
        return Outcome(False, {"status": status, "still_replica": bool(linked)}, wait=30)
    asked = sql_task.run(ctx, "dr", "writable", repeat_while=_not_writable)
    if not asked.done:
        return Outcome(False, {"status": status, "sql": asked.detail}, wait=asked.wait)
    return Outcome(True, {"endpoint": replica["Endpoint"]["Address"], "status": status,
                          "sql": asked.detail})  # fmt: skip


def _not_writable(result: dict[str, Any]) -> bool:
    """The SQL task's answer says the database does not take writes (yet)."""
    return bool(result.get("in_recovery", True)) or result.get("write") != "ok"


def own_secrets(ctx: Context) -> Outcome:
    """DR copies become standalone secrets; the database's names the promoted endpoint.

    Only the database secret is ever written: a new ``APP_SECRET`` or ``ENCRYPTION_KEY``
    would make Twenty's stored tokens and encrypted fields unreadable, and the role
    running this step may not write them. Rotation is attached after the switch
    (attach_rotation).
    """
    c = ctx.config
    sm = ctx.aws("secretsmanager")
    made_standalone = []
    for name in c["secrets"]:
        found = call(sm.describe_secret, SecretId=name)
        if found.get("PrimaryRegion") and found["PrimaryRegion"] != ctx.dr:
            call(sm.stop_replication_to_replica, SecretId=name)
            made_standalone.append(name)
    endpoint = (_replica(ctx) or {}).get("Endpoint", {}).get("Address")
    value = json.loads(call(sm.get_secret_value, SecretId=c["db_secret"])["SecretString"])
    if endpoint and value.get("host") != endpoint:
        value["host"] = endpoint
        call(sm.put_secret_value, SecretId=c["db_secret"], SecretString=json.dumps(value))
    return Outcome(True, {"standalone": made_standalone, "host": endpoint})


def point_tier(ctx: Context) -> Outcome:
    """The DR tasks already name the replica's endpoint, which promotion keeps: verify it."""
    c = ctx.config
    ecs = ctx.aws("ecs")
    endpoint = (_replica(ctx) or {}).get("Endpoint", {}).get("Address")
    checked = {}
    for role, service in c["services"].items():
        found = call(ecs.describe_services, cluster=c["clusters"]["dr"], services=[service["name"]])
        (svc,) = found["services"]
        task = call(ecs.describe_task_definition, taskDefinition=svc["taskDefinition"])
        env = {
            e["name"]: e["value"]
            for cd in task["taskDefinition"]["containerDefinitions"]
            for e in cd.get("environment", [])
        }
        if env.get("PG_HOST") != endpoint:
            raise StepFailed(
                f"the DR {role} task definition points at {env.get('PG_HOST')}, not the promoted "
                f"database {endpoint}: redeploy crm-prod-dr-app with the replica's endpoint"
            )
        checked[role] = env.get("PG_HOST")
    return Outcome(True, {"pg_host": checked})


def wait_healthy(ctx: Context) -> Outcome:
    """Every DR service runs its desired tasks and the server has healthy targets."""
    c = ctx.config
    ecs = ctx.aws("ecs")
    names = [s["name"] for s in c["services"].values()]
    found = call(ecs.describe_services, cluster=c["clusters"]["dr"], services=names)["services"]
    running = {
        s["serviceName"]: (s.get("runningCount", 0), s.get("desiredCount", 0)) for s in found
    }
    if any(r < d for r, d in running.values()):
        return Outcome(False, {"running": running}, wait=15)
    elb = ctx.aws("elbv2")
    healthy = 0
    for svc in found:
        for lb in svc.get("loadBalancers", []):
            health = call(elb.describe_target_health, TargetGroupArn=lb["targetGroupArn"])
            healthy += sum(
                1 for t in health["TargetHealthDescriptions"]
                if t["TargetHealth"]["State"] == "healthy"
            )  # fmt: skip
    if healthy == 0:
        return Outcome(False, {"running": running, "healthy_targets": 0}, wait=15)
    return Outcome(True, {"running": running, "healthy_targets": healthy})


def switch_traffic(ctx: Context) -> Outcome:
    """Sign and record "dr" (runtime/switch.py), then wake the beacon Route 53 follows."""
    c = ctx.config
    previous = switch.set_state(
        ctx.aws("ssm"), ctx.aws("kms"), c["switch_parameter"], c["switch_key"],
        c["environment"], "dr",
    )  # fmt: skip
    call(ctx.aws("lambda").invoke, FunctionName=c["switch_beacon"], InvocationType="Event")
    return Outcome(True, {"from": previous, "to": "dr"})


def _started_by(run: str, purpose: str) -> str:
    """ECS's ``startedBy`` (36 characters at most): the incident and the task's purpose."""
    digest = hashlib.sha256(run.encode()).hexdigest()[:16]
    return f"failover-{purpose}-{digest}"[:36]


# A registration that failed is retried with a new task this many times in all.
JOBS_ATTEMPTS = 3


def register_jobs(ctx: Context) -> Outcome:
    """Twenty's scheduled jobs, registered against the DR cache: its own one-off task.

    The task definition (``jobs_family``; the primary holds one too, for failback) is
    the server image with migrations off and cron registration on, whose command ends
    at once: Twenty's entrypoint runs ``cron:register:all`` and exits. No override is
    sent: the step runs exactly what the template defines. The task is found again by
    ``startedBy`` when the run resumes.
    A registration that keeps failing does not undo the failover: the step records it
    and the notice says so (the jobs can be registered by hand, docs/emergency-recovery.md).
    """
    c = ctx.config
    found = one_off(ctx, region=ctx.dr, cluster=c["clusters"]["dr"], family=c["jobs_family"],
                    started_by=_started_by(ctx.run, "jobs"))  # fmt: skip
    if found["state"] == "running":
        return Outcome(False, {"tasks": found["tasks"], "status": "running"}, wait=15)
    if found["state"] == "succeeded":
        return Outcome(True, {"registered": True, "task": found["task"]})
    if found["state"] == "exhausted":
        return Outcome(True, {"registered": False, "attempts": found["tasks"],
                              "reasons": found["reasons"]})  # fmt: skip
    return Outcome(False, {"started": found["task"]}, wait=15)


def one_off(
    ctx: Context,
    *,
    region: str,
    cluster: str,
    family: str,
    started_by: str,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run of ``family`` in ``cluster`` to its end, found again by ``startedBy`` (so a
    resumed run never starts a second while one runs), in the server service's network;
    a failed task is replaced up to ``JOBS_ATTEMPTS`` in all. Says where it stands:
    ``running``, ``succeeded`` (with the task), ``exhausted`` (with the reasons) or
    ``started`` (a new task). The failover's register_jobs and failback's purge and
    registration in the original region share it.
    """
    c = ctx.config
    ecs = ctx.client("ecs", region)
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns += call(ecs.list_tasks, cluster=cluster, startedBy=started_by,
                     desiredStatus=status)["taskArns"]  # fmt: skip
    tasks = call(ecs.describe_tasks, cluster=cluster, tasks=arns)["tasks"] if arns else []
    if any(t.get("lastStatus") != "STOPPED" for t in tasks):
        return {"state": "running", "tasks": len(tasks)}
    succeeded = [t for t in tasks if all(k.get("exitCode") == 0 for k in t.get("containers", []))]
    if succeeded:
        return {"state": "succeeded", "task": succeeded[0]["taskArn"], "tasks": len(tasks)}
    if len(tasks) >= JOBS_ATTEMPTS:
        reasons = sorted({str(t.get("stoppedReason", "")) for t in tasks})
        return {"state": "exhausted", "tasks": len(tasks), "reasons": reasons}
    server = call(ecs.describe_services, cluster=cluster,
                  services=[c["services"]["server"]["name"]])["services"][0]  # fmt: skip
    started = call(
        ecs.run_task,
        cluster=cluster,
        taskDefinition=family,
        launchType="FARGATE",
        count=1,
        startedBy=started_by,
        networkConfiguration=server["networkConfiguration"],
        **({"overrides": overrides} if overrides else {}),
    )
    if started.get("failures"):
        raise Retryable(f"RunTask failed: {started['failures']}")
    return {"state": "started", "task": started["tasks"][0]["taskArn"]}


def protect_database(ctx: Context) -> Outcome:
    """What a replica did without, once traffic has moved: Multi-AZ, deletion protection,
    the backup tag on the database and the DR bucket (DR's standby backup plan selects
    by it); the lag alarm retired.

    After the switch, because the Multi-AZ conversion builds its standby from a snapshot
    and slows the instance while it loads: users already on DR wait for nothing. A
    resumed run does not start or wait for a conversion that is under way.
    """
    c = ctx.config
    rds = ctx.aws("rds")
    db = _replica(ctx) or {}
    pending = db.get("PendingModifiedValues", {})
    changes: dict[str, Any] = {}
    if db.get("BackupRetentionPeriod", 0) < c["backup_retention_days"]:
        changes["BackupRetentionPeriod"] = c["backup_retention_days"]
    if c["multi_az"] and not db.get("MultiAZ") and not pending.get("MultiAZ"):
        changes["MultiAZ"] = True
    if not db.get("DeletionProtection"):
        changes["DeletionProtection"] = True
    if changes:
        if db.get("DBInstanceStatus") != "available":
            # RDS takes modifications from an available instance (the first backup after
            # promotion may still run).
            return Outcome(False, {"status": db.get("DBInstanceStatus")}, wait=30)
        call(rds.modify_db_instance, DBInstanceIdentifier=c["replica"], ApplyImmediately=True,
             **changes)  # fmt: skip
    key, value = c["backup_tag"]
    call(rds.add_tags_to_resource, ResourceName=db.get("DBInstanceArn", ""),
         Tags=[{"Key": key, "Value": value}])  # fmt: skip
    _tag_bucket(ctx, c["dr_bucket"], key, value)
    # After promotion the replica-lag alarm has no data and would page forever.
    call(ctx.aws("cloudwatch").disable_alarm_actions, AlarmNames=[c["replica_lag_alarm"]])
    return Outcome(True, {"modified": changes, "tagged": f"{key}={value}",
                          "bucket": c["dr_bucket"]})  # fmt: skip


def _tag_bucket(ctx: Context, bucket: str, key: str, value: str) -> None:
    """Add one tag to ``bucket``: PutBucketTagging replaces the whole set, so merge."""
    s3 = ctx.aws("s3")
    try:
        tags = call(s3.get_bucket_tagging, Bucket=bucket)["TagSet"]
    except ClientError as err:
        if _code(err) != "NoSuchTagSet":
            raise
        tags = []
    if {"Key": key, "Value": value} in tags:
        return
    merged = [t for t in tags if t["Key"] != key] + [{"Key": key, "Value": value}]
    call(s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": merged})


def attach_rotation(ctx: Context) -> Outcome:
    """DR's own rotation for the now standalone database secret, after the switch.

    Attaching runs the rotation function's test step at once (Secrets Manager tests the
    configuration even with ``RotateImmediately=False``); nothing of it can delay the
    move of traffic. From then on DR's rotation roll restarts the DR services after each
    rotation.
    """
    c = ctx.config
    sm = ctx.aws("secretsmanager")
    described = call(sm.describe_secret, SecretId=c["db_secret"])
    if (
        described.get("RotationEnabled")
        and described.get("RotationLambdaARN") == c["rotation_function_arn"]
    ):
        return Outcome(True, {"rotation": "attached already"})
    call(
        sm.rotate_secret,
        SecretId=c["db_secret"],
        RotationLambdaARN=c["rotation_function_arn"],
        RotationRules={"AutomaticallyAfterDays": c["rotation_days"]},
        RotateImmediately=False,
    )
    return Outcome(True, {"rotation": c["rotation_function_arn"]})


def _http_get(url: str, timeout: float) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - https URL from config
        return int(response.status)


def verify_public(ctx: Context) -> Outcome:
    """The public URL answers again (through CloudFront, now to DR); not fatal if it
    does not within the timeout: the run says so and the operator looks."""
    url = f"{ctx.config['public_url']}/healthz"
    get = ctx.http_get or _http_get
    try:
        status = get(url, 10)
    except OSError as err:
        return Outcome(False, {"url": url, "error": str(err)}, wait=15)
    if status == 200:
        return Outcome(True, {"url": url, "status": status})
    return Outcome(False, {"url": url, "status": status}, wait=15)


def _attention(results: dict[str, dict[str, Any]]) -> list[str]:
    """What the operator must still do by hand, from what the steps recorded."""
    needed = []
    fence = str(results.get("fence_primary", {}).get("primary", ""))
    if fence.startswith("unfenced"):
        needed.append(f"the primary is {fence}: its services may still run")
    if results.get("register_jobs", {}).get("registered") is False:
        needed.append("Twenty's scheduled jobs are not registered in DR")
    if "unverified" in results.get("verify_public", {}):
        needed.append("the public URL did not answer through CloudFront")
    return needed


def notify(ctx: Context) -> Outcome:
    c = ctx.config
    fence = ctx.results.get("fence_primary", {}).get("primary", "unknown")
    state = {"state": "failed-over", "since": ctx.now(), "replica": c["replica"],
             "incident": ctx.run, "fence": fence}  # fmt: skip
    call(ctx.aws("ssm").put_parameter, Name=c["failover_parameter"], Value=json.dumps(state),
         Type="String", Overwrite=True)  # fmt: skip
    attention = _attention(ctx.results)
    summary = {"attention": attention, **ctx.results}
    call(ctx.aws("sns").publish, TopicArn=c["alert_topic_arn"],
         Subject=f"{c['environment']}: failed over to {ctx.dr}"[:100],
         Message=json.dumps(summary, indent=1, default=str)[:200_000])  # fmt: skip
    _release_lock(ctx)
    return Outcome(True, {"notified": c["alert_topic_arn"], "fence": fence,
                          "attention": attention})  # fmt: skip


# The order is the critical path (docs/adr/0031): the promotion and the services' cold
# start overlap; what only protects (Multi-AZ, rotation, jobs) waits until traffic moved.
STEPS: tuple[Step, ...] = (
    Step("preflight", "confirm the primary is impaired; read replica and lag", preflight, 120),
    Step(
        "fence_primary", "stop the primary's services; 'unfenced' if it cannot", fence_primary, 120
    ),
    Step(
        "record_failed_over",
        "record the failed-over state",
        record_failed_over,
        60,
        reads_results=True,
    ),
    Step("promote_replica", "start the promotion of the DR replica", promote_replica, 1800, True),
    Step("start_services", "raise the DR services while it promotes", start_services, 120),
    Step("wait_writable", "wait until the database is writable", wait_writable, 3600, poll=True),
    Step("own_secrets", "DR secrets standalone; database host", own_secrets, 120),
    Step("point_tier", "DR tier points at the promoted database", point_tier, 60),
    Step("wait_healthy", "running tasks and healthy targets", wait_healthy, 900, poll=True),
    Step("switch_traffic", "traffic switch to DR", switch_traffic, 60),
    Step("register_jobs", "Twenty's scheduled jobs in DR", register_jobs, 900, poll=True),
    Step("protect_database", "Multi-AZ, deletion protection, tag", protect_database, 3600, True),
    Step("attach_rotation", "DR's own rotation of the database secret", attach_rotation, 120),
    Step("verify_public", "public URL answers through CloudFront", verify_public, 600, poll=True),
    Step("notify", "record completion; notify the alert topic", notify, 60, reads_results=True),
)
# Steps whose timeout ends the step rather than the run: the failover has happened.
NON_FATAL_TIMEOUT = frozenset({"verify_public"})
BY_NAME = {s.name: s for s in STEPS}


def retry_config() -> Config:
    """Clients for the primary region: give up fast, it may be gone."""
    return Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
