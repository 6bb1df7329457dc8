"""Permission contracts: what a runtime path needs AWS to allow, written beside its code.

A contract is a list of ``Need``: *who* (a role of the assembly, found by its construct
path or its function's handler, a role by name, or an AWS service) makes *which call*
(service, region, operation, parameters) or needs *which IAM action* on which resource.
The authorization model (authz/paths.py) turns each into the requests AWS authorizes,
with the KMS calls the service makes for the caller, and decides them from the
synthesized assembly of each environment; a missing permission fails with the role, the
action, the resource and what would have to change.

Paths the drill runs (every failover step, the switch keeper, the probes) need no table:
the drill records their calls and the same model decides them (tests/test_authorization.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Who:
    """A principal, as a contract names it (one of the four ways)."""

    stack: str = ""
    path: str = ""  # a fragment of the role's construct path in ``stack``
    handler: str = ""  # or: the execution role of the function of ``stack`` with this handler
    role_name: str = ""  # or: a role by its name (the operator's)
    service: str = ""  # or: an AWS service principal, such as backup.amazonaws.com

    def describe(self) -> str:
        if self.role_name:
            return f"role {self.role_name}"
        if self.service:
            return self.service
        return f"{self.stack}/{self.path or self.handler}"


@dataclass(frozen=True)
class Need:
    """One thing a path needs allowed: an API call, or an IAM action a service checks."""

    who: Who
    why: str
    service: str = ""  # boto3's name of the service called (rds, ecs, ssm, ...)
    region: str = ""
    operation: str = ""  # PascalCase: DescribeDBInstances
    params: Mapping[str, Any] = field(default_factory=dict)
    action: str = ""  # or: an IAM action (codeconnections:UseConnection) ...
    resource: str = ""  # ... on this resource; "{connection}" is the pipeline's connection
    context: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def call(
        who: Who, why: str, service: str, region: str, operation: str, /, **params: Any
    ) -> Need:
        return Need(who, why, service=service, region=region, operation=operation, params=params)

    @staticmethod
    def iam(who: Who, why: str, action: str, resource: str, **context: str) -> Need:
        return Need(who, why, action=action, resource=resource, context=context)
