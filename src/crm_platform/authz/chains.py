"""Service chains: can every service use the key of every resource it encrypts, for
everyone who uses that resource, at creation and at run time?

For each encrypted resource of the assembly (encryption.py):

- **creation**: the service's calls at creation, made for CloudFormation's role
  (``CreateGrant`` with ``kms:GrantIsForAWSResource`` for services that keep a grant), or
  by CloudWatch Logs' own service principal for a log group;
- **use**: every role whose policies allow it a data action on the resource (found by
  asking the model, not by reading names), and every service principal the resource's
  policy lets publish or write, must get the KMS calls the service makes for it.

A check that finds nothing to ask (a resource nobody reads) says so; it is never
counted as passed for a principal it did not ask about.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from crm_platform.authz.encryption import USES, Encrypted, encrypted_resources
from crm_platform.authz.model import AuthorizationModel, Decision, Principal, Request, Role
from crm_platform.authz.requests import key_requests

Phase = Literal["creation", "use"]


@dataclass(frozen=True)
class ChainCheck:
    resource: Encrypted
    phase: Phase
    decision: Decision

    @property
    def ok(self) -> bool:
        return self.decision.allowed

    def describe(self) -> str:
        verdict = "allowed" if self.ok else f"DENIED: {self.decision.explanation}"
        return (
            f"{self.resource.label} ({self.phase}): {self.decision.request.describe()}: {verdict}"
        )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _names(role: Role, action: str, resource: str) -> bool:
    """Does one of the role's own statements allow ``action`` on a resource pattern that
    names this resource (not ``*``)? Those are the roles the platform made to use it;
    AWS-managed policies that allow a service's actions on everything are not."""
    for statement in role.own_statements():
        if statement.get("Effect") != "Allow" or "NotAction" in statement:
            continue
        if not any(
            fnmatch.fnmatchcase(action.lower(), a.lower())
            for a in _as_list(statement.get("Action"))
        ):
            continue
        patterns = [r for r in _as_list(statement.get("Resource")) if r != "*"]
        if any(fnmatch.fnmatchcase(resource, r) for r in patterns):
            return True
    return False


def creation_requests(model: AuthorizationModel, found: Encrypted) -> list[Request]:
    region = found.key.split(":")[3]
    if found.service == "logs":
        logs = model.service(f"logs.{region}.amazonaws.com")
        encryption = {"kms:EncryptionContext:aws:logs:arn": found.arn}
        return [
            Request.of(
                logs, action, found.key, encryption, f"CloudWatch Logs encrypts {found.label}"
            )
            for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey")
        ]
    use = USES.get(found.service)
    if use is None:
        return []
    creator = model.cloudformation(found.stack)
    replica = "(replica in " in found.label
    actions = ("kms:GenerateDataKey", "kms:Encrypt") if replica else use.creation
    requests = []
    for action in actions:
        context: dict[str, str | list[str]] = {
            "kms:ViaService": f"{use.service}.{region}.amazonaws.com"
        }
        if action in ("kms:CreateGrant", "kms:RetireGrant") and use.grant:
            context["kms:GrantIsForAWSResource"] = "true"
        if use.service == "secretsmanager":
            context["kms:EncryptionContext:SecretARN"] = found.arn
        why = f"{use.service} creates {found.label} with its key"
        requests.append(Request.of(creator, action, found.key, context, why))
    return requests


def users(model: AuthorizationModel, found: Encrypted) -> Iterator[tuple[Principal, str]]:
    """(principal, data action) pairs the model allows on the resource."""
    use = USES.get(found.service)
    if use is None:
        return
    for role in model.roles.values():
        principal = role.principal(model.account)
        for action in use.data_actions:
            if not _names(role, action, found.arn):
                continue
            if model.decide(Request.of(principal, action, found.arn)).allowed:
                yield principal, action
    policy = model.policies.get(found.arn)
    for statement in policy.document.get("Statement", []) if policy else []:
        named = statement.get("Principal")
        services = _as_list(named.get("Service")) if isinstance(named, dict) else []
        actions = [a for a in _as_list(statement.get("Action")) if a in use.data_actions]
        for service in services:
            for action in actions:
                yield model.service(service), action


def use_requests(model: AuthorizationModel, found: Encrypted) -> list[Request]:
    requests: list[Request] = []
    for principal, action in users(model, found):
        for request in key_requests(principal, action, found, f"{action} on {found.label}"):
            if principal.kind == "service":
                context = dict(request.context) | {"aws:SourceAccount": model.account}
                request = Request.of(
                    principal, request.action, request.resource, context, request.why
                )
            same = (request.principal, request.action, request.resource, request.context)
            if all((r.principal, r.action, r.resource, r.context) != same for r in requests):
                requests.append(request)
    return requests


def service_chains(model: AuthorizationModel) -> list[ChainCheck]:
    """Every creation and use check over every encrypted resource of the assembly."""
    checks = []
    for found in encrypted_resources(model):
        for request in dict.fromkeys(creation_requests(model, found)):
            checks.append(ChainCheck(found, "creation", model.decide(request)))
        for request in use_requests(model, found):
            checks.append(ChainCheck(found, "use", model.decide(request)))
    return checks
