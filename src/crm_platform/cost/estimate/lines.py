"""What an estimate is made of: billable lines, each a quantity of one priced unit.

A line knows what it is for (the stack and resource it came from) and carries tags that
name the choices it belongs to, so a what-if row can change exactly the lines of its
choice and a test can prove it changed nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol


class StackLike(Protocol):
    """What the estimator reads of a stack (``crm_platform.assembly.reader.StackTemplate``
    fits; the estimator sits below the assembly layer, so it only names the shape)."""

    name: str
    region: str

    @property
    def resources(self) -> dict[str, dict[str, Any]]: ...


@dataclass(frozen=True)
class Line:
    """``count`` times ``each`` units of price ``key`` in ``region``."""

    stack: str
    region: str
    resource: str
    kind: str
    what: str
    key: str
    count: float
    each: float = 1.0
    tags: frozenset[str] = field(default_factory=frozenset)
    note: str = ""

    @property
    def quantity(self) -> float:
        return self.count * self.each

    def with_count(self, count: float) -> Line:
        return replace(self, count=count)

    def with_key(self, key: str) -> Line:
        return replace(self, key=key)


@dataclass(frozen=True)
class Unpriced:
    """A resource the estimator does not price: listed, never dropped."""

    stack: str
    region: str
    resource: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Inventory:
    lines: tuple[Line, ...]
    unpriced: tuple[Unpriced, ...]
    free: Mapping[str, int]  # resource type -> how many (no charge of their own)

    def replacing(self, lines: Iterable[Line]) -> Inventory:
        return Inventory(tuple(lines), self.unpriced, self.free)
