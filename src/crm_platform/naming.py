"""The one place that knows how resources are named.

Stacks in different regions refer to each other through these deterministic
names and ARNs (a replica's source ARN, a replication destination, a key alias)
instead of CloudFormation cross-region exports, which need custom resources and
couple stack lifecycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_platform.settings import Settings

GLOBAL_REGION = "us-east-1"  # CloudFront certificates and WAF scope, CUR, Cost Anomaly Detection


@dataclass(frozen=True)
class Names:
    """Names and ARNs derived from one environment's settings."""

    settings: Settings
    # The recorded release's image digest (release/record.py), when deploying one that
    # the pipeline published; None: the upstream image of twenty.image:twenty.version.
    release_digest: str | None = None
    # First deploy only: services at zero tasks until the migration created the schema.
    hold_services: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.settings.project}-{self.settings.environment}"

    # --- stacks -------------------------------------------------------------------------
    @property
    def global_stack(self) -> str:
        return f"{self.prefix}-global"

    @property
    def dr_stack(self) -> str:
        return f"{self.prefix}-dr"

    @property
    def primary_stack(self) -> str:
        return f"{self.prefix}-primary"

    @property
    def dr_database_stack(self) -> str:
        return f"{self.prefix}-dr-database"

    @property
    def dr_app_stack(self) -> str:
        return f"{self.prefix}-dr-app"

    @property
    def edge_stack(self) -> str:
        return f"{self.prefix}-edge"

    @property
    def pipeline_stack(self) -> str:
        return f"{self.prefix}-pipeline"

    # --- keys and secrets ---------------------------------------------------------------
    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    def kms_alias_arn(self, region: str) -> str:
        return f"arn:aws:kms:{region}:{self.settings.account}:{self.kms_alias}"

    @property
    def secrets_prefix(self) -> str:
        """Every secret of this environment is named under this prefix."""
        return f"{self.settings.project}/{self.settings.environment}/"

    @property
    def db_secret(self) -> str:
        return f"{self.secrets_prefix}database/master"

    @property
    def encryption_key_secret(self) -> str:
        return f"{self.secrets_prefix}app/encryption-key"

    @property
    def cache_auth_secret(self) -> str:
        return f"{self.secrets_prefix}cache/auth-token"

    @property
    def app_secret(self) -> str:
        return f"{self.secrets_prefix}app/app-secret"

    def origin_secret(self, slot: str) -> str:
        """One of the two origin-verify header slots (``a`` or ``b``)."""
        return f"{self.secrets_prefix}edge/origin-verify-{slot}"

    @property
    def dr_stack_secret_names(self) -> tuple[str, ...]:
        """The secrets whose DR replicas the DR tier reads (and failover makes writable)."""
        return (self.db_secret, self.app_secret, self.encryption_key_secret)

    # --- database -----------------------------------------------------------------------
    @property
    def db_instance(self) -> str:
        return f"{self.prefix}-postgres"

    @property
    def db_replica(self) -> str:
        return f"{self.prefix}-postgres-dr"

    @property
    def db_instance_arn(self) -> str:
        s = self.settings
        return f"arn:aws:rds:{s.regions.primary}:{s.account}:db:{self.db_instance}"

    @property
    def db_name(self) -> str:
        return "twenty"

    def _regional(self, base: str, region: str) -> str:
        """``base`` in the primary region, ``base-dr`` in the DR region."""
        return base if region == self.settings.regions.primary else f"{base}-dr"

    # --- cache --------------------------------------------------------------------------
    def cache_group(self, region: str) -> str:
        return self._regional(f"{self.prefix}-cache", region)

    # --- storage ------------------------------------------------------------------------
    @property
    def attachments_bucket(self) -> str:
        return self.settings.storage.attachments_bucket or (
            f"{self.settings.project}-attachments-{self.settings.account}"
        )

    @property
    def attachments_bucket_dr(self) -> str:
        return self.attachments_bucket_in(self.settings.regions.dr)

    def attachments_bucket_in(self, region: str) -> str:
        return self._regional(self.attachments_bucket, region)

    def access_logs_bucket(self, region: str) -> str:
        return f"{self.prefix}-access-logs-{self.settings.account}-{region}"

    # --- backup -------------------------------------------------------------------------
    def backup_vault(self, region: str) -> str:
        return self._regional(f"{self.prefix}-backup-vault", region)

    def backup_vault_arn(self, region: str) -> str:
        return (
            f"arn:aws:backup:{region}:{self.settings.account}:backup-vault:"
            f"{self.backup_vault(region)}"
        )

    @property
    def restore_break_glass_role(self) -> str:
        """The role an operator picks for a manual restore (docs/emergency-recovery.md)."""
        return f"{self.prefix}-restore-break-glass"

    @property
    def backup_selection_tag(self) -> tuple[str, str]:
        """The tag AWS Backup selects by; put on the database and the attachment bucket."""
        return "backup-plan", f"{self.prefix}-daily"

    # --- DNS and the traffic switch ------------------------------------------------------
    @property
    def domain(self) -> str:
        return self.settings.domain.name

    @property
    def origin_domain(self) -> str:
        """What CloudFront connects to; Route 53 failover picks the region behind it."""
        return f"origin.{self.domain}"

    def direct_origin_domain(self, region: str) -> str:
        """One region's load balancer, whatever the switch says (probes, tests)."""
        side = "primary" if region == self.settings.regions.primary else "dr"
        return f"{side}.origin.{self.domain}"

    @property
    def public_url(self) -> str:
        return f"https://{self.domain}"

    @property
    def switch_parameter(self) -> str:
        """The durable traffic-switch state in the DR region: ``primary`` or ``dr``."""
        return f"/{self.settings.project}/{self.settings.environment}/dr/traffic"

    @property
    def switch_alarm(self) -> str:
        """The DR-region alarm whose data Route 53 reads to keep traffic on the primary."""
        return f"{self.prefix}-serve-from-dr"

    @property
    def failover_parameter(self) -> str:
        """Failed-over state in the DR region (JSON); deploys refuse unless it is 'none'."""
        return f"/{self.settings.project}/{self.settings.environment}/dr/failover"

    @property
    def impaired_alarm(self) -> str:
        """DR-region composite alarm: the primary looks impaired from DR."""
        return f"{self.prefix}-primary-impaired"

    @property
    def failover_runs_table(self) -> str:
        return f"{self.prefix}-dr-runs"

    @property
    def failover_state_machine(self) -> str:
        return f"{self.prefix}-failover"

    @property
    def dr_rotation_function(self) -> str:
        """The rotation the promoted database's secret switches to (deployed unused)."""
        return f"{self.prefix}-dr-rotation"

    @property
    def replica_lag_alarm(self) -> str:
        return f"{self.prefix}-replica-lag"

    def alarm_prefix(self, region: str) -> str:
        return self._regional(self.prefix, region) + "-"

    # --- compute ------------------------------------------------------------------------
    def ecs_cluster(self, region: str) -> str:
        return self._regional(f"{self.prefix}-cluster", region)

    @property
    def server_service(self) -> str:
        """The server's ECS service (same name in each region's cluster)."""
        return f"{self.prefix}-server"

    @property
    def worker_service(self) -> str:
        return f"{self.prefix}-worker"

    @property
    def task_family_prefix(self) -> str:
        """Every task definition family of this environment starts with this."""
        return f"{self.prefix}-"

    def task_family(self, role: str) -> str:
        return f"{self.task_family_prefix}{role}"

    # --- cost (us-east-1) ---------------------------------------------------------------
    @property
    def budget(self) -> str:
        return f"{self.prefix}-monthly"

    @property
    def anomaly_monitor(self) -> str:
        return f"{self.prefix}-services"

    @property
    def usage_report_bucket(self) -> str:
        return f"{self.prefix}-cost-reports-{self.settings.account}"

    @property
    def usage_report(self) -> str:
        return f"{self.prefix}-cur"

    # --- delivery -----------------------------------------------------------------------
    @property
    def repository(self) -> str:
        """The one ECR repository of Twenty's image (same name in the DR replica)."""
        return f"{self.prefix}/twenty"

    def repository_uri(self, region: str) -> str:
        return f"{self.settings.account}.dkr.ecr.{region}.amazonaws.com/{self.repository}"

    def image(self, region: str) -> str:
        """What Twenty's tasks in ``region`` run: the recorded digest, or the upstream tag."""
        if self.release_digest:
            return f"{self.repository_uri(region)}@{self.release_digest}"
        return f"{self.settings.twenty.image}:{self.settings.twenty.version}"

    def repository_arn(self, region: str) -> str:
        return f"arn:aws:ecr:{region}:{self.settings.account}:repository/{self.repository}"

    @property
    def release_parameter(self) -> str:
        """The release the database schema is at (JSON), written after each migration."""
        return f"/{self.settings.project}/{self.settings.environment}/release"

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-release"

    def pipeline_artifacts_bucket(self, region: str) -> str:
        return f"{self.prefix}-pipeline-{self.settings.account}-{region}"

    @property
    def pull_through_prefix(self) -> str:
        return "docker-hub"
