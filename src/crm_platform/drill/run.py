"""``crm-platform drill --local``: regional failovers rehearsed against the emulator.

For each scenario (scenarios.py), on a fresh emulator:

1. stand the synthesized platform up in moto (standup.py), and put the modelled AWS
   (modelled.py), the scenario's faults (faults.py) and the authorization model
   (authz/) in front of it: every call is made as the principal that makes it in AWS;
2. let the DR probes run for five modelled minutes, then start the outage; the probes
   (the real probe code, as its role) publish what they see, the drill evaluates the
   alarms from that data each minute, and detection ends when the composite alarm fires;
3. the operator decides (modelled time), then runs ``failover --execute`` through the
   code the CLI uses (ops/failover.py); the state machine's executions run the step list
   through the local runner, as the step function's role;
4. the end state is checked step by step (checks.py) and against the scenario's expected
   outcome; the modelled timeline gives the recovery time, compared with
   ``dr.rto_minutes`` at p95 (and shown at p50).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.authz.encryption import key_index
from crm_platform.authz.model import AuthorizationModel, Principal
from crm_platform.authz.requests import Call
from crm_platform.contracts import PROBE_METRICS, PROBE_NAMESPACE
from crm_platform.drill import emulator, emulator_state
from crm_platform.drill.checks import (
    Check,
    Observed,
    drift_checks,
    effect_checks,
    outcome_checks,
    reopen_database,
    snapshot,
)
from crm_platform.drill.durations import DURATIONS, Quantile, detection
from crm_platform.drill.faults import Faults
from crm_platform.drill.modelled import INFINITY, Execution, ModelledAws
from crm_platform.drill.scenarios import Scenario
from crm_platform.drill.standup import Standup, stand_up
from crm_platform.drill.world import Clock, World
from crm_platform.failover.local_runner import RunReport, StepReport, run_local
from crm_platform.failover.runtime import fence_keeper, probe, steps, switch, timeline
from crm_platform.naming import Names
from crm_platform.ops import drift
from crm_platform.ops import failover as operator_commands
from crm_platform.ops.drift import Drift
from crm_platform.settings import Settings

WARM_UP_SECONDS = 300  # healthy probes before the outage
DETECTION_LIMIT_SECONDS = 1800  # an outage nobody detects in 30 min fails the scenario
FENCE_KEEPER_SECONDS = fence_keeper.INTERVAL_MINUTES * 60
RETURN_WAIT_SECONDS = 2 * FENCE_KEEPER_SECONDS  # the primary is back: two keeper rounds
QUIET_WAIT_SECONDS = 600  # healthy-primary: how long nothing is detected before the start
# Steps whose completion depends on behaviour the drill models (durations.py).
MODELLED_STEPS = frozenset(
    {"promote_replica", "wait_writable", "wait_healthy", "switch_traffic", "verify_public"}
)
EMULATOR_NOTES = [
    "promotion: moto only flips a status; an emulator extension removes the replica link, "
    "and the modelled RDS keeps it 'modifying' for rds.promotion",
    "secrets: moto lacks StopReplicationToReplica; an emulator extension implements it",
    "alarms: moto evaluates none; the drill evaluates the probe alarms from the data the "
    "probe published, each minute, and sets their states",
    "tasks and targets: moto runs no Fargate task; the modelled ECS starts tasks after "
    "fargate.cold_start and the modelled load balancer finds them healthy after its first check",
    "Route 53 and DNS: modelled; traffic moves route53.switch + dns.ttl after the switch's "
    "beacon reports a verified 'dr'",
    "Step Functions: modelled for the failover's state machine; executions run the step "
    "list through the local runner",
    "replica: created without its DB subnet group (moto looks it up in the source region)",
    "rotation: AWS's rotation app (SAR) is stood up as an empty function; never invoked",
    "not evaluated by the authorization model: AWS Organizations SCPs/RCPs, session "
    "policies, VPC endpoint policies",
]


@dataclass
class ScenarioReport:
    scenario: str
    summary: str
    expected: str
    quantile: str
    passed: bool
    seconds: float  # wall time of this scenario
    steps: list[dict[str, Any]]
    bars: list[dict[str, Any]]  # the modelled timeline: label, start, end, kind, critical
    checks: list[dict[str, Any]]
    denied: list[dict[str, Any]]  # calls AWS would refuse, with what is missing
    rto: dict[str, Any] | None
    rpo: dict[str, Any] | None
    starts: list[str]
    failure: str = ""
    # Every IAM request the run's calls made, once each: the permission contract of the
    # failover steps, the keeper, the probe and the operator, recorded from the code.
    permissions: list[dict[str, Any]] = field(default_factory=list)
    # What differs from the templates at the end (ops/drift.py): what failback reconciles.
    drift: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DrillReport:
    environment: str
    rto_objective_minutes: int
    seconds: float
    scenarios: list[ScenarioReport]
    authorization: str  # enforced | not enforced
    durations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=lambda: list(EMULATOR_NOTES))

    @property
    def passed(self) -> bool:
        return bool(self.scenarios) and all(s.passed for s in self.scenarios)

    def rto(self, quantile: str) -> float | None:
        """The reference scenario's modelled recovery time at ``quantile``, in minutes."""
        for s in self.scenarios:
            if s.quantile == quantile and s.rto and s.rto.get("minutes") is not None:
                return float(s.rto["minutes"])
        return None

    def to_json(self) -> str:
        data = asdict(self)
        data["verdict"] = "pass" if self.passed else "fail"
        data["rto_minutes"] = {"p50": self.rto("p50"), "p95": self.rto("p95")}
        return json.dumps(data, indent=1, default=str)


