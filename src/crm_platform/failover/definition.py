"""The Step Functions definition, generated from the one step list (runtime/steps.py).

Every step is a Lambda task (the same handler for all) with a per-attempt timeout,
retries with exponential backoff and jitter on throttling, and a catch that ends the run
in a ``Fail`` state named after the step (``FailedAt.<step>``) carrying the error. A
polling step loops through a ``Choice`` and a ``Wait`` of the seconds the step asked for;
its overall timeout is enforced by the handler from the step's first start time, so a
re-run resumes the same budget instead of starting a new one.

With automatic failover and approval configured, the run begins by publishing a task
token to the alert topic and waits for ``crm-platform failover approve``.
"""

from __future__ import annotations

import json
from typing import Any

from crm_platform.failover.runtime.steps import STEPS, Step

ATTEMPT_TIMEOUT_SECONDS = 300
APPROVAL_TIMEOUT_SECONDS = 3600
TRANSIENT = [
    "Retryable",
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.SdkClientException",
    "Lambda.AWSLambdaException",
]


def failed_state(name: str) -> str:
    return f"FailedAt.{name}"


def _task(step: Step, after: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": step.summary,
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "${StepFunctionArn}",
            "Payload": {"step": step.name, "run.$": "$$.Execution.Name", "force.$": "$.force"},
        },
        "ResultSelector": {"done.$": "$.Payload.done", "wait.$": "$.Payload.wait"},
        "ResultPath": "$.last",
        "TimeoutSeconds": ATTEMPT_TIMEOUT_SECONDS,
        "Retry": [
            {
                "ErrorEquals": TRANSIENT,
                "IntervalSeconds": 2,
                "MaxAttempts": 6,
                "BackoffRate": 2.0,
                "MaxDelaySeconds": 60,
                "JitterStrategy": "FULL",
            }
        ],
        "Catch": [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.error",
                "Next": failed_state(step.name),
            }
        ],
        "Next": f"{step.name}.done?" if step.poll else after,
    }


def definition(*, approval: bool) -> dict[str, Any]:
    """The state machine as a dict (``json.dumps`` it for CloudFormation)."""
    names = [s.name for s in STEPS]
    states: dict[str, Any] = {}
    for i, step in enumerate(STEPS):
        after = names[i + 1] if i + 1 < len(names) else "FailedOver"
        states[step.name] = _task(step, after)
        if step.poll:
            states[f"{step.name}.done?"] = {
                "Type": "Choice",
                "Choices": [{"Variable": "$.last.done", "BooleanEquals": True, "Next": after}],
                "Default": f"{step.name}.wait",
            }
            states[f"{step.name}.wait"] = {
                "Type": "Wait",
                "SecondsPath": "$.last.wait",
                "Next": step.name,
            }
        states[failed_state(step.name)] = {
            "Type": "Fail",
            "Error": failed_state(step.name),
            "CausePath": "$.error.Cause",
        }
    states["FailedOver"] = {"Type": "Succeed"}
    start = names[0]
    if approval:
        states["approval"] = {
            "Type": "Task",
            "Comment": "a person confirms the automatic failover",
            "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
            "Parameters": {
                "TopicArn": "${ApprovalTopicArn}",
                "Subject": "Approve the regional failover?",
                "Message.$": (
                    "States.Format('The primary region looks impaired. To fail over, run: "
                    "crm-platform failover approve --token {} (expires in one hour)', "
                    "$$.Task.Token)"
                ),
            },
            "ResultPath": None,
            "TimeoutSeconds": APPROVAL_TIMEOUT_SECONDS,
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Next": failed_state("approval"),
                }
            ],
            "Next": start,
        }
        states[failed_state("approval")] = {
            "Type": "Fail",
            "Error": failed_state("approval"),
            "CausePath": "$.error.Cause",
        }
        start = "approval"
    return {
        "Comment": "Regional failover to the DR region (generated from failover/runtime/steps.py)",
        "StartAt": start,
        "States": states,
    }


def step_order(document: dict[str, Any]) -> list[str]:
    """The step tasks in the order a successful run visits them."""
    states = document["States"]
    order, name = [], document["StartAt"]
    while states[name]["Type"] != "Succeed":
        state = states[name]
        if state["Type"] == "Task":
            order.append(name)
            name = state["Next"]
        elif state["Type"] == "Choice":
            name = state["Choices"][0]["Next"]
        else:
            raise ValueError(f"unexpected state {name} on the success path")
    return order


def as_json(*, approval: bool) -> str:
    return json.dumps(definition(approval=approval), indent=1)
