"""The operator's DR commands: the local drill, dr status, and a failover dry run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from crm_platform import cli
from crm_platform.drill import emulator
from crm_platform.failover.runtime import fence_keeper
from crm_platform.naming import Names
from crm_platform.ops import dr_status
from crm_platform.settings import Settings
from tests.conftest import CONFIG

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --- dr status ---------------------------------------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
    }.items():
        monkeypatch.setenv(var, value)
    emulator.install_extensions()
    with mock_aws():
        yield


def factory(copy_completed: datetime | None) -> Any:
    """moto for everything but AWS Backup's job lists, which moto does not implement."""

    def client(service: str, region: str) -> Any:
        real = boto3.client(service, region_name=region)  # type: ignore[call-overload]
        if service == "backup":
            stub = Stubber(real)
            jobs = [{"CompletionDate": copy_completed}] if copy_completed else []
            stub.add_response("list_copy_jobs", {"CopyJobs": jobs})
            stub.add_response("list_backup_jobs", {"BackupJobs": jobs})
            stub.activate()
        return real

    return client


def world(names: Names, *, lag: float | None) -> None:
    rds = boto3.client("rds", region_name="ap-northeast-1")
    rds.create_db_instance(
        DBInstanceIdentifier=names.db_instance, Engine="postgres", DBInstanceClass="db.t3.medium",
        MasterUsername="u", MasterUserPassword="passwordpassword", AllocatedStorage=20,
    )  # fmt: skip
    boto3.client("rds", region_name="ap-southeast-1").create_db_instance_read_replica(
        DBInstanceIdentifier=names.db_replica, SourceDBInstanceIdentifier=names.db_instance_arn
    )
    ecs = boto3.client("ecs", region_name="ap-southeast-1")
    ecs.create_cluster(clusterName=names.ecs_cluster("ap-southeast-1"))
    ecs.register_task_definition(
        family="t", containerDefinitions=[{"name": "c", "image": "i", "memory": 512}]
    )
    for service in (names.server_service, names.worker_service):
        ecs.create_service(
            cluster=names.ecs_cluster("ap-southeast-1"), serviceName=service, taskDefinition="t",
            desiredCount=0,
        )  # fmt: skip
    ssm = boto3.client("ssm", region_name="ap-southeast-1")
    ssm.put_parameter(Name=names.switch_parameter, Value="primary", Type="String")
    ssm.put_parameter(Name=names.failover_parameter, Value='{"state": "none"}', Type="String")
    boto3.client("dynamodb", region_name="ap-southeast-1").create_table(
        TableName=names.failover_runs_table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "run", "KeyType": "HASH"},
                   {"AttributeName": "step", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "run", "AttributeType": "S"},
                              {"AttributeName": "step", "AttributeType": "S"}],
    )  # fmt: skip
    if lag is not None:
        boto3.client("cloudwatch", region_name="ap-southeast-1").put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[{"MetricName": "ReplicaLag", "Value": lag, "Timestamp": NOW - timedelta(minutes=2),
                         "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": names.db_replica}]}],
        )  # fmt: skip


@pytest.mark.parametrize(
    ("lag", "copied_hours_ago", "ready", "broken"),
    [
        (3.0, 5, True, None),
        (900.0, 5, False, "replica lag"),
        (None, 5, False, "replica lag"),
        (3.0, 30, False, "last copy to the DR vault"),
        (3.0, None, False, "last copy to the DR vault"),
    ],
)
def test_readiness_breaks_on_lag_copies_and_missing_data(
    aws: None, prod_settings: Settings, lag: float | None, copied_hours_ago: int | None,
    ready: bool, broken: str | None,
) -> None:  # fmt: skip
    names = Names.of(prod_settings)
    world(names, lag=lag)
    copied = NOW - timedelta(hours=copied_hours_ago) if copied_hours_ago is not None else None
    status = dr_status.readiness(names, factory(copied), rpo_seconds=300, now=NOW)
    assert status.ready is ready
    failing = [line.what for line in status.lines if line.ok is False]
    assert failing == ([] if broken is None else [broken])


