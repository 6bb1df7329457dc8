"""The regional failover: one step list, every step against the emulator, injected faults."""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Match, Template
from botocore.exceptions import ClientError
from moto import mock_aws

from crm_platform.assembly.reader import StackTemplate, load
from crm_platform.contracts import PROBE_METRICS
from crm_platform.drill import emulator, emulator_state
from crm_platform.drill.run import failover_config
from crm_platform.drill.standup import stand_up
from crm_platform.failover import definition
from crm_platform.failover.local_runner import VirtualClock, run_local
from crm_platform.failover.policy import RETRY
from crm_platform.failover.runtime import steps, timeline
from crm_platform.naming import Names
from crm_platform.settings import Settings
from tests.conftest import Assembly

# moto runs no task: a started task never stops (the drill models them, tests/test_drill.py).
NOT_EMULATED = {
    "wait_healthy": "no tasks",
    "register_jobs": "no tasks",
    "verify_public": "no network",
}


@pytest.fixture(autouse=True)
def _sql_task_answers_writable(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto runs no task, so the SQL task (runtime/sql_task.py) answers here: writable
    (its polling: tests/test_sql_task.py; its answers from the modelled database: the drill)."""
    from crm_platform.failover.runtime import sql_task

    def answer(_ctx: Any, region: str, purpose: str, **_kwargs: Any) -> steps.Outcome:
        return steps.Outcome(True, {"result": {"in_recovery": False, "write": "ok"},
                                    "task": f"sql-{region}-{purpose}"})  # fmt: skip

    monkeypatch.setattr(sql_task, "run", answer)


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
    }.items():
        monkeypatch.setenv(var, value)
    emulator.install_extensions()
    with mock_aws():
        yield


def fresh_client(service: str, region: str) -> Any:
    """A client of its own (``counting`` wraps the methods of the clients it makes)."""
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


@functools.cache
def client(service: str, region: str) -> Any:
    """One client per (service, region) for every test of the worker: making a boto3
    client loads its model and builds its methods (about 15 ms each; the failback tests
    made over 200 per test). moto answers every client made after its import, so a
    client made under one test's emulator reaches the next test's."""
    return fresh_client(service, region)


def reused_clients() -> Any:
    """The world's client factory (the shared one; a name kept for the world's callers)."""
    return client


def impaired(config: dict[str, Any], clock: VirtualClock, names: Names) -> None:
    """What DR sees when the primary is down: the impaired alarms fired, the replica's last
    lag data point (these step tests run the steps alone; tests/test_drill.py runs the
    probes and evaluates the alarms)."""
    cw = client("cloudwatch", config["dr_region"])
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{"MetricName": "ReplicaLag", "Value": 2.0, "Timestamp": clock.now() - 60,
                     "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": config["replica"]}]}],
    )  # fmt: skip
    for name in (*(names.probe_down_alarm(m) for m in PROBE_METRICS), names.impaired_alarm):
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: primary down")


def unreachable(region: str) -> Any:
    """A client factory whose clients of ``region`` fail as an unreachable endpoint does."""
    from botocore.exceptions import EndpointConnectionError

    class Down:
        def __init__(self, service: str) -> None:
            self.url = f"https://{service}.{region}.amazonaws.com"

        def __getattr__(self, _name: str) -> Any:
            def fail(**_kwargs: Any) -> Any:
                raise EndpointConnectionError(endpoint_url=self.url)

            return fail

    return lambda service, target: Down(service) if target == region else client(service, target)


@functools.cache
def _stacks(outdir: Path) -> dict[str, StackTemplate]:
    """The assembly's stacks, read once per worker (the templates are never changed)."""
    return load(outdir)


