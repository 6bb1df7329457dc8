"""Failback: the failover's step machinery run the other way, against the emulator.

Each test fails the platform over first (the real failover steps in moto), then runs
failback's steps (failover/runtime/failback.py) through ops/failback.py as the CLI does.
moto runs no ECS task and no SQL: the in-VPC SQL task is replaced by a model of the
heartbeat (``Heartbeat``), and the one-off task steps by a stand-in that records them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from crm_platform.failover.runtime import failback, fence_keeper, steps, switch, timeline
from crm_platform.ops import drift
from crm_platform.ops import failback as ops_failback
from crm_platform.settings import Settings
from tests.conftest import Assembly
from tests.test_failover import (  # noqa: F401 - the emulator and SQL task fixtures
    World,
    _aws,
    _sql_task_answers_writable,
    client,
)

ORDER = [s.name for s in failback.FAILBACK_STEPS]


class Heartbeat:
    """The heartbeat as the SQL task reads it: DR beats every minute on the serving
    database; the original region's replica replays what DR wrote, ``replay_delay``
    seconds late (None: replication is stuck)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.replay_delay: float | None = 30.0
        self.calls: list[tuple[str, str]] = []

    def beat(self, at: float) -> float:
        return float(int(at // 60) * 60)

    def __call__(
        self, ctx: steps.Context, region: str, purpose: str, *, repeat_while: Any = None
    ) -> steps.Outcome:
        self.calls.append((region, purpose))
        now = self.clock.now()
        if purpose == "writable":
            result: dict[str, Any] = {"in_recovery": False, "write": "ok"}
        elif region == "dr":
            result = {"beat_at": self.beat(now), "in_recovery": False, "now": now}
        else:
            replayed = None if self.replay_delay is None else self.beat(now - self.replay_delay)
            result = {"beat_at": replayed, "in_recovery": True, "now": now}
        if repeat_while is not None and repeat_while(result):
            return steps.Outcome(False, {"latest": result}, wait=30)
        return steps.Outcome(True, {"result": result})


class Tasks:
    """The one-off tasks of the original region (purge, jobs) and its services' start:
    moto runs no task, so these steps are replaced by records of their order."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.order: list[str] = []

    def step(self, name: str) -> steps.Step:
        real = failback.BY_NAME[name]

        def run(ctx: steps.Context) -> steps.Outcome:
            self.order.append(name)
            if name == "start_primary":
                fb = ctx.config["failback"]
                failback._size(ctx, ctx.primary, ctx.config["clusters"]["primary"],
                               fb["primary_sizes"])  # fmt: skip
            return steps.Outcome(True, {name: "modelled"})

        return steps.Step(real.name, real.summary, run, real.timeout_seconds, real.poll,
                          real.reads_results)  # fmt: skip


class Back:
    """A failed-over platform and the failback command's pieces."""

    def __init__(self, world: World, settings: Settings) -> None:
        self.world, self.settings, self.names = world, settings, world.names
        self.heartbeat = Heartbeat(world.clock)
        self.tasks = Tasks(world)
        self.steps = tuple(
            self.tasks.step(s.name) if s.name in ("purge_queues", "register_jobs", "start_primary")
            else s for s in failback.FAILBACK_STEPS
        )  # fmt: skip
        report = world.run("failover-1")
        assert report.ok, report.failed_step
        self.dr, self.primary = world.dr, str(world.config["primary_region"])
        self.lag(1.0)
        self.put_attachment("before.txt", b"old", in_dr=False)
        # S3 stamps objects with the real clock, the runs use a virtual one: the failover
        # happened an hour ago in real time, and the DR bucket holds a copy from before.
        state = self.state()
        client("ssm", self.dr).put_parameter(
            Name=self.names.failover_parameter, Type="String", Overwrite=True,
            Value=json.dumps({**state, "since": time.time() - 3600}),
        )  # fmt: skip

    def lag(self, seconds: float) -> None:
        client("cloudwatch", self.primary).put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[{"MetricName": "ReplicaLag", "Value": seconds,
                         "Timestamp": self.world.clock.now() - 30,
                         "Dimensions": [{"Name": "DBInstanceIdentifier",
                                         "Value": self.names.db_instance}]}],
        )  # fmt: skip

    def put_attachment(self, key: str, body: bytes, *, in_dr: bool = True) -> None:
        bucket = self.names.attachments_bucket_dr if in_dr else self.names.attachments_bucket
        region = self.dr if in_dr else self.primary
        client("s3", region).put_object(Bucket=bucket, Key=key, Body=body)

    def plan_config(self) -> dict[str, Any]:
        return ops_failback.config(self.names, self.settings, client)

    def plan(self) -> ops_failback.Plan:
        return ops_failback.plan(self.names, self.settings, client, now=self.world.clock.now())

    def execute(self, *, force: bool = False, stop_after: str | None = None,
                factory: Any = None, step_list: Any = None) -> Any:  # fmt: skip
        failback.SQL = self.heartbeat
        try:
            return ops_failback.execute(
                self.names, factory or client, self.plan(), force=force,
                sleep=self.world.clock.sleep, now=self.world.clock.now,
                step_list=step_list or self.steps, stop_after=stop_after,
            )  # fmt: skip
        finally:
            failback.SQL = None

    def rds(self, region: str, identifier: str) -> dict[str, Any] | None:
        return failback.describe(client("rds", region), identifier)

    def switch(self) -> str:
        c = self.world.config
        return switch.read(client("ssm", self.dr), client("kms", self.dr), c["switch_parameter"],
                           c["switch_key"], c["environment"])  # fmt: skip

    def state(self) -> dict[str, Any]:
        found = client("ssm", self.dr).get_parameter(Name=self.names.failover_parameter)
        value: dict[str, Any] = json.loads(found["Parameter"]["Value"])
        return value


@pytest.fixture
def back(
    assembly: Assembly,
    prod_settings: Settings,
    _aws: None,  # noqa: F811
    _sql_task_answers_writable: None,  # noqa: F811
) -> Back:
    return Back(World(assembly, prod_settings), prod_settings)


def test_failback_returns_the_platform_to_its_templates(back: Back) -> None:
    found = drift.drift(back.names, back.settings, client)
    assert found, "a failover leaves drift behind"
    back.put_attachment("written-in-dr.txt", b"new in DR")
    report = back.execute()
    assert report.ok, report.failed_step
    assert [s.name for s in report.steps] == ORDER
    assert drift.drift(back.names, back.settings, client) == []
    # the stale original kept aside, fenced (no-ingress group), protected
    aside = back.rds(back.primary, failback.aside_name(back.names.db_instance, report.run))
    assert aside is not None and aside["DeletionProtection"]
    (group,) = [g["VpcSecurityGroupId"] for g in aside["VpcSecurityGroups"]]
    rules = client("ec2", back.primary).describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]  # fmt: skip
    assert [r for r in rules if not r["IsEgress"]] == []
    # the new primary under the original identifier, standalone
    primary = back.rds(back.primary, back.names.db_instance)
    assert primary is not None and not primary.get("ReadReplicaSourceDBInstanceIdentifier")
    # attachments back, verified
    copy = client("s3", back.primary).head_object(
        Bucket=back.names.attachments_bucket, Key="written-in-dr.txt")  # fmt: skip
    assert copy["Metadata"][failback.SOURCE_ETAG]
    copied = next(s for s in report.steps if s.name == "copy_attachments").detail
    assert copied["count"] == copied["verified"] == 1
    # secrets replicate from the primary again
    for name in back.world.config["secrets"]:
        described = client("secretsmanager", back.primary).describe_secret(SecretId=name)
        assert back.dr in {r["Region"] for r in described.get("ReplicationStatus", [])}
    assert back.switch() == "primary"
    assert back.state()["state"] == "none"
    # the DR replica rebuilt; the promoted one kept aside
    replica = back.rds(back.dr, back.names.db_replica)
    assert replica is not None and replica.get("ReadReplicaSourceDBInstanceIdentifier")
    assert back.rds(back.dr, failback.aside_name(back.names.db_replica, report.run)) is not None
    assert back.tasks.order == ["purge_queues", "register_jobs", "start_primary"]


