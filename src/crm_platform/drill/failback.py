"""The drill's way back: ``crm-platform failback --execute`` rehearsed after a failover.

On one emulator: the regional-outage failover as run.py rehearses it; DR serves and takes
writes (attachments); the primary region answers again (the fence keeper fences its
database meanwhile); then the operator runs failback through the code the CLI runs
(ops/failback.py plans, failover/runtime/failback.py's steps), as the operator role, every
call authorized by the model. The ``failover-failback-restore`` sequence then restores the
latest recovery point into service on the same world (drill/restore.py).

What moto lacks is modelled here, on the scenario's clock, from durations.py:

- a read replica created by failback (the original region's, the rebuilt DR one) is
  ``creating`` for ``rds.cross_region_replica``; the original region's then reports
  ReplicaLag (published each minute, as RDS does) that falls within the RPO after
  ``rds.replica_catch_up``;
- the original region's database answers the SQL task (modelled.py writes its log line):
  a hot standby replaying DR's heartbeat ``REPLICATION_LAG_SECONDS`` late once caught up,
  refusing writes until its promotion (``rds.promotion``) is done, then beating itself;
- S3 stamps objects with the wall clock, the drill runs on a virtual one: listings of the
  attachment buckets carry the virtual time each object was written.

The checks read each step's effect back from the emulator, the call log and the modelled
SQL answers, so removing any step's effect turns the verdict to FAIL
(tests/test_drill_failback.py).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.authz.requests import Call
from crm_platform.capacity import planned
from crm_platform.drill import restore as restore_drill
from crm_platform.drill.checks import Check, database_rules
from crm_platform.drill.modelled import (
    HEARTBEAT_SECONDS,
    INFINITY,
    READ_ONLY_ERROR,
    REPLICATION_LAG_SECONDS,
    Event,
)
from crm_platform.drill.run import RETURN_WAIT_SECONDS, Rehearsal, ScenarioReport
from crm_platform.drill.scenarios import SCENARIOS
from crm_platform.failover.local_runner import StepReport
from crm_platform.failover.runtime import failback, fence_keeper, switch
from crm_platform.ops import drift
from crm_platform.ops import failback as ops_failback

NOTES = [
    "failback: replicas created by failback are modelled 'creating' for "
    "rds.cross_region_replica; the original region's replica's ReplicaLag is published by "
    "the drill and falls within the RPO after rds.replica_catch_up",
    "failback: the original region's database is modelled for the SQL task's answers (a hot "
    "standby replaying DR's heartbeat, read-only until its promotion is done)",
    "failback: purge_queues and register_jobs run as modelled one-off tasks (exit 0); the "
    "purge of BullMQ keys in the original region's cache is not emulated (no Redis)",
    "failback: S3 stamps objects with the wall clock; the drill re-stamps the attachment "
    "buckets' listings with the virtual time of each write",
    "failback: renames (the stale original and the promoted DR instance set aside) are moto's, "
    "instant; rds.rename is not modelled for them",
]
MODELLED = frozenset(
    {
        "replicate_back",
        "wait_caught_up",
        "wait_zero_lag",
        "promote_primary",
        "wait_primary_writable",
        "purge_queues",
        "register_jobs",
        "start_primary",
        "rebuild_dr_replica",
    }
)
ATTACHMENTS = {"written-in-dr/contract.pdf": b"%PDF signed in DR", "written-in-dr/logo.png": b"png"}


@dataclass
class Replica:
    region: str
    identifier: str
    created: float
    available: float
    caught_up: float


class ModelledFailback:
    """What failback waits on that moto does at once, for one scenario."""

    def __init__(self, r: FailbackRehearsal) -> None:
        self.r = r
        self.replicas: dict[tuple[str, str], Replica] = {}
        self.written: dict[tuple[str, str], float] = {}  # (bucket, key) -> virtual time
        self.stamp = r.clock.now()  # what the stand-up wrote: before everything

    def now(self) -> float:
        return self.r.clock.now()

    def before(self, call: Call, _principal: Any) -> dict[str, Any] | None:
        if f"{call.service}.{call.operation}" == "rds.CreateDBInstanceReadReplica":
            name = str(call.params["DBInstanceIdentifier"])
            answer = self._replica_in_its_subnet_group(call)
            if (call.region, name) not in self.replicas:
                now = self.now()
                available = now + self.r.seconds("rds.cross_region_replica")
                self.replicas[(call.region, name)] = Replica(
                    call.region,
                    name,
                    now,
                    available,
                    available + self.r.seconds("rds.replica_catch_up"),
                )
                self.r.aws.events.append(
                    Event(
                        f"replica {name} ({call.region})",
                        now,
                        available,
                        "modelled: snapshot, cross-Region copy, replica start",
                    )
                )
            return answer
        return None

    def _replica_in_its_subnet_group(self, call: Call) -> dict[str, Any] | None:
        """moto looks a cross-Region replica's DB subnet group up in the source Region (RDS
        looks in the replica's own): created without it, then moved into the group the
        call named, in its own Region. None (moto answers) when no group is named."""
        params = dict(call.params)
        group = params.pop("DBSubnetGroupName", None)
        if not group:
            return None
        rds = self.r.world.raw("rds", call.region)
        rds.describe_db_subnet_groups(DBSubnetGroupName=group)  # not found: RDS's error
        rds.create_db_instance_read_replica(**params)
        rds.modify_db_instance(
            DBInstanceIdentifier=params["DBInstanceIdentifier"],
            DBSubnetGroupName=group,
            ApplyImmediately=True,
        )
        found = rds.describe_db_instances(DBInstanceIdentifier=params["DBInstanceIdentifier"])
        return {"DBInstance": found["DBInstances"][0]}

    def after(self, call: Call, parsed: dict[str, Any]) -> None:
        op = f"{call.service}.{call.operation}"
        if op == "rds.DescribeDBInstances":
            for db in parsed.get("DBInstances", []):
                made = self.replicas.get((call.region, db["DBInstanceIdentifier"]))
                if made is not None and self.now() < made.available:
                    db["DBInstanceStatus"] = "creating"
        elif op == "s3.ListObjectsV2":
            bucket = str(call.params["Bucket"])
            for obj in parsed.get("Contents", []):
                at = self.written.get((bucket, obj["Key"]), self.stamp)
                obj["LastModified"] = datetime.fromtimestamp(at, UTC)

    def back_replica(self) -> Replica | None:
        return self.replicas.get((self.r.primary, self.r.names.db_instance))

    def publish_lag(self, now: float) -> None:
        """RDS's ReplicaLag of the original region's new replica, each minute."""
        made = self.back_replica()
        if made is None or now < made.available or self._promoted(now):
            return
        lag = self.lag(made, now)
        self.r.world.raw("cloudwatch", self.r.primary).put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": "ReplicaLag",
                    "Value": lag,
                    "Timestamp": now,
                    "Dimensions": [
                        {"Name": "DBInstanceIdentifier", "Value": self.r.names.db_instance}
                    ],
                }
            ],
        )

    @staticmethod
    def lag(made: Replica, at: float) -> float:
        """Behind by what DR wrote since the snapshot (the creation time) when it becomes
        available, falling linearly to the steady lag by ``caught_up``."""
        if at >= made.caught_up:
            return REPLICATION_LAG_SECONDS
        backlog = made.available - made.created
        left = (made.caught_up - at) / max(made.caught_up - made.available, 1.0)
        return REPLICATION_LAG_SECONDS + backlog * min(1.0, left)

    def _promoted(self, at: float) -> bool:
        promotion = self.r.aws.promotions.get(self.r.names.db_instance)
        return promotion is not None and promotion.done <= at

    def sql_result(self, purpose: str, at: float) -> dict[str, Any]:
        """The original region's database as the SQL task finds it at ``at``."""
        made = self.back_replica()
        own = float(math.floor(at / HEARTBEAT_SECONDS) * HEARTBEAT_SECONDS)
        if made is None or self._promoted(at):  # a primary: it beats itself
            recovering = False
            beat: float | None = own
        else:
            recovering = True
            replayed_until = at - REPLICATION_LAG_SECONDS if at >= made.caught_up else made.created
            beat = self.r.aws.last_beat(replayed_until) if at >= made.available else None
        if purpose == "writable":
            return {
                "in_recovery": recovering,
                "write": f"error: {READ_ONLY_ERROR}" if recovering else "ok",
            }
        return {"in_recovery": recovering, "beat_at": beat, "now": at}