class World:
    """The synthesized platform stood up in the emulator, primary impaired, ready to run."""

    def __init__(self, assembly: Assembly, prod_settings: Settings) -> None:
        self.names = Names.of(prod_settings)
        # One client per service and region for this world: making a boto3 client loads
        # its model and builds its methods (about 50 ms each), and the stand-up and a run
        # would otherwise make one per call (docs/testing.md, "Where the time goes").
        self.client = reused_clients()
        # Stood up once per worker; later worlds start from a copy of its state
        # (drill/emulator_state.py).
        stacks = _stacks(assembly.outdir)
        templates = {name: stack.template for name, stack in stacks.items()}
        self.templates = templates
        self.up = emulator_state.once(
            "every resource",
            templates,
            lambda: stand_up(assembly.outdir, self.client, stacks=stacks),
            shared=tuple(templates.values()),
        )
        self.config = failover_config(self.up, self.names)
        self.clock = VirtualClock()
        impaired(self.config, self.clock, self.names)
        self.calls: dict[str, int] = {}

    def run(self, run: str = "run-1", *, ctx_client: Any = None, force: bool = False) -> Any:
        ctx = steps.Context(
            config=self.config, client=ctx_client or self.client, force=force, now=self.clock.now
        )
        return run_local(
            ctx, run=run, dynamodb=client("dynamodb", self.dr), table=self.config["runs_table"],
            sleep=self.clock.sleep, not_emulated=NOT_EMULATED,
        )  # fmt: skip

    @property
    def dr(self) -> str:
        return str(self.config["dr_region"])

    def replica(self) -> Any:
        from moto.rds.models import rds_backends

        return rds_backends["123456789012"][self.dr].databases[self.config["replica"]]


@pytest.fixture
def world(assembly: Assembly, prod_settings: Settings) -> World:
    return World(assembly, prod_settings)


def counting(world: World, service: str, failures: dict[str, tuple[int, str]]) -> Any:
    """A client factory that counts calls of ``service``'s methods in ``failures`` and fails
    the first N of each with the given error code (one wrapped client per service and
    region: a run asks for a client per call)."""
    made: dict[tuple[str, str], Any] = {}

    def factory(svc: str, region: str) -> Any:
        if (svc, region) in made:
            return made[(svc, region)]
        real = made[(svc, region)] = fresh_client(svc, region)
        if svc == service:
            for method, (fail_first, code) in failures.items():
                original = getattr(real, method)

                def wrapped(
                    *,
                    _m: str = method,
                    _o: Any = original,
                    _n: int = fail_first,
                    _c: str = code,
                    **kwargs: Any,
                ) -> Any:
                    world.calls[_m] = world.calls.get(_m, 0) + 1
                    if world.calls[_m] <= _n:
                        raise ClientError({"Error": {"Code": _c, "Message": "injected"}}, _m)
                    return _o(**kwargs)

                setattr(real, method, wrapped)
        return real

    return factory


# --- one step list ------------------------------------------------------------------------
def test_state_machine_and_local_runner_list_the_same_steps(assembly: Assembly) -> None:
    names = [s.name for s in steps.STEPS]
    assert definition.step_order(definition.definition(approval=False)) == names
    assert definition.step_order(definition.definition(approval=True)) == ["approval", *names]
    # The deployed definition is that one, not a copy.
    dr_app = Template.from_json(assembly.raw("crm-prod-dr-app"))
    (machine,) = dr_app.find_resources("AWS::StepFunctions::StateMachine").values()
    deployed = json.loads(machine["Properties"]["DefinitionString"])
    assert definition.step_order(deployed) == names
    for name in names:
        task = deployed["States"][name]
        assert task["Catch"][0]["Next"] == definition.failed_state(name)
        assert "Retryable" in task["Retry"][0]["ErrorEquals"]
        assert task["Retry"][0]["BackoffRate"] == 2.0


def test_every_step_has_a_timeout_and_polling_steps_loop(assembly: Assembly) -> None:
    document = definition.definition(approval=False)
    for step in steps.STEPS:
        assert step.timeout_seconds > 0
        if step.poll:
            assert document["States"][f"{step.name}.wait"]["Next"] == step.name


# --- a run against the emulator ------------------------------------------------------------
def test_a_full_run_leaves_dr_serving(world: World) -> None:
    report = world.run()
    assert report.ok, report.failed_step
    assert [s.status for s in report.steps].count("not emulated") == len(NOT_EMULATED)
    db = client("rds", world.dr).describe_db_instances(DBInstanceIdentifier=world.config["replica"])
    assert "ReadReplicaSourceDBInstanceIdentifier" not in db["DBInstances"][0]
    from crm_platform.failover.runtime import switch

    c = world.config
    assert (
        switch.read(client("ssm", world.dr), client("kms", world.dr), c["switch_parameter"],
                    c["switch_key"], c["environment"])
        == "dr"
    )  # fmt: skip
    rows = timeline.read(client("dynamodb", world.dr), world.config["runs_table"], "run-1")
    assert [r["step"] for r in rows] == [s.name for s in steps.STEPS]
    assert all(r["started_at"] is not None and r["ended_at"] is not None for r in rows)
    assert rows[0]["detail"]["estimated_data_loss_seconds"] == 2.0


