"""The Step Functions definition, generated from the one step list (runtime/steps.py).

Every step is a Lambda task (the same handler for all) with a per-attempt timeout,
retries with exponential backoff and jitter on throttling (policy.py, which the local
runner reads too), and a catch that ends the run in a ``Fail`` state named after the step
(``FailedAt.<step>``) carrying the error.

A run belongs to an *incident*: ``crm-platform failover --execute`` starts one, or
resumes the unfinished one with the same incident id in a new execution; an execution
started without one (EventBridge, in automatic mode) opens an incident named after
itself. The steps record their timeline under the incident, so a resumed incident
continues where it stopped and every promotion is the incident's one promotion. A
polling step loops through a ``Choice`` and a ``Wait`` of the seconds the step asked for;
its overall timeout is enforced by the handler from the step's first start time, so a
re-run resumes the same budget instead of starting a new one.

With automatic failover and approval configured, the run begins by publishing a task
token to the alert topic and waits for ``crm-platform failover approve``.
"""

from __future__ import annotations

import json
from typing import Any

from crm_platform.failover.policy import (
    APPROVAL_TIMEOUT_SECONDS,
    ATTEMPT_TIMEOUT_SECONDS,
    RETRY,
    RUN_TIMEOUT_SECONDS,
)
from crm_platform.failover.runtime.steps import STEPS, Step

INCIDENT = "incident?"  # the state that names the run's incident when the input has none


def failed_state(name: str) -> str:
    return f"FailedAt.{name}"


def _task(step: Step, after: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": step.summary,
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "${StepFunctionArn}",
            "Payload": {"step": step.name, "run.$": "$.incident", "force.$": "$.force"},
        },
        "ResultSelector": {"done.$": "$.Payload.done", "wait.$": "$.Payload.wait"},
        "ResultPath": "$.last",
        "TimeoutSeconds": ATTEMPT_TIMEOUT_SECONDS,
        "Retry": [RETRY.as_retry()],
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
    states[INCIDENT] = {
        "Type": "Choice",
        "Comment": "a resumed incident keeps its id; a new execution opens one named after itself",
        "Choices": [{"Variable": "$.incident", "IsPresent": True, "Next": names[0]}],
        "Default": "open incident",
    }
    states["open incident"] = {
        "Type": "Pass",
        "Parameters": {"force.$": "$.force", "incident.$": "$$.Execution.Name"},
        "Next": names[0],
    }
    start = INCIDENT
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
        # Written here: CDK's own ``timeout`` never reaches a definition given as a string.
        "TimeoutSeconds": RUN_TIMEOUT_SECONDS,
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
        elif state["Type"] == "Pass":
            name = state["Next"]
        else:
            raise ValueError(f"unexpected state {name} on the success path")
    return order


def as_json(*, approval: bool) -> str:
    return json.dumps(definition(approval=approval), indent=1)
