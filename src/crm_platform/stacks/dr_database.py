"""DR region, deployed after the primary: the cross-region read replica."""

from __future__ import annotations

from constructs import Construct

from crm_platform.database.replica import ReplicaDatabase
from crm_platform.stacks.base import PlatformStack
from crm_platform.stacks.context import StackContext
from crm_platform.stacks.dr import DrStack


class DrDatabaseStack(PlatformStack):
    """The replica of the primary database, on the DR foundation's network and key."""

    def __init__(
        self, scope: Construct, construct_id: str, *, context: StackContext, dr: DrStack
    ) -> None:
        s, names = context.settings, context.names
        super().__init__(
            scope,
            construct_id,
            context=context,
            region=s.regions.dr,
            availability_zones=s.network.dr.availability_zones,
            description=f"{names.prefix}: cross-region read replica in {s.regions.dr}",
        )
        self.replica = ReplicaDatabase(
            self,
            "Replica",
            config=s.database,
            source_arn=names.db_instance_arn,
            instance_identifier=names.db_replica,
            vpc=dr.network.vpc,
            isolated_subnets=dr.network.isolated_subnets,
            security_group=dr.security_groups.database,
            key=dr.key,
            rpo_seconds=s.dr.rpo_seconds,
            alerts=dr.alerts,
            lag_alarm_name=names.replica_lag_alarm,
        )
