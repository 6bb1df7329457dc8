"""The original design's resources, priced with the same table and volumes as ours.

The seed is listed once, in ``seed.yaml``, from its README and code (each item names
where it comes from), so the comparison is reproducible and reviewable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crm_platform.cost.estimate.lines import Inventory, Line
from crm_platform.settings.model import CostAssumptions, RegionVolumes

SEED = Path(__file__).resolve().parent / "seed.yaml"


@dataclass(frozen=True)
class SeedGap:
    what: str
    why: str


def _number(value: Any, volumes: CostAssumptions) -> float:
    """A number, ``hours`` or ``volumes.<field>[.<role>]``."""
    if isinstance(value, int | float):
        return float(value)
    if value == "hours":
        return volumes.hours_per_month
    parts = str(value).split(".")
    if parts[0] != "volumes" or len(parts) not in (2, 3):
        raise ValueError(f"seed.yaml: {value!r} is not a number, hours or volumes.<field>")
    found = getattr(volumes, parts[1])
    if isinstance(found, RegionVolumes):
        return found.of(parts[2] if len(parts) == 3 else "primary")
    return float(found)


def seed_inventory(
    volumes: CostAssumptions, regions: dict[str, str], path: Path = SEED
) -> tuple[Inventory, tuple[SeedGap, ...]]:
    """The seed's lines; ``regions`` maps a role (primary, dr, global) to a region."""
    data = yaml.safe_load(path.read_text())
    lines = []
    for item in data["items"]:
        count = _number(item.get("count", 1), volumes)
        each = _number(item.get("each", 1), volumes) * float(item.get("scale", 1))
        lines.append(
            Line(
                stack="seed",
                region=regions[item["region"]],
                resource=item["what"],
                kind=item["kind"],
                what=item["what"],
                key=item["key"],
                count=count,
                each=each,
                tags=frozenset(item.get("tags", [])),
                note=item.get("source", ""),
            )
        )
    gaps = tuple(SeedGap(g["what"], g["why"]) for g in data.get("not_priced", []))
    return Inventory(tuple(lines), (), {}), gaps
