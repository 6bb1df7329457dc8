"""Failback: the failover's step machinery run the other way, against the emulator.

Each test fails the platform over first (the real failover steps in moto), then runs
failback's steps (failover/runtime/failback.py) through ops/failback.py as the CLI does.
moto runs no SQL: the in-VPC SQL task is replaced by a model of the heartbeat
(``Heartbeat``). The original region's one-off tasks (purge, jobs) are the real steps:
moto's RunTask starts them against the primary's jobs task definition, and the test sets
each one's outcome (``PrimaryTasks``: moto never stops a task). Only the start of the
primary's services is a stand-in (moto runs no service task), recording when it ran.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from crm_platform.drill import emulator_state
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
    fresh_client,
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


class PrimaryTasks:
    """The original region's one-off tasks as moto's ECS holds them: RunTask (the real
    purge_queues and register_jobs steps) registers a RUNNING task; between two polls the
    test ends each task failback started with ``exit_code`` (0: done), as ECS would. The
    start of the primary's services is a stand-in (moto runs no service task) that
    records which tasks had ended by then."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.exit_code = 0
        self.ended: list[dict[str, Any]] = []  # in the order they ended
        self.at_start: list[dict[str, Any]] | None = None

    def _backend(self) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends["123456789012"][self.region]

    def end_started(self) -> None:
        for tasks in self._backend().tasks.values():
            for task in tasks.values():
                if task.started_by.startswith("failback-") and task.desired_status == "RUNNING":
                    task.desired_status = task.status = "STOPPED"
                    task.stopped_reason = "Essential container in task exited"
                    for container in task.containers:
                        container.exitCode = self.exit_code
                    self.ended.append({"started_by": task.started_by,
                                       "definition": task.task_definition_arn,
                                       "cluster": task.cluster_arn,
                                       "overrides": task.overrides,
                                       "exit": self.exit_code})  # fmt: skip

    def start_step(self) -> steps.Step:
        real = failback.BY_NAME["start_primary"]

        def run(ctx: steps.Context) -> steps.Outcome:
            self.at_start = list(self.ended)
            fb = ctx.config["failback"]
            failback._size(ctx, ctx.primary, ctx.config["clusters"]["primary"],
                           fb["primary_sizes"])  # fmt: skip
            return steps.Outcome(True, {"start_primary": "modelled"})

        return steps.Step(real.name, real.summary, run, real.timeout_seconds, real.poll,
                          real.reads_results)  # fmt: skip