def test_throttling_is_retried_with_backoff(world: World) -> None:
    factory = counting(world, "rds", {"promote_read_replica": (2, "Throttling")})
    before = world.clock.now()
    report = world.run(ctx_client=factory)
    assert report.ok
    assert world.calls["promote_read_replica"] == 3
    (promote,) = [s for s in report.steps if s.name == "promote_replica"]
    assert promote.attempts == 3
    # The policy's waits (exponential, capped, full jitter: seeded by the run, so known).
    jitter = random.Random("run-1")  # noqa: S311 - the runner's seeded jitter, not a secret
    waited = RETRY.delay(1, jitter) + RETRY.delay(2, jitter)
    assert 0 < waited <= RETRY.interval_seconds * (1 + RETRY.backoff_rate)
    assert world.clock.now() - before >= waited


def test_a_replica_that_is_not_yet_available_is_waited_for(world: World) -> None:
    world.replica().status = "creating"
    original_sleep = world.clock.sleep
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:
            world.replica().status = "available"
        original_sleep(seconds)

    world.clock.sleep = sleep  # type: ignore[method-assign]
    report = world.run()
    assert report.ok
    assert polls[:3] == [30, 30, 30]
    assert world.replica().source_db_instance_identifier is None


def test_a_promotion_that_never_starts_times_out_naming_the_step(world: World) -> None:
    world.replica().status = "creating"
    report = world.run()
    failed = report.failed_step
    assert failed is not None and failed.name == "promote_replica"
    assert failed.detail["error"] == "StepTimedOut"
    assert "within 1800s" in failed.detail["message"]
    assert [s.status for s in report.steps[4:]] == ["not reached"] * (len(steps.STEPS) - 4)
    assert world.clock.now() - 1_800_000_000 >= 1800


def test_a_crash_after_promotion_resumes_without_promoting_twice(world: World) -> None:
    factory = counting(
        world,
        "rds",
        {"modify_db_instance": (1, "InternalFailure"), "promote_read_replica": (0, "")},
    )
    world.config["multi_az"] = True
    world.replica().multi_az = False  # so protect_database must modify (and crashes doing it)
    first = world.run("run-crash", ctx_client=factory)
    assert first.failed_step is not None and first.failed_step.name == "protect_database"
    assert world.calls["promote_read_replica"] == 1
    again = world.run("run-crash", ctx_client=factory)
    assert again.ok, again.failed_step
    (promote,) = [s for s in again.steps if s.name == "promote_replica"]
    assert promote.detail == {"promoted": "already"}
    assert world.calls["promote_read_replica"] == 1  # never a second promotion
    rows = timeline.read(client("dynamodb", world.dr), world.config["runs_table"], "run-crash")
    harden = next(r for r in rows if r["step"] == "protect_database")
    assert harden["attempts"] == 2 and harden["status"] == "done"


def test_a_healthy_primary_is_not_failed_over_unless_forced(world: World) -> None:
    cw = client("cloudwatch", world.dr)
    cw.set_alarm_state(AlarmName=world.config["impaired_alarm"], StateValue="OK", StateReason="t")
    refused = world.run("run-healthy")
    assert refused.failed_step is not None and refused.failed_step.name == "preflight"
    assert refused.failed_step.detail["error"] == "PreflightRefused"
    assert world.replica().source_db_instance_identifier  # nothing was promoted
    forced = world.run("run-forced", force=True)
    assert forced.ok and forced.steps[0].detail["forced"] is True


def test_a_primary_that_does_not_answer_is_isolated_not_fenced(world: World) -> None:
    report = world.run(ctx_client=unreachable(world.config["primary_region"]))
    assert report.ok
    (fence,) = [s for s in report.steps if s.name == "fence_primary"]
    assert fence.detail["primary"] == "unfenced (EndpointConnectionError)"


