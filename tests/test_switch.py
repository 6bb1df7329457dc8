"""The traffic switch against the AWS emulator: signed states, forgeries, the beacon, the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from crm_platform import cli
from crm_platform.failover.runtime import fence_keeper, steps, switch
from crm_platform.naming import Names
from crm_platform.ops import dr_facts
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


class Beacon:
    """Lambda as the writers see it: they wake the beacon, which runs at once."""

    def __init__(self, names: Names) -> None:
        self.names, self.woken = names, 0

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["FunctionName"] == self.names.switch_beacon_function
        self.woken += 1
        return {"StatusCode": 202}


_beacon: list[Beacon] = []


def client(service: str, region: str) -> Any:
    if service == "lambda" and _beacon:
        return _beacon[0]
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


@pytest.fixture
def names(prod_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Names]:
    """The switch as deployed: its unsigned initial state, its HMAC key, the beacon table."""
    n = Names.of(prod_settings)
    client("ssm", DR).put_parameter(
        Name=n.switch_parameter, Value='{"state": "primary"}', Type="String"
    )
    kms = client("kms", DR)
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    kms.create_alias(AliasName=n.switch_key_alias, TargetKeyId=key["KeyId"])
    client("dynamodb", DR).create_table(
        TableName=n.switch_beacon_table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )  # fmt: skip
    for var, value in {
        "SWITCH_PARAMETER": n.switch_parameter, "SWITCH_KEY": n.switch_key_alias,
        "BEACON_TABLE": n.switch_beacon_table, "ENVIRONMENT": n.prefix,
    }.items():  # fmt: skip
        monkeypatch.setenv(var, value)
    _beacon.append(Beacon(n))
    yield n
    _beacon.clear()


def read(names: Names) -> str:
    return dr_facts.traffic_switch(names, client)


def sign(names: Names, state: str) -> str:
    return switch.set_state(
        client("ssm", DR), client("kms", DR), names.switch_parameter, names.switch_key_alias,
        names.prefix, state,
    )  # fmt: skip


def forge(names: Names, value: str) -> None:
    """A write by anyone with ssm:PutParameter (granted on * by common managed policies)."""
    client("ssm", DR).put_parameter(
        Name=names.switch_parameter, Value=value, Type="String", Overwrite=True
    )


def beacon_units(names: Names) -> int:
    """What Route 53 follows: the write units of the beacon's item (1 primary, 2 dr)."""
    item = client("dynamodb", DR).get_item(
        TableName=names.switch_beacon_table, Key={"pk": {"S": "beacon"}}
    )["Item"]
    size = sum(len(k) + len(next(iter(v.values()))) for k, v in item.items())
    return -(-size // 1024)


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


def test_the_beacon_writes_the_verified_state_as_one_or_two_write_units(names: Names) -> None:
    assert switch.handler({}, None)["state"] == "primary"
    assert beacon_units(names) == 1
    sign(names, "dr")
    assert switch.handler({}, None)["state"] == "dr"
    assert beacon_units(names) == 2


def test_a_forged_write_moves_nothing_and_is_reported(names: Names) -> None:
    """A value without the key's MAC (or a replay of an old one at a new version) is
    skipped: it neither sends traffic to DR nor undoes a real "dr"."""
    forge(names, '{"state": "dr", "mac": "AAAA"}')
    assert read(names) == "primary"
    found = switch.handler({}, None)
    assert found["state"] == "primary" and found["skipped"] == 1 and beacon_units(names) == 1
    sign(names, "dr")
    signed_dr = client("ssm", DR).get_parameter(Name=names.switch_parameter)["Parameter"]["Value"]
    sign(names, "primary")
    forge(names, signed_dr)  # a replay: valid once, at another version
    assert read(names) == "primary"
    sign(names, "dr")
    for value in ('{"state": "primary", "mac": "AAAA"}', "primary", "garbage"):
        forge(names, value)
        assert read(names) == "dr"  # fails static: a forged "primary" undoes nothing
    assert switch.handler({}, None)["skipped"] == 3


def test_an_unexpected_state_is_refused(names: Names) -> None:
    with pytest.raises(ValueError, match="not 'sideways'"):
        sign(names, "sideways")


def test_a_lost_write_race_is_reported_not_trusted(names: Names) -> None:
    """Two writers at once: the one whose version was taken did not move the switch."""
    ssm = client("ssm", DR)

    class Racing:
        def __getattr__(self, name: str) -> Any:
            return getattr(ssm, name)

        def put_parameter(self, **kwargs: Any) -> Any:
            forge(names, '{"state": "primary"}')  # someone else's write lands first
            return ssm.put_parameter(**kwargs)

    with pytest.raises(switch.SwitchWriteLost):
        switch.set_state(
            Racing(), client("kms", DR), names.switch_parameter, names.switch_key_alias,
            names.prefix, "dr",
        )  # fmt: skip
    assert read(names) == "primary"


def test_to_dr_is_refused_while_the_replica_is_read_only(names: Names) -> None:
    replica(names, promoted=False)
    plan = ops_switch.plan(names, "dr", client)
    assert plan.dr_database_is_replica is True and plan.changes
    with pytest.raises(ops_switch.SwitchRefused, match="still a read replica"):
        ops_switch.execute(names, plan, client, force=False)
    assert read(names) == "primary"


def test_to_dr_after_promotion_signs_and_wakes_the_beacon(names: Names) -> None:
    replica(names, promoted=True)
    plan = ops_switch.plan(names, "dr", client)
    assert ops_switch.execute(names, plan, client, force=False) == "primary"
    assert read(names) == "dr" and _beacon[0].woken == 1


def test_force_flips_for_a_drill_even_before_promotion(names: Names) -> None:
    replica(names, promoted=False)
    plan = ops_switch.plan(names, "dr", client)
    assert ops_switch.execute(names, plan, client, force=True) == "primary"
    assert read(names) == "dr"


def test_back_to_primary_is_refused_once_dr_was_promoted(names: Names) -> None:
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
    assert read(names) == "primary"
    assert switch_to_dr("--execute", "--force") == 0
    assert read(names) == "dr"
    assert switch_to_dr("--execute", "--force") == 0
    assert "nothing to do" in capsys.readouterr().out


# --- who can move it, in the assembly (docs/adr/0035) -------------------------------------------
def test_only_the_switchs_writers_can_sign_and_only_the_beacon_moves_routing(
    assembly: Any, prod_settings: Settings
) -> None:
    """An administrator (``kms:*``, ``dynamodb:*``, ``cloudwatch:*`` on ``*``) can neither
    sign a "dr" nor write the beacon; the metric Route 53 follows is AWS's own."""
    from aws_cdk.assertions import Template

    from crm_platform.authz.model import AuthorizationModel, Request

    n = Names.of(prod_settings)
    model = AuthorizationModel.load(assembly.outdir)
    key = model.key_arn(n.switch_key_alias_arn(DR), DR)
    table = f"arn:aws:dynamodb:{DR}:{n.account}:table/{n.switch_beacon_table}"
    admin = model.administrator("someone-admin", "an administrator of the account")
    step = model.role_named(n.failover_step_role)
    operator = model.role_named(n.operator_role)
    beacon = model.role_named(n.switch_beacon_function)
    probe = model.role_of_function(n.dr_app_stack, "probe.handler")

    def allowed(who: Any, action: str, resource: str) -> bool:
        return model.decide(Request.of(who, action, resource, {}, "test")).allowed

    assert allowed(step, "kms:GenerateMac", key) and allowed(operator, "kms:GenerateMac", key)
    for outsider in (admin, probe, beacon):
        assert not allowed(outsider, "kms:GenerateMac", key), outsider.label
    assert allowed(beacon, "kms:VerifyMac", key)
    assert allowed(beacon, "dynamodb:PutItem", table)
    for outsider in (admin, step, operator):
        assert not allowed(outsider, "dynamodb:PutItem", table), outsider.label

    dr = Template.from_json(assembly.raw(n.dr_stack))
    (alarm,) = [
        a for a in dr.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmName") == n.switch_alarm
    ]  # fmt: skip
    assert alarm["Properties"]["Namespace"] == "AWS/DynamoDB"  # nobody can publish into it
    assert alarm["Properties"]["TreatMissingData"] == "ignore"
    primary = Template.from_json(assembly.raw(n.primary_stack))
    primary.has_resource_properties(
        "AWS::Route53::HealthCheck",
        {
            "HealthCheckConfig": {
                "Type": "CLOUDWATCH_METRIC",
                "AlarmIdentifier": {"Name": n.switch_alarm, "Region": DR},
                # The beacon silent (DR impaired): traffic stays where it is, both ways.
                "InsufficientDataHealthStatus": "LastKnownStatus",
            }
        },
    )


class Recorder:
    """Clients that note every call made in the primary region (the fence's)."""

    def __init__(self) -> None:
        self.primary_calls: list[str] = []

    def __call__(self, service: str, region: str) -> Any:
        real = client(service, region)
        if region != DR:
            self.primary_calls.append(service)
        return real


def keeper_context(names: Names, calls: Recorder) -> steps.Context:
    client("dynamodb", DR).create_table(
        TableName=names.failover_runs_table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "run", "KeyType": "HASH"},
                   {"AttributeName": "step", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "run", "AttributeType": "S"},
                              {"AttributeName": "step", "AttributeType": "S"}],
    )  # fmt: skip
    config = {
        "environment": names.prefix, "primary_region": names.primary_region, "dr_region": DR,
        "switch_parameter": names.switch_parameter, "switch_key": names.switch_key_alias,
        "runs_table": names.failover_runs_table, "primary_database": names.db_instance,
        "clusters": {"primary": names.ecs_cluster(names.primary_region)},
        "services": {"server": {"name": names.server_service}},
    }  # fmt: skip
    return steps.Context(config=config, client=calls)


def test_a_forged_dr_never_makes_the_fence_keeper_stop_the_primary(names: Names) -> None:
    """The keeper acts on the verified switch only: anyone with ssm:PutParameter could
    otherwise stop a healthy primary by writing "dr"."""
    calls = Recorder()
    ctx = keeper_context(names, calls)
    forge(names, '{"state": "dr", "mac": "AAAA"}')
    assert fence_keeper.keep(ctx)["acting"] is False
    assert calls.primary_calls == []
    sign(names, "dr")
    kept = fence_keeper.keep(ctx)
    assert kept["acting"] is True and "rds" in calls.primary_calls
    assert fence_keeper.read(client("dynamodb", DR), names.failover_runs_table) is not None
