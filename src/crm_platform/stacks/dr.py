"""DR region foundation, deployed before the primary: what the primary replicates into."""

from __future__ import annotations

from constructs import Construct

from crm_platform.backup.standby_plan import StandbyPlan
from crm_platform.failover.switch import SwitchWriters, TrafficSwitch
from crm_platform.pipeline.artifact_bucket import ArtifactBucket
from crm_platform.registry.replica_template import ReplicaTemplate
from crm_platform.stacks.context import StackContext
from crm_platform.stacks.regional import RegionalStack


class DrStack(RegionalStack):
    """The DR region's mirror of the primary's foundation (standby sizes, no source data).

    It also holds the traffic switch (failover/switch.py), which the primary's PRIMARY
    origin record depends on and which must live in the region that flips it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, context: StackContext) -> None:
        names = context.names
        dr = context.settings.regions.dr
        super().__init__(
            scope,
            construct_id,
            context=context,
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
            key_alias=names.switch_key_alias,
            beacon_table=names.switch_beacon_table,
            beacon_function=names.switch_beacon_function,
            # Both are named roles of the DR application stack, deployed later.
            writers=SwitchWriters(
                tuple(
                    f"arn:aws:iam::{names.account}:role/{role}"
                    for role in (names.failover_step_role, names.operator_role)
                ),
                # The fence keeper acts only on a verified "dr" (failover/fence_keeper.py).
                (f"arn:aws:iam::{names.account}:role/{names.fence_keeper_function}",),
            ),
            key=self.key,
            functions=self.functions,
        )
        # Idle until the failover tags what serves in DR (backup/standby_plan.py).
        self.standby_backups = StandbyPlan(
            self,
            "StandbyBackups",
            config=context.settings.backup,
            vault=self.vault,
            primary_vault_arn=names.backup_vault_arn(context.settings.regions.primary),
            selection_tag=names.backup_selection_tag,
            functions=self.functions,
        )
        pipeline = context.settings.pipeline
        # In every environment, before the registry stack's first push: the replica is
        # created with these rules (docs/adr/0039).
        ReplicaTemplate(
            self,
            "ImageReplica",
            repository_name=names.repository,
            key=self.key,
            keep_release_tags=pipeline.keep_release_tags,
        )
        if pipeline.enabled:
            # The pipeline's DR actions need an artifact store in this region.
            ArtifactBucket(
                self,
                "PipelineArtifacts",
                bucket_name=names.pipeline_artifacts_bucket(dr),
                key=self.key,
                access_logs=self.access_logs,
            )