# --- the emulator's own extensions ----------------------------------------------------------
def test_promotion_extension_removes_the_replica_link() -> None:
    rds = client("rds", "ap-northeast-1")
    rds.create_db_instance(
        DBInstanceIdentifier="p", Engine="postgres", DBInstanceClass="db.t3.medium",
        MasterUsername="u", MasterUserPassword="passwordpassword", AllocatedStorage=20,
    )  # fmt: skip
    dr = client("rds", "ap-southeast-1")
    dr.create_db_instance_read_replica(
        DBInstanceIdentifier="r",
        SourceDBInstanceIdentifier="arn:aws:rds:ap-northeast-1:123456789012:db:p",
    )
    dr.promote_read_replica(DBInstanceIdentifier="r", BackupRetentionPeriod=7)
    (db,) = dr.describe_db_instances(DBInstanceIdentifier="r")["DBInstances"]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in db
    (source,) = rds.describe_db_instances(DBInstanceIdentifier="p")["DBInstances"]
    assert source.get("ReadReplicaDBInstanceIdentifiers", []) == []


def test_stop_replication_extension_makes_a_standalone_secret() -> None:
    client("secretsmanager", "ap-northeast-1").create_secret(
        Name="s", SecretString='{"a": 1}', AddReplicaRegions=[{"Region": "ap-southeast-1"}]
    )
    dr = client("secretsmanager", "ap-southeast-1")
    with pytest.raises(ClientError, match="replica secret"):
        dr.put_secret_value(SecretId="s", SecretString="x")
    dr.stop_replication_to_replica(SecretId="s")
    assert (
        dr.describe_secret(SecretId="s").get("PrimaryRegion", "ap-southeast-1") == "ap-southeast-1"
    )
    dr.put_secret_value(SecretId="s", SecretString='{"a": 2}')
    assert json.loads(dr.get_secret_value(SecretId="s")["SecretString"]) == {"a": 2}
    primary = client("secretsmanager", "ap-northeast-1")
    assert json.loads(primary.get_secret_value(SecretId="s")["SecretString"]) == {"a": 1}
    assert "ReplicationStatus" not in primary.describe_secret(SecretId="s")


# --- what must never happen ---------------------------------------------------------------
def test_a_multi_az_failover_only_notifies(primary: Template, assembly: Assembly) -> None:
    rules = primary.find_resources(
        "AWS::Events::Rule",
        {"Properties": {"EventPattern": Match.object_like({"source": ["aws.rds"]})}},
    )
    (rule,) = rules.values()
    assert rule["Properties"]["EventPattern"]["detail"] == {"EventCategories": ["failover"]}
    (target,) = rule["Properties"]["Targets"]
    assert "Topic" in json.dumps(target["Arn"])  # the alert topic, nothing else
    for stack in ("crm-prod-primary", "crm-prod-dr", "crm-prod-dr-app"):
        template = assembly.raw(stack)
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Events::Rule":  # manual mode: no rule starts one
                assert "StateMachine" not in json.dumps(resource["Properties"].get("Targets"))
            if "states:StartExecution" in json.dumps(resource):  # only a person may
                assert resource["Metadata"]["aws:cdk:path"].startswith("crm-prod-dr-app/Operator/")


def test_automatic_mode_starts_on_the_impaired_signal_after_approval(
    prod_settings: Settings, tmp_path: Path
) -> None:
    from crm_platform.app import compose, new_app

    settings = prod_settings.model_copy(
        update={"dr": prod_settings.dr.model_copy(update={"failover_mode": "automatic"})}
    )
    stacks = compose(new_app(str(tmp_path)), settings)
    dr_app = Template.from_stack(stacks["dr_app"])
    (rule,) = dr_app.find_resources(
        "AWS::Events::Rule",
        {"Properties": {"EventPattern": Match.object_like({"source": ["aws.cloudwatch"]})}},
    ).values()
    assert rule["Properties"]["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}
    assert "StateMachine" in json.dumps(rule["Properties"]["Targets"])
    (machine,) = dr_app.find_resources("AWS::StepFunctions::StateMachine").values()
    deployed = json.loads(machine["Properties"]["DefinitionString"])
    assert deployed["StartAt"] == "approval"
    # EventBridge assumes the starter role only for a rule of this account (ADR 0038).
    (starter,) = [
        r
        for r in dr_app.find_resources("AWS::IAM::Role").values()
        if "StartOnImpairedRole" in r["Metadata"]["aws:cdk:path"]
    ]
    (trust,) = starter["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:events:ap-southeast-1:123456789012:rule/*"},
    }


