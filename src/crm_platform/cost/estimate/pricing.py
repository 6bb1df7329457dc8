"""Lines times prices: the monthly estimate, its totals, and what it could not price."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from crm_platform.cost.estimate.lines import Inventory, Line, Unpriced
from crm_platform.cost.estimate.prices import Price, PriceTable


@dataclass(frozen=True)
class PricedLine:
    line: Line
    price: Price

    @property
    def usd(self) -> float:
        return self.line.quantity * self.price.usd


@dataclass(frozen=True)
class Estimate:
    """One configuration's month: priced lines, and everything left out (with why)."""

    name: str
    table: str
    priced: tuple[PricedLine, ...]
    missing: tuple[Line, ...]  # a line whose key has no price in its region
    unpriced: tuple[Unpriced, ...]
    free: Mapping[str, int]

    @property
    def total(self) -> float:
        return sum(p.usd for p in self.priced)

    @property
    def unverified_usd(self) -> float:
        return sum(p.usd for p in self.priced if not p.price.verified)

    def by(self, what: str) -> dict[str, float]:
        """Totals by ``stack``, ``region`` or ``kind`` (resource type), largest first."""
        totals: dict[str, float] = defaultdict(float)
        for p in self.priced:
            totals[str(getattr(p.line, what))] += p.usd
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))

    def tagged(self, tag: str) -> float:
        return sum(p.usd for p in self.priced if tag in p.line.tags)


def price(name: str, inventory: Inventory, table: PriceTable) -> Estimate:
    priced: list[PricedLine] = []
    missing: list[Line] = []
    for line in inventory.lines:
        found = table.get(line.key, line.region)
        if found is None:
            missing.append(line)
        else:
            priced.append(PricedLine(line, found))
    return Estimate(
        name=name,
        table=table.name,
        priced=tuple(priced),
        missing=tuple(missing),
        unpriced=inventory.unpriced,
        free=inventory.free,
    )