@pytest.mark.parametrize(
    ("backed_up_hours_ago", "failed_over_hours_ago", "ok"),
    [(5, 30, True), (None, 30, False), (None, 2, None), (40, 50, False)],
)
def test_failed_over_it_shows_the_last_backup_of_what_serves_in_dr(
    aws: None, prod_settings: Settings, backed_up_hours_ago: int | None,
    failed_over_hours_ago: int, ok: bool | None,
) -> None:  # fmt: skip
    """After a failover the promoted database and the DR bucket are backed up by DR's
    standby plan: none within a day is a failure once the failover is a day old."""
    names = Names.of(prod_settings)
    world(names, lag=3.0)
    boto3.client("rds", region_name="ap-southeast-1").promote_read_replica(
        DBInstanceIdentifier=names.db_replica
    )
    since = (NOW - timedelta(hours=failed_over_hours_ago)).timestamp()
    boto3.client("ssm", region_name="ap-southeast-1").put_parameter(
        Name=names.failover_parameter, Overwrite=True, Type="String",
        Value=f'{{"state": "failed-over", "since": {since}}}',
    )  # fmt: skip
    done = NOW - timedelta(hours=backed_up_hours_ago) if backed_up_hours_ago else None
    status = dr_status.readiness(names, factory(done), rpo_seconds=300, now=NOW)
    (line,) = [x for x in status.lines if x.what == "last backup of what serves (DR vault)"]
    assert line.ok is ok


@pytest.mark.parametrize(
    ("outcome", "minutes_ago", "ok"),
    [("fenced", 4, True), ("unfenced (EndpointConnectionError)", 4, False), ("fenced", 60, False)],
)
def test_status_shows_whether_the_fence_keeper_holds_the_old_primary(
    aws: None, prod_settings: Settings, outcome: str, minutes_ago: int, ok: bool
) -> None:
    """An unfenced primary, or a keeper that stopped reporting, is not ok."""
    names = Names.of(prod_settings)
    world(names, lag=3.0)
    at = (NOW - timedelta(minutes=minutes_ago)).timestamp()
    rule = {"group": "sg-1", "source": "sg-2", "from": 5432, "to": 5432, "description": "x"}
    fence_keeper.record(
        boto3.client("dynamodb", region_name="ap-southeast-1"), names.failover_runs_table, at,
        {"primary": outcome, "revoked": [rule]},
    )  # fmt: skip
    status = dr_status.readiness(names, factory(NOW), rpo_seconds=300, now=NOW)
    (line,) = [x for x in status.lines if x.what == "old primary fenced"]
    assert line.ok is ok
    assert outcome in str(line.value) and "1 database rule" in str(line.value)


def test_a_missing_replica_is_not_ready(aws: None, prod_settings: Settings) -> None:
    names = Names.of(prod_settings)
    status = dr_status.readiness(names, factory(NOW), rpo_seconds=300, now=NOW)
    assert not status.ready
    assert any(line.what == "DR database" and line.ok is False for line in status.lines)


def test_failover_dry_run_changes_nothing(
    aws: None, prod_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    names = Names.of(prod_settings)
    world(names, lag=3.0)
    started: list[Any] = []
    monkeypatch.setattr("crm_platform.ops.failover.start", lambda *a, **k: started.append(a))
    outside = cli.Outside(clients=lambda: factory(NOW), credentials=lambda: "env")
    assert cli.main(["failover", "--config-dir", str(CONFIG)], outside) == 0
    printed = capsys.readouterr().out
    assert "dry run: nothing was changed" in printed and "promote_replica" in printed
    assert started == []
    replica = boto3.client("rds", region_name="ap-southeast-1").describe_db_instances(
        DBInstanceIdentifier=names.db_replica
    )["DBInstances"][0]
    assert replica.get("ReadReplicaSourceDBInstanceIdentifier")
    ssm = boto3.client("ssm", region_name="ap-southeast-1")
    assert ssm.get_parameter(Name=names.switch_parameter)["Parameter"]["Value"] == "primary"