class FailbackRehearsal(Rehearsal):
    """The failover, the primary's return and failback (and, for the sequence, a restore)
    on one emulator; ``parts`` returns one report per part."""

    def stand_up(self) -> None:
        super().stand_up()
        restore_drill.place_primary(self)  # the template's DB subnet and parameter groups
        self.back = ModelledFailback(self)
        self.aws.primary_sql = self.back.sql_result
        before, after = self.world.hooks.before, self.world.hooks.after

        def chained_before(call: Call, principal: Any) -> dict[str, Any] | None:
            return self.back.before(call, principal) or before(call, principal)

        def chained_after(call: Call, parsed: dict[str, Any]) -> None:
            after(call, parsed)
            self.back.after(call, parsed)

        self.world.hooks.before, self.world.hooks.after = chained_before, chained_after

    def parts(self) -> list[ScenarioReport]:
        name = self.scenario.name
        failover = self.run()  # run.py's regional-outage failover, on this world
        parts = [
            replace(
                failover,
                scenario=f"{name}: failover",
                expected="the failover completes; the fence records 'unfenced'",
            )
        ]
        parts.append(self.failback())
        if self.scenario.kind == "sequence":
            parts.append(self.restore_after(parts[-1]))
        return parts

    def restore_after(self, back: ScenarioReport) -> ScenarioReport:
        """An hour of service in the original region, then a bad write and a restore of the
        latest point (drill/restore.py) on the same world; not run after a failback that
        did not finish (the platform would still be failing back)."""
        name = f"{self.scenario.name}: restore-latest"
        if not back.passed:
            why = "not run: the failback before it did not pass"
            return replace(
                back,
                scenario=name,
                expected=SCENARIOS["restore-latest"].describe_expected(),
                passed=False,
                seconds=0.0,
                steps=[],
                bars=[],
                denied=[],
                permissions=[],
                checks=[
                    asdict(Check("the restore ran after failback", "-", False, why, "outcome"))
                ],
                rto=None,
                rpo=None,
                starts=[],
                failure=why,
                drift=[],
            )
        self.clock.sleep(3600)
        then = restore_drill.RestoreRehearsal.following(self, SCENARIOS["restore-latest"])
        return replace(then.restore(time.perf_counter()), scenario=name)

    # --- between the failover and the failback -----------------------------------------------
    def serve_from_dr(self) -> None:
        """DR serves and takes writes: attachments uploaded there (the DR bucket)."""
        s3 = self.world.raw("s3", self.dr)
        bucket = self.names.attachments_bucket_dr
        for key, body in ATTACHMENTS.items():
            self.clock.sleep(300)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            self.back.written[(bucket, key)] = self.clock.now()

    def primary_answers(self) -> None:
        """The outage ends; two keeper rounds (which fence the returned database) and the
        probes' good minutes pass before the operator starts."""
        self.faults.unreachable.discard(self.primary)
        self.faults.errors = {k: v for k, v in self.faults.errors.items() if k[0] != self.primary}
        self.aws.primary_serving = True
        self.returned_at = self.clock.now()
        self.clock.sleep(RETURN_WAIT_SECONDS)

    # --- failback ------------------------------------------------------------------------------
    def failback(self) -> ScenarioReport:
        wall = time.perf_counter()
        self.serve_from_dr()
        self.primary_answers()
        self.back_from = self.clock.now()
        self.fenced_rules = fence_keeper.read(
            self.world.raw("dynamodb", self.dr), self.config["runs_table"]
        ) or {"revoked": []}
        self.clock.every(60, self.back.publish_lag, start=self.back_from + 5)
        self.step_reports, self.step_wall = [], {}
        client = self.world.clients(self.operator)
        status, failure = "FAILED", ""
        self.back_plan: ops_failback.Plan | None = None
        try:
            plan = ops_failback.plan(self.names, self.settings, client, now=self.clock.now())
            self.back_plan = plan
            mark = [time.perf_counter()]

            def progress(report: StepReport) -> None:
                t = time.perf_counter()
                self.step_wall[report.name] = self.step_wall.get(report.name, 0.0) + t - mark[0]
                mark[0] = t
                self.step_reports = [s for s in self.step_reports if s.name != report.name]
                self.step_reports.append(report)
                self.setup.on_step(report)

            result = ops_failback.execute(
                self.names,
                client,
                plan,
                force=False,
                progress=progress,
                sleep=self.clock.sleep,
                now=self.clock.now,
                step_list=self.setup.failback_steps or failback.FAILBACK_STEPS,
            )
            failed = result.failed_step
            status = "SUCCEEDED" if failed is None else "FAILED"
            failure = "" if failed is None else f"{failed.name}: {failed.detail}"
        except (ClientError, ops_failback.NotFailedOver) as err:
            failure = f"plan: {err}"
        self.starts.append(f"failback --execute: {status}")
        return self.failback_report(status, failure, time.perf_counter() - wall)

    def failback_report(self, status: str, failure: str, wall: float) -> ScenarioReport:
        t0 = self.back_from
        after = drift.safely(self.names, self.settings, self.world.raw)
        checks = [
            Check(
                "failback completed", "-", status == "SUCCEEDED", failure or "completed", "outcome"
            ),
            Check(
                "after failback the platform matches its templates (dr status: no drift)",
                "-",
                after == [],
                after if isinstance(after, str) else [d.what for d in after] or "none",
                "outcome",
            ),
        ]
        checks += effect_checks(self)
        gate = any(c.ok for c in checks if c.step == "wait_zero_lag")
        window = self.outage_window()
        checks.append(
            Check(
                "the switchover's outage window (writes stopped until the primary serves), "
                "modelled",
                "-",
                window is not None,
                f"{window / 60:.1f} min" if window is not None else "never ended",
                "outcome",
            )
        )
        denied = [
            {
                "at": round(r.at - t0, 1),
                "principal": r.principal,
                "call": r.call.describe(),
                "missing": r.denied,
            }
            for r in self.world.log
            if r.outcome == "denied" and r.at >= t0
        ]
        steps_out = self._steps(t0, MODELLED)
        ended = self._ended("start_primary")
        bars = [
            {
                "label": r.name,
                "start": round(r.started - t0, 1),
                "end": round(r.ended - t0, 1),
                "kind": "modelled" if r.name in MODELLED else "step",
                "status": r.status,
                "critical": r.ended <= ended + 1e-6,
                "note": r.note,
            }
            for r in self.step_reports
            if r.started is not None and r.ended is not None
        ]
        bars += [
            {
                "label": e.name,
                "start": round(e.start - t0, 1),
                "end": round(e.end - t0, 1),
                "kind": "background",
                "status": "modelled",
                "critical": False,
                "note": e.note,
            }
            for e in self.aws.events
            if e.end >= t0
        ]
        return ScenarioReport(
            scenario=f"{self.scenario.name}: failback",
            summary=self.scenario.summary,
            expected=self.scenario.describe_expected(),
            quantile=self.quantile,
            passed=all(c.ok for c in checks) and not denied,
            seconds=round(wall, 2),
            steps=steps_out,
            bars=bars,
            checks=[asdict(c) for c in checks],
            denied=denied,
            rto=None,
            rpo={
                "seconds": 0.0 if gate else None,
                "reading": "zero data loss: a DR heartbeat written after writes stopped had "
                "replayed in the original region before its promotion",
            },
            starts=self.starts,
            failure=failure,
            permissions=self._permissions(),
            drift=[asdict(d) for d in after] if isinstance(after, list) else [],
        )

    def _ended(self, step: str) -> float:
        found = next((r for r in self.step_reports if r.name == step and r.status == "done"), None)
        return found.ended if found is not None and found.ended is not None else INFINITY

    def _started(self, step: str) -> float:
        found = next((r for r in self.step_reports if r.name == step), None)
        return found.started if found is not None and found.started is not None else INFINITY

    def outage_window(self) -> float | None:
        start, end = self._started("stop_writes"), self._ended("start_primary")
        return None if INFINITY in (start, end) else end - start

    def detail(self, step: str) -> dict[str, Any]:
        found = next((r for r in self.step_reports if r.name == step), None)
        return dict(found.detail) if found is not None else {}


