"""AWS behaviour the emulator lacks, modelled in front of it with the durations table.

moto does everything at once and runs nothing. The failover waits on AWS in five places,
each modelled here from ``durations.py`` at the scenario's quantile:

- **RDS**: ``PromoteReadReplica`` leaves the replica "modifying" and still linked to its
  source until ``rds.promotion`` has passed; the instance refuses modifications meanwhile
  (InvalidDBInstanceState, as RDS does); a Multi-AZ conversion runs ``rds.multi_az`` in the
  background; a replica without automated backups of its own is ``backing-up`` for
  ``rds.first_backup`` after its promotion (writable, refusing modifications).
- **ECS**: a raised desired count starts tasks after ``fargate.cold_start`` (or at once for
  tasks a warm standby already runs); ``DescribeServices`` reports running and pending
  tasks from that, and the server's target group. A one-off task (``RunTask``) runs for
  its cold start plus ``twenty.jobs`` and stops with exit code 0; the SQL task
  (compute/sql_task.py) runs for ``fargate.sql_task`` and, as it stops, writes its one
  result line into the emulator's CloudWatch Logs (the awslogs stream), answered from
  the modelled database at that moment: in recovery, refusing the write, until the
  promotion is done; the last heartbeat that reached the replica before the outage (or
  the new primary's own beats after promotion).
- **Elastic Load Balancing**: a running task is a healthy target after
  ``alb.first_health_check``.
- **Route 53 and DNS**: the switch's beacon writes (two write units: a verified "dr")
  move traffic only after ``route53.switch`` + ``dns.ttl``; the public URL answers when
  traffic goes to a region that can serve it.
- **Step Functions** (the failover's state machine only): executions start, run the step
  list through the local runner, and are described and listed; moto runs none.

Everything else is moto's.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from crm_platform.authz.requests import Call
from crm_platform.contracts import PRIMARY_PROBE_PATH, SQL_TASK_ROLE
from crm_platform.drill.world import World
from crm_platform.failover.runtime.sql_task import log_stream, result_line

# The replication heartbeat's period (database/heartbeat.py) and the replica's lag behind
# it (the drill's ReplicaLag history, run.py).
HEARTBEAT_SECONDS = 60
REPLICATION_LAG_SECONDS = 2.0
# What PostgreSQL says when a hot standby is asked to create a table (docs/adr/0045).
READ_ONLY_ERROR = "ERROR:  cannot execute CREATE TABLE in a read-only transaction"

INFINITY = float("inf")


def _item_bytes(item: dict[str, Any]) -> int:
    """A DynamoDB item's size as it is billed: attribute names plus (string) values."""
    return sum(len(name) + len(str(next(iter(value.values())))) for name, value in item.items())


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class Promotion:
    source: str
    started: float
    done: float


@dataclass
class Service:
    """One ECS service: when each of its tasks runs (INFINITY: not started)."""

    desired: int
    tasks: list[float] = field(default_factory=list)  # running since
    target_group: str | None = None

    def running(self, now: float) -> int:
        return sum(1 for t in self.tasks if t <= now)


@dataclass
class Event:
    """Something AWS did in the background, for the timeline (not on the critical path)."""

    name: str
    start: float
    end: float
    note: str = ""


