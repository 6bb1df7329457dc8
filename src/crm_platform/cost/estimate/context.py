"""What a price rule sees: the volumes and region roles, and one resource of one stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crm_platform.cost.estimate.lines import Line, StackLike
from crm_platform.settings.model import CostAssumptions


@dataclass(frozen=True)
class Context:
    volumes: CostAssumptions
    roles: Mapping[str, str]  # region -> primary | dr | global
    database_storage_gb: int = 20  # RDS's gp3 minimum when no instance states its own
    replica_buckets: frozenset[str] = frozenset()  # names other buckets replicate into

    @property
    def hours(self) -> float:
        return self.volumes.hours_per_month

    def role(self, region: str) -> str:
        return self.roles.get(region, "global")


@dataclass(frozen=True)
class Resource:
    stack: StackLike
    logical: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["Type"])

    @property
    def props(self) -> dict[str, Any]:
        props: dict[str, Any] = self.body.get("Properties", {})
        return props

    def line(
        self, what: str, key: str, count: float, each: float = 1.0, *tags: str, **kw: Any
    ) -> Line:
        return Line(
            stack=self.stack.name,
            region=kw.pop("region", self.stack.region),
            resource=self.logical,
            kind=self.kind,
            what=what,
            key=key,
            count=count,
            each=each,
            tags=frozenset(tags),
            **kw,
        )


Rule = Callable[[Context, Resource], list[Line]]


def refs(value: Any) -> set[str]:
    """Logical ids a property refers to (Ref and GetAtt), anywhere inside it."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value and isinstance(value["Fn::GetAtt"], list):
            found.add(str(value["Fn::GetAtt"][0]))
        for v in value.values():
            found |= refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= refs(v)
    return found


def of_type(stack: StackLike, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in stack.resources.items() if r.get("Type") == kind}


# --- Networking --------------------------------------------------------------------------
