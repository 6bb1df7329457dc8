"""us-east-1, deployed first: what AWS offers only there and other stacks rely on.

The key encrypts the us-east-1 replicas of the origin-verify secrets (CloudFront's
dynamic reference resolves in its own stack's region), the edge's log groups and the
alert topic that the Route 53 health-check alarms (metrics only in us-east-1) and, later,
the cost alerts publish to.
"""

from __future__ import annotations

from constructs import Construct

from crm_platform.monitoring.alerts import AlertTopic
from crm_platform.naming import GLOBAL_REGION, Names
from crm_platform.security.key import RegionKey
from crm_platform.stacks.base import PlatformStack


class GlobalStack(PlatformStack):
    """Key and alert topic of us-east-1."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        super().__init__(
            scope,
            construct_id,
            names=names,
            region=GLOBAL_REGION,
            availability_zones=[],  # no VPC here: nothing may ask for zones
            description=f"{names.prefix}: us-east-1 key and alerts (edge and cost use them)",
        )
        self.key = RegionKey(
            self,
            "Key",
            alias=names.kms_alias,
            services=("secretsmanager", "sns"),
            secret_replicas_prefix=names.secrets_prefix,
        ).key
        self.alerts = AlertTopic(
            self, "Alerts", key=self.key, email=names.settings.alerts.email
        ).topic
