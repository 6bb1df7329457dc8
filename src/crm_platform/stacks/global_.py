"""us-east-1: what AWS offers only there (CloudFront certificate, WAF scope, CUR, anomalies)."""

from __future__ import annotations

from constructs import Construct

from crm_platform.naming import GLOBAL_REGION, Names
from crm_platform.security.key import RegionKey
from crm_platform.stacks.base import PlatformStack


class GlobalStack(PlatformStack):
    """Holds the us-east-1 key today; edge and cost constructs join it in later issues."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        super().__init__(
            scope,
            construct_id,
            names=names,
            region=GLOBAL_REGION,
            availability_zones=[],  # no VPC here: nothing may ask for zones
            description=f"{names.prefix}: us-east-1 services (key; edge and cost to come)",
        )
        # Nothing uses it yet: administration and logs only until edge and cost arrive.
        self.key = RegionKey(
            self, "Key", alias=names.kms_alias, services=(), encrypted_topics=False
        ).key
