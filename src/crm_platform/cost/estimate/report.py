"""The estimate of one environment: the assembly priced, the seed beside it, the what-ifs.

``build`` is what ``crm-platform cost`` prints and what the README's figures come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crm_platform.cost.estimate.inventory import inventory
from crm_platform.cost.estimate.lines import Inventory, Line, StackLike
from crm_platform.cost.estimate.prices import PriceTable
from crm_platform.cost.estimate.pricing import Estimate, price
from crm_platform.cost.estimate.seed import SeedGap, seed_inventory
from crm_platform.cost.estimate.whatif import Choice, choices
from crm_platform.naming import GLOBAL_REGION
from crm_platform.settings import Settings

# Issue 20: production at its default DR posture within 1.5x the original design.
TARGET_RATIO = 1.5


def roles(settings: Settings) -> dict[str, str]:
    """Region -> the role it plays (the volumes in ``settings.cost`` are per role)."""
    return {
        GLOBAL_REGION: "global",
        settings.regions.dr: "dr",
        settings.regions.primary: "primary",
    }


@dataclass(frozen=True)
class WhatIfRow:
    choice: Choice
    total: float | None  # None: not priced
    base: float

    @property
    def delta(self) -> float | None:
        return None if self.total is None else self.total - self.base


@dataclass(frozen=True)
class Cheapest:
    """The least given up that meets the target: rows taken in ``rank`` order."""

    rows: tuple[str, ...]
    total: float
    ratio: float
    met: bool


@dataclass(frozen=True)
class Report:
    environment: str
    posture: str
    estimate: Estimate
    seed: Estimate | None
    seed_gaps: tuple[SeedGap, ...]
    rows: tuple[WhatIfRow, ...]
    cheapest: Cheapest | None
    currency: str
    rate_per_usd: float | None
    budget_limit: float
    notes: tuple[str, ...]

    @property
    def ratio(self) -> float | None:
        return self.estimate.total / self.seed.total if self.seed and self.seed.total else None

    def in_budget_currency(self, usd: float) -> float | None:
        if self.currency == "USD":
            return usd
        return None if self.rate_per_usd is None else usd * self.rate_per_usd


def apply(choice: Choice, lines: Iterable[Line]) -> list[Line]:
    assert choice.change is not None
    return choice.change(list(lines))


def _total(name: str, inv: Inventory, lines: list[Line], table: PriceTable) -> float:
    return price(name, inv.replacing(lines), table).total


def _cheapest(
    rows: list[WhatIfRow], inv: Inventory, table: PriceTable, seed_total: float
) -> Cheapest:
    lines = list(inv.lines)
    taken: list[str] = []
    total = _total("cheapest", inv, lines, table)
    savers = [r for r in rows if r.delta is not None and r.delta < -0.005]
    for row in sorted(savers, key=lambda r: (r.choice.rank, r.delta or 0)):
        if total / seed_total <= TARGET_RATIO:
            break
        lines = apply(row.choice, lines)
        taken.append(row.choice.name)
        total = _total("cheapest", inv, lines, table)
    ratio = total / seed_total
    return Cheapest(tuple(taken), total, ratio, ratio <= TARGET_RATIO)


def build(
    stacks: Iterable[StackLike],
    settings: Settings,
    table: PriceTable,
    *,
    posture: str | None = None,
    compare_seed: bool = False,
) -> Report:
    """Price ``stacks`` (the synthesized assembly of ``settings``) and everything around it."""
    inv = inventory(stacks, settings.cost, roles(settings))
    notes: list[str] = []
    chosen = posture or settings.dr.posture
    if chosen != settings.dr.posture:
        # The posture changes one thing in the assembly: the DR server's desired count
        # (stacks/application.py); the matching what-if row applies exactly that.
        row = next(c for c in choices(settings, inv.lines) if "service:dr:server" in c.touches)
        inv = inv.replacing(apply(row, inv.lines))
        notes.append(f"posture {chosen}: priced by changing the DR server's task count only")
    base = price(f"{settings.project}-{settings.environment}", inv, table)
    rows = [
        WhatIfRow(
            c,
            None if c.change is None else _total(c.name, inv, apply(c, inv.lines), table),
            base.total,
        )
        for c in choices(settings, inv.lines)
    ]
    seed = gaps = None
    cheapest = None
    if compare_seed:
        regions = {role: region for region, role in roles(settings).items()}
        seed_inv, gaps = seed_inventory(settings.cost, regions)
        seed = price("original design", seed_inv, table)
        cheapest = _cheapest(rows, inv, table, seed.total)
    return Report(
        environment=settings.environment,
        posture=chosen,
        estimate=base,
        seed=seed,
        seed_gaps=gaps or (),
        rows=tuple(rows),
        cheapest=cheapest,
        currency=settings.budget.currency,
        rate_per_usd=settings.budget.exchange_rate_per_usd,
        budget_limit=settings.budget.limit,
        notes=tuple(notes),
    )


def _money(usd: float | None) -> float | None:
    return None if usd is None else round(usd, 2)


def _estimate_dict(e: Estimate) -> dict[str, Any]:
    return {
        "name": e.name,
        "table": e.table,
        "total_usd": _money(e.total),
        "unverified_usd": _money(e.unverified_usd),
        "by_stack": {k: _money(v) for k, v in e.by("stack").items()},
        "by_type": {k: _money(v) for k, v in e.by("kind").items()},
        "lines": [
            {
                "stack": p.line.stack,
                "region": p.line.region,
                "resource": p.line.resource,
                "type": p.line.kind,
                "what": p.line.what,
                "price": p.price.key,
                "quantity": round(p.line.quantity, 6),
                "unit": p.price.unit,
                "unit_usd": p.price.usd,
                "usd": _money(p.usd),
                "verified": p.price.verified,
                "source": p.price.source,
                "read": p.price.read.isoformat(),
            }
            for p in e.priced
        ],
        "no_price_in_table": [
            {"resource": x.resource, "price": x.key, "region": x.region} for x in e.missing
        ],
        "not_priced": [
            {"stack": u.stack, "resource": u.resource, "type": u.kind, "reason": u.reason}
            for u in e.unpriced
        ],
        "free": dict(e.free),
    }


def to_dict(report: Report) -> dict[str, Any]:
    """The report as plain data (``crm-platform cost --json``)."""
    data: dict[str, Any] = {
        "environment": report.environment,
        "posture": report.posture,
        "notes": list(report.notes),
        "estimate": _estimate_dict(report.estimate),
        "budget": {
            "limit": report.budget_limit,
            "currency": report.currency,
            "exchange_rate_per_usd": report.rate_per_usd,
            "estimate_in_currency": _money(report.in_budget_currency(report.estimate.total)),
        },
        "what_if": [
            {
                "choice": r.choice.name,
                "total_usd": _money(r.total),
                "delta_usd": _money(r.delta),
                "built": r.choice.built,
                "gives_up": r.choice.gives_up,
            }
            for r in report.rows
        ],
    }
    if report.seed is not None:
        data["seed"] = _estimate_dict(report.seed)
        data["seed"]["not_priced"] = [{"what": g.what, "reason": g.why} for g in report.seed_gaps]
        data["ratio"] = round(report.ratio or 0, 3)
        data["target_ratio"] = TARGET_RATIO
    if report.cheapest is not None:
        c = report.cheapest
        data["cheapest_meeting_target"] = {
            "choices": list(c.rows),
            "total_usd": _money(c.total),
            "ratio": round(c.ratio, 3),
            "met": c.met,
        }
    return data