def _calls(
    r: FailbackRehearsal, operation: str, region: str | None = None, **where: Any
) -> list[tuple[float, dict[str, Any]]]:
    """The operator's successful calls since failback started."""
    return [
        (c.at, dict(c.call.params))
        for c in r.world.calls(operation)
        if c.at >= r.back_from
        and (region is None or c.call.region == region)
        and all(c.call.params.get(k) == v for k, v in where.items())
    ]


def effect_checks(r: FailbackRehearsal) -> list[Check]:
    """One check per step's effect, read back from the emulator, the call log and the
    modelled SQL answers."""
    names, cfg, checks = r.names, r.config, []
    run = r.back_plan.incident if r.back_plan else ""
    rds_p, rds_d = r.world.raw("rds", r.primary), r.world.raw("rds", r.dr)
    ec2_p = r.world.raw("ec2", r.primary)

    def check(name: str, step: str, ok: bool, observed: Any, kind: str = "emulated") -> None:
        checks.append(Check(name, step, bool(ok), observed, kind))  # type: ignore[arg-type]

    def first(operation: str, region: str | None = None, **where: Any) -> float:
        found = _calls(r, operation, region, **where)
        return min(t for t, _ in found) if found else INFINITY

    # 1. preflight: the state said failing-back while the run went on
    states = [
        json.loads(str(p["Value"])).get("state")
        for _t, p in _calls(r, "PutParameter", r.dr, Name=names.failover_parameter)
    ]
    check(
        "preflight: the failed-over state became 'failing-back' (deploys stay refused), "
        "the original region's probes passing",
        "preflight",
        failback.FAILING_BACK in states
        and not r.detail("preflight").get("failing_probes")
        and r.detail("preflight").get("forced") is False,
        {
            "states written": states,
            "preflight": {k: r.detail("preflight").get(k) for k in ("failing_probes", "forced")},
        },
    )

    # 2. the stale original: aside, fenced, protected, the same instance
    aside_id = failback.aside_name(names.db_instance, run)
    aside = failback.describe(rds_p, aside_id) or {}
    groups = [g["VpcSecurityGroupId"] for g in aside.get("VpcSecurityGroups", [])]
    rules = (
        ec2_p.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": groups}])[
            "SecurityGroupRules"
        ]
        if groups
        else []
    )
    found = ec2_p.describe_security_groups(GroupIds=groups)["SecurityGroups"] if groups else []
    tags = {t["Key"]: t["Value"] for t in aside.get("TagList", [])}
    check(
        "the stale original renamed aside, in a no-ingress group, deletion protection on, "
        "tagged with the incident",
        "fence_stale",
        bool(aside)
        and aside.get("DeletionProtection") is True
        and [g["GroupName"] for g in found] == [failback.FENCE_GROUP]
        and not [x for x in rules if not x["IsEgress"]]
        and tags.get(failback.ASIDE_TAG) == run,
        {
            "aside": aside_id,
            "groups": [g["GroupName"] for g in found],
            "ingress": [x for x in rules if not x["IsEgress"]],
            "deletion protection": aside.get("DeletionProtection"),
            "tags": tags,
        },
    )

    # 3. replica of DR in the original region under the original identifier
    serving = failback.describe(rds_p, names.db_instance) or {}
    created = _calls(
        r, "CreateDBInstanceReadReplica", r.primary, DBInstanceIdentifier=names.db_instance
    )
    params = created[0][1] if created else {}
    check(
        "a replica of the serving DR database in the original region under the original "
        "identifier, the original region's key and parameter group",
        "replicate_back",
        len(created) == 1
        and str(params.get("SourceDBInstanceIdentifier", "")).endswith(f":db:{cfg['replica']}")
        and params.get("KmsKeyId") == names.kms_alias_arn(r.primary)
        and params.get("DBParameterGroupName") == f"{names.prefix}-database-parameters"
        and params.get("DBSubnetGroupName") == f"{names.prefix}-database-subnets",
        {
            "created": len(created),
            "params": {
                k: params.get(k)
                for k in (
                    "SourceDBInstanceIdentifier",
                    "KmsKeyId",
                    "DBParameterGroupName",
                    "DBSubnetGroupName",
                )
            },
        },
        "modelled",
    )

    # 4. caught up before the writes stopped
    made = r.back.back_replica()
    stopped_calls = [t for t, _ in _calls(r, "UpdateService", r.dr, desiredCount=0)]
    stop_at = min(stopped_calls) if stopped_calls else INFINITY
    lag_at_stop = r.back.lag(made, stop_at) if made is not None and stop_at < INFINITY else None
    check(
        "the writes stopped only once the new replica was available and its ReplicaLag "
        "within the RPO",
        "wait_caught_up",
        made is not None
        and made.available <= stop_at < INFINITY
        and lag_at_stop is not None
        and lag_at_stop <= float(cfg["rpo_seconds"]),
        {
            "available at": made and round(made.available - r.back_from),
            "writes stopped at": None if stop_at == INFINITY else round(stop_at - r.back_from),
            "modelled lag then": lag_at_stop,
            "rpo": cfg["rpo_seconds"],
        },
        "modelled",
    )

    # 5. DR's services and their scaling at zero, before the gate
    dr_services = {s: 0 for s in (names.server_service, names.worker_service)}
    bounded = {
        p_["ResourceId"].rsplit("/", 1)[-1]
        for _t, p_ in _calls(r, "RegisterScalableTarget", r.dr, MaxCapacity=0)
    }
    stopped_names = {p_["service"] for _t, p_ in _calls(r, "UpdateService", r.dr, desiredCount=0)}
    stopped = r.detail("stop_writes").get("stopped_at")
    check(
        "DR's services and their scaling at 0 before the zero-lag gate (the outage window starts)",
        "stop_writes",
        set(dr_services) <= stopped_names
        and set(dr_services) <= bounded
        and stopped is not None
        and stop_at <= float(stopped),
        {"stopped": sorted(stopped_names), "scaling max 0": sorted(bounded), "stopped_at": stopped},
    )

    # 6. the zero-lag gate, from the modelled SQL task's answers
    answers = [
        (t.ends, region, res)
        for t, region, res in r.aws.sql_answers
        if t.purpose == "last-beat" and t.ends >= r.back_from
    ]
    promote_at = first("PromoteReadReplica", r.primary)
    dr_beats = [
        res.get("beat_at") or 0
        for at, reg, res in answers
        if reg == r.dr and stopped is not None and at < promote_at
    ]
    after_stop = [b for b in dr_beats if stopped is not None and b > float(stopped)]
    replayed = [
        res.get("beat_at") or 0 for at, reg, res in answers if reg == r.primary and at < promote_at
    ]
    check(
        "zero-lag gate: a DR beat written after the writes stopped had replayed in the "
        "original region before its promotion (the SQL task in each VPC)",
        "wait_zero_lag",
        bool(after_stop)
        and bool(replayed)
        and max(replayed) >= min(after_stop)
        and promote_at < INFINITY,
        {"stopped_at": stopped, "dr beats": dr_beats, "replayed": replayed},
        "modelled",
    )

    # 7. attachments back, verified, before the switch
    s3_p, s3_d = r.world.raw("s3", r.primary), r.world.raw("s3", r.dr)
    verified = {}
    for key in ATTACHMENTS:
        source = s3_d.head_object(Bucket=names.attachments_bucket_dr, Key=key)
        try:
            copy = s3_p.head_object(Bucket=names.attachments_bucket, Key=key)
        except ClientError:
            copy = {}
        verified[key] = (
            copy.get("Metadata", {}).get(failback.SOURCE_ETAG) == source["ETag"]
            and copy.get("ContentLength") == source["ContentLength"]
        )
    switch_at = first("PutParameter", r.dr, Name=cfg["switch_parameter"])
    copied_at = [t for t, _ in _calls(r, "CopyObject", r.primary)]
    said = r.detail("copy_attachments")
    check(
        "the attachments written in DR are in the primary bucket, verified by ETag and size, "
        "before the switch moved",
        "copy_attachments",
        all(verified.values())
        and said.get("verified") == said.get("count") == len(ATTACHMENTS)
        and bool(copied_at)
        and max(copied_at) < switch_at,
        {"verified": verified, "step": said},
    )

    # 8. promoted: standalone under the original identifier
    check(
        "the original region's replica promoted: a standalone primary under the original "
        "identifier",
        "promote_primary",
        bool(serving)
        and not serving.get("ReadReplicaSourceDBInstanceIdentifier")
        and promote_at < INFINITY
        and serving.get("DBInstanceArn", "").endswith(f":db:{names.db_instance}"),
        {
            "source": serving.get("ReadReplicaSourceDBInstanceIdentifier"),
            "promoted": promote_at < INFINITY,
        },
        "modelled",
    )

    # 9. writable, seen through the SQL task after the promotion
    writes = [
        res
        for t, region, res in r.aws.sql_answers
        if t.purpose == "writable" and region == r.primary and t.ends >= r.back_from
    ]
    check(
        "the new primary takes a write (the SQL task in its VPC)",
        "wait_primary_writable",
        any(w.get("write") == "ok" and w.get("in_recovery") is False for w in writes),
        writes,
        "modelled",
    )

    # 10. secrets: serving passwords in the primary, replicating to DR
    sm_p, sm_d = r.world.raw("secretsmanager", r.primary), r.world.raw("secretsmanager", r.dr)
    replication = {}
    for name in cfg["secrets"]:
        status = sm_p.describe_secret(SecretId=name).get("ReplicationStatus", [])
        replication[name] = r.dr in {x["Region"] for x in status}
    same = {}
    for name in (names.db_secret, names.db_app_secret):
        p_ = json.loads(sm_p.get_secret_value(SecretId=name)["SecretString"])
        d_ = json.loads(sm_d.get_secret_value(SecretId=name)["SecretString"])
        same[name] = p_.get("password") == d_.get("password")
    check(
        "the secrets replicate from the primary into DR again, with the serving passwords",
        "restore_secrets",
        all(replication.values()) and all(same.values()),
        {"replicating": replication, "same password": same},
    )

    # 11. the switch says primary; traffic back
    said_switch = switch.read(
        r.world.raw("ssm", r.dr),
        r.world.raw("kms", r.dr),
        cfg["switch_parameter"],
        cfg["switch_key"],
        cfg["environment"],
    )
    check(
        "the signed switch says 'primary' and traffic goes to the primary again",
        "switch_to_primary",
        said_switch == "primary" and not r.aws.traffic_to_dr(),
        {"switch": said_switch, "traffic to DR": r.aws.traffic_to_dr()},
    )

    # 12. the fence's revoked rules back
    revoked = r.fenced_rules.get("revoked", [])
    present = {
        (x["GroupId"], x["ReferencedGroupInfo"]["GroupId"])
        for x in (database_rules(r.world, cfg) if serving else [])
    }
    back = [x for x in revoked if (x["group"], x["source"]) in present]
    check(
        "the rules the fence keeper revoked while the primary was back are in place again",
        "reopen_primary",
        bool(revoked) and len(back) == len(revoked),
        {"revoked": [f"{x['group']} <- {x['source']}" for x in revoked], "in place": len(back)},
    )

    # 13-15. queues purged, jobs registered, then the services started
    cluster_p = names.ecs_cluster(r.primary)
    one_offs = sorted(
        (t.started, t.ends, t.started_by)
        for t in r.aws.one_off.values()
        if t.cluster.endswith(f"/{cluster_p}") and t.started >= r.back_from and not t.log_group
    )
    purged = [x for x in one_offs if "purge" in x[2]]
    jobs = [x for x in one_offs if "jobs" in x[2]]
    raised = [
        t for t, p_ in _calls(r, "UpdateService", r.primary) if int(p_.get("desiredCount", 0)) > 0
    ]
    check(
        "the original region's stale queues purged before its scheduled jobs were registered",
        "purge_queues",
        bool(purged) and bool(jobs) and max(x[1] for x in purged) <= min(x[0] for x in jobs),
        {"purge tasks": len(purged), "jobs tasks": len(jobs)},
        "modelled",
    )
    check(
        "the scheduled jobs registered (the jobs task exited 0) before any primary worker started",
        "register_jobs",
        bool(jobs) and bool(raised) and max(x[1] for x in jobs) <= min(raised),
        {"jobs tasks": len(jobs), "first raise": raised[:1]},
        "modelled",
    )
    sizes = planned(r.settings, "primary")
    want = {names.server_service: sizes.server.desired, names.worker_service: sizes.worker.desired}
    found_services = r.world.raw("ecs", r.primary).describe_services(
        cluster=cluster_p, services=list(want)
    )["services"]
    desired = {s["serviceName"]: s["desiredCount"] for s in found_services}
    check(
        "the primary's services at their template sizes, running",
        "start_primary",
        desired == want and r._ended("start_primary") < INFINITY,
        {"desired": desired, "wanted": want, "running": r.detail("start_primary")},
        "modelled",
    )

    # 16. DR protected again
    replica = failback.describe(rds_d, cfg["replica"]) or {}
    dr_aside_id = failback.aside_name(cfg["replica"], run)
    dr_aside = failback.describe(rds_d, dr_aside_id) or {}
    check(
        "a new DR replica of the primary; the promoted DR instance kept aside, protected",
        "rebuild_dr_replica",
        str(replica.get("ReadReplicaSourceDBInstanceIdentifier", "")).endswith(
            f":db:{names.db_instance}"
        )
        and replica.get("DBInstanceStatus") == "available"
        and dr_aside.get("DeletionProtection") is True,
        {
            "replica source": replica.get("ReadReplicaSourceDBInstanceIdentifier"),
            "status": replica.get("DBInstanceStatus"),
            "aside": dr_aside_id,
            "aside protected": dr_aside.get("DeletionProtection"),
        },
        "modelled",
    )

    # 17. DR back at its template
    dr_sizes = planned(r.settings, "dr")
    want_dr = {
        names.server_service: dr_sizes.server.desired,
        names.worker_service: dr_sizes.worker.desired,
    }
    found_dr = r.world.raw("ecs", r.dr).describe_services(
        cluster=names.ecs_cluster(r.dr), services=list(want_dr)
    )["services"]
    alarm = r.world.raw("cloudwatch", r.dr).describe_alarms(AlarmNames=[cfg["replica_lag_alarm"]])[
        "MetricAlarms"
    ]
    check(
        "DR's services at their template sizes, the replica-lag alarm's actions on",
        "reset_dr",
        {s["serviceName"]: s["desiredCount"] for s in found_dr} == want_dr
        and bool(alarm)
        and alarm[0].get("ActionsEnabled") is True,
        {
            "desired": {s["serviceName"]: s["desiredCount"] for s in found_dr},
            "alarm actions": alarm[0].get("ActionsEnabled") if alarm else None,
        },
    )

    # 18. the state none, the lock released
    state = json.loads(
        r.world.raw("ssm", r.dr).get_parameter(Name=names.failover_parameter)["Parameter"]["Value"]
    )
    lock = (
        r.world.raw("dynamodb", r.dr)
        .get_item(
            TableName=cfg["runs_table"],
            Key={"run": {"S": "#lock"}, "step": {"S": "#lock"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    check(
        "the failed-over state is 'none' and the failover lock is released",
        "finish",
        state.get("state") == "none" and lock is None,
        {"state": state.get("state"), "lock": bool(lock)},
    )
    return checks