class Back:
    """A failed-over platform and the failback command's pieces."""

    def __init__(self, world: World, settings: Settings) -> None:
        self.world, self.settings, self.names = world, settings, world.names
        self.heartbeat = Heartbeat(world.clock)
        self.dr, self.primary = world.dr, str(world.config["primary_region"])
        self.tasks = PrimaryTasks(self.primary)
        self.steps = tuple(
            self.tasks.start_step() if s.name == "start_primary" else s
            for s in failback.FAILBACK_STEPS
        )
        world.clock.t = emulator_state.once(
            "failed over", world.templates, self._fail_over, shared=tuple(world.templates.values())
        )  # the first world of this process runs the failover; later ones get a copy of it
        self.lag(1.0)
        self.put_attachment("before.txt", b"old", in_dr=False)
        # S3 stamps objects with the real clock, the runs use a virtual one: the failover
        # happened an hour ago in real time, and the DR bucket holds a copy from before.
        state = self.state()
        client("ssm", self.dr).put_parameter(
            Name=self.names.failover_parameter, Type="String", Overwrite=True,
            Value=json.dumps({**state, "since": time.time() - 3600}),
        )  # fmt: skip

    def _fail_over(self) -> float:
        report = self.world.run("failover-1")
        assert report.ok, report.failed_step
        return self.world.clock.t

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
                sleep=self.sleep, now=self.world.clock.now,
                step_list=step_list or self.steps, stop_after=stop_after,
            )  # fmt: skip
        finally:
            failback.SQL = None

    def sleep(self, seconds: float) -> None:
        """Between two polls the original region's one-off tasks end (their outcome)."""
        self.tasks.end_started()
        self.world.clock.sleep(seconds)

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
    for region, name in ((back.primary, back.names.db_instance), (back.dr, back.names.db_replica)):
        kept = back.rds(region, failback.aside_name(name, report.run)) or {}
        tags = client("rds", region).list_tags_for_resource(ResourceName=kept["DBInstanceArn"])
        assert {"Key": failback.ASIDE_TAG, "Value": report.run} in tags["TagList"], region
    # the purge, then the registration, both ended, before the primary's workers start
    (purge, jobs) = back.tasks.at_start or []
    assert [purge["started_by"][:15], jobs["started_by"][:14]] == [
        "failback-purge-",
        "failback-jobs-",
    ]
    for task in (purge, jobs):
        assert f":task-definition/{back.names.task_family('jobs')}:" in task["definition"]
        assert task["cluster"].endswith(f"/{back.names.ecs_cluster(back.primary)}")
    (command,) = purge["overrides"]["containerOverrides"]
    assert command["command"] == ["node", "-e", failback.PURGE_SCRIPT]
    assert jobs["overrides"] == {}  # the jobs task as the template defines it


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
    right after AWS did it (the worst moment: the effect exists, the record does not).
    One wrapped client per service and region (a boto3 client costs about 15 ms to make,
    and a failback asks for one per call)."""
    made: dict[tuple[str, str], Any] = {}

    def factory(service: str, region: str) -> Any:
        if (service, region) in made:
            return made[(service, region)]
        real = made[(service, region)] = fresh_client(service, region)
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


def test_a_purge_that_keeps_failing_leaves_the_primarys_workers_stopped(back: Back) -> None:
    """The stale queues are emptied before any worker starts, or no worker starts."""
    back.tasks.exit_code = 1
    report = back.execute()
    assert report.failed_step is not None and report.failed_step.name == "purge_queues"
    assert "purge task failed 3 times" in report.failed_step.detail["message"]
    assert back.tasks.at_start is None  # start_primary never ran
    assert [t["started_by"][:15] for t in back.tasks.ended] == ["failback-purge-"] * 3
    services = client("ecs", back.primary).describe_services(
        cluster=back.names.ecs_cluster(back.primary),
        services=[back.names.server_service, back.names.worker_service])["services"]  # fmt: skip
    assert [s["desiredCount"] for s in services] == [0, 0]
    assert back.state()["state"] == failback.FAILING_BACK  # deploys stay refused


def test_dr_release_record_is_copied_to_the_primary_once(back: Back) -> None:
    """A ``release into-dr`` while failed over moved DR's record on (ADR 0049): the
    primary's database is DR's copy after failback, and its record says so."""
    name = back.names.release_parameter
    moved = json.dumps({"digest": "sha256:" + "b" * 64, "version": "v2.46.0"}, sort_keys=True)
    stale = json.dumps({"digest": "sha256:" + "a" * 64, "version": "v2.45.6"}, sort_keys=True)
    client("ssm", back.primary).put_parameter(Name=name, Value=stale, Type="String",
                                              Overwrite=True)  # fmt: skip
    client("ssm", back.dr).put_parameter(Name=name, Value=moved, Type="String", Overwrite=True)
    report = back.execute()
    assert report.ok, report.failed_step
    found = client("ssm", back.primary).get_parameter(Name=name)["Parameter"]
    assert found["Value"] == moved
    detail = next(s for s in report.steps if s.name == "restore_secrets").detail
    assert detail["release"] == "copied"
    # idempotent: the step again finds the record in place and writes nothing
    ctx = steps.Context(config=back.plan_config(), client=client, run=report.run,
                        now=back.world.clock.now)  # fmt: skip
    assert failback._copy_release_record(ctx) == "already"
    assert client("ssm", back.primary).get_parameter(Name=name)["Parameter"]["Version"] == (
        found["Version"])  # fmt: skip


def test_the_end_of_a_failback_is_announced_on_the_dr_alert_topic(back: Back) -> None:
    from moto.sns.models import sns_backends

    topic = ops_failback.alert_topic(back.names, client)
    assert topic.startswith(f"arn:aws:sns:{back.dr}:")
    before = len(sns_backends["123456789012"][back.dr].topics[topic].sent_notifications)
    report = back.execute()
    assert report.ok
    sent = sns_backends["123456789012"][back.dr].topics[topic].sent_notifications[before:]
    (notice,) = [n for n in sent if "failed back" in str(n)]
    assert report.run in str(notice)
    assert next(s for s in report.steps if s.name == "finish").detail["notified"] == topic


def test_the_emergency_guide_lists_every_failback_step_in_order() -> None:
    """Section 3's table is the operator's fallback: it names the steps failback runs."""
    from pathlib import Path

    guide = (Path(__file__).parent.parent / "docs" / "emergency-recovery.md").read_text()
    section = guide.split("\n## 3.", 1)[1].split("\n## 4.", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")]
    listed = [name for row in rows for name in row.split(", ") if name in failback.BY_NAME]
    assert listed == ORDER
