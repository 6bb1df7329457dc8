"""The traffic switch's state: written with a KMS HMAC, read back only where it verifies.

The state is an SSM parameter in the DR region. Anyone in the account with
``ssm:PutParameter`` (granted on ``*`` by common managed policies) can write it, so a
value counts only when it carries an HMAC made by the switch's KMS key, whose key policy
grants ``kms:GenerateMac`` to the switch's writers alone (failover/switch.py). The MAC
covers the environment, the state and the parameter *version* the value is written at,
so an old "dr" value replayed later sits at another version and does not verify.

What counts is the newest version in the parameter's history that verifies: a forged or
garbled write is skipped, never obeyed, and never undoes a real one. Only "dr" needs a
MAC to mean anything; no verifiable value at all means "primary" (the state before any
failover).

Route 53 learns the outcome from the *beacon* (``handler``, every minute and when a
writer asks): it writes one item to a table whose resource policy lets no one else
write, one write capacity unit for "primary", two for "dr". Route 53's health check
follows an alarm on that table's ``ConsumedWriteCapacityUnits`` (an ``AWS/DynamoDB``
metric, which no one can publish), and keeps its last status when the data stops
(failover/switch.py). The beacon also publishes ``ServeFromDr`` for dashboards; nothing
routes on that metric.

Runs on the Lambda runtime's own boto3 (and by the CLI, the failover step and the drill).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

NAMESPACE = "crm-platform/TrafficSwitch"
METRIC = "ServeFromDr"
STATES = ("primary", "dr")
ALGORITHM = "HMAC_SHA_256"
SKIPPED_LOG = "did not verify"  # the beacon's warning, matched by a metric filter
UNSIGNED_INITIAL = {"state": "primary"}  # what the stack deploys: counts as nothing

log = logging.getLogger()


class SwitchWriteLost(Exception):
    """Another write landed at the version this one was signed for: nothing changed."""


def message(environment: str, state: str, version: int) -> bytes:
    """What the MAC covers: the environment, the state, the version it is written at."""
    return f"crm-platform-switch|{environment}|{state}|{version}".encode()


@dataclass(frozen=True)
class Verified:
    state: str  # "primary" or "dr"
    version: int | None  # the parameter version that decided it (None: none verified)
    skipped: int  # newer versions that did not verify (forged, garbled or lost)


def _parse(value: str) -> tuple[str, bytes] | None:
    try:
        found = json.loads(value)
        state, mac = str(found["state"]), base64.b64decode(str(found["mac"]), validate=True)
    except (ValueError, KeyError, TypeError):
        return None
    return (state, mac) if state in STATES else None


def _is_initial(value: str) -> bool:
    try:
        return bool(json.loads(value) == UNSIGNED_INITIAL)
    except ValueError:
        return False


def _verifies(kms: Any, key: str, environment: str, state: str, version: int, mac: bytes) -> bool:
    try:
        answer = kms.verify_mac(
            KeyId=key, MacAlgorithm=ALGORITHM, Message=message(environment, state, version),
            Mac=mac,
        )  # fmt: skip
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
            return False
        raise
    return bool(answer.get("MacValid"))


def effective(ssm: Any, kms: Any, parameter: str, key: str, environment: str) -> Verified:
    """The newest version of ``parameter`` whose MAC verifies decides; else "primary"."""
    versions: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = ssm.get_parameter_history(
            Name=parameter, MaxResults=50, **({"NextToken": token} if token else {})
        )
        versions += page.get("Parameters", [])
        token = page.get("NextToken")
        if not token:
            break
    skipped = 0
    for found in sorted(versions, key=lambda p: int(p["Version"]), reverse=True):
        value = str(found["Value"])
        parsed = _parse(value)
        version = int(found["Version"])
        if parsed is not None and _verifies(kms, key, environment, parsed[0], version, parsed[1]):
            return Verified(parsed[0], version, skipped)
        if not _is_initial(value):
            skipped += 1  # the deployed initial value is not a forgery
    return Verified("primary", None, skipped)


def read(ssm: Any, kms: Any, parameter: str, key: str, environment: str) -> str:
    """The verified state ("primary" when nothing verifies)."""
    return effective(ssm, kms, parameter, key, environment).state


def set_state(ssm: Any, kms: Any, parameter: str, key: str, environment: str, state: str) -> str:
    """Write ``state`` signed for the next version; returns the previous verified state.

    A concurrent write that takes that version leaves this value unverifiable, so the
    call checks what it wrote and raises ``SwitchWriteLost`` (run it again).
    """
    if state not in STATES:
        raise ValueError(f"the switch is 'primary' or 'dr', not {state!r}")
    previous = read(ssm, kms, parameter, key, environment)
    current = int(ssm.get_parameter(Name=parameter)["Parameter"]["Version"])
    mac = kms.generate_mac(
        KeyId=key, MacAlgorithm=ALGORITHM, Message=message(environment, state, current + 1)
    )["Mac"]
    value = json.dumps({"state": state, "mac": base64.b64encode(mac).decode()})
    written = ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)
    if int(written["Version"]) != current + 1:
        raise SwitchWriteLost(
            f"{parameter}: another write took version {current + 1}; the switch did not move"
        )
    return previous


def publish(cloudwatch: Any, environment: str, state: str) -> None:
    """The verified state as a data point, for dashboards and the notice (not routing)."""
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": "Environment", "Value": environment}],
                "Value": 1.0 if state == "dr" else 0.0,
                "Unit": "Count",
            }
        ],
    )


# Item sizes that make the beacon's write cost one unit ("primary") or two ("dr"): DynamoDB
# charges a standard write one unit per 1 KB of item, rounded up.
BEACON_PAD = {"primary": 0, "dr": 1500}


def beacon_item(state: str) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": "beacon"}, "state": {"S": state}}
    if BEACON_PAD[state]:
        item["pad"] = {"S": "x" * BEACON_PAD[state]}
    return item


def beacon(dynamodb: Any, table: str, state: str) -> None:
    dynamodb.put_item(TableName=table, Item=beacon_item(state))


def handler(_event: dict[str, Any], _context: object) -> dict[str, Any]:
    """The beacon: verify the recorded state, write it as one or two write units, and
    publish it for dashboards. Runs every minute; writers invoke it after a change."""
    import boto3

    found = effective(
        boto3.client("ssm"), boto3.client("kms"), os.environ["SWITCH_PARAMETER"],
        os.environ["SWITCH_KEY"], os.environ["ENVIRONMENT"],
    )  # fmt: skip
    if found.skipped:
        # A metric filter on this line alarms: someone wrote the switch without the key.
        log.warning("switch: %d newer version(s) %s", found.skipped, SKIPPED_LOG)
    beacon(boto3.client("dynamodb"), os.environ["BEACON_TABLE"], found.state)
    publish(boto3.client("cloudwatch"), os.environ["ENVIRONMENT"], found.state)
    return {"state": found.state, "version": found.version, "skipped": found.skipped}
