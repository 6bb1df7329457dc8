"""DR region foundation, deployed before the primary: what the primary replicates into."""

from __future__ import annotations

from constructs import Construct

from crm_platform.naming import Names
from crm_platform.networking.construct import Network
from crm_platform.networking.security_groups import TierSecurityGroups
from crm_platform.security.key import RegionKey
from crm_platform.stacks.base import PlatformStack


class DrStack(PlatformStack):
    """The DR region's key, network and security groups (and, later, its standby tiers)."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        s = names.settings
        super().__init__(
            scope,
            construct_id,
            names=names,
            region=s.regions.dr,
            description=f"{names.prefix}: DR region foundation in {s.regions.dr}",
        )
        self.key = RegionKey(self, "Key", alias=names.kms_alias).key
        self.network = Network(
            self,
            "Network",
            config=s.network.dr,
            key=self.key,
            flow_log_retention_days=s.network.flow_log_retention_days,
        )
        self.security_groups = TierSecurityGroups(
            self,
            "SecurityGroups",
            vpc=self.network.vpc,
            cloudfront_prefix_list_id=s.network.dr.cloudfront_prefix_list_id,
        )
