"""Permission contracts (needs.py) decided against an assembly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crm_platform.authz.encryption import key_index
from crm_platform.authz.model import AuthorizationModel, Decision, Principal, Request
from crm_platform.authz.requests import Call, requests_for
from crm_platform.needs import Need, Who


@dataclass(frozen=True)
class Verdict:
    need: Need
    decisions: tuple[Decision, ...]

    @property
    def ok(self) -> bool:
        return all(d.allowed for d in self.decisions)

    def describe(self) -> str:
        denied = [d for d in self.decisions if not d.allowed]
        if not denied:
            return f"{self.need.who.describe()}: {self.need.why}: allowed"
        first = denied[0]
        return (
            f"{self.need.who.describe()}: {self.need.why}: DENIED "
            f"{first.request.action} on {first.request.resource}: {first.explanation}"
        )


def principal(model: AuthorizationModel, who: Who) -> Principal:
    if who.service:
        return model.service(who.service)
    if who.role_name:
        return model.role_named(who.role_name)
    if who.handler:
        return model.role_of_function(who.stack, who.handler)
    return model.role(who.stack, who.path)


def _connection(model: AuthorizationModel) -> str:
    """The pipeline's source connection: the one the assembly creates, if any."""
    for stack in model.stacks.values():
        for logical in stack.of_type("AWS::CodeConnections::Connection"):
            return model.physical.arn(logical, stack)
    return ""


def evaluate(model: AuthorizationModel, needs: Iterable[Need]) -> list[Verdict]:
    keys = key_index(model)
    verdicts = []
    for need in needs:
        who = principal(model, need.who)
        if need.operation:
            call = Call(need.service, need.region, need.operation, dict(need.params))
            requests = requests_for(
                call,
                who,
                account=model.account,
                keys=keys,
                secret_arn=model.secret_arn,
                task_roles=model.task_definition_roles,
                key_arn=model.key_arn,
            )
        else:
            resource = need.resource.replace("{connection}", _connection(model))
            requests = [Request.of(who, need.action, resource, dict(need.context), need.why)]
        verdicts.append(Verdict(need, tuple(model.decide(r) for r in requests)))
    return verdicts