def test_deploy_is_refused_while_failed_over(prod_settings: Settings) -> None:
    from crm_platform.ops.preflight import check_not_failed_over

    names = Names.of(prod_settings)
    ssm = client("ssm", "ap-southeast-1")
    assert check_not_failed_over(client, "ap-southeast-1", names.failover_parameter).ok
    ssm.put_parameter(Name=names.failover_parameter, Value='{"state": "none"}', Type="String")
    assert check_not_failed_over(client, "ap-southeast-1", names.failover_parameter).ok
    ssm.put_parameter(
        Name=names.failover_parameter,
        Value='{"state": "failed-over"}',
        Type="String",
        Overwrite=True,
    )
    refused = check_not_failed_over(client, "ap-southeast-1", names.failover_parameter)
    assert not refused.ok and "Failing back" in refused.message


# --- issue 17: a fence that never blocks, one incident, forward-only state -----------------
def errors_from(region: str, error: Exception) -> Any:
    """Clients of ``region`` whose every call raises ``error``."""

    class Failing:
        def __getattr__(self, _name: str) -> Any:
            def fail(**_kwargs: Any) -> Any:
                raise error

            return fail

    return lambda service, target: Failing() if target == region else client(service, target)


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "RegisterScalableTarget")


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        (_client_error("ServiceUnavailable", 503), "unfenced (ServiceUnavailable)"),
        (_client_error("InternalFailure", 500), "unfenced (InternalFailure)"),
        (_client_error("AccessDeniedException", 400), "unfenced (AccessDeniedException)"),
    ],
)
def test_a_fence_that_fails_any_way_is_recorded_unfenced_and_the_run_goes_on(
    world: World, error: Exception, recorded: str
) -> None:
    report = world.run(ctx_client=errors_from(world.config["primary_region"], error))
    assert report.ok, report.failed_step
    (fence,) = [s for s in report.steps if s.name == "fence_primary"]
    assert fence.detail["primary"] == recorded
    state = json.loads(
        client("ssm", world.dr).get_parameter(Name=world.config["failover_parameter"])["Parameter"][
            "Value"
        ]
    )
    assert state["state"] == "failed-over" and state["fence"] == recorded


def test_a_fence_that_times_out_is_recorded_unfenced(world: World) -> None:
    from botocore.exceptions import ReadTimeoutError

    timeout = ReadTimeoutError(endpoint_url="https://ecs.ap-northeast-1.amazonaws.com")
    report = world.run(ctx_client=errors_from(world.config["primary_region"], timeout))
    assert report.ok
    (fence,) = [s for s in report.steps if s.name == "fence_primary"]
    assert fence.detail["primary"] == "unfenced (ReadTimeoutError)"


def test_the_failed_over_state_never_moves_back(world: World) -> None:
    ssm = client("ssm", world.dr)
    name = world.config["failover_parameter"]
    done = {"state": "failed-over", "since": 1.0, "incident": "run-1", "fence": "fenced"}
    ssm.put_parameter(Name=name, Value=json.dumps(done), Type="String", Overwrite=True)
    ctx = steps.Context(config=world.config, client=client, now=world.clock.now, run="run-1")
    outcome = steps.record_failed_over(ctx)
    assert outcome.detail["kept"] is True
    assert json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"]) == done


def test_one_incident_at_a_time_and_a_resumed_one_is_never_refused(world: World) -> None:
    first = world.run("incident-a")
    assert first.ok
    # The same incident again (a resume): its preflight passes although the primary no
    # longer looks impaired, since it is past the fence.
    cw = client("cloudwatch", world.dr)
    cw.set_alarm_state(AlarmName=world.config["impaired_alarm"], StateValue="OK", StateReason="t")
    again = world.run("incident-a")
    assert again.ok, again.failed_step
    # Another incident while one is failed over is refused.
    other = world.run("incident-b")
    assert other.failed_step is not None and other.failed_step.name == "preflight"
    assert "failed over already" in other.failed_step.detail["message"]


