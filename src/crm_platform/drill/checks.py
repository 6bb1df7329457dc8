"""A check for every step's effect, read back from the emulator and the drill's call log.

Each check names the step whose effect it verifies, so that disabling any one step's
effect turns exactly its check (and the verdict) to FAIL; tests/test_drill.py disables
each in turn to prove it. A check of something the drill models rather than emulates
(a target turning healthy, DNS moving) says so in its kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from crm_platform.drill.modelled import INFINITY, ModelledAws
from crm_platform.drill.scenarios import Scenario
from crm_platform.drill.world import World
from crm_platform.failover.runtime import fence_keeper, steps, switch

Kind = Literal["emulated", "modelled", "outcome"]


@dataclass
class Check:
    name: str
    step: str  # the step whose effect this is ("-" for the scenario's outcome)
    ok: bool
    observed: Any
    kind: Kind = "emulated"


@dataclass
class Observed:
    """What a scenario's run left behind, for the checks."""

    scenario: Scenario
    world: World
    aws: ModelledAws
    config: dict[str, Any]
    timeline: list[dict[str, Any]]  # rows of every run in the run table
    completed: bool  # an execution reached its end
    failed_step: str | None  # where the last execution stopped
    failure: str  # its error
    before: dict[str, Any]  # the platform's state before the run (snapshot)
    after: dict[str, Any]
    starts: list[str] = field(default_factory=list)  # what each start attempt answered
    partial: bool = False  # the primary's control plane answered (partial outage)
    returned_at: float = INFINITY  # when the primary region answered again (primary-returns)
    reopened: list[dict[str, Any]] = field(default_factory=list)  # re-opened after the fence

    def unfenced_data(self) -> list[tuple[float, float]]:
        """(time, value) of every Unfenced data point the fence keeper published."""
        return [
            (record.at, float(datum["Value"]))
            for record in self.world.calls("PutMetricData")
            if record.call.params.get("Namespace") == fence_keeper.NAMESPACE
            for datum in record.call.params.get("MetricData", [])
        ]

    def detail(self, step: str) -> dict[str, Any]:
        rows = [r for r in self.timeline if r["step"] == step and r["status"] == "done"]
        return dict(rows[-1]["detail"]) if rows else {}

    def started(self, step: str) -> float:
        """When ``step`` first started in the last run that ran it (INFINITY: never)."""
        rows = [r for r in self.timeline if r["step"] == step and r["started_at"] is not None]
        return float(rows[-1]["started_at"]) if rows else INFINITY

    def first_call(
        self, operation: str, where: Callable[[dict[str, Any]], bool] = lambda _p: True
    ) -> float:
        for record in self.world.calls(operation):
            if where(dict(record.call.params)):
                return record.at
        return INFINITY


def database_rules(world: World, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary database's ingress from other groups on its port: what the fence closes."""
    primary = config["primary_region"]
    found = world.raw("rds", primary).describe_db_instances(
        DBInstanceIdentifier=config["primary_database"]
    )["DBInstances"][0]
    ec2 = world.raw("ec2", primary)
    rules = []
    for group in (g["VpcSecurityGroupId"] for g in found.get("VpcSecurityGroups", [])):
        rules += [
            r
            for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [group]}]
            )["SecurityGroupRules"]
            if not r.get("IsEgress")
            and r.get("ReferencedGroupInfo", {}).get("GroupId")
            and int(r.get("FromPort", -1)) <= steps.POSTGRES_PORT <= int(r.get("ToPort", -1))
        ]
    return rules


def reopen_database(world: World, config: dict[str, Any]) -> list[dict[str, Any]]:
    """What a deploy or an operator would do to a fenced primary: its database open to the
    tasks again (the first rule the fence revoked, put back). Returns what it re-opened."""
    revoked = [
        r.call.params
        for r in world.calls("RevokeSecurityGroupIngress")
        if r.call.region == config["primary_region"]
    ]
    if not revoked or database_rules(world, config):
        return []
    group = str(revoked[0]["GroupId"])
    # Any group will do as the source: the check counts rules between groups.
    source = world.raw("ec2", config["primary_region"]).describe_security_groups()[
        "SecurityGroups"
    ][0]["GroupId"]
    world.raw("ec2", config["primary_region"]).authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": steps.POSTGRES_PORT, "ToPort": steps.POSTGRES_PORT,
             "UserIdGroupPairs": [{"GroupId": source, "Description": "re-opened by hand"}]}
        ],
    )  # fmt: skip
    return [{"group": group, "source": source}]