def test_dry_run_changes_nothing(back: Back) -> None:
    before = (back.state(), back.switch(), drift.drift(back.names, back.settings, client))
    p = back.plan()
    assert p.how == "start" and [name for name, _ in p.lines()] == ORDER
    assert (back.state(), back.switch(), drift.drift(back.names, back.settings, client)) == before


def test_refused_when_not_failed_over(back: Back) -> None:
    assert back.execute().ok
    with pytest.raises(ops_failback.NotFailedOver):
        back.plan()


def test_refused_while_the_original_region_fails_its_probes_unless_forced(back: Back) -> None:
    # The failover's fixture left the impaired alarms in ALARM: the primary still fails.
    cw = client("cloudwatch", back.dr)
    alarms = back.plan().config["failback"]["probe_alarms"]
    for name in alarms:
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    refused = back.execute()
    assert refused.failed_step is not None and refused.failed_step.name == "preflight"
    assert "still fails its probes" in refused.failed_step.detail["message"]
    assert back.state()["state"] == "failed-over"  # nothing changed
    assert back.rds(back.primary, back.names.db_instance) is not None
    assert back.execute(force=True).ok


def _healthy(back: Back) -> None:
    cw = client("cloudwatch", back.dr)
    for name in back.plan().config["failback"]["probe_alarms"]:
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test: answers")


