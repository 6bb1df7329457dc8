"""Every action a policy grants must apply to the resources it names.

AWS matches an action's service prefix against the resource ARN's: a policy that grants
``codestar-connections:UseConnection`` on an ``arn:aws:codeconnections:...`` connection
grants nothing ("When specifying a resource in the IAM policy, the service prefix needs to
match that of the resource", https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html),
and ``s3:GetObject`` on a bucket ARN (not its objects) likewise. The evaluator knows each
action's resource types (the Service Authorization Reference): for every statement the
platform wrote, each named action is asked about each named ARN (wildcards filled in), and
an action that cannot apply to it is a finding. ``parliament``'s RESOURCE_MISMATCH finding
checks the same and agreed on the cases tried (docs/adr/0026). A statement may list
resources some of its actions do not apply to (CDK grants ``s3:PutObject`` on a bucket
and its objects): only an action that applies to none of them grants nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_platform.authz.chains import _as_list
from crm_platform.authz.model import AuthorizationModel, Request


@dataclass(frozen=True)
class Mismatch:
    role: str
    action: str
    resource: str
    detail: str


def _candidates(pattern: str) -> list[str]:
    """Concrete ARNs a resource pattern matches, one per way a ``*`` is commonly used
    (a name, a path, a log group's streams)."""
    return list(
        dict.fromkeys(
            [
                pattern.replace("?", "x").replace("*", "x"),
                pattern.replace("?", "x").replace("*", "x/x"),
                pattern.replace("?", "x").replace(":*", ":log-stream:x").replace("*", "x"),
            ]
        )
    )


def mismatches(model: AuthorizationModel) -> list[Mismatch]:
    """(role, action) pairs whose statement names no resource the action can apply to."""
    found: list[Mismatch] = []
    for role in model.roles.values():
        principal = role.principal(model.account)
        for statement in role.own_statements():
            actions = [a for a in _as_list(statement.get("Action")) if "*" not in a]
            resources = [r for r in _as_list(statement.get("Resource")) if r != "*"]
            if not resources or statement.get("Effect") != "Allow":
                continue
            for action in actions:
                errors = []
                for pattern in resources:
                    answers = [
                        model.decide(Request.of(principal, action, arn))
                        for arn in _candidates(pattern)
                    ]
                    if all(a.answer.result == "Error" for a in answers):
                        errors.append(answers[0].explanation)
                if len(errors) == len(resources):
                    found.append(Mismatch(principal.label, action, ", ".join(resources), errors[0]))
    return found