def snapshot(world: World, config: dict[str, Any]) -> dict[str, Any]:
    """The state a failover changes, read straight from the emulator."""
    dr, primary = config["dr_region"], config["primary_region"]
    rds = world.raw("rds", dr)
    db = rds.describe_db_instances(DBInstanceIdentifier=config["replica"])["DBInstances"][0]
    ssm = world.raw("ssm", dr)
    state = json.loads(ssm.get_parameter(Name=config["failover_parameter"])["Parameter"]["Value"])
    sm = world.raw("secretsmanager", dr)
    secrets = {n: sm.describe_secret(SecretId=n) for n in config["secrets"]}

    def services(region: str, cluster: str) -> dict[str, int]:
        names = [s["name"] for s in config["services"].values()]
        found = world.raw("ecs", region).describe_services(cluster=cluster, services=names)
        return {s["serviceName"]: s["desiredCount"] for s in found["services"]}

    def limits(region: str, cluster: str) -> dict[str, tuple[int, int]]:
        found = world.raw("application-autoscaling", region).describe_scalable_targets(
            ServiceNamespace="ecs"
        )["ScalableTargets"]
        return {
            t["ResourceId"].rsplit("/", 1)[-1]: (t["MinCapacity"], t["MaxCapacity"])
            for t in found
            if f"/{cluster}/" in t["ResourceId"]
        }

    lag = world.raw("cloudwatch", dr).describe_alarms(AlarmNames=[config["replica_lag_alarm"]])
    try:
        bucket_tags = world.raw("s3", dr).get_bucket_tagging(Bucket=config["dr_bucket"])["TagSet"]
    except world.raw("s3", dr).exceptions.ClientError:
        bucket_tags = []
    return {
        "dr_bucket_tags": {t["Key"]: t["Value"] for t in bucket_tags},
        "replica_source": db.get("ReadReplicaSourceDBInstanceIdentifier"),
        "backup_retention": db["BackupRetentionPeriod"],
        "multi_az": db["MultiAZ"],
        "endpoint": db["Endpoint"]["Address"],
        "tags": {t["Key"]: t["Value"] for t in db.get("TagList", [])},
        "switch": switch.read(
            ssm,
            world.raw("kms", dr),
            config["switch_parameter"],
            config["switch_key"],
            config["environment"],
        ),
        "failover_state": state.get("state"),
        "secret_regions": {n: s.get("PrimaryRegion", dr) for n, s in secrets.items()},
        "rotation": secrets[config["db_secret"]].get("RotationLambdaARN"),
        "db_host": json.loads(
            sm.get_secret_value(SecretId=config["db_secret"])["SecretString"]
        ).get("host"),
        "dr_services": services(dr, config["clusters"]["dr"]),
        "dr_limits": limits(dr, config["clusters"]["dr"]),
        "primary_services": services(primary, config["clusters"]["primary"]),
        "primary_limits": limits(primary, config["clusters"]["primary"]),
        "primary_database_open": len(database_rules(world, config)),
        "lag_alarm_actions": [a["ActionsEnabled"] for a in lag["MetricAlarms"]],
    }


def _environment(world: World, region: str, family: str) -> tuple[dict[str, str], list[str]]:
    found = world.raw("ecs", region).describe_task_definition(taskDefinition=family)
    for container in found["taskDefinition"]["containerDefinitions"]:
        env = {e["name"]: e["value"] for e in container.get("environment", [])}
        if "REDIS_HOST" in env:  # Twenty's container, not a sidecar
            return env, list(container.get("command", []))
    return {}, []


