"""The two facts in the DR region that every DR command reads before it acts.

- **The failed-over state** (``Names.failover_parameter``, an SSM parameter the failover
  and failback steps write, failover/runtime/steps.py and failback.py): ``state`` is
  "none", "failing-over", "failed-over" or "failing-back", with the incident under way.
  The failover resumes an unfinished incident from it, failback refuses without one, the
  live drill refuses unless it says "none", and ``dr status`` and drift show it.
- **The traffic switch, verified** (failover/runtime/switch.py): its value counts only with
  a valid signature, so it is always read through the key, never as the raw parameter.

One reader each, so every command reads the fact the same way (same clients, same
region, same parsing) and a change to how it is stored has one place to change. Both are
reads the operator role holds (ops/permissions.py: ``ssm:GetParameter`` on the two
parameters, ``kms:VerifyMac`` with the switch key). Errors are AWS's, unchanged: each caller
decides what an unreadable fact means for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from crm_platform.failover.runtime import switch
from crm_platform.naming import Names

Client = Callable[[str, str], Any]


def failed_over_state(names: Names, client: Client) -> dict[str, Any]:
    """The failed-over state's value as written, e.g. ``{"state": "failed-over",
    "incident": ..., "since": ...}``."""
    found = client("ssm", names.dr_region).get_parameter(Name=names.failover_parameter)
    state: dict[str, Any] = json.loads(found["Parameter"]["Value"])
    return state


def traffic_switch(names: Names, client: Client) -> str:
    """The switch's verified state (a value without a valid signature counts for nothing)."""
    dr = names.dr_region
    return switch.read(
        client("ssm", dr), client("kms", dr), names.switch_parameter,
        names.switch_key_alias, names.prefix,
    )  # fmt: skip
