"""DR region foundation, deployed before the primary: what the primary replicates into."""

from __future__ import annotations

from constructs import Construct

from crm_platform.naming import Names
from crm_platform.stacks.regional import RegionalStack


class DrStack(RegionalStack):
    """The DR region's mirror of the primary's foundation (standby sizes, no source data).

    The compute and edge tiers of the DR region join this stack in later issues.
    """

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        dr = names.settings.regions.dr
        super().__init__(
            scope,
            construct_id,
            names=names,
            side="dr",
            description=f"{names.prefix}: DR region foundation in {dr}",
        )
