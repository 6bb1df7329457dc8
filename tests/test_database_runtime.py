"""The rotation follow-up: both regions' services are rolled, DR only once its secret caught up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from crm_platform.database.runtime import roll_services

PRIMARY, DR = "ap-northeast-1", "ap-southeast-1"
SECRET = "crm/prod/database/master"
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
