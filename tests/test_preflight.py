"""The account checks `crm-platform deploy` runs first: concurrency quota and leftovers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from crm_platform.ops import preflight
from crm_platform.ops.drift import Drift
from tests.conftest import Assembly

REGION = "ap-northeast-1"


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        yield


def assembly_with(tmp_path: Path, resources: dict[str, Any], stack: str = "crm-test") -> Path:
    """A minimal cloud assembly: one stack in REGION holding ``resources``."""
    (tmp_path / f"{stack}.template.json").write_text(json.dumps({"Resources": resources}))
    manifest = {
        "artifacts": {
            stack: {
                "type": "aws:cloudformation:stack",
                "environment": f"aws://123456789012/{REGION}",
                "properties": {"templateFile": f"{stack}.template.json"},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def factory(quota: int, unreserved: int) -> Any:
    """Real moto clients, except Lambda's account settings (moto does not implement them)."""

    def client(service: str, region: str) -> Any:
        real = boto3.client(service, region_name=region)  # type: ignore[call-overload]
        if service == "lambda":
            stub = Stubber(real)
            limits = {
                "AccountLimit": {
                    "ConcurrentExecutions": quota,
                    "UnreservedConcurrentExecutions": unreserved,
                    "TotalCodeSize": 1,
                    "CodeSizeUnzipped": 1,
                    "CodeSizeZipped": 1,
                },
                "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
            }
            stub.add_response("get_account_settings", limits)
            stub.activate()
        return real

    return client


def function(reserved: int | None) -> dict[str, Any]:
    props: dict[str, Any] = {"Handler": "x.handler"}
    if reserved is not None:
        props["ReservedConcurrentExecutions"] = reserved
    return {"Type": "AWS::Lambda::Function", "Properties": props}


def test_new_account_with_a_quota_of_ten_cannot_take_a_reservation(tmp_path: Path) -> None:
    outdir = assembly_with(tmp_path, {"A": function(1), "B": function(1)})
    checks = preflight.run_preflight(outdir, factory(quota=10, unreserved=10))
    (concurrency,) = [c for c in checks if c.what == "lambda concurrency"]
    assert not concurrency.ok
    assert "quota 10 leaves 8 unreserved after reserving 2" in concurrency.message
    assert "L-B99A9384" in concurrency.message and "to 102 or more" in concurrency.message
    assert "functions.reserve_concurrency: false" in concurrency.message


def test_a_reservation_that_leaves_a_hundred_unreserved_passes(tmp_path: Path) -> None:
    outdir = assembly_with(tmp_path, {"A": function(1)})
    (concurrency, _leftovers) = preflight.run_preflight(outdir, factory(1000, 1000))
    assert concurrency.ok and "leaves 999 unreserved" in concurrency.message


def test_the_shipped_configuration_reserves_nothing(assembly: Assembly) -> None:
    plans = preflight.stack_plans(assembly.outdir)
    assert [p.reserved_concurrency() for p in plans] == [0] * len(plans)
    checks = preflight.check_lambda_concurrency(
        plans, factory(10, 10), {p.name: None for p in plans}
    )
    assert all(c.ok and "nothing reserved" in c.message for c in checks)
    assert {c.region for c in checks} == {p.region for p in plans}


def test_a_secret_left_by_a_failed_create_is_reported_with_its_replica(tmp_path: Path) -> None:
    name = "crm/prod/database/master"
    secret = {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": name}}
    outdir = assembly_with(tmp_path, {"Secret": secret})
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name=name, SecretString="x", AddReplicaRegions=[{"Region": "ap-southeast-1"}])
    checks = preflight.run_preflight(outdir, factory(1000, 1000))
    (left,) = [c for c in checks if not c.ok]
    assert name in left.message and "already exists" in left.message
    assert "remove-regions-from-replication" in left.message
    assert "--remove-replica-regions ap-southeast-1" in left.message


