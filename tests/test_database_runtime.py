"""The rotation follow-up: both regions' services are rolled, DR only once its secret caught up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from crm_platform.database.runtime import roll_services, run_once

PRIMARY, DR = "ap-northeast-1", "ap-southeast-1"
SECRET = "crm/prod/database/app"  # Twenty's own user's: the one the tasks read
TARGETS = {
    "primary": {"region": PRIMARY, "cluster": "crm-prod-cluster", "services": ["server", "worker"]},
    "dr": {"region": DR, "cluster": "crm-prod-cluster-dr", "services": ["server", "worker"]},
    "secret": SECRET,
}


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
    }.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        yield


def client(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


class Recorder:
    """A client factory that records every UpdateService call it lets through to moto."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str, str]] = []

    def __call__(self, service: str, region: str) -> Any:
        real = client(service, region)
        if service == "ecs":
            update = real.update_service

            def recorded(**kwargs: Any) -> Any:
                assert kwargs["forceNewDeployment"] is True
                self.updates.append((region, kwargs["cluster"], kwargs["service"]))
                return update(**kwargs)

            real.update_service = recorded
        return real


def services(region: str, cluster: str, names: list[str]) -> None:
    ecs = client("ecs", region)
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family="crm-prod-server",
        containerDefinitions=[{"name": "app", "image": "twentycrm/twenty", "memory": 512}],
    )
    for name in names:
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition="crm-prod-server", desiredCount=1
        )


def test_rolls_the_named_services_of_both_regions_and_nothing_else() -> None:
    services(PRIMARY, "crm-prod-cluster", ["server", "worker", "unrelated"])
    services(DR, "crm-prod-cluster-dr", ["server", "worker"])
    client("secretsmanager", PRIMARY).create_secret(Name=SECRET, SecretString="{}")
    client("secretsmanager", DR).create_secret(Name=SECRET, SecretString="{}")
    # moto gives each region's copy its own version id; make the replica agree.
    version = roll_services.current_version(client("secretsmanager", PRIMARY), SECRET)
    assert version is not None
    replica = client("secretsmanager", DR)
    replica.put_secret_value(SecretId=SECRET, SecretString="{}", ClientRequestToken=version)

    recorder = Recorder()
    result = roll_services.run(TARGETS, recorder, sleep=lambda _s: None)

    assert result == {
        "primary": ["crm-prod-cluster/server", "crm-prod-cluster/worker"],
        "dr": ["crm-prod-cluster-dr/server", "crm-prod-cluster-dr/worker"],
    }
    assert recorder.updates == [
        (PRIMARY, "crm-prod-cluster", "server"),
        (PRIMARY, "crm-prod-cluster", "worker"),
        (DR, "crm-prod-cluster-dr", "server"),
        (DR, "crm-prod-cluster-dr", "worker"),
    ]


def test_dr_is_not_rolled_while_its_replica_holds_the_old_password() -> None:
    services(PRIMARY, "crm-prod-cluster", ["server", "worker"])
    services(DR, "crm-prod-cluster-dr", ["server", "worker"])
    client("secretsmanager", PRIMARY).create_secret(Name=SECRET, SecretString="{}")
    client("secretsmanager", DR).create_secret(Name=SECRET, SecretString="{}")  # other version
    slept: list[float] = []
    recorder = Recorder()

    with pytest.raises(RuntimeError, match="did not reach version"):
        roll_services.run(TARGETS, recorder, sleep=slept.append)

    assert sum(slept) >= roll_services.REPLICA_WAIT_SECONDS
    assert {region for region, _, _ in recorder.updates} == {PRIMARY}


def test_services_not_deployed_yet_are_skipped() -> None:
    assert roll_services.roll(client("ecs", PRIMARY), "absent", ["server"]) == []


def test_handler_reads_its_targets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("TARGETS", json.dumps(TARGETS))
    client("secretsmanager", PRIMARY).create_secret(Name=SECRET, SecretString="{}")
    version = roll_services.current_version(client("secretsmanager", PRIMARY), SECRET)
    client("secretsmanager", DR).create_secret(Name=SECRET, SecretString="{}")
    client("secretsmanager", DR).put_secret_value(
        SecretId=SECRET, SecretString="{}", ClientRequestToken=version
    )
    event = {"detail": {"name": SECRET, "labelUpdated": "AWSCURRENT"}}
    assert roll_services.handler(event, None) == {"primary": [], "dr": []}


# --- DR's own roll, after a failover (database/dr_rotation_roll.py) ---------------------------
def test_dr_rolls_its_own_services_once_its_secret_is_standalone() -> None:
    services(DR, "crm-prod-cluster-dr", ["server", "worker"])
    client("secretsmanager", DR).create_secret(Name=SECRET, SecretString="{}")  # standalone
    recorder = Recorder()
    target = TARGETS["dr"]
    assert isinstance(target, dict)
    result = roll_services.run_own(target, SECRET, recorder)
    assert result == {"dr": ["crm-prod-cluster-dr/server", "crm-prod-cluster-dr/worker"]}
    assert recorder.updates == [
        (DR, "crm-prod-cluster-dr", "server"),
        (DR, "crm-prod-cluster-dr", "worker"),
    ]


