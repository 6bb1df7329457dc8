"""DR region foundation, deployed before the primary: what the primary replicates into."""

from __future__ import annotations

from constructs import Construct

from crm_platform.failover.switch import TrafficSwitch
from crm_platform.naming import Names
from crm_platform.stacks.regional import RegionalStack


class DrStack(RegionalStack):
    """The DR region's mirror of the primary's foundation (standby sizes, no source data).

    It also holds the traffic switch (failover/switch.py), which the primary's PRIMARY
    origin record depends on and which must live in the region that flips it.
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
        # Before the primary: the primary's switch health check names this alarm.
        self.switch = TrafficSwitch(
            self,
            "TrafficSwitch",
            parameter_name=names.switch_parameter,
            alarm_name=names.switch_alarm,
            environment=names.prefix,
            functions=self.functions,
        )