def jobs_requests(o: Observed) -> dict[str, Any]:
    """What the failover asked ECS to run for the jobs, and what that task definition runs."""
    c = o.config
    sql_families = {t["family"] for t in c["sql_tasks"].values()}
    requests = [
        dict(r.call.params)
        for r in o.world.calls("RunTask")
        if r.call.params.get("taskDefinition") not in sql_families
    ]
    env, command = _environment(o.world, c["dr_region"], c["jobs_family"])

    def server(side: str) -> dict[str, str]:
        region = c[f"{side}_region"]
        found = o.world.raw("ecs", region).describe_services(
            cluster=c["clusters"][side], services=[c["services"]["server"]["name"]]
        )
        return _environment(o.world, region, found["services"][0]["taskDefinition"])[0]

    dr_server, primary_server = server("dr"), server("primary")
    ok = (
        len(requests) == 1
        and all(
            r.get("cluster") == c["clusters"]["dr"]
            and r.get("taskDefinition") == c["jobs_family"]
            and "overrides" not in r
            for r in requests
        )
        and env.get("REDIS_HOST") == dr_server.get("REDIS_HOST") != primary_server.get("REDIS_HOST")
        and env.get("DISABLE_DB_MIGRATIONS") == "true"
        and env.get("DISABLE_CRON_JOBS_REGISTRATION") == "false"
        and command == ["true"]
    )
    return {
        "ok": ok,
        "requests": [
            {k: r.get(k) for k in ("cluster", "taskDefinition", "overrides")} for r in requests
        ],
        "cache": env.get("REDIS_HOST"),
        "migrations off": env.get("DISABLE_DB_MIGRATIONS"),
        "command": command,
    }


def sql_requests(o: Observed, purpose: str) -> dict[str, Any]:
    """The SQL tasks the failover asked for ``purpose`` in DR, and what the last one said.

    Every request must name the DR SQL family in the DR cluster with only the purpose as
    its command (no SQL is ever sent), and the last answer, written to the task's log from
    the modelled database, must say it takes writes.
    """
    c, task = o.config, o.config["sql_tasks"]["dr"]
    requests = [
        (r.call.region, dict(r.call.params))
        for r in o.world.calls("RunTask")
        if r.call.params.get("taskDefinition") == task["family"]
    ]
    answers = [
        (t, result) for t, region, result in o.aws.sql_answers
        if region == c["dr_region"] and t.purpose == purpose
    ]  # fmt: skip
    wanted_overrides = {"containerOverrides": [{"name": task["container"], "command": [purpose]}]}
    last = answers[-1][1] if answers else {}
    ok = (
        bool(requests)
        and all(
            region == c["dr_region"]
            and p.get("cluster") == task["cluster"]
            and p.get("overrides") == wanted_overrides
            for region, p in requests
        )
        and last.get("in_recovery") is False
        and last.get("write") == "ok"
    )
    return {
        "ok": ok,
        "requests": len(requests),
        "families": sorted({p.get("taskDefinition", "") for _r, p in requests}),
        "answers": [r for _t, r in answers],
        "answered": answers[-1][0].ends if answers else INFINITY,
    }