def failover_config(up: Standup, names: Names) -> dict[str, Any]:
    """The step function's own FAILOVER_CONFIG, resolved from the synthesized template."""
    stack = up.states[names.dr_app_stack]
    for resource in stack.resources.values():
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


def _environment(up: Standup, stack: str, handler: str) -> dict[str, str]:
    st = up.states[stack]
    for resource in st.of_type("AWS::Lambda::Function").values():
        props = resource.get("Properties", {})
        if props.get("Handler") == handler:
            variables = props.get("Environment", {}).get("Variables", {})
            return {k: str(up.value(v, st, "")) for k, v in variables.items()}
    return {}


@dataclass
class Setup:
    """What every scenario of one run shares."""

    outdir: Path
    names: Names
    settings: Settings
    model: AuthorizationModel
    enforce: bool
    step_list: tuple[steps.Step, ...] = steps.STEPS
    on_step: Callable[[StepReport], None] = lambda _r: None
    progress: Callable[[str], None] = lambda _m: None
    restore_steps: tuple[steps.Step, ...] | None = None  # drill/restore.py: None, the command's
    failback_steps: tuple[steps.Step, ...] | None = None  # drill/failback.py: None, the command's


class Rehearsal:
    """One scenario at one quantile, on a fresh emulator."""

    def __init__(self, setup: Setup, scenario: Scenario, quantile: Quantile) -> None:
        self.setup, self.scenario, self.quantile = setup, scenario, quantile
        self.names, self.settings, self.model = setup.names, setup.settings, setup.model
        self.clock = Clock()
        self.world = World(
            self.clock,
            setup.model if setup.enforce else None,
            key_index(setup.model),
            self.seconds("api.call"),
        )
        self.aws = ModelledAws(self.world, self.seconds)
        self.faults = Faults()
        self.world.hooks.before = self.aws.before
        self.world.hooks.after = self.aws.after
        self.world.hooks.fault = self.faults
        self.starts: list[str] = []
        self.step_reports: list[StepReport] = []
        self.wall: dict[str, float] = {}
        self.executions = 0
        self.detected_at = INFINITY
        self.outage_at = INFINITY
        self.decided_at = INFINITY
        self.probe_data: list[tuple[float, str, float]] = []
        self.lambda_errors: list[str] = []
        self.alarm_states: dict[str, bool] = {}
        self.step_wall: dict[str, float] = {}
        self.operator_errors: list[str] = []
        self.execution_failures: dict[str, str] = {}
        self.returned_at = INFINITY
        self.reopened: list[dict[str, Any]] = []
        self.drift_before: list[Drift] | str = []

    def seconds(self, name: str) -> float:
        return DURATIONS[name].at(self.quantile)

    # --- the platform -----------------------------------------------------------------------
    def stand_up(self) -> None:
        names, model = self.names, self.model
        # Of the alarms, only those the failover and the drill read (the rest cost time).
        alarms = {
            names.impaired_alarm,
            names.probe_silent_alarm,
            names.replica_lag_alarm,
            names.switch_alarm,
            *(names.probe_down_alarm(m) for m in PROBE_METRICS),
        }

        def wanted(_stack: Any, resource: dict[str, Any]) -> bool:
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                return resource.get("Properties", {}).get("AlarmName") in alarms
            return True

        # Once per process and assembly; later scenarios start from a copy of its state.
        templates = {name: stack.template for name, stack in model.stacks.items()}
        self.up = emulator_state.once(
            "drill",
            templates,
            lambda: stand_up(self.setup.outdir, self.world.raw, wanted, model.stacks),
            shared=tuple(templates.values()),
        )
        self.config = failover_config(self.up, self.names)
        self.dr, self.primary = self.config["dr_region"], self.config["primary_region"]
        self.aws.dr_region, self.aws.server_service = self.dr, names.server_service
        self.aws.beacon_table = names.switch_beacon_table
        self.aws.replica = self.config["replica"]
        self.aws.state_machine_arn = operator_commands.state_machine_arn(names)
        for st in self.up.states.values():
            for resource in st.of_type("AWS::ECS::Service").values():
                props = resource["Properties"]
                cluster = str(self.up.value(props.get("Cluster"), st, "")).rsplit("/", 1)[-1]
                group = (
                    f"arn:aws:elasticloadbalancing:{st.region}:{st.account}:targetgroup/"
                    f"{props['ServiceName']}/{st.region}"
                    if props.get("LoadBalancers")
                    else None
                )
                self.aws.track(
                    st.region,
                    cluster,
                    props["ServiceName"],
                    int(props.get("DesiredCount", 0)),
                    group,
                )
        self.step_role = model.role_of_function(names.dr_app_stack, "handler.handler")
        self.machine_role = model.role(names.dr_app_stack, "Failover/StateMachineRole")
        self.probe_role = model.role_of_function(names.dr_app_stack, "probe.handler")
        self.beacon_role = model.role_of_function(names.dr_stack, "switch.handler")
        self.fence_role = model.role_of_function(names.dr_app_stack, "fence_keeper.handler")
        self.operator = model.role_named(names.operator_role)
        if not self.operator.exists:  # an assembly from before the operator role
            self.operator = model.administrator(
                "drill-operator", "operator (AdministratorAccess: no operator role)"
            )
        self.probe_env = _environment(self.up, names.dr_app_stack, "probe.handler")
        self.beacon_env = _environment(self.up, names.dr_stack, "switch.handler")
        self.fence_config = json.loads(
            _environment(self.up, names.dr_app_stack, "fence_keeper.handler")["FAILOVER_CONFIG"]
        )
        self.step_function_arn = model.function_arn(names.dr_app_stack, "handler.handler")
        self.aws.execute = self.execute
        self.aws.run_function = self.run_function

    # --- Lambda code run as its role --------------------------------------------------------
    @contextmanager
    def _lambda(self, principal: Principal, env: dict[str, str]) -> Iterator[None]:
        import os

        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with self.world.as_principal_for_boto3(principal, self.dr):
                yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def run_probe(self, _now: float) -> None:
        saved = probe.up, probe.reachable
        probe.up = self._http_ok
        probe.reachable = self._reachable
        try:
            with self._lambda(self.probe_role, self.probe_env):
                results = probe.handler({}, None)
            for metric in PROBE_METRICS:
                if metric in results:
                    self.probe_data.append(
                        (self.clock.now(), metric, 1.0 if results[metric] else 0.0)
                    )
        except Exception as err:  # a failed invocation: the alarms see no data
            self.lambda_errors.append(f"probe: {type(err).__name__}: {err}")
        finally:
            probe.up, probe.reachable = saved

    def _reachable(self, url: str) -> bool:
        try:
            self.aws.http_get(url, 10)
        except OSError:
            return False
        return True

    def _http_ok(self, url: str) -> bool:
        try:
            return self.aws.http_get(url, 10) == 200
        except OSError:
            return False

    def run_function(self, name: str) -> bool:
        """A writer woke the switch's beacon: it runs at once, as its role."""
        if name != self.names.switch_beacon_function:
            return False
        self.run_beacon(self.clock.now())
        return True

    def run_beacon(self, _now: float) -> None:
        try:
            with self._lambda(self.beacon_role, self.beacon_env):
                switch.handler({}, None)
        except Exception as err:  # a failed invocation: retried next minute, as by EventBridge
            self.lambda_errors.append(f"beacon: {type(err).__name__}: {err}")

    def run_fence_keeper(self, _now: float) -> None:
        """The fence keeper's scheduled round, as its role (runtime/fence_keeper.py)."""
        ctx = steps.Context(
            config=self.fence_config,
            client=self.world.clients(self.fence_role),
            now=self.clock.now,
        )
        try:
            fence_keeper.keep(ctx)
        except Exception as err:  # a failed invocation: its own alarm, and the next round
            self.lambda_errors.append(f"fence keeper: {type(err).__name__}: {err}")

    def evaluate_alarms(self, now: float) -> None:
        """The probe alarms from the probe's data (N of N one-minute periods below 1)."""
        minutes = self.settings.dr.detection_minutes
        published = self._published_probe_data()
        states = {}
        for metric in PROBE_METRICS:
            recent = [
                (t, v) for t, m, v in published if m == metric and now - minutes * 60 < t <= now
            ]
            buckets = {int((now - t) // 60) for t, v in recent if v < 1}
            states[metric] = len(buckets) >= minutes
        wanted = {self.names.probe_down_alarm(m): a for m, a in states.items()}
        wanted[self.names.impaired_alarm] = all(states.values())
        cw = self.world.raw("cloudwatch", self.dr)
        for name, alarm in wanted.items():
            if self.alarm_states.get(name) != alarm:  # CloudWatch changes state, once
                cw.set_alarm_state(
                    AlarmName=name,
                    StateValue="ALARM" if alarm else "OK",
                    StateReason="drill: evaluated from the probe's data",
                )
                self.alarm_states[name] = alarm
        if wanted[self.names.impaired_alarm] and self.detected_at == INFINITY:
            self.detected_at = now

    def _published_probe_data(self) -> list[tuple[float, str, float]]:
        """What the probe's PutMetricData calls carried (the drill reads what was sent)."""
        found = []
        for record in self.world.calls("PutMetricData"):
            if record.call.params.get("Namespace") != PROBE_NAMESPACE:
                continue
            for datum in record.call.params.get("MetricData", []):
                found.append((record.at, str(datum["MetricName"]), float(datum["Value"])))
        return found

    # --- the state machine's executions ------------------------------------------------------
    def execute(self, execution: Execution) -> str:
        self.executions += 1
        first = self.executions == 1
        crash = self.scenario.crash_after if first else None
        second = self.scenario.second_start_after if first else None
        # The state machine's first states: the input's incident, or one named after it.
        run = str(execution.input.get("incident") or execution.name)
        force = bool(execution.input.get("force"))
        report = self._run(run, force, stop=crash or second)
        if crash and report.ok:
            return "FAILED"  # the run died here (a crashed invocation ends the execution)
        if second and report.ok:
            self.start_automatically()  # another start arrives while this one runs
            after = [s.name for s in self.setup.step_list]
            report = self._run(run, force, start=after[after.index(second) + 1])
        failed = report.failed_step
        if failed is not None:
            message = str(failed.detail.get("message", failed.detail.get("error", "")))
            self.execution_failures[execution.name] = f"{failed.name}: {message}"
        return "SUCCEEDED" if report.ok else "FAILED"

    def _run(
        self, run: str, force: bool, stop: str | None = None, start: str | None = None
    ) -> RunReport:
        ctx = steps.Context(
            config=self.config,
            client=self.world.clients(self.step_role),
            force=force,
            now=self.clock.now,
            http_get=self.aws.http_get,
        )
        invoke_call = Call("lambda", self.dr, "Invoke", {"FunctionName": self.step_function_arn})

        def invoke(_step: steps.Step) -> None:
            self.world.act(invoke_call, self.machine_role)

        mark = [time.perf_counter()]

        def progress(report: StepReport) -> None:
            now = time.perf_counter()
            self.step_wall[report.name] = self.step_wall.get(report.name, 0.0) + now - mark[0]
            mark[0] = now
            self.step_reports = [r for r in self.step_reports if r.name != report.name]
            self.step_reports.append(report)
            self.setup.on_step(report)

        wall = time.perf_counter()
        report = run_local(
            ctx,
            run=run,
            dynamodb=self.world.clients(self.step_role)("dynamodb", self.dr),
            table=self.config["runs_table"],
            sleep=self.clock.sleep,
            progress=progress,
            step_list=self.setup.step_list,
            invoke=invoke,
            stop_after=stop,
            start_at=start,
        )
        self.wall[run] = self.wall.get(run, 0.0) + time.perf_counter() - wall
        return report

    def operate(self) -> str:
        """The operator runs ``failover --execute`` and follows it, as the CLI does; the
        final status of the execution, or what stopped the operator's command."""
        started = self.start_failover()
        if started is None:
            return "NOT STARTED"
        try:
            return operator_commands.follow(
                self.names, self.world.clients(self.operator), started, lambda _row: None,
                sleep=self.clock.sleep,
            )  # fmt: skip
        except ClientError as err:
            self.operator_errors.append(f"following {started.execution}: {err}")
            execution = self.aws.executions.get(started.execution)
            return execution.status if execution else "UNKNOWN"

    def start_failover(self) -> operator_commands.Started | None:
        """``crm-platform failover --execute`` as the operator runs it (ops/failover.py)."""
        clients = self.world.clients(self.operator)
        try:
            started = operator_commands.start(
                self.names, clients, force=False, now=self.clock.now()
            )
        except ClientError as err:
            code = err.response["Error"]["Code"]
            self.starts.append(f"refused: {code}")
            if code == "AccessDenied":
                self.operator_errors.append(f"starting: {err}")
            return None
        self.starts.append(f"{started.how} {started.execution}")
        return started

    def start_automatically(self) -> None:
        """A start that does not go through the operator's command: EventBridge's, in
        automatic mode (no incident in its input; the state machine opens one)."""
        name = f"automatic-{int(self.clock.now())}"
        sfn = self.world.clients(self.operator)("stepfunctions", self.dr)
        try:
            sfn.start_execution(
                stateMachineArn=self.aws.state_machine_arn, name=name,
                input=json.dumps({"force": False}),
            )  # fmt: skip
        except ClientError as err:
            self.starts.append(f"{name}: refused: {err.response['Error']['Code']}")
            return
        execution = self.aws.executions[name]
        why = self.execution_failures.get(name, "")
        stopped = f"refused at {why}" if execution.status == "FAILED" else execution.status
        self.starts.append(f"{name}: {stopped}")

    # --- the scenario ------------------------------------------------------------------------
    def inject_outage(self) -> None:
        kind, primary = self.scenario.outage, self.primary
        if kind == "none":
            return
        if kind == "dr-isolated":
            # The primary is fine; it is DR that lost the internet (and its view of Tokyo).
            self.aws.dr_isolated = True
            return
        self.aws.primary_serving = False
        self.aws.primary_lost_at = self.clock.now()  # its last beat reached the replica
        if kind == "unreachable":
            self.faults.unreachable.add(primary)
        elif kind == "data-plane":
            self.faults.errors[(primary, "cloudwatch")] = ("ServiceUnavailable", 503)
        elif kind == "errors":
            self.faults.errors.update(
                {
                    (primary, "ecs"): ("ServiceUnavailable", 503),
                    (primary, "application-autoscaling"): ("AccessDeniedException", 400),
                    (primary, "cloudwatch"): ("InternalFailure", 500),
                }
            )
        if self.scenario.throttle_first:
            self.faults.throttle_region = self.dr
            self.faults.throttle_first = self.scenario.throttle_first
            self.faults.throttle_principal = self.step_role.label
            self.faults.throttle_more = dict(self.scenario.throttle_more)
            self.faults.backoff = self.clock.advance

    def replica_lag_history(self, until: float) -> float:
        """ReplicaLag as it was before the outage (the drill publishes it: no replication
        runs here); returns the last value, the recovery point."""
        lag = 2.0
        cw = self.world.raw("cloudwatch", self.dr)
        for minute in range(15, 0, -1):
            cw.put_metric_data(
                Namespace="AWS/RDS",
                MetricData=[
                    {
                        "MetricName": "ReplicaLag",
                        "Value": lag,
                        "Timestamp": until - minute * 60,
                        "Dimensions": [
                            {"Name": "DBInstanceIdentifier", "Value": self.config["replica"]}
                        ],
                    }
                ],
            )
        return lag

    def run(self) -> ScenarioReport:
        wall = time.perf_counter()
        self.stand_up()
        start = self.clock.now()
        self.clock.every(60, self.run_probe, start=start + 1)
        self.clock.every(60, self.run_beacon, start=start + 2)
        self.clock.every(FENCE_KEEPER_SECONDS, self.run_fence_keeper, start=start + 3)
        evaluation = self.seconds("cloudwatch.alarm_evaluation")
        self.clock.every(60, self.evaluate_alarms, start=start + evaluation)
        before = snapshot(self.world, self.config)
        self.drift_before = drift.safely(self.names, self.settings, self.world.raw)
        self.clock.sleep(WARM_UP_SECONDS)
        self.outage_at = self.clock.now()
        rpo = self.replica_lag_history(self.outage_at)
        self.inject_outage()
        if self.scenario.outage in ("none", "dr-isolated"):
            self.clock.sleep(QUIET_WAIT_SECONDS)
        else:
            while (
                self.detected_at == INFINITY
                and self.clock.now() - self.outage_at < DETECTION_LIMIT_SECONDS
            ):
                self.clock.sleep(60)
        if self.settings.dr.failover_mode == "manual" or self.settings.dr.failover_approval:
            self.clock.sleep(self.seconds("operator.decision"))
        self.decided_at = self.clock.now()
        status = self.operate()
        if status == "FAILED" and self.scenario.crash_after:
            self.clock.sleep(self.seconds("operator.decision"))  # the operator looks, retries
            status = self.operate()
        restored = max(self.aws.traffic_moved_at(), self.aws.dr_serving_since())
        if restored < INFINITY:
            # Long enough for a round of the fence keeper after the switch (its alarm is
            # part of the outcome); the recovery time is measured at ``restored``.
            self.clock.sleep(max(0.0, restored - self.clock.now()) + FENCE_KEEPER_SECONDS)
        if self.scenario.primary_returns:
            self.primary_returns()
        return self.report(status, before, rpo, restored, time.perf_counter() - wall)

    def primary_returns(self) -> None:
        """The primary region answers again while DR serves; later something re-opens
        its database to the tasks (a deploy, an operator): the keeper must close it."""
        self.clock.sleep(FENCE_KEEPER_SECONDS)  # a round that still finds it unreachable
        self.faults.unreachable.discard(self.primary)
        self.faults.errors = {k: v for k, v in self.faults.errors.items() if k[0] != self.primary}
        self.returned_at = self.clock.now()
        self.clock.sleep(RETURN_WAIT_SECONDS)
        self.reopened = reopen_database(self.world, self.config)
        self.clock.sleep(RETURN_WAIT_SECONDS)

    def _timeline(self) -> list[dict[str, Any]]:
        dynamodb = self.world.raw("dynamodb", self.dr)
        items = dynamodb.scan(TableName=self.config["runs_table"], ConsistentRead=True)["Items"]
        rows = []
        for run in sorted({i["run"]["S"] for i in items} - {"#lock", fence_keeper.FENCE_RUN}):
            for row in timeline.read(dynamodb, self.config["runs_table"], run):
                rows.append({**row, "run": run})
        return rows

    def report(
        self, status: str, before: dict[str, Any], rpo: float, restored: float, wall: float
    ) -> ScenarioReport:
        rows = self._timeline()
        last = [r for r in self.step_reports if r.status == "failed"]
        failed = last[-1] if last else None
        observed = Observed(
            scenario=self.scenario,
            world=self.world,
            aws=self.aws,
            config=self.config,
            timeline=rows,
            completed=status == "SUCCEEDED",
            failed_step=failed.name if failed else None,
            failure=str(failed.detail.get("message", failed.detail.get("error", "")))
            if failed
            else "",
            before=before,
            after=snapshot(self.world, self.config),
            starts=self.starts,
            returned_at=self.returned_at,
            reopened=self.reopened,
        )
        checks = outcome_checks(observed)
        drift_after = drift.safely(self.names, self.settings, self.world.raw)
        checks += drift_checks(self.scenario, self.drift_before, drift_after)
        if self.scenario.expected.completes:
            checks += effect_checks(observed)
        rto = None
        if self.scenario.expected.completes:
            minutes = (restored - self.outage_at) / 60 if restored < INFINITY else None
            objective = self.settings.dr.rto_minutes
            rto = {
                "minutes": None if minutes is None else round(minutes, 1),
                "objective_minutes": objective,
                "breakdown": self._breakdown(restored),
            }
            if self.scenario.measures_rto and self.quantile == "p95":
                checks.append(
                    Check(
                        f"modelled RTO at p95 within dr.rto_minutes ({objective} min)",
                        "-",
                        minutes is not None and minutes <= objective,
                        f"{minutes:.1f} min" if minutes is not None else "traffic never restored",
                        "outcome",
                    )
                )
        denied = [
            {
                "at": round(r.at - self.outage_at, 1),
                "principal": r.principal,
                "call": r.call.describe(),
                "missing": r.denied,
            }
            for r in self.world.log
            if r.outcome == "denied"
        ]
        passed = all(c.ok for c in checks) and not denied
        return ScenarioReport(
            scenario=self.scenario.name,
            summary=self.scenario.summary,
            expected=self.scenario.describe_expected(),
            quantile=self.quantile,
            passed=passed,
            seconds=round(wall, 2),
            steps=self._steps(),
            bars=self._bars(restored),
            checks=[asdict(c) for c in checks],
            denied=denied,
            rto=rto,
            rpo={
                "seconds": rpo,
                "reading": (
                    "the last ReplicaLag data point before the primary was lost; in AWS the "
                    "heartbeat's last replicated beat is read inside the DR VPC (a one-off SQL "
                    "task), because a step outside the VPC cannot open a database connection"
                ),
            },
            starts=self.starts,
            failure=observed.failure,
            permissions=self._permissions(),
            drift=[asdict(d) for d in drift_after] if isinstance(drift_after, list) else [],
        )

    def _permissions(self) -> list[dict[str, Any]]:
        if self.world.model is None:
            return []
        seen: dict[tuple[str, str, str], bool] = {}
        principals = {
            p.label: p
            for p in (
                self.step_role,
                self.machine_role,
                self.probe_role,
                self.beacon_role,
                self.fence_role,
                self.operator,
            )
        }
        for record in self.world.log:
            principal = principals.get(record.principal)
            if principal is None or record.outcome.startswith("fault"):
                continue
            for request in self.world.requests(record.call, principal):
                key = (record.principal, request.action, request.resource)
                if key not in seen:
                    seen[key] = self.world.model.decide(request).allowed
        return [
            {"principal": p, "action": a, "resource": r, "allowed": ok}
            for (p, a, r), ok in sorted(seen.items())
        ]

    def _steps(
        self, t0: float | None = None, modelled: frozenset[str] = MODELLED_STEPS
    ) -> list[dict[str, Any]]:
        """The report's step rows, timed from ``t0`` (the outage by default)."""
        t0 = self.outage_at if t0 is None else t0
        return [
            {
                "name": r.name,
                "status": r.status,
                "attempts": r.attempts,
                "note": r.note,
                "modelled": r.name in modelled,
                "start": None if r.started is None else round(r.started - t0, 1),
                "end": None if r.ended is None else round(r.ended - t0, 1),
                "wall_seconds": round(self.step_wall.get(r.name, 0.0), 3),
                "detail": r.detail,
            }
            for r in self.step_reports
        ]

    def _breakdown(self, restored: float) -> dict[str, float]:
        t0 = self.outage_at
        found = {
            "detection": self.detected_at - t0,
            "decision": self.decided_at - self.detected_at,
            "steps until traffic switched": self.aws.switch_data_first_dr() - self.decided_at,
            "DNS and Route 53": self.aws.traffic_moved_at() - self.aws.switch_data_first_dr(),
        }
        return {k: round(v / 60, 1) for k, v in found.items() if v < INFINITY}

    def _bars(self, restored: float) -> list[dict[str, Any]]:
        t0 = self.outage_at
        bars: list[dict[str, Any]] = []

        def bar(
            label: str, start: float, end: float, kind: str, status: str, note: str = ""
        ) -> None:
            if start == INFINITY or end == INFINITY:
                return
            bars.append(
                {
                    "label": label,
                    "start": round(start - t0, 1),
                    "end": round(end - t0, 1),
                    "kind": kind,
                    "status": status,
                    "critical": end <= restored + 1e-6 and kind != "background",
                    "note": note,
                }
            )

        bar("outage detected (probes, alarms)", t0, self.detected_at, "detection", "modelled")
        bar("operator decides", self.detected_at, self.decided_at, "decision", "modelled")
        for r in self.step_reports:
            if r.started is None or r.ended is None:
                continue
            kind = "modelled" if r.name in MODELLED_STEPS else "step"
            bar(r.name, r.started, r.ended, kind, r.status, r.note)
        switched = self.aws.switch_data_first_dr()
        bar(
            "Route 53 and DNS move traffic",
            switched,
            self.aws.traffic_moved_at(),
            "modelled",
            "modelled",
        )
        for event in self.aws.events:
            bar(event.name, event.start, event.end, "background", "modelled", event.note)
        return bars


def run_drill(
    outdir: Path,
    names: Names,
    settings: Settings,
    scenarios: list[Scenario],
    *,
    enforce_authorization: bool = True,
    model: AuthorizationModel | None = None,
    step_list: tuple[steps.Step, ...] = steps.STEPS,
    progress: Callable[[str], None] = lambda _m: None,
    on_step: Callable[[StepReport], None] = lambda _r: None,
    restore_steps: tuple[steps.Step, ...] | None = None,
    failback_steps: tuple[steps.Step, ...] | None = None,
    quantiles: tuple[Quantile, ...] = ("p50", "p95"),
) -> DrillReport:
    """Each scenario on a fresh emulator; ``model`` replaces the assembly's own
    authorization model (a test proving a sabotaged policy is caught). A scenario that
    measures the recovery time runs at each of ``quantiles`` (a test that reads one
    quantile asks for it alone); every other scenario runs at p50."""
    started = time.perf_counter()
    model = model or AuthorizationModel.load(outdir)
    reports = []
    setup = Setup(
        outdir, names, settings, model, enforce_authorization, step_list, on_step, progress,
        restore_steps, failback_steps,
    )  # fmt: skip
    from crm_platform.drill import failback as failback_drill  # they build on this module
    from crm_platform.drill import restore as restore_drill
    from crm_platform.drill import restore_dr as restore_dr_drill

    for scenario in scenarios:
        at: tuple[Quantile, ...] = quantiles if scenario.measures_rto else ("p50",)
        kind: type[Rehearsal] = Rehearsal
        if scenario.kind == "restore":
            kind = (restore_dr_drill.DrRestoreRehearsal if scenario.restore_region == "dr"
                    else restore_drill.RestoreRehearsal)  # fmt: skip
        for quantile in at:
            progress(f"scenario {scenario.name} ({quantile}): {scenario.summary}")
            with emulator.emulator():  # a fresh, empty emulator for each
                if scenario.kind in ("failback", "sequence"):
                    # several parts on one emulator, each with its own report
                    reports += failback_drill.FailbackRehearsal(setup, scenario, quantile).parts()
                else:
                    reports.append(kind(setup, scenario, quantile).run())
    notes = list(EMULATOR_NOTES)
    if any(s.kind in ("restore", "sequence") for s in scenarios):
        notes += restore_drill.NOTES
    if any(s.kind == "restore" and s.restore_region == "dr" for s in scenarios):
        notes += restore_dr_drill.NOTES
    if any(s.kind in ("failback", "sequence") for s in scenarios):
        notes += failback_drill.NOTES
    return DrillReport(
        environment=names.prefix,
        rto_objective_minutes=settings.dr.rto_minutes,
        seconds=round(time.perf_counter() - started, 2),
        scenarios=reports,
        authorization="enforced" if enforce_authorization else "not enforced",
        durations=[
            {"name": d.name, "p50": d.p50, "p95": d.p95, "source": d.source}
            for d in (detection(settings.dr.detection_minutes), *DURATIONS.values())
        ],
        notes=notes,
    )