def test_the_lock_refuses_a_second_incident_while_the_first_holds_it(world: World) -> None:
    ctx = steps.Context(config=world.config, client=client, now=world.clock.now, run="one")
    steps._hold_lock(ctx)
    steps._hold_lock(ctx)  # the same incident takes it again (a resume)
    other = steps.Context(config=world.config, client=client, now=world.clock.now, run="two")
    with pytest.raises(steps.PreflightRefused, match="incident one is under way"):
        steps._hold_lock(other)
    steps._release_lock(ctx)
    steps._hold_lock(other)


# --- the operator's command: attach, resume or start ------------------------------------------
class FakeStepFunctions:
    def __init__(self, running: list[dict[str, Any]]) -> None:
        self.running, self.started = running, []  # type: ignore[var-annotated]

    def list_executions(self, **_kwargs: Any) -> dict[str, Any]:
        return {"executions": self.running}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {
            "input": json.dumps({"force": False, "incident": "failover-1"}),
            "status": "RUNNING",
        }

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"executionArn": "arn"}


@pytest.mark.parametrize(
    ("running", "state", "how", "incident"),
    [
        ([{"name": "failover-1"}], {"state": "none"}, "attached", "failover-1"),
        ([], {"state": "failing-over", "incident": "failover-1"}, "resumed", "failover-1"),
        ([], {"state": "none"}, "started", "failover-500"),
        ([], {"state": "failed-over", "incident": "failover-1"}, "started", "failover-500"),
    ],
)
def test_execute_attaches_resumes_or_starts(
    prod_settings: Settings, running: list[dict[str, Any]], state: dict[str, Any], how: str,
    incident: str,
) -> None:  # fmt: skip
    from crm_platform.ops import failover

    names = Names.of(prod_settings)
    sfn = FakeStepFunctions(running)
    ssm = client("ssm", names.dr_region)
    ssm.put_parameter(Name=names.failover_parameter, Value=json.dumps(state), Type="String")

    def clients(service: str, region: str) -> Any:
        return sfn if service == "stepfunctions" else client(service, region)

    started = failover.start(names, clients, force=False, now=500)
    assert (started.how, started.incident) == (how, incident)
    if how == "attached":
        assert sfn.started == []
    else:
        (call,) = sfn.started
        assert json.loads(call["input"]) == {"force": False, "incident": incident}
        assert call["name"] == (incident if how == "started" else f"{incident}-resume-500")


# --- one retry and timeout policy ---------------------------------------------------------------
def test_the_state_machine_and_the_runner_read_one_retry_and_timeout_policy(
    assembly: Assembly,
) -> None:
    from crm_platform.failover.policy import ATTEMPT_TIMEOUT_SECONDS, RUN_TIMEOUT_SECONDS

    dr_app = assembly.raw("crm-prod-dr-app")
    (machine,) = [r for r in dr_app["Resources"].values()
                  if r["Type"] == "AWS::StepFunctions::StateMachine"]  # fmt: skip
    deployed = json.loads(machine["Properties"]["DefinitionString"])
    assert deployed["TimeoutSeconds"] == RUN_TIMEOUT_SECONDS
    for name in (s.name for s in steps.STEPS):
        assert deployed["States"][name]["Retry"] == [RETRY.as_retry()]
        assert deployed["States"][name]["TimeoutSeconds"] == ATTEMPT_TIMEOUT_SECONDS
    step = next(r for r in dr_app["Resources"].values()
                if r["Type"] == "AWS::Lambda::Function"
                and r["Properties"].get("Handler") == "handler.handler")  # fmt: skip
    assert step["Properties"]["Timeout"] == ATTEMPT_TIMEOUT_SECONDS
    jitter = random.Random("x")  # noqa: S311 - the runner's seeded jitter, not a secret
    waits = [RETRY.delay(n, jitter) for n in range(1, 10)]
    assert all(0 <= w <= RETRY.max_delay_seconds for w in waits)


def test_the_operator_role_needs_mfa_and_holds_only_the_incident_commands(
    assembly: Assembly,
) -> None:
    dr_app = assembly.raw("crm-prod-dr-app")
    (role,) = [r for r in dr_app["Resources"].values() if r["Type"] == "AWS::IAM::Role"
               and r["Properties"].get("RoleName") == "crm-prod-dr-operator"]  # fmt: skip
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert "root" in json.dumps(trust["Principal"])