@pytest.fixture(autouse=True)
def _original_region_answers(request: pytest.FixtureRequest) -> None:
    if "back" in request.fixturenames and "probes" not in request.node.name:
        _healthy(request.getfixturevalue("back"))


def test_the_zero_lag_gate_holds_the_promotion(back: Back) -> None:
    back.heartbeat.replay_delay = None  # replication stuck: no beat after the stop replays
    report = back.execute()
    assert report.failed_step is not None and report.failed_step.name == "wait_zero_lag"
    assert "did not finish" in report.failed_step.detail["message"]
    primary = back.rds(back.primary, back.names.db_instance)
    assert primary is not None and primary.get("ReadReplicaSourceDBInstanceIdentifier")
    assert back.switch() == "dr"
    # replication resumes: the same incident goes on from the gate
    back.heartbeat.replay_delay = 30.0
    rows = timeline.read(client("dynamodb", back.dr), back.names.failover_runs_table,
                         report.run)  # fmt: skip
    assert rows[-1]["step"] == "wait_zero_lag"


def test_the_gate_compares_a_beat_written_after_the_stop(back: Back) -> None:
    report = back.execute(stop_after="wait_zero_lag")
    detail = next(s for s in report.steps if s.name == "wait_zero_lag").detail
    stopped = next(s for s in report.steps if s.name == "stop_writes").detail["stopped_at"]
    assert detail["dr_beat"] > stopped and detail["replayed_beat"] >= detail["dr_beat"]
    order = [s.name for s in report.steps if s.status == "done"]
    assert order.index("stop_writes") < order.index("wait_zero_lag")
    assert not [c for c in back.heartbeat.calls if c[1] == "writable"]  # no promotion yet


