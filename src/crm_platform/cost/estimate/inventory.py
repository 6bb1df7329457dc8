"""From a synthesized assembly to billable lines: one rule per priced resource type.

What a resource costs by standing (hours, nodes, keys, tasks) is read from its template
properties; what it costs by use (requests, gigabytes) comes from the configured volumes
(``settings.cost``), split by the role of the region it runs in (the primary serves, DR
stands by, us-east-1 holds the edge and billing). The rules live by concern in
``rules_*.py``; a type with no rule is listed as not priced, never dropped; a type in
``FREE`` has no charge of its own (what it carries is priced on what bills for it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from crm_platform.cost.estimate import rules_compute, rules_data, rules_network, rules_operations
from crm_platform.cost.estimate.context import Context, Resource, Rule, of_type
from crm_platform.cost.estimate.free import FREE, KNOWN_UNPRICED
from crm_platform.cost.estimate.lines import Inventory, Line, StackLike, Unpriced
from crm_platform.cost.estimate.rules_data import bucket_names_replicated_to
from crm_platform.settings.model import CostAssumptions

__all__ = ["FREE", "RULES", "inventory"]

RULES: dict[str, Rule] = {
    **rules_network.RULES,
    **rules_data.RULES,
    **rules_compute.RULES,
    **rules_operations.RULES,
}


def inventory(
    stacks: Iterable[StackLike], volumes: CostAssumptions, roles: Mapping[str, str]
) -> Inventory:
    """Every billable line of ``stacks``; what has no rule is listed as not priced."""
    stacks = list(stacks)
    storage = [
        int(body["Properties"]["AllocatedStorage"])
        for stack in stacks
        for body in of_type(stack, "AWS::RDS::DBInstance").values()
        if body.get("Properties", {}).get("AllocatedStorage")
    ]
    replicas = frozenset(bucket_names_replicated_to(stacks))
    ctx = Context(volumes, roles, max(storage, default=20), replicas)
    lines: list[Line] = []
    unpriced: list[Unpriced] = []
    free: Counter[str] = Counter()
    for stack in stacks:
        for logical, body in stack.resources.items():
            r = Resource(stack, logical, body)
            kind = r.kind
            if kind in RULES:
                found = RULES[kind](ctx, r)
                if not found and kind == "AWS::DynamoDB::Table":
                    reason = "provisioned capacity: not modelled"
                    unpriced.append(Unpriced(stack.name, stack.region, logical, kind, reason))
                elif not found:  # e.g. a gateway endpoint, a task definition run by a service
                    free[kind] += 1
                lines += found
            elif kind in FREE:
                free[kind] += 1
            else:
                reason = KNOWN_UNPRICED.get(kind) or (
                    "a custom resource: its provider runs at deploy time only"
                    if kind.startswith("Custom::")
                    else "no price rule for this type"
                )
                unpriced.append(Unpriced(stack.name, stack.region, logical, kind, reason))
    return Inventory(tuple(lines), tuple(unpriced), dict(free))