def test_a_stopped_run_pages_the_dr_alert_topic(assembly: Assembly) -> None:
    dr_app = Template.from_json(assembly.raw("crm-prod-dr-app"))
    (rule,) = dr_app.find_resources(
        "AWS::Events::Rule",
        {"Properties": {"EventPattern": Match.object_like({"source": ["aws.states"]})}},
    ).values()
    detail = rule["Properties"]["EventPattern"]["detail"]
    assert sorted(detail["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
    (target,) = rule["Properties"]["Targets"]
    assert "AlertsTopic" in json.dumps(target["Arn"])


# --- the critical path and what waits until after the switch (docs/adr/0031) ----------------
def test_the_order_puts_the_cold_start_beside_the_promotion_and_protection_after_the_switch() -> (
    None
):
    order = [s.name for s in steps.STEPS]
    assert (
        order.index("promote_replica")
        < order.index("start_services")
        < order.index("wait_writable")
    )
    after_switch = order[order.index("switch_traffic") + 1 :]
    assert {"register_jobs", "protect_database", "attach_rotation"} <= set(after_switch)


class FakeEcs:
    """ECS as register_jobs sees it: tasks it finds by startedBy, tasks it starts."""

    def __init__(self, exit_codes: list[int | None]) -> None:
        self.exit_codes = exit_codes  # one per task ever started: None = still running
        self.started: list[dict[str, Any]] = []

    def list_tasks(self, **kwargs: Any) -> dict[str, Any]:
        wanted = kwargs["desiredStatus"]
        return {
            "taskArns": [
                f"task-{i}"
                for i, _ in enumerate(self.started)
                if (self.exit_codes[i] is None) == (wanted == "RUNNING")
            ]
        }

    def describe_tasks(self, **kwargs: Any) -> dict[str, Any]:
        found = []
        for arn in kwargs["tasks"]:
            code = self.exit_codes[int(arn.split("-")[1])]
            container: dict[str, Any] = {"name": "jobs"}
            if code is not None:
                container["exitCode"] = code
            found.append({
                "taskArn": arn,
                "lastStatus": "RUNNING" if code is None else "STOPPED",
                "stoppedReason": "Essential container in task exited",
                "containers": [container],
            })  # fmt: skip
        return {"tasks": found}

    def describe_services(self, **_kwargs: Any) -> dict[str, Any]:
        network = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]}}
        return {"services": [{"networkConfiguration": network}]}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"tasks": [{"taskArn": f"task-{len(self.started) - 1}"}], "failures": []}


def jobs_context(ecs: FakeEcs) -> steps.Context:
    config = {
        "dr_region": "ap-southeast-1",
        "primary_region": "ap-northeast-1",
        "clusters": {"dr": "crm-prod-cluster-dr"},
        "services": {"server": {"name": "crm-prod-server"}},
        "jobs_family": "crm-prod-jobs",
    }
    return steps.Context(config=config, client=lambda _s, _r: ecs, run="failover-1")


def test_register_jobs_runs_the_jobs_task_like_the_server_without_overrides() -> None:
    ecs = FakeEcs([None])
    first = steps.register_jobs(jobs_context(ecs))
    assert not first.done and first.wait > 0
    (request,) = ecs.started
    assert request["taskDefinition"] == "crm-prod-jobs"
    assert request["cluster"] == "crm-prod-cluster-dr"
    assert request["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-1"]
    assert "overrides" not in request
    assert len(request["startedBy"]) <= 36
    again = steps.register_jobs(jobs_context(ecs))  # resumed: finds its task, starts none
    assert not again.done and len(ecs.started) == 1
    ecs.exit_codes[0] = 0
    done = steps.register_jobs(jobs_context(ecs))
    assert done.done and done.detail["registered"] is True


def test_a_failed_registration_is_retried_then_recorded_never_undoing_the_failover() -> None:
    ecs = FakeEcs([1, 1, 1])
    context = jobs_context(ecs)
    for attempt in range(steps.JOBS_ATTEMPTS):
        outcome = steps.register_jobs(context)
        assert not outcome.done and len(ecs.started) == attempt + 1
    given_up = steps.register_jobs(context)
    assert given_up.done and given_up.detail["registered"] is False
    assert given_up.detail["attempts"] == steps.JOBS_ATTEMPTS
    assert "scheduled jobs are not registered" in " ".join(
        steps._attention({"register_jobs": given_up.detail})
    )