def test_dr_leaves_a_replica_secret_to_the_primarys_roll() -> None:
    """Before a failover the DR secret is a replica: the primary's roll restarts DR once
    the replica caught up; a second roll from DR would start every task twice."""
    services(DR, "crm-prod-cluster-dr", ["server", "worker"])
    client("secretsmanager", PRIMARY).create_secret(
        Name=SECRET, SecretString="{}", AddReplicaRegions=[{"Region": DR}]
    )
    recorder = Recorder()
    target = TARGETS["dr"]
    assert isinstance(target, dict)
    result = roll_services.run_own(target, SECRET, recorder)
    assert result["dr"] == [] and "replica of ap-northeast-1" in result["skipped"]
    assert recorder.updates == []


# --- the bootstrap custom resource: run the task once, always answer CloudFormation ------
PROPS = {
    "Cluster": "crm-prod-cluster",
    "Family": "crm-prod-bootstrap",
    "Container": "bootstrap",
    "Subnets": ["subnet-1", "subnet-2"],
    "SecurityGroups": ["sg-1"],
    "Triggers": {"Sql": "abc"},
}


def request(kind: str, physical: str | None = None) -> dict[str, Any]:
    event = {
        "RequestType": kind,
        "ResponseURL": "https://cloudformation-answers.example/abc",
        "StackId": "arn:aws:cloudformation:ap-northeast-1:123456789012:stack/crm-prod-primary/x",
        "RequestId": "r-1",
        "LogicalResourceId": "TwentyBootstrapRun",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", **PROPS},
    }
    if physical:
        event["PhysicalResourceId"] = physical
    return event


class FakeEcs:
    """ECS as the handler sees it: a task that runs ``polls`` times, then stops with ``code``."""

    def __init__(self, code: int | None = 0, polls: int = 2, failures: bool = False) -> None:
        self.code, self.polls, self.failures = code, polls, failures
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("run_task", kwargs))
        if self.failures:
            return {"tasks": [], "failures": [{"reason": "RESOURCE:ENI"}]}
        return {"tasks": [{"taskArn": "arn:aws:ecs:...:task/crm-prod-cluster/t1"}], "failures": []}

    def describe_tasks(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe_tasks", kwargs))
        self.polls -= 1
        status = "RUNNING" if self.polls > 0 else "STOPPED"
        container = {"name": "bootstrap", "exitCode": self.code, "reason": "psql failed"}
        return {"tasks": [{"lastStatus": status, "containers": [container]}]}

    def stop_task(self, **kwargs: Any) -> None:
        self.calls.append(("stop_task", kwargs))


class Answers:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes) -> None:
        self.sent.append((url, json.loads(body)))


def handle(event: dict[str, Any], ecs: FakeEcs, remaining: float = 900) -> dict[str, Any]:
    answers = Answers()
    run_once.handle(event, remaining, ecs, answers, sleep=lambda _s: None)
    ((url, body),) = answers.sent
    assert url == event["ResponseURL"]
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (
        event["StackId"], "r-1", "TwentyBootstrapRun",
    )  # fmt: skip
    return body


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_the_bootstrap_task_runs_once_in_the_private_network(kind: str) -> None:
    ecs = FakeEcs(code=0)
    body = handle(request(kind, physical="crm-prod-bootstrap-bootstrap"), ecs)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "crm-prod-bootstrap-bootstrap"  # never replaced
    runs = [kw for name, kw in ecs.calls if name == "run_task"]
    assert runs == [{
        "cluster": "crm-prod-cluster", "taskDefinition": "crm-prod-bootstrap",
        "launchType": "FARGATE", "count": 1, "startedBy": "crm-platform-bootstrap",
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"],
            "assignPublicIp": "DISABLED"}},
    }]  # fmt: skip


def test_a_failed_bootstrap_fails_the_stack_operation_with_where_to_look() -> None:
    body = handle(request("Create"), FakeEcs(code=3))
    assert body["Status"] == "FAILED"
    assert "exit code 3" in body["Reason"] and "stream prefix 'bootstrap'" in body["Reason"]
    assert body["PhysicalResourceId"] == "crm-prod-bootstrap-bootstrap"


def test_a_task_that_cannot_start_is_answered_as_failed() -> None:
    body = handle(request("Update", physical="p"), FakeEcs(failures=True))
    assert body["Status"] == "FAILED" and "RESOURCE:ENI" in body["Reason"]


def test_a_task_still_running_near_the_timeout_is_stopped_and_reported() -> None:
    ecs = FakeEcs(polls=10**6)
    clock = iter(range(0, 10**6, 30))
    answers = Answers()
    status = run_once.handle(
        request("Create"), 120, ecs, answers, clock=lambda: float(next(clock)),
        sleep=lambda _s: None,
    )  # fmt: skip
    assert status == "FAILED"
    assert any(name == "stop_task" for name, _ in ecs.calls)
    assert "did not end in time" in answers.sent[0][1]["Reason"]


def test_delete_runs_nothing_and_keeps_the_user() -> None:
    ecs = FakeEcs()
    body = handle(request("Delete", physical="crm-prod-bootstrap-bootstrap"), ecs)
    assert body["Status"] == "SUCCESS" and ecs.calls == []


def test_an_unexpected_error_is_still_answered() -> None:
    class Broken(FakeEcs):
        def run_task(self, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("AccessDenied")

    body = handle(request("Create"), Broken())
    assert body["Status"] == "FAILED" and "AccessDenied" in body["Reason"]
