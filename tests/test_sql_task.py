"""The SQL task, as its callers see it (failover/runtime/sql_task.py) and as it runs
(compute/wrapper.py's script, against a real PostgreSQL where the machine has one).

The runtime is poll-style: one task started per incident, purpose and region, found
again by ``startedBy`` when the run resumes, its answer read from its log stream; a
failed task replaced a bounded number of times, then the step fails naming the log.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from crm_platform.contracts import SQL_RESULT_MARKER
from crm_platform.failover.runtime import sql_task, steps

DR, PRIMARY = "ap-southeast-1", "ap-northeast-1"
SQL = {
    side: {
        "family": "crm-prod-sql",
        "cluster": f"crm-prod-cluster{'-dr' if side == 'dr' else ''}",
        "log_group": "/ecs/crm-prod-sql",
        "container": "sql",
        "roles": ["r-task", "r-execution"],
    }
    for side in ("primary", "dr")
}


class Fake:
    """ECS and CloudWatch Logs of one account: tasks found by startedBy, their log lines."""

    def __init__(self, outcomes: list[tuple[int | None, dict[str, Any] | None]]) -> None:
        # One (exit code, result) per task ever started: None exit code = still running;
        # None result = the task printed no result line.
        self.outcomes = outcomes
        self.started: list[tuple[str, dict[str, Any]]] = []  # (region, RunTask arguments)
        self.now = 1000.0

    def client(self, service: str, region: str) -> Any:
        fake = self

        class Client:
            def list_tasks(self, **kw: Any) -> dict[str, Any]:
                return {"taskArns": [
                    fake.arn(i) for i, (r, args) in enumerate(fake.started)
                    if r == region and args["startedBy"] == kw["startedBy"]
                    and args["cluster"] == kw["cluster"]
                    and (fake.outcomes[i][0] is None) == (kw["desiredStatus"] == "RUNNING")
                ]}  # fmt: skip

            def describe_tasks(self, **kw: Any) -> dict[str, Any]:
                found = []
                for arn in kw["tasks"]:
                    i = int(arn.rsplit("/", 1)[1])
                    code = fake.outcomes[i][0]
                    containers: list[dict[str, Any]] = [{"name": "prepare-tmp", "exitCode": 0}]
                    containers.append(
                        {"name": "sql", **({} if code is None else {"exitCode": code})}
                    )
                    found.append({
                        "taskArn": arn, "createdAt": float(i),
                        "lastStatus": "RUNNING" if code is None else "STOPPED",
                        "stoppedAt": None if code is None else fake.now - 120,
                        "stoppedReason": "Essential container in task exited",
                        "containers": containers,
                    })  # fmt: skip
                return {"tasks": found}

            def describe_services(self, **_kw: Any) -> dict[str, Any]:
                network = {"awsvpcConfiguration": {"subnets": [f"subnet-{region}"]}}
                return {"services": [{"networkConfiguration": network}]}

            def run_task(self, **kw: Any) -> dict[str, Any]:
                fake.started.append((region, kw))
                return {"tasks": [{"taskArn": fake.arn(len(fake.started) - 1)}], "failures": []}

            def get_log_events(self, **kw: Any) -> dict[str, Any]:
                assert service == "logs" and kw["logGroupName"] == "/ecs/crm-prod-sql"
                prefix, container, task_id = kw["logStreamName"].split("/")
                assert prefix == container == "sql"
                result = fake.outcomes[int(task_id)][1]
                if "nextToken" in kw:
                    return {"events": [], "nextForwardToken": kw["nextToken"]}
                events = [{"message": "psql: connecting"}]
                if result is not None:
                    purpose = fake.started[int(task_id)][1]["overrides"]["containerOverrides"][0][
                        "command"
                    ][0]
                    events.append({"message": sql_task.result_line(purpose, result)})
                return {"events": events, "nextForwardToken": "f/1"}

        return Client()

    @staticmethod
    def arn(i: int) -> str:
        return f"arn:aws:ecs:{DR}:123456789012:task/crm-prod-cluster-dr/{i}"


def context(fake: Fake, run: str = "incident-1") -> steps.Context:
    config = {
        "dr_region": DR, "primary_region": PRIMARY, "sql_tasks": SQL,
        "services": {"server": {"name": "crm-prod-server"}},
    }  # fmt: skip
    return steps.Context(config=config, client=fake.client, run=run, now=lambda: fake.now)


WRITABLE = {"in_recovery": False, "write": "ok"}


def test_one_task_per_incident_purpose_and_region_polled_until_its_answer() -> None:
    fake = Fake([(None, None)])
    first = sql_task.run(context(fake), "dr", "writable")
    assert not first.done and first.wait > 0
    ((region, args),) = fake.started
    assert region == DR and args["taskDefinition"] == "crm-prod-sql"
    assert args["cluster"] == "crm-prod-cluster-dr" and args["launchType"] == "FARGATE"
    # The caller names a purpose, never SQL; the task borrows the server's network.
    assert args["overrides"] == {"containerOverrides": [{"name": "sql", "command": ["writable"]}]}
    assert args["networkConfiguration"] == {"awsvpcConfiguration": {"subnets": [f"subnet-{DR}"]}}
    assert args["startedBy"] == sql_task.started_by("incident-1", "writable", "dr")
    assert len(args["startedBy"]) <= 36
    # Resumed (a new Lambda, the same incident): it finds its task and starts none.
    again = sql_task.run(context(fake), "dr", "writable")
    assert not again.done and len(fake.started) == 1
    fake.outcomes[0] = (0, WRITABLE)
    done = sql_task.run(context(fake), "dr", "writable")
    assert done.done and done.detail["result"] == WRITABLE
    assert done.detail["task"] == Fake.arn(0)
    assert done.detail["log"] == f"/ecs/crm-prod-sql:sql/sql/{0}"
    # Another purpose, region or incident is another task.
    assert len({sql_task.started_by(r, p, s) for r in ("a", "b") for p in sql_task.PURPOSES
                for s in ("dr", "primary")}) == 8  # fmt: skip


def test_the_last_beat_in_the_primary_region_runs_there() -> None:
    beat = {"beat_at": 940.0, "in_recovery": False, "now": 1000.0}
    fake = Fake([(0, beat)])
    assert not sql_task.run(context(fake), "primary", "last-beat").done
    assert fake.started[0][0] == PRIMARY and fake.started[0][1]["cluster"] == "crm-prod-cluster"
    found = sql_task.run(context(fake), "primary", "last-beat")
    assert found.done and found.detail["result"] == beat


def test_a_failed_task_is_replaced_then_the_step_fails_naming_its_log() -> None:
    fake = Fake([(1, None), (0, None), (137, None)])
    sql_task.run(context(fake), "dr", "writable")
    for expected in (2, 3):  # exit 1; then exit 0 without a result line (as good as failed)
        assert not sql_task.run(context(fake), "dr", "writable").done
        assert len(fake.started) == expected
    with pytest.raises(steps.StepFailed, match=r"failed 3 times.*sql/sql/2"):
        sql_task.run(context(fake), "dr", "writable")
    assert len(fake.started) == sql_task.ATTEMPTS


def test_a_fresh_answer_while_the_caller_waits_for_another() -> None:
    recovering = {"in_recovery": True, "write": "error: cannot execute CREATE TABLE"}
    fake = Fake([(0, recovering)])
    sql_task.run(context(fake), "dr", "writable")
    asked = sql_task.run(context(fake), "dr", "writable", repeat_while=lambda r: r["in_recovery"])
    assert not asked.done and len(fake.started) == 2
    assert asked.detail["latest"]["result"] == recovering
    fake.outcomes.append((0, WRITABLE))
    # A repeated answer is not a failure: the bound counts failed tasks only.
    done = sql_task.run(context(fake), "dr", "writable", repeat_while=lambda r: r["in_recovery"])
    assert done.done and done.detail["result"] == WRITABLE


def test_a_missing_log_stream_is_waited_for_shortly() -> None:
    fake = Fake([(0, WRITABLE)])
    sql_task.run(context(fake), "dr", "writable")
    base = fake.client

    def no_stream(service: str, region: str) -> Any:
        found = base(service, region)
        if service == "logs":
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": "no stream"}}

            def missing(**_kw: Any) -> Any:
                raise ClientError(error, "GetLogEvents")

            found.get_log_events = missing
        return found

    fake.client = no_stream  # type: ignore[method-assign]
    fake.now = 1000.0
    ctx = context(fake)
    ctx.now = lambda: 1000.0 - 120 + 10  # stopped 10 s ago: its line may be on its way
    assert not sql_task.run(ctx, "dr", "writable").done and len(fake.started) == 1


def test_an_unknown_purpose_is_refused_before_any_call() -> None:
    fake = Fake([])
    with pytest.raises(ValueError, match="unknown SQL purpose"):
        sql_task.run(context(fake), "dr", "DROP TABLE")
    assert fake.started == []


# --- wait_writable ----------------------------------------------------------------------
class Rds:
    def __init__(self, status: str, linked: bool) -> None:
        self.status, self.linked = status, linked

    def describe_db_instances(self, **_kw: Any) -> dict[str, Any]:
        db: dict[str, Any] = {"DBInstanceStatus": self.status, "Endpoint": {"Address": "db.dr"}}
        if self.linked:
            db["ReadReplicaSourceDBInstanceIdentifier"] = "arn:primary"
        return {"DBInstances": [db]}


def writable_context(fake: Fake, rds: Rds) -> steps.Context:
    ctx = context(fake)
    ctx.config["replica"] = "crm-prod-db-dr"
    base = fake.client
    ctx.client = lambda service, region: rds if service == "rds" else base(service, region)
    return ctx


def test_wait_writable_asks_the_sql_task_only_once_rds_says_writable() -> None:
    fake = Fake([])
    still = steps.wait_writable(writable_context(fake, Rds("modifying", linked=True)))
    assert not still.done and fake.started == []  # RDS first: no task while it promotes
    rds = Rds("available", linked=False)
    assert not steps.wait_writable(writable_context(fake, rds)).done
    assert fake.started[0][1]["overrides"]["containerOverrides"][0]["command"] == ["writable"]
    fake.outcomes.append((0, WRITABLE))
    done = steps.wait_writable(writable_context(fake, rds))
    assert done.done and done.detail["sql"]["result"] == WRITABLE
    assert done.detail["endpoint"] == "db.dr"


@pytest.mark.parametrize(
    "answer",
    [
        {"in_recovery": True, "write": "error: cannot execute CREATE TABLE in a read-only "
         "transaction"},
        {"in_recovery": False, "write": "error: permission denied for database twenty"},
    ],
)  # fmt: skip
def test_wait_writable_waits_while_the_database_says_no(answer: dict[str, Any]) -> None:
    fake = Fake([(0, answer)])
    rds = Rds("available", linked=False)
    steps.wait_writable(writable_context(fake, rds))  # finds none: starts the first
    fake.outcomes.append((0, answer))
    for _ in range(3):
        waiting = steps.wait_writable(writable_context(fake, rds))
        assert not waiting.done
        fake.outcomes.append((0, answer))
    # One task at a time, a fresh one after each "no"; the step never takes RDS's word alone.
    assert len(fake.started) == 4
    fake.outcomes[len(fake.started) - 1] = (0, WRITABLE)  # the newest task says yes
    assert steps.wait_writable(writable_context(fake, rds)).done


def test_the_result_marker_is_the_contracts() -> None:
    assert SQL_RESULT_MARKER == sql_task.RESULT_MARKER
    line = sql_task.result_line("writable", WRITABLE)
    assert line.startswith(f"{SQL_RESULT_MARKER} writable: ")
    assert json.loads(line.split(": ", 2)[2]) == WRITABLE