def test_protection_waits_for_the_first_backup_and_never_restarts_a_conversion(
    world: World,
) -> None:
    """A replica without backups is "backing-up" after promotion: RDS takes no
    modification then, so the step waits; a conversion under way is not asked for again."""
    config = {**world.config, "multi_az": True}
    calls: list[dict[str, Any]] = []

    class Rds:
        status, pending = "backing-up", {}

        def describe_db_instances(self, **_kwargs: Any) -> dict[str, Any]:
            return {"DBInstances": [{
                "DBInstanceStatus": self.status, "MultiAZ": False, "DeletionProtection": True,
                "BackupRetentionPeriod": 7, "PendingModifiedValues": self.pending,
                "DBInstanceArn": "arn:aws:rds:ap-southeast-1:123456789012:db:x",
            }]}  # fmt: skip

        def modify_db_instance(self, **kwargs: Any) -> None:
            calls.append(kwargs)

        def add_tags_to_resource(self, **_kwargs: Any) -> None:
            return None

    rds = Rds()

    def clients(service: str, region: str) -> Any:
        return rds if service == "rds" else client(service, region)

    context = steps.Context(config=config, client=clients, run="failover-1")
    waiting = steps.protect_database(context)
    assert not waiting.done and calls == []
    rds.status = "available"
    assert steps.protect_database(context).done and calls[0]["MultiAZ"] is True
    rds.status, rds.pending = "modifying", {"MultiAZ": True}
    assert steps.protect_database(context).done and len(calls) == 1  # resumed: not again


def test_the_failover_may_write_only_the_database_secret(
    assembly: Assembly, prod_settings: Settings
) -> None:
    """A new APP_SECRET or ENCRYPTION_KEY destroys Twenty's stored data: the step role may
    make every DR secret standalone but read and write only the database's."""
    from crm_platform.authz.model import AuthorizationModel, Request

    model = AuthorizationModel.load(assembly.outdir)
    step = model.role("crm-prod-dr-app", "Failover/Step/Role")
    names = Names.of(prod_settings)
    dr = prod_settings.regions.dr

    def allowed(action: str, secret: str) -> bool:
        arn = model.secret_arn(secret, dr)
        return model.decide(Request.of(step, action, arn, {}, "test")).allowed

    assert allowed("secretsmanager:PutSecretValue", names.db_app_secret)
    for kept in (names.app_secret, names.encryption_key_secret, names.db_secret):
        assert allowed("secretsmanager:StopReplicationToReplica", kept)
        for action in ("PutSecretValue", "RotateSecret", "GetSecretValue", "UpdateSecret"):
            assert not allowed(f"secretsmanager:{action}", kept), (action, kept)


def test_dr_rolls_its_services_after_its_own_rotation(assembly: Assembly) -> None:
    """After a failover nothing in the primary region sees DR's rotations: a DR rule on
    the secret's own event rolls DR's services (exactly those)."""
    dr_app = Template.from_json(assembly.raw("crm-prod-dr-app"))
    dr_app.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.secretsmanager"],
                "detail-type": ["Secret Label Updated"],
                "detail": {"name": ["crm/prod/database/app"], "labelUpdated": ["AWSCURRENT"]},
            }
        },
    )
    functions = dr_app.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "roll_services.own_handler"}}
    )
    (roller,) = functions.values()
    target = json.loads(roller["Properties"]["Environment"]["Variables"]["TARGET"])
    assert target == {
        "region": "ap-southeast-1",
        "cluster": "crm-prod-cluster-dr",
        "services": ["crm-prod-server", "crm-prod-worker"],
    }


def test_the_emergency_guide_lists_every_step_in_order() -> None:
    """The guide's table is the operator's fallback: it names the steps the code runs."""
    guide = (Path(__file__).parent.parent / "docs" / "emergency-recovery.md").read_text()
    # The failover's section only: failback and restore have step tables of their own.
    section = guide[guide.index("## 2. ") : guide.index("## 3. ")]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")]
    listed = [name for name in rows if name in steps.BY_NAME]
    assert listed == [s.name for s in steps.STEPS]
