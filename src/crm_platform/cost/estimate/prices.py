"""The price table: on-demand list prices read into typed objects, one per key and region.

A table is data in the repository, versioned like code, so an estimate can be reproduced
and a price change is a reviewed diff. Each price says where it was read and whether the
figure was actually read from that source; an unverified price is printed as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

TABLES = Path(__file__).resolve().parent / "tables"
CURRENT = TABLES / "aws-2026-12.yaml"


@dataclass(frozen=True)
class Price:
    key: str
    region: str
    usd: float
    unit: str
    source: str
    read: date
    verified: bool
    seen: str | None = None


@dataclass(frozen=True)
class PriceTable:
    name: str
    read: date
    prices: dict[tuple[str, str], Price]

    def get(self, key: str, region: str) -> Price | None:
        return self.prices.get((key, region))

    def price_keys(self) -> set[str]:
        return {k for k, _ in self.prices}

    def regions_of(self, key: str) -> set[str]:
        return {r for k, r in self.prices if k == key}

    def replacing(self, fresh: dict[tuple[str, str], Price]) -> PriceTable:
        """This table with ``fresh`` prices (a live refresh) in place of the stored ones."""
        return PriceTable(self.name, self.read, {**self.prices, **fresh})


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def load_table(path: Path = CURRENT) -> PriceTable:
    """Read a table file; a malformed entry raises ``ValueError`` naming its key."""
    data = yaml.safe_load(path.read_text())
    read = _day(data["read"])
    prices: dict[tuple[str, str], Price] = {}
    for entry in data["prices"]:
        key = entry["key"]
        verified = set(entry.get("verified", []))
        unknown = verified - set(entry["usd"])
        if unknown:
            raise ValueError(f"{key}: verified names regions without a figure: {unknown}")
        for region, usd in entry["usd"].items():
            if (key, region) in prices:
                raise ValueError(f"{key} in {region} is listed twice")
            if not isinstance(usd, int | float) or usd < 0:
                raise ValueError(f"{key} in {region}: {usd!r} is not a price")
            prices[(key, region)] = Price(
                key=key,
                region=region,
                usd=float(usd),
                unit=entry["unit"],
                source=entry["source"],
                read=_day(entry.get("read", read)),
                verified=region in verified,
                seen=entry.get("seen"),
            )
    return PriceTable(name=data["table"], read=read, prices=prices)