def effect_checks(o: Observed) -> list[Check]:
    """One check per step's effect (for a scenario where the failover must complete)."""
    c, a, aws = o.config, o.after, o.aws
    dr_cluster = c["clusters"]["dr"]
    checks: list[Check] = []

    def check(name: str, step: str, ok: bool, observed: Any, kind: Kind = "emulated") -> None:
        checks.append(Check(name, step, bool(ok), observed, kind))

    pre = o.detail("preflight")
    check(
        "preflight recorded the impaired signal and the replica's state",
        "preflight",
        pre.get("impaired_signal") == "ALARM" and "replica_status" in pre,
        {k: pre.get(k) for k in ("impaired_signal", "replica_status")},
    )
    fence = o.detail("fence_primary")
    wanted = o.scenario.expected.fence
    if wanted == "fenced":
        # Before the promotion, by the run itself (the keeper fences later as well).
        promoted_at = o.first_call("PromoteReadReplica")
        primary = c["primary_region"]
        stopped_at = max(
            (
                min((r.at for r in o.world.calls("UpdateService")
                     if r.call.region == primary and r.call.params.get("service") == name
                     and r.call.params.get("desiredCount") == 0), default=INFINITY)
                for name in (s["name"] for s in c["services"].values())
            ),
            default=INFINITY,
        )  # fmt: skip
        closed_at = min(
            (r.at for r in o.world.calls("RevokeSecurityGroupIngress") if r.call.region == primary),
            default=INFINITY,
        )
        fenced = (
            set(a["primary_services"].values()) == {0}
            and all(hi == 0 for _lo, hi in a["primary_limits"].values())
            and a["primary_database_open"] == 0
            and max(stopped_at, closed_at) < promoted_at
        )
        check(
            "primary fenced before the promotion (services and scaling limits at 0, database "
            "closed to the tasks)",
            "fence_primary",
            fenced,
            {"desired": a["primary_services"], "limits": a["primary_limits"],
             "database rules open": a["primary_database_open"], "stopped": stopped_at,
             "closed": closed_at, "promoted": promoted_at},
        )  # fmt: skip
    else:
        recorded = str(fence.get("primary", ""))
        check(
            f"fence outcome recorded ({wanted})",
            "fence_primary",
            recorded.startswith(str(wanted)),
            recorded or "nothing recorded",
        )
    failing_over = o.first_call(
        "PutParameter",
        lambda p: (
            p.get("Name") == c["failover_parameter"] and "failing-over" in str(p.get("Value"))
        ),
    )
    promoted = o.first_call("PromoteReadReplica")
    check(
        "failed-over state recorded before the promotion",
        "record_failed_over",
        failing_over < promoted < INFINITY,
        {"recorded": failing_over, "promotion": promoted},
    )
    promotions = len(list(o.world.calls("PromoteReadReplica")))
    check(
        "replica promoted once, no source link left",
        "promote_replica",
        promotions == 1 and not a["replica_source"],
        {"promote calls": promotions, "source": a["replica_source"]},
        "modelled",
    )
    done = aws.promotion_done(c["replica"]) or INFINITY
    sizes = {s["name"]: s["desired"] for s in c["services"].values()}
    raised = a["dr_services"] == sizes and all(
        a["dr_limits"].get(n, (0, 0))[0] == d for n, d in sizes.items()
    )
    raised_at = o.first_call("UpdateService", lambda p: str(p.get("cluster")) == dr_cluster)
    # A run resumed after the promotion raises them later: only the first run is timed.
    resumed = any(s.startswith("resumed") for s in o.starts)
    check(
        "DR services raised to production size while the promotion ran",
        "start_services",
        raised and (raised_at < done or resumed),
        {"desired": a["dr_services"], "limits": a["dr_limits"], "raised": raised_at,
         "writable": done},
        "modelled",
    )  # fmt: skip
    switched = o.first_call(
        "PutParameter",
        lambda p: p.get("Name") == c["switch_parameter"] and '"state": "dr"' in str(p.get("Value")),
    )
    check(
        "traffic moved only once the database was writable",
        "wait_writable",
        done <= switched < INFINITY,
        {"writable": done, "switched": switched},
        "modelled",
    )
    sql = sql_requests(o, "writable")
    check(
        "the database's own word: the DR SQL task (its family, in the DR cluster, purpose "
        "writable) said not in recovery and write ok before the switch",
        "wait_writable",
        sql["ok"] and sql["answered"] <= switched,
        {**sql, "switched": switched},
        "modelled",
    )
    key, value = c["backup_tag"]
    modified = o.first_call("ModifyDBInstance")
    check(
        "Multi-AZ, deletion protection, the backup tag on the database and the DR bucket "
        "after the switch; lag alarm retired",
        "protect_database",
        a["backup_retention"] >= c["backup_retention_days"]
        and (a["multi_az"] or not c["multi_az"] or c["replica"] in aws.multi_az)
        and a["tags"].get(key) == value
        and a["dr_bucket_tags"].get(key) == value
        and a["lag_alarm_actions"] == [False]
        and switched <= modified,
        {
            "retention": a["backup_retention"],
            "multi_az": a["multi_az"],
            "tag": a["tags"].get(key),
            "bucket tag": a["dr_bucket_tags"].get(key),
            "lag alarm actions": a["lag_alarm_actions"],
            "modified at": modified,
        },
    )
    standalone = set(a["secret_regions"].values()) == {c["dr_region"]}
    written = sorted({str(r.call.params.get("SecretId")) for r in o.world.calls("PutSecretValue")})
    check(
        "DR secrets standalone, the database secret names the endpoint, no other secret written",
        "own_secrets",
        standalone and a["db_host"] == a["endpoint"] and written == [c["db_secret"]],
        {"regions": a["secret_regions"], "host": a["db_host"], "written": written},
    )
    rotated = o.first_call("RotateSecret")
    check(
        "DR's own rotation attached, after the switch",
        "attach_rotation",
        a["rotation"] == c["rotation_function_arn"] and switched <= rotated < INFINITY,
        {"rotation": a["rotation"], "attached at": rotated, "switched": switched},
    )
    tier = o.detail("point_tier").get("pg_host", {})
    check(
        "the DR tasks name the promoted database",
        "point_tier",
        bool(tier) and set(tier.values()) == {a["endpoint"]},
        tier,
    )
    serving = aws.dr_serving_since()
    check(
        "traffic moved only once DR had healthy targets",
        "wait_healthy",
        serving <= switched < INFINITY,
        {"healthy": serving, "switched": switched},
        "modelled",
    )
    jobs = jobs_requests(o)
    check(
        "the jobs registration ran once in DR: its task definition, the DR cache, no "
        "migration, no override",
        "register_jobs",
        o.detail("register_jobs").get("registered") is True and jobs["ok"],
        jobs,
    )
    published = [v for _t, v in aws.switch_data]
    check(
        "switch signed 'dr' and the beacon reports it for Route 53",
        "switch_traffic",
        a["switch"] == "dr" and 1.0 in published and aws.traffic_moved_at() < INFINITY,
        {"switch": a["switch"], "published": published[-3:]},
        "modelled",
    )
    verified = o.detail("verify_public")
    check(
        "public URL answered through CloudFront from DR",
        "verify_public",
        verified.get("status") == 200 and "unverified" not in verified,
        verified,
        "modelled",
    )
    notified = any(
        r.call.params.get("TopicArn") == c["alert_topic_arn"] for r in o.world.calls("Publish")
    )
    check(
        "failed-over state recorded and operators notified",
        "notify",
        a["failover_state"] == "failed-over" and notified,
        {"state": a["failover_state"], "notified": notified},
    )
    return checks


