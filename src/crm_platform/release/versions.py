"""Twenty release tags and the upgrade path between two of them.

Twenty migrates its schema forward only: a release older than the schema does not know
the tables it finds, and redeploying an old image does not undo a migration. Some
releases are documented upgrade stops (each must run once on the way up); jumping over
one leaves the data without that release's upgrade commands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


class UpgradeRefused(Exception):
    """The target release cannot run on the schema as it is; the message says why."""


def parse(tag: str) -> tuple[int, int, int]:
    match = _TAG.fullmatch(tag)
    if not match:
        raise ValueError(f"{tag!r} is not a full release tag such as v2.45.6")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def check_upgrade(current: str | None, target: str, required_steps: Iterable[str]) -> None:
    """Refuse a downgrade and a jump over a required upgrade stop; ``None``: empty schema."""
    if current is None:
        return
    now, then = parse(current), parse(target)
    if then < now:
        raise UpgradeRefused(
            f"the schema is at {current}; {target} is older and Twenty migrations cannot be "
            "undone by deploying an older image (restore the pre-upgrade snapshot instead: "
            "docs/emergency-recovery.md)"
        )
    skipped = sorted((s for s in required_steps if now < parse(s) < then), key=parse)
    if skipped:
        raise UpgradeRefused(
            f"{current} -> {target} skips the required upgrade step(s) "
            f"{', '.join(skipped)} (twenty.required_upgrade_steps): release {skipped[0]} first"
        )
