"""What every stack of the platform shares: explicit environment and standard tags."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from crm_platform.stacks.context import StackContext


class PlatformStack(cdk.Stack):
    """A stack pinned to an account and region, with no context lookups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        context: StackContext,
        region: str,
        description: str,
        availability_zones: list[str],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=construct_id,
            env=cdk.Environment(account=context.settings.account, region=region),
            description=description,
            termination_protection=context.settings.environment == "prod",
        )
        self.context = context
        self.names = context.names
        self.settings = context.settings
        self._zones = availability_zones

    @property
    def availability_zones(self) -> list[str]:
        """The configured zones: CDK would otherwise look them up, which needs credentials."""
        return self._zones
