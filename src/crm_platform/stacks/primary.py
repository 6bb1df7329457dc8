"""Primary region: the serving tiers and the source of every replica."""

from __future__ import annotations

from constructs import Construct

from crm_platform.naming import Names
from crm_platform.networking.construct import Network
from crm_platform.networking.security_groups import TierSecurityGroups
from crm_platform.security.key import RegionKey
from crm_platform.security.secrets import AppSecrets
from crm_platform.stacks.base import PlatformStack


class PrimaryStack(PlatformStack):
    """Key, network, security groups and generated secrets of the primary region."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Names) -> None:
        s = names.settings
        super().__init__(
            scope,
            construct_id,
            names=names,
            region=s.regions.primary,
            description=f"{names.prefix}: primary region in {s.regions.primary}",
        )
        self.key = RegionKey(self, "Key", alias=names.kms_alias).key
        self.network = Network(
            self,
            "Network",
            config=s.network.primary,
            key=self.key,
            flow_log_retention_days=s.network.flow_log_retention_days,
        )
        self.security_groups = TierSecurityGroups(
            self,
            "SecurityGroups",
            vpc=self.network.vpc,
            cloudfront_prefix_list_id=s.network.primary.cloudfront_prefix_list_id,
        )
        self.secrets = AppSecrets(
            self,
            "Secrets",
            key=self.key,
            db_secret_name=names.db_secret,
            encryption_key_secret_name=names.encryption_key_secret,
            dr_region=s.regions.dr,
            dr_key_alias=names.kms_alias,
        )
