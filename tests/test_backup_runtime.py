"""The restore-test validator: the verdict it sends to AWS Backup for each kind of restore.

RDS is simulated with moto; AWS Backup's ``PutRestoreValidationResult`` is pinned with a
botocore Stubber so each test states exactly what the function must report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from crm_platform.backup.runtime import validate_restore as vr

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
JOB = "restore-job-0001"
PLAN_ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}:restore-testing-plan:weekly-abc123"


def db_arn(name: str) -> str:
    return f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{name}"


def completed_event(created: str, *, restore_test: bool = True) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "restoreJobId": JOB,
        "status": "COMPLETED",
        "resourceType": "RDS",
        "createdResourceArn": created,
    }
    if restore_test:
        detail["restoreTestingPlanArn"] = PLAN_ARN
    return {
        "source": "aws.backup",
        "detail-type": "Restore Job State Change",
        "region": REGION,
        "detail": detail,
    }


def plenty_of_time() -> int:
    return 600_000


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("rds", region_name=REGION)
        for name, encrypted in (("restored-ok", True), ("restored-plain", False)):
            client.create_db_instance(
                DBInstanceIdentifier=name,
                DBInstanceClass="db.t3.medium",
                Engine="postgres",
                AllocatedStorage=20,
                MasterUsername="twenty",
                MasterUserPassword="not-a-real-password-1",
                StorageEncrypted=encrypted,
            )
        yield client


@pytest.fixture
def backup() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("backup", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_verdict(stubber: Stubber, status: str) -> None:
    stubber.add_response(
        "put_restore_validation_result",
        {},
        {"RestoreJobId": JOB, "ValidationStatus": status, "ValidationStatusMessage": ANY},
    )


@pytest.mark.parametrize(
    ("resource", "verdict", "says"),
    [
        pytest.param(db_arn("restored-ok"), "SUCCESSFUL", "encrypted", id="available-encrypted"),
        pytest.param(db_arn("restored-plain"), "FAILED", "NOT encrypted", id="unencrypted"),
        pytest.param(db_arn("never-restored"), "FAILED", "not found", id="missing"),
        pytest.param("arn:aws:s3:::some-bucket", "FAILED", "", id="not-an-rds-instance"),
    ],
)
def test_verdict_for_the_restored_resource(
    rds: Any, backup: Any, resource: str, verdict: str, says: str
) -> None:
    client, stubber = backup
    expect_verdict(stubber, verdict)
    result = vr.validate(
        completed_event(resource), rds=rds, backup=client, remaining_ms=plenty_of_time
    )
    assert result["validation"] == verdict
    assert says in result["message"]


def test_instance_still_settling_is_waited_for() -> None:
    rds = boto3.client("rds", region_name=REGION)
    backup = boto3.client("backup", region_name=REGION)
    naps: list[float] = []
    with Stubber(rds) as rds_stub, Stubber(backup) as backup_stub:
        for state in ("backing-up", "modifying", "available"):
            rds_stub.add_response(
                "describe_db_instances",
                {"DBInstances": [{"DBInstanceStatus": state, "StorageEncrypted": True}]},
                {"DBInstanceIdentifier": "restored-ok"},
            )
        expect_verdict(backup_stub, "SUCCESSFUL")
        result = vr.validate(
            completed_event(db_arn("restored-ok")),
            rds=rds,
            backup=backup,
            remaining_ms=plenty_of_time,
            sleep=naps.append,
        )
        rds_stub.assert_no_pending_responses()
        backup_stub.assert_no_pending_responses()
    assert result["validation"] == "SUCCESSFUL"
    assert naps == [vr.POLL_SECONDS, vr.POLL_SECONDS]


def test_out_of_time_while_settling_reports_failure_instead_of_timing_out() -> None:
    rds = boto3.client("rds", region_name=REGION)
    backup = boto3.client("backup", region_name=REGION)
    with Stubber(rds) as rds_stub, Stubber(backup) as backup_stub:
        rds_stub.add_response(
            "describe_db_instances",
            {"DBInstances": [{"DBInstanceStatus": "backing-up", "StorageEncrypted": True}]},
        )
        expect_verdict(backup_stub, "FAILED")
        result = vr.validate(
            completed_event(db_arn("restored-ok")),
            rds=rds,
            backup=backup,
            remaining_ms=lambda: vr.SAFETY_MARGIN_MS,
            sleep=lambda _: pytest.fail("must not sleep past the deadline"),
        )
    assert result["validation"] == "FAILED"
    assert "backing-up" in result["message"]


def test_restore_that_is_not_a_restore_test_is_left_alone(rds: Any, backup: Any) -> None:
    client, _ = backup  # no response queued: any call to AWS Backup would fail the test
    result = vr.validate(
        completed_event(db_arn("restored-ok"), restore_test=False),
        rds=rds,
        backup=client,
        remaining_ms=plenty_of_time,
    )
    assert result["validation"] is None


def test_job_that_takes_no_validation_is_logged_not_raised(
    rds: Any, backup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = backup
    stubber.add_client_error(
        "put_restore_validation_result",
        service_error_code="InvalidRequestException",
        service_message="validation window closed",
    )
    result = vr.validate(
        completed_event(db_arn("restored-ok")), rds=rds, backup=client, remaining_ms=plenty_of_time
    )
    assert result["validation"] == "SUCCESSFUL"
    assert "validation-not-accepted" in capsys.readouterr().out


def test_transient_backup_error_is_raised_so_lambda_retries(rds: Any, backup: Any) -> None:
    client, stubber = backup
    stubber.add_client_error(
        "put_restore_validation_result", service_error_code="ThrottlingException"
    )
    with pytest.raises(vr.ClientError):
        vr.validate(
            completed_event(db_arn("restored-ok")),
            rds=rds,
            backup=client,
            remaining_ms=plenty_of_time,
        )


def test_verdict_is_logged_as_json_for_the_metric_filter(
    rds: Any, backup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = backup
    expect_verdict(stubber, "FAILED")
    vr.validate(
        completed_event(db_arn("restored-plain")),
        rds=rds,
        backup=client,
        remaining_ms=plenty_of_time,
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    verdict = next(line for line in lines if line["event"] == "validated")
    assert verdict["validation"] == "FAILED"
    assert verdict["restoreJobId"] == JOB


def test_handler_wires_clients_for_the_restored_resource_region(
    rds: Any, backup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = backup
    expect_verdict(stubber, "SUCCESSFUL")
    asked: list[tuple[str, str | None]] = []

    def fake_client(service: str, region: str | None) -> Any:
        asked.append((service, region))
        return {"rds": rds, "backup": client}[service]

    monkeypatch.setattr(vr, "_client", fake_client)

    class Context:
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 600_000

    result = vr.handler(completed_event(db_arn("restored-ok")), Context())
    assert result["validation"] == "SUCCESSFUL"
    assert ("rds", REGION) in asked and ("backup", REGION) in asked


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (db_arn("awsbackup-restore-test-1"), "awsbackup-restore-test-1"),
        (f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:aurora", None),
        ("arn:aws:s3:::bucket", None),
        ("", None),
    ],
)
def test_rds_instance_id(arn: str, expected: str | None) -> None:
    assert vr.rds_instance_id(arn) == expected