def test_named_bucket_log_group_and_vault_left_behind_are_reported(tmp_path: Path) -> None:
    outdir = assembly_with(
        tmp_path,
        {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "crm-left"}},
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/crm/left"}},
            "Vault": {
                "Type": "AWS::Backup::BackupVault",
                "Properties": {"BackupVaultName": "crm-vault"},
            },
            "Generated": {"Type": "AWS::S3::Bucket", "Properties": {}},
        },
    )
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="crm-left", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/crm/left")
    boto3.client("backup", region_name=REGION).create_backup_vault(BackupVaultName="crm-vault")
    failed = [c for c in preflight.run_preflight(outdir, factory(1000, 1000)) if not c.ok]
    assert sorted(c.message.split(" ", 2)[1] for c in failed) == [
        "/crm/left",
        "crm-left",
        "crm-vault",
    ]


def test_resources_of_a_stack_that_exists_are_its_own(tmp_path: Path) -> None:
    outdir = assembly_with(
        tmp_path, {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/x"}}}
    )
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/x")
    cf = boto3.client("cloudformation", region_name=REGION)
    cf.create_stack(
        StackName="crm-test",
        TemplateBody=json.dumps(
            {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {}}}}
        ),
    )
    checks = preflight.run_preflight(outdir, factory(1000, 1000))
    assert all(c.ok for c in checks)


def monitors_client(monitors: list[dict[str, str]]) -> Any:
    """Cost Explorer answering GetAnomalyMonitors (moto does not implement it)."""

    def client(service: str, region: str) -> Any:
        assert (service, region) == ("ce", "us-east-1")
        real = boto3.client("ce", region_name=region)
        stub = Stubber(real)
        stub.add_response("get_anomaly_monitors", {"AnomalyMonitors": monitors})
        stub.activate()
        return real

    return client


def _monitor(name: str, dimension: str = "SERVICE") -> dict[str, str]:
    return {
        "MonitorArn": f"arn:aws:ce::123456789012:anomalymonitor/{name}-0000",
        "MonitorName": name,
        "MonitorType": "DIMENSIONAL",
        "MonitorDimension": dimension,
    }


def test_a_second_services_anomaly_monitor_is_refused_naming_the_setting(
    assembly: Assembly,
) -> None:
    plans = preflight.stack_plans(assembly.outdir)
    (check,) = preflight.check_anomaly_monitor(plans, monitors_client([_monitor("finance")]))
    assert not check.ok and check.region == "us-east-1"
    assert "budget.anomaly_monitor_arn: arn:aws:ce::123456789012:anomalymonitor/finance-0000" in (
        check.message
    )


def test_the_platforms_own_monitor_or_a_custom_one_does_not_block(assembly: Assembly) -> None:
    plans = preflight.stack_plans(assembly.outdir)
    for existing in ([], [_monitor("crm-prod-services")], [_monitor("x", "LINKED_ACCOUNT")]):
        (check,) = preflight.check_anomaly_monitor(plans, monitors_client(existing))
        assert check.ok, existing


def test_no_monitor_planned_means_no_cost_explorer_call(tmp_path: Path) -> None:
    outdir = assembly_with(tmp_path, {"A": function(None)})
    assert preflight.check_anomaly_monitor(preflight.stack_plans(outdir), monitors_client([])) == []


def test_drift_a_failover_left_stops_the_deploy_with_its_commands(tmp_path: Path) -> None:
    """A deploy does not undo drift (a change set compares templates): the preflight
    names each difference and the command that puts it back (ops/drift.py)."""
    outdir = assembly_with(tmp_path, {"A": function(None)})
    left = [
        Drift("replica-lag alarm actions", "enabled", "disabled (the failover retired it)",
              "aws cloudwatch enable-alarm-actions --alarm-names crm-prod-replica-lag"),
    ]  # fmt: skip
    checks = preflight.run_preflight(outdir, factory(1000, 1000), drift=lambda: left)
    (drift,) = [c for c in checks if c.what == "drift from the templates"]
    assert not drift.ok
    assert "replica-lag alarm actions" in drift.message and "enable-alarm-actions" in drift.message
    clean = preflight.run_preflight(outdir, factory(1000, 1000), drift=lambda: [])
    assert [c.ok for c in clean if c.what == "drift from the templates"] == [True]
    # Nothing deployed yet (or unreadable): nothing to compare, the deploy goes on.
    first = preflight.run_preflight(outdir, factory(1000, 1000), drift=lambda: "unreadable")
    assert [c.ok for c in first if c.what == "drift from the templates"] == [True]