def outcome_checks(o: Observed) -> list[Check]:
    """The scenario's expected outcome, beyond the steps' effects."""
    e = o.scenario.expected
    checks: list[Check] = []

    def check(name: str, ok: bool, observed: Any) -> None:
        checks.append(Check(name, "-", bool(ok), observed, "outcome"))

    if e.refused_at:
        check(
            f"refused at {e.refused_at}",
            o.failed_step == e.refused_at and not o.completed,
            {"stopped at": o.failed_step, "error": o.failure},
        )
        changed = {k: (o.before[k], o.after[k]) for k in o.before if o.before[k] != o.after[k]}
        check("nothing changed anywhere", not changed, changed or "unchanged")
        return checks
    check(
        "the failover completed",
        o.completed,
        "completed" if o.completed else f"stopped at {o.failed_step}: {o.failure}",
    )
    if e.one_incident:
        runs = sorted(
            {r["run"] for r in o.timeline if r["step"] == "preflight" and r["status"] == "done"}
        )
        check("one incident ran, whatever the starts", len(runs) == 1, runs)
    if e.second_start_refused:
        check(
            "a second start while one runs is refused",
            len(o.starts) >= 2 and any("refused" in s for s in o.starts),
            o.starts,
        )
    if o.completed and e.fence == "unfenced":
        switched = o.first_call(
            "PutParameter",
            lambda p: (
                p.get("Name") == o.config["switch_parameter"]
                and '"state": "dr"' in str(p.get("Value"))
            ),
        )
        said = [v for t, v in o.unfenced_data() if switched <= t < o.returned_at]
        check(
            "while DR served and the primary was not fenced, the fence keeper said so "
            "(its Unfenced alarm)",
            bool(said) and said[0] == 1.0,
            {"Unfenced while unreachable": said[:3]},
        )
    if o.scenario.primary_returns:
        a = o.after
        closed = (
            set(a["primary_services"].values()) == {0}
            and all(hi == 0 for _lo, hi in a["primary_limits"].values())
            and a["primary_database_open"] == 0
        )
        check(
            "once the primary answered, the keeper fenced it: services and scaling at 0, "
            "its database closed to the tasks, and closed again after someone re-opened it",
            o.returned_at < INFINITY and bool(o.reopened) and closed,
            {"returned at": o.returned_at, "re-opened": o.reopened,
             "desired": a["primary_services"], "limits": a["primary_limits"],
             "database rules open": a["primary_database_open"]},
        )  # fmt: skip
        record = fence_keeper.read(o.world.raw("dynamodb", o.config["dr_region"]),
                                   o.config["runs_table"])  # fmt: skip
        after = [v for t, v in o.unfenced_data() if t >= o.returned_at]
        check(
            "the keeper recorded the fence with what it revoked, and its alarm cleared",
            record is not None
            and bool(o.reopened)
            and (record["latest"] or {}).get("primary") == "fenced"
            and any(r.get("source") == o.reopened[0]["source"] for r in record["revoked"])
            and bool(after)
            and after[-1] == 0.0,
            {"record": record and {"latest": (record["latest"] or {}).get("primary"),
                                   "revoked": record["revoked"]},
             "Unfenced after the return": after[-3:]},
        )  # fmt: skip
    if e.retries:
        surfaced = sum(1 for r in o.world.log if r.outcome == "fault:ThrottlingException")
        retried = [r["step"] for r in o.timeline if r["attempts"] > 1]
        check(
            "throttling retried (by the SDK, then by the state machine) and the run went on",
            surfaced > 0 and bool(retried) and o.completed,
            {"calls throttled past the SDK": surfaced, "steps retried": retried},
        )
    return checks


