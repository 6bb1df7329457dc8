"""The traffic switch's state and its signal, shared by the keeper function, the CLI and
the DR orchestrator (boto3 only, so it runs unchanged inside Lambda).

The state is an SSM parameter in the DR region (``primary`` or ``dr``). Route 53 cannot
read a parameter, and it does not follow an alarm's *state* either: a health check "based
on a CloudWatch alarm ... monitors the data stream for the corresponding alarm instead
of monitoring the alarm state", so ``SetAlarmState`` cannot move it. The state is
therefore turned into data: every minute the keeper publishes ``ServeFromDr`` = 1 or 0,
and the CLI and the orchestrator publish at once when they change the parameter.
"""

from __future__ import annotations

import os
from typing import Any

NAMESPACE = "crm-platform/TrafficSwitch"
METRIC = "ServeFromDr"
STATES = ("primary", "dr")


def read(ssm: Any, parameter: str) -> str:
    """The recorded state; anything unexpected is treated as ``primary`` (no move)."""
    value = str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"]).strip()
    return value if value in STATES else "primary"


def publish(cloudwatch: Any, environment: str, state: str) -> None:
    """One data point of the switch metric: 1 sends origin traffic to DR."""
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


def set_state(ssm: Any, cloudwatch: Any, parameter: str, environment: str, state: str) -> str:
    """Record ``state`` durably, then publish it; returns the previous state."""
    if state not in STATES:
        raise ValueError(f"the switch is 'primary' or 'dr', not {state!r}")
    previous = read(ssm, parameter)
    ssm.put_parameter(Name=parameter, Value=state, Type="String", Overwrite=True)
    publish(cloudwatch, environment, state)
    return previous


def handler(_event: dict[str, Any], _context: object) -> dict[str, str]:
    """The keeper: re-publish the recorded state every minute."""
    import boto3

    parameter, environment = os.environ["SWITCH_PARAMETER"], os.environ["ENVIRONMENT"]
    state = read(boto3.client("ssm"), parameter)
    publish(boto3.client("cloudwatch"), environment, state)
    return {"state": state}
