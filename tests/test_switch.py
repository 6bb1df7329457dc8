"""The traffic switch's states, against the AWS emulator: keeper, flip, refusals, CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from crm_platform import cli
from crm_platform.failover.runtime import switch
from crm_platform.naming import Names
from crm_platform.ops import switch as ops_switch
from crm_platform.settings import Settings
from tests.conftest import CONFIG

DR = "ap-southeast-1"


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": DR,
    }.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        yield


def client(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


@pytest.fixture
def names(prod_settings: Settings) -> Names:
    n = Names.of(prod_settings)
    client("ssm", DR).put_parameter(Name=n.switch_parameter, Value="primary", Type="String")
    return n


def replica(names: Names, *, promoted: bool) -> None:
    """The DR database as a read replica, or as it is after promotion (a standalone writer)."""
    rds_primary = client("rds", "ap-northeast-1")
    rds_primary.create_db_instance(
        DBInstanceIdentifier=names.db_instance, Engine="postgres", DBInstanceClass="db.t3.medium",
        MasterUsername="u", MasterUserPassword="passwordpassword", AllocatedStorage=20,
    )  # fmt: skip
    rds = client("rds", DR)
    if promoted:
        rds.create_db_instance(
            DBInstanceIdentifier=names.db_replica, Engine="postgres",
            DBInstanceClass="db.t3.medium", MasterUsername="u",
            MasterUserPassword="passwordpassword", AllocatedStorage=20,
        )  # fmt: skip
    else:
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier=names.db_replica, SourceDBInstanceIdentifier=names.db_instance_arn
        )


def published(names: Names) -> list[float]:
    stats = client("cloudwatch", DR).list_metrics(Namespace=switch.NAMESPACE)["Metrics"]
    assert stats, "nothing published"
    data = client("cloudwatch", DR).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": switch.NAMESPACE,
                        "MetricName": switch.METRIC,
                        "Dimensions": [{"Name": "Environment", "Value": names.prefix}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=datetime.now(UTC) - timedelta(minutes=10),
        EndTime=datetime.now(UTC) + timedelta(minutes=10),
    )
    return list(data["MetricDataResults"][0]["Values"])


def test_keeper_republishes_the_recorded_state(
    names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCH_PARAMETER", names.switch_parameter)
    monkeypatch.setenv("ENVIRONMENT", names.prefix)
    assert switch.handler({}, None) == {"state": "primary"}
    assert published(names) == [0.0]
    client("ssm", DR).put_parameter(
        Name=names.switch_parameter, Value="dr", Type="String", Overwrite=True
    )
    assert switch.handler({}, None) == {"state": "dr"}
    assert 1.0 in published(names)


def test_an_unexpected_value_never_moves_traffic(names: Names) -> None:
    client("ssm", DR).put_parameter(
        Name=names.switch_parameter, Value="DR?", Type="String", Overwrite=True
    )
    assert switch.read(client("ssm", DR), names.switch_parameter) == "primary"
    with pytest.raises(ValueError, match="not 'sideways'"):
        switch.set_state(
            client("ssm", DR),
            client("cloudwatch", DR),
            names.switch_parameter,
            names.prefix,
            "sideways",
        )


def test_to_dr_is_refused_while_the_replica_is_read_only(names: Names) -> None:
    replica(names, promoted=False)
    plan = ops_switch.plan(names, "dr", client)
    assert plan.dr_database_is_replica is True and plan.changes
    with pytest.raises(ops_switch.SwitchRefused, match="still a read replica"):
        ops_switch.execute(names, plan, client, force=False)
    assert switch.read(client("ssm", DR), names.switch_parameter) == "primary"


def test_to_dr_after_promotion_records_and_publishes(names: Names) -> None:
    replica(names, promoted=True)
    plan = ops_switch.plan(names, "dr", client)
    assert ops_switch.execute(names, plan, client, force=False) == "primary"
    assert switch.read(client("ssm", DR), names.switch_parameter) == "dr"
    assert published(names) == [1.0]


def test_force_flips_for_a_drill_even_before_promotion(names: Names) -> None:
    replica(names, promoted=False)
    plan = ops_switch.plan(names, "dr", client)
    assert ops_switch.execute(names, plan, client, force=True) == "primary"
    assert switch.read(client("ssm", DR), names.switch_parameter) == "dr"


def test_back_to_primary_is_refused_once_dr_was_promoted(names: Names) -> None:
    client("ssm", DR).put_parameter(
        Name=names.switch_parameter, Value="dr", Type="String", Overwrite=True
    )
    plan = ops_switch.SwitchPlan(current="dr", wanted="primary", dr_database_is_replica=False)
    with pytest.raises(ops_switch.SwitchRefused, match="was promoted"):
        ops_switch.check(plan, names)


def test_cli_is_a_dry_run_unless_told(names: Names, capsys: pytest.CaptureFixture[str]) -> None:
    replica(names, promoted=False)
    outside = cli.Outside(clients=lambda: client, credentials=lambda: "env")

    def switch_to_dr(*flags: str) -> int:
        return cli.main(["switch", "--config-dir", str(CONFIG), "--to", "dr", *flags], outside)

    assert switch_to_dr("--execute") == 2
    assert "refused" in capsys.readouterr().err
    assert switch_to_dr("--force") == 0
    assert "dry run: would switch primary -> dr" in capsys.readouterr().out
    assert switch.read(client("ssm", DR), names.switch_parameter) == "primary"
    assert switch_to_dr("--execute", "--force") == 0
    assert switch.read(client("ssm", DR), names.switch_parameter) == "dr"
    assert switch_to_dr("--execute", "--force") == 0
    assert "nothing to do" in capsys.readouterr().out