# What a completed failover must leave as drift (ops/drift.py), by the start of each line.
FAILOVER_DRIFT = (
    "dr crm",  # DR's services raised beyond their standby bounds
    "replica-lag alarm actions",
    "traffic switch (verified)",
    "failed-over state",
    "DR database",
)


def drift_checks(scenario: Scenario, before: Any, after: Any) -> list[Check]:
    """The stood-up platform matches its templates before the outage (so the drift
    check's expectations are the templates'), and a failover leaves exactly the drift
    failback must undo, each with its command."""
    checks = [
        Check(
            "before the outage the platform matched its templates (no drift)",
            "-",
            before == [],
            before if isinstance(before, str) else [d.what for d in before] or "none",
            "outcome",
        )
    ]
    if scenario.expected.completes and isinstance(after, list):
        listed = [d.what for d in after]
        wanted: tuple[str, ...] = FAILOVER_DRIFT
        if scenario.expected.fence == "fenced" or scenario.primary_returns:
            wanted += ("primary database ingress",)  # the fence's revoked rules
        missing = [w for w in wanted if not any(x.startswith(w) for x in listed)]
        checks.append(
            Check(
                "after the failover, dr status lists what failback must undo, with commands",
                "-",
                not missing and all(d.reconcile for d in after),
                {"listed": listed, "missing": missing},
                "outcome",
            )
        )
    elif not scenario.expected.completes:
        checks.append(
            Check(
                "a refused failover leaves no drift",
                "-",
                after == [],
                after if isinstance(after, str) else [d.what for d in after] or "none",
                "outcome",
            )
        )
    return checks