@dataclass
class OneOff:
    """A task started by RunTask: running until ``ends``, then stopped with exit code 0."""

    arn: str
    cluster: str
    definition: str
    started_by: str
    started: float
    ends: float
    container: str = "jobs"
    # The SQL task's: its purpose (the command) and the log group its answer goes to.
    purpose: str = ""
    log_group: str = ""
    logged: bool = False

    def status(self, now: float) -> str:
        return "RUNNING" if now < self.ends else "STOPPED"

    def describe(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        task: dict[str, Any] = {
            "taskArn": self.arn,
            "clusterArn": self.cluster,
            "taskDefinitionArn": self.definition,
            "startedBy": self.started_by,
            "lastStatus": status,
            "desiredStatus": status,
            "containers": [{"name": self.container, "lastStatus": status}],
        }
        if status == "STOPPED":
            task["stoppedAt"] = self.ends
            task["stoppedReason"] = "Essential container in task exited"
            task["containers"][0]["exitCode"] = 0
        return task


@dataclass
class Execution:
    name: str
    arn: str
    input: dict[str, Any]
    started: float
    status: str = "RUNNING"
    stopped: float | None = None


class ModelledAws:
    """The modelled behaviour of one scenario; ``world.hooks`` point here."""

    def __init__(self, world: World, seconds: Callable[[str], float]) -> None:
        self.world = world
        self.seconds = seconds
        self.promotions: dict[str, Promotion] = {}
        self.multi_az: dict[str, float] = {}  # instance -> conversion done at
        self.backing_up: dict[str, tuple[float, float]] = {}  # instance -> first backup
        self.one_off: dict[str, OneOff] = {}  # by task ARN
        # The SQL task's answers, as written to its log: (task, region, purpose, result).
        self.sql_answers: list[tuple[OneOff, str, dict[str, Any]]] = []
        self.replica = ""  # the DR database the DR SQL task reads
        self.primary_lost_at = INFINITY  # the last beat replicated before this
        self.services: dict[tuple[str, str, str], Service] = {}
        self.events: list[Event] = []
        self.switch_data: list[tuple[float, float]] = []  # (time, ServeFromDr value)
        self.primary_serving = True  # the primary region's data plane answers
        self.dr_isolated = False  # the DR region cannot reach the internet
        self.dr_region = ""
        self.server_service = ""
        self.beacon_table = ""
        self.executions: dict[str, Execution] = {}
        self.state_machine_arn = ""
        # Set by the scenario: run an execution (returns its final status), and run a
        # Lambda function the drill runs itself (returns False for any other function).
        self.execute: Callable[[Execution], str] = lambda _e: "FAILED"
        self.run_function: Callable[[str], bool] = lambda _name: False
        # The original region's database as a failback models it (drill/failback.py):
        # (purpose, at) -> the SQL task's answer there; None: a primary, as before the outage.
        self.primary_sql: Callable[[str, float], dict[str, Any]] | None = None
        # A restore from DR's vault (drill/restore_dr.py): from this time a restored,
        # standalone instance holds the replica's name, so DR's database is no replica.
        self.restored_serving_at = INFINITY

    # --- the hooks ------------------------------------------------------------------------
    def before(self, call: Call, _principal: Any) -> dict[str, Any] | None:
        handler = getattr(self, f"_before_{call.service.replace('-', '_')}_{call.operation}", None)
        return handler(call) if handler is not None else None

    def after(self, call: Call, parsed: dict[str, Any]) -> None:
        handler = getattr(self, f"_after_{call.service.replace('-', '_')}_{call.operation}", None)
        if handler is not None:
            handler(call, parsed)

    def now(self) -> float:
        return self.world.clock.now()

    # --- RDS ------------------------------------------------------------------------------
    def _before_rds_PromoteReadReplica(self, call: Call) -> None:
        db = str(call.params["DBInstanceIdentifier"])
        if db in self.promotions:
            raise _error("InvalidDBInstanceState", f"{db} is already being promoted", "Promote")
        found = self.world.raw("rds", call.region).describe_db_instances(DBInstanceIdentifier=db)
        instance = found["DBInstances"][0]
        source = instance.get("ReadReplicaSourceDBInstanceIdentifier", "")
        now = self.now()
        done = now + self.seconds("rds.promotion")
        self.promotions[db] = Promotion(str(source), now, done)
        if int(instance.get("BackupRetentionPeriod", 0)) == 0:
            # A replica without backups of its own: RDS takes the first one right after the
            # promotion ("backing-up": writable, but refusing modifications meanwhile).
            backup = self.seconds("rds.first_backup")
            self.backing_up[db] = (done, done + backup)
            self.events.append(
                Event(
                    "first backup after promotion",
                    done,
                    done + backup,
                    "the replica had no automated backups: RDS takes one after promotion",
                )
            )

    def _promoting(self, db: str) -> Promotion | None:
        found = self.promotions.get(db)
        return found if found is not None and self.now() < found.done else None

    def _before_rds_ModifyDBInstance(self, call: Call) -> None:
        db = str(call.params["DBInstanceIdentifier"])
        if self._promoting(db) is not None or self._backing_up(db):
            raise _error(
                "InvalidDBInstanceState",
                f"Database instance {db} is not in available state.",
                "ModifyDBInstance",
            )
        if call.params.get("MultiAZ") and db not in self.multi_az:
            now = self.now()
            self.multi_az[db] = now + self.seconds("rds.multi_az")
            self.events.append(
                Event(
                    "Multi-AZ conversion",
                    now,
                    self.multi_az[db],
                    "the standby is built from a snapshot",
                )
            )

    def _after_rds_DescribeDBInstances(self, _call: Call, parsed: dict[str, Any]) -> None:
        for db in parsed.get("DBInstances", []):
            name = db["DBInstanceIdentifier"]
            promotion = self._promoting(name)
            if promotion is not None:
                db["DBInstanceStatus"] = "modifying"
                db["ReadReplicaSourceDBInstanceIdentifier"] = promotion.source
            if self._backing_up(name):
                db["DBInstanceStatus"] = "backing-up"
            converting = self.multi_az.get(name)
            if converting is not None and self.now() < converting:
                db["DBInstanceStatus"] = "modifying"
                db["MultiAZ"] = False
                db["PendingModifiedValues"] = {"MultiAZ": True}

    def _backing_up(self, db: str) -> bool:
        start, end = self.backing_up.get(db, (INFINITY, INFINITY))
        return start <= self.now() < end

    def promotion_done(self, db: str) -> float | None:
        found = self.promotions.get(db)
        return found.done if found else None

    # --- Lambda: the functions the drill runs itself -----------------------------------------
    def _before_lambda_Invoke(self, call: Call) -> dict[str, Any] | None:
        name = str(call.params.get("FunctionName", "")).rsplit(":", 1)[-1]
        if not self.run_function(name):
            return None
        return {"StatusCode": 202 if call.params.get("InvocationType") == "Event" else 200}

    # --- ECS and target health --------------------------------------------------------------
    def track(
        self, region: str, cluster: str, name: str, desired: int, target_group: str | None
    ) -> None:
        """A service as deployed: its desired tasks run already (steady state)."""
        self.services[(region, cluster, name)] = Service(
            desired, [-INFINITY] * desired, target_group
        )

    def _service(self, call: Call, name: str) -> Service | None:
        cluster = str(call.params.get("cluster", "default")).rsplit("/", 1)[-1]
        return self.services.get((call.region, cluster, name.rsplit("/", 1)[-1]))

    def _before_ecs_UpdateService(self, call: Call) -> None:
        service = self._service(call, str(call.params["service"]))
        wanted = call.params.get("desiredCount")
        if service is None or wanted is None:
            return
        wanted = int(wanted)
        start = self.now() + self.seconds("fargate.cold_start")
        if wanted > len(service.tasks):
            service.tasks += [start] * (wanted - len(service.tasks))
        else:
            service.tasks = sorted(service.tasks)[:wanted]
        service.desired = wanted

    def _before_ecs_RunTask(self, call: Call) -> dict[str, Any]:
        """A one-off Twenty task: it starts like any other, does its work and exits 0.

        Answered here rather than by moto (whose awsvpc tasks fail on an attribute its
        network interfaces lack); the cluster and task definition must exist, as in ECS.
        """
        ecs = self.world.raw("ecs", call.region)
        cluster = str(call.params.get("cluster", "default"))
        found = ecs.describe_clusters(clusters=[cluster])["clusters"]
        if not found:
            raise _error("ClusterNotFoundException", f"{cluster} not found", "RunTask")
        definition = ecs.describe_task_definition(taskDefinition=call.params["taskDefinition"])
        containers = definition["taskDefinition"]["containerDefinitions"]
        sql = any(c["name"] == SQL_TASK_ROLE for c in containers)
        now = self.now()
        if sql:
            ends = now + self.seconds("fargate.sql_task")
        else:
            ends = now + self.seconds("fargate.cold_start") + self.seconds("twenty.jobs")
        overrides = call.params.get("overrides", {}).get("containerOverrides", [])
        task = OneOff(
            arn=f"{found[0]['clusterArn'].replace(':cluster/', ':task/')}/{len(self.one_off):032x}",
            cluster=found[0]["clusterArn"],
            definition=definition["taskDefinition"]["taskDefinitionArn"],
            started_by=str(call.params.get("startedBy", "")),
            started=now,
            ends=ends,
            container=SQL_TASK_ROLE if sql else "jobs",
            purpose=next((str(o["command"][0]) for o in overrides if o.get("command")), ""),
            log_group=f"/ecs/{definition['taskDefinition']['family']}" if sql else "",
        )
        self.one_off[task.arn] = task
        what = f"SQL task ({task.purpose})" if sql else "jobs task"
        self.events.append(Event(what, now, ends, "a one-off task of the platform's image"))
        return {"tasks": [task.describe(now)], "failures": []}

    # --- the SQL task's answer (CloudWatch Logs) ------------------------------------------
    def _answers(self) -> None:
        """Every SQL task that has stopped writes its one line, once, as the task would."""
        now = self.now()
        for task in self.one_off.values():
            if task.log_group and not task.logged and task.status(now) == "STOPPED":
                task.logged = True
                region = task.cluster.split(":")[3]
                result = self.sql_result(task.purpose, region, task.ends)
                self.sql_answers.append((task, region, result))
                logs = self.world.raw("logs", region)
                with contextlib.suppress(ClientError):  # the template's group, once
                    logs.create_log_group(logGroupName=task.log_group)
                stream = log_stream({"container": task.container}, task.arn)
                logs.create_log_stream(logGroupName=task.log_group, logStreamName=stream)
                # moto keeps only events near the real clock; the content holds the model's.
                logs.put_log_events(
                    logGroupName=task.log_group,
                    logStreamName=stream,
                    logEvents=[
                        {"timestamp": int(time.time() * 1000),
                         "message": result_line(task.purpose, result)},
                    ],
                )  # fmt: skip

    def in_recovery(self, at: float) -> bool:
        """The DR database until its promotion is done (a replica is a hot standby)."""
        if at >= self.restored_serving_at:
            return False
        promotion = self.promotions.get(self.replica)
        return promotion is None or at < promotion.done

    def last_beat(self, at: float) -> float | None:
        """The heartbeat row as the DR database holds it at ``at``: the primary's beats,
        replicated with the lag, until the primary was lost; after the promotion the job
        runs on the promoted database itself (pg_cron's job is replicated with it)."""
        promotion = self.promotions.get(self.replica)
        if promotion is not None and promotion.done <= at:
            own = math.floor(at / HEARTBEAT_SECONDS) * HEARTBEAT_SECONDS
            if own >= promotion.done:
                return float(own)
            at = promotion.done
        replicated = min(at, self.primary_lost_at) - REPLICATION_LAG_SECONDS
        return float(math.floor(replicated / HEARTBEAT_SECONDS) * HEARTBEAT_SECONDS)

    def sql_result(self, purpose: str, region: str, at: float) -> dict[str, Any]:
        """What the SQL task's SQL answers (compute/wrapper.py), from the modelled state.

        The DR database is modelled here; a primary-region task finds a primary, unless a
        failback models the original region's database (``primary_sql``).
        """
        if region != self.dr_region and self.primary_sql is not None:
            return self.primary_sql(purpose, at)
        recovering = self.in_recovery(at) if region == self.dr_region else False
        if purpose == "writable":
            return {"in_recovery": recovering, "write": f"error: {READ_ONLY_ERROR}"
                    if recovering else "ok"}  # fmt: skip
        return {"in_recovery": recovering, "beat_at": self.last_beat(at), "now": at}

    def _before_logs_GetLogEvents(self, call: Call) -> None:
        self._answers()

    def _before_ecs_ListTasks(self, call: Call) -> dict[str, Any] | None:
        self._answers()
        started_by = call.params.get("startedBy")
        if not started_by:
            return None
        now, wanted = self.now(), call.params.get("desiredStatus", "RUNNING")
        return {
            "taskArns": [
                t.arn
                for t in self.one_off.values()
                if t.started_by == started_by and t.status(now) == wanted
            ]
        }

    def _before_ecs_DescribeTasks(self, call: Call) -> dict[str, Any] | None:
        arns = [str(a) for a in call.params.get("tasks", [])]
        if not arns or any(a not in self.one_off for a in arns):
            return None
        return {"tasks": [self.one_off[a].describe(self.now()) for a in arns], "failures": []}

    def _after_ecs_DescribeServices(self, call: Call, parsed: dict[str, Any]) -> None:
        for found in parsed.get("services", []):
            service = self._service(call, found["serviceName"])
            if service is None:
                continue
            running = service.running(self.now())
            found["runningCount"], found["pendingCount"] = running, service.desired - running
            if service.target_group:
                found["loadBalancers"] = [
                    {
                        "targetGroupArn": service.target_group,
                        "containerName": "server",
                        "containerPort": 3000,
                    }
                ]

    def healthy_targets(self, target_group: str, now: float | None = None) -> int:
        at = self.now() if now is None else now
        delay = self.seconds("alb.first_health_check")
        return sum(
            sum(1 for t in s.tasks if t + delay <= at)
            for s in self.services.values()
            if s.target_group == target_group
        )

    def _before_elbv2_DescribeTargetHealth(self, call: Call) -> dict[str, Any]:
        group = str(call.params["TargetGroupArn"])
        healthy = self.healthy_targets(group)
        return {
            "TargetHealthDescriptions": [
                {
                    "Target": {"Id": f"10.0.0.{i + 10}", "Port": 3000},
                    "TargetHealth": {"State": "healthy"},
                }
                for i in range(healthy)
            ]
        }

    def dr_serving_since(self) -> float:
        """When the DR server first had a healthy target (INFINITY: not yet)."""
        server = self.services.get(
            next(
                (
                    k
                    for k in self.services
                    if k[0] == self.dr_region and k[2] == self.server_service
                ),
                ("", "", ""),
            )
        )
        if server is None or not server.tasks:
            return INFINITY
        return min(server.tasks) + self.seconds("alb.first_health_check")

    # --- the traffic switch and the public URL ----------------------------------------------
    def _before_dynamodb_PutItem(self, call: Call) -> None:
        """The switch's beacon: Route 53 follows its table's ConsumedWriteCapacityUnits
        (Maximum per minute): one unit means "primary", two "dr" (failover/switch.py)."""
        if call.region != self.dr_region or call.params.get("TableName") != self.beacon_table:
            return
        units = -(-_item_bytes(call.params.get("Item", {})) // 1024)  # per KB, rounded up
        self.switch_data.append((self.now(), 1.0 if units >= 2 else 0.0))

    def traffic_to_dr(self, now: float | None = None) -> bool:
        """Does DNS send origin traffic to DR at ``now``? Route 53 and resolvers lag."""
        at = self.now() if now is None else now
        lag = self.seconds("route53.switch") + self.seconds("dns.ttl")
        seen = [value for when, value in self.switch_data if when + lag <= at]
        return bool(seen) and seen[-1] >= 1

    def switch_data_first_dr(self) -> float:
        """When ServeFromDr=1 was first published (INFINITY: never)."""
        return next((when for when, value in self.switch_data if value >= 1), INFINITY)

    def traffic_moved_at(self) -> float:
        lag = self.seconds("route53.switch") + self.seconds("dns.ttl")
        moved = [when + lag for when, value in self.switch_data if value >= 1]
        return moved[0] if moved else INFINITY

    def public_up(self, now: float | None = None) -> bool:
        at = self.now() if now is None else now
        if self.traffic_to_dr(at):
            return self.dr_serving_since() <= at
        return self.primary_serving

    def http_get(self, url: str, _timeout: float) -> int:
        """The network as the drill models it: the public URL (Twenty's health through
        CloudFront), CloudFront's probe path to the primary origin, and the internet
        outside both regions (the probe's control)."""
        self.world.clock.advance(self.seconds("api.call"))
        if self.dr_isolated:
            raise OSError(f"{url}: DR cannot reach the internet")
        if PRIMARY_PROBE_PATH in url:
            if self.primary_serving:
                return 200
            raise OSError(f"{url}: 504 from CloudFront (primary origin unreachable)")
        if ".amazonaws.com" in url:
            return 403  # an AWS endpoint answers (the probe's control): the path works
        if self.public_up():
            return 200
        raise OSError(f"{url}: 502 from CloudFront (origin unreachable)")

    # --- Step Functions (the failover's state machine) ---------------------------------------
    def _before_stepfunctions_StartExecution(self, call: Call) -> dict[str, Any]:
        arn = str(call.params["stateMachineArn"])
        name = str(call.params.get("name"))
        given = json.loads(str(call.params.get("input") or "{}"))
        execution_arn = f"{arn.replace(':stateMachine:', ':execution:')}:{name}"
        found = self.executions.get(name)
        if found is not None:
            if found.status == "RUNNING" and found.input == given:
                # "the call will succeed" for the same name and input of a running execution
                return {"executionArn": found.arn, "startDate": found.started}
            raise _error(
                "ExecutionAlreadyExists",
                f"Execution already exists: '{execution_arn}'",
                "StartExecution",
            )
        execution = Execution(name, execution_arn, given, self.now())
        self.executions[name] = execution
        execution.status = self.execute(execution)
        if execution.status != "RUNNING":
            execution.stopped = self.now()
        return {"executionArn": execution_arn, "startDate": execution.started}

    def _execution(self, call: Call) -> Execution:
        name = str(call.params["executionArn"]).rsplit(":", 1)[-1]
        found = self.executions.get(name)
        if found is None:
            raise _error("ExecutionDoesNotExist", f"{name} does not exist", call.operation)
        return found

    def _before_stepfunctions_DescribeExecution(self, call: Call) -> dict[str, Any]:
        found = self._execution(call)
        answer: dict[str, Any] = {
            "executionArn": found.arn,
            "stateMachineArn": self.state_machine_arn,
            "name": found.name,
            "status": found.status,
            "startDate": found.started,
            "input": json.dumps(found.input),
        }
        if found.stopped is not None:
            answer["stopDate"] = found.stopped
        return answer

    def _before_stepfunctions_ListExecutions(self, call: Call) -> dict[str, Any]:
        wanted = call.params.get("statusFilter")
        return {
            "executions": [
                {
                    "executionArn": e.arn,
                    "stateMachineArn": self.state_machine_arn,
                    "name": e.name,
                    "status": e.status,
                    "startDate": e.started,
                }
                for e in self.executions.values()
                if wanted in (None, e.status)
            ]
        }

    def running_executions(self) -> list[Execution]:
        return [e for e in self.executions.values() if e.status == "RUNNING"]


class Unreachable(EndpointConnectionError):
    """What a call to a region that does not answer raises."""