def test_attachments_are_verified_before_the_switch(back: Back) -> None:
    back.put_attachment("a.txt", b"a")
    back.put_attachment("b.txt", b"b")

    def lying(service: str, region: str) -> Any:
        real = client(service, region)
        if service == "s3" and region == back.primary:
            original = real.copy_object

            def copy_object(**kwargs: Any) -> Any:
                kwargs["Metadata"] = {**kwargs["Metadata"], failback.SOURCE_ETAG: '"bogus"'}
                return original(**kwargs)

            real.copy_object = copy_object
        return real

    report = back.execute(factory=lying)
    assert report.failed_step is not None and report.failed_step.name == "copy_attachments"
    assert back.switch() == "dr"  # traffic did not move
    order = [s.name for s in failback.FAILBACK_STEPS]
    assert order.index("copy_attachments") < order.index("switch_to_primary")
    assert order.index("copy_attachments") < order.index("promote_primary")


MUTATING = ("modify_db_instance", "create_db_instance_read_replica", "promote_read_replica",
            "copy_object", "replicate_secret_to_regions", "authorize_security_group_ingress",
            "create_security_group", "register_scalable_target", "put_secret_value")  # fmt: skip


def _counting(calls: dict[str, int], crash: dict[str, Any]) -> Any:
    """Clients that count the mutating calls; the first ``crash["name"]`` call crashes
    right after AWS did it (the worst moment: the effect exists, the record does not)."""

    def factory(service: str, region: str) -> Any:
        real = client(service, region)
        for method in MUTATING:
            if not hasattr(real, method):
                continue
            original = getattr(real, method)

            def wrapped(*, _m: str = method, _o: Any = original, **kwargs: Any) -> Any:
                answer = _o(**kwargs)
                calls[_m] = calls.get(_m, 0) + 1
                if _m == crash["name"] and crash["left"]:
                    crash["left"] -= 1
                    raise ClientError({"Error": {"Code": "InternalFailure",
                                                 "Message": "crashed after"}}, _m)  # fmt: skip
                return answer

            setattr(real, method, wrapped)
        return real

    return factory


CLEAN = {"modify_db_instance": 2, "create_db_instance_read_replica": 2,
         "promote_read_replica": 1, "copy_object": 1, "create_security_group": 2}  # fmt: skip


@pytest.mark.parametrize(
    "crash_in",
    ["modify_db_instance", "create_db_instance_read_replica", "promote_read_replica",
     "copy_object", "replicate_secret_to_regions", "authorize_security_group_ingress"],
)  # fmt: skip
def test_a_crash_in_a_step_resumes_without_doing_anything_twice(back: Back, crash_in: str) -> None:
    calls: dict[str, int] = {}
    factory = _counting(calls, {"name": crash_in, "left": 1})
    back.put_attachment("c.txt", b"c")
    first = back.execute(factory=factory)
    assert first.failed_step is not None, crash_in
    again = back.execute(factory=factory)
    assert again.ok, again.failed_step
    assert again.run == first.run  # the same incident
    for name, count in CLEAN.items():
        assert calls.get(name, 0) == count, (name, calls)
    assert calls["replicate_secret_to_regions"] == len(back.world.config["secrets"])
    assert drift.drift(back.names, back.settings, client) == []


def test_a_resumed_failback_keeps_its_incident_and_the_lock_refuses_a_failover(
    back: Back,
) -> None:
    first = back.execute(stop_after="stop_writes")
    assert back.state()["state"] == failback.FAILING_BACK
    assert back.plan().how == "resume" and back.plan().incident == first.run
    failover = back.world.run("failover-2", force=True)
    assert failover.failed_step is not None and failover.failed_step.name == "preflight"
    again = back.execute()
    assert again.ok and again.run == first.run
    assert [s.status for s in again.steps[:5]] == ["skipped"] * 5


def test_the_keeper_does_not_refence_what_failback_reopened(back: Back) -> None:
    report = back.execute()
    assert report.ok
    ctx = steps.Context(config=back.world.config, client=client, now=back.world.clock.now)
    outcome = fence_keeper.keep(ctx)
    assert outcome["acting"] is False
    assert drift.drift(back.names, back.settings, client) == []
