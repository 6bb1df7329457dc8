"""drill/emulator_state.py: a stand-up kept once per process and put back as a copy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crm_platform.drill import emulator, emulator_state

REGION = "ap-southeast-1"
TEMPLATES = {"stack": {"Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}}}}


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    emulator_state.forget()
    yield
    emulator_state.forget()


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def _stand_up(calls: list[int]) -> dict[str, Any]:
    calls.append(1)
    _client("ssm").put_parameter(Name="/p", Value="v1", Type="String")
    ddb = _client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="t", Item={"k": {"S": "a"}})
    return {"created": ["t"]}


def test_the_second_start_is_a_copy_and_what_a_run_changes_never_reaches_the_next() -> None:
    calls: list[int] = []
    with emulator.emulator():
        first = emulator_state.once("test", TEMPLATES, lambda: _stand_up(calls))
        # A scenario changes everything it can.
        _client("ssm").put_parameter(Name="/p", Value="v2", Type="String", Overwrite=True)
        _client("dynamodb").put_item(TableName="t", Item={"k": {"S": "b"}})
        first["created"].append("changed")
    with emulator.emulator():  # a fresh, empty emulator, as the drill starts each run
        second = emulator_state.once("test", TEMPLATES, lambda: _stand_up(calls))
        assert calls == [1]  # stood up once
        assert second == {"created": ["t"]}
        assert _client("ssm").get_parameter(Name="/p")["Parameter"]["Value"] == "v1"
        items = _client("dynamodb").scan(TableName="t")["Items"]
        assert items == [{"k": {"S": "a"}}]
        # The copy works like the original: moto keeps serving and changing it.
        _client("ssm").put_parameter(Name="/p", Value="v3", Type="String", Overwrite=True)
        assert _client("ssm").get_parameter(Name="/p")["Parameter"]["Version"] == 2
    with emulator.emulator():
        emulator_state.once("test", TEMPLATES, lambda: _stand_up(calls))
        assert _client("ssm").get_parameter(Name="/p")["Parameter"]["Value"] == "v1"


def test_other_templates_or_another_kind_stand_up_again() -> None:
    calls: list[int] = []
    other: dict[str, Any] = {"stack": {"Resources": {}}}
    for kind, templates in (("test", TEMPLATES), ("test", other), ("filtered", TEMPLATES)):
        with emulator.emulator():
            emulator_state.once(kind, templates, lambda: _stand_up(calls))
    assert calls == [1, 1, 1]


def test_nothing_from_before_the_put_back_survives_it() -> None:
    calls: list[int] = []
    with emulator.emulator():
        emulator_state.once("test", TEMPLATES, lambda: _stand_up(calls))
    with emulator.emulator():
        _client("sqs").create_queue(QueueName="stray")  # a service the stand-up never used
        emulator_state.once("test", TEMPLATES, lambda: _stand_up(calls))
        assert _client("sqs").list_queues().get("QueueUrls", []) == []
