"""The one place that knows how resources are named.

Stacks in different regions refer to each other through these deterministic
names and ARNs (a replica's source ARN, a replication destination, a key alias)
instead of CloudFormation cross-region exports, which need custom resources and
couple stack lifecycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_platform.settings import Settings

# The end of the telemetry log group's name (``Names.telemetry_log_group``), by which the
# cost estimator finds it in the assembly.
TELEMETRY_LOG_SUFFIX = "/twenty/otel-metrics"

GLOBAL_REGION = "us-east-1"  # CloudFront certificates and WAF scope, CUR, Cost Anomaly Detection


@dataclass(frozen=True)
class Names:
    """Names and ARNs of one environment: derived from a handful of settings, nothing else.

    It holds no settings object, release or size: what a stack needs besides names comes
    from its context (stacks/context.py), so a name can never depend on a size by accident.
    """

    project: str
    environment: str
    account: str
    primary_region: str
    dr_region: str
    domain: str  # the public DNS name (domain.name)
    attachments_bucket_name: str | None = None  # storage.attachments_bucket, when set

    @classmethod
    def of(cls, settings: Settings) -> Names:
        return cls(
            project=settings.project,
            environment=settings.environment,
            account=settings.account,
            primary_region=settings.regions.primary,
            dr_region=settings.regions.dr,
            domain=settings.domain.name,
            attachments_bucket_name=settings.storage.attachments_bucket,
        )

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    # --- stacks -------------------------------------------------------------------------
    @property
    def global_stack(self) -> str:
        return f"{self.prefix}-global"

    @property
    def dr_stack(self) -> str:
        return f"{self.prefix}-dr"

    @property
    def registry_stack(self) -> str:
        """Twenty's image repository and its publish build, before any application stack."""
        return f"{self.prefix}-registry"

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
        return f"arn:aws:kms:{region}:{self.account}:{self.kms_alias}"

    @property
    def secrets_prefix(self) -> str:
        """Every secret of this environment is named under this prefix."""
        return f"{self.project}/{self.environment}/"

    @property
    def db_secret(self) -> str:
        """The RDS master's credentials: read only by the one-off bootstrap task."""
        return f"{self.secrets_prefix}database/master"

    @property
    def db_app_secret(self) -> str:
        """Twenty's own database user's credentials: what every Twenty task reads."""
        return f"{self.secrets_prefix}database/app"

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
        """The DR replicas the failover makes standalone: those the DR tier reads, and the
        master's (for a person's work on the promoted database)."""
        return (self.db_secret, self.db_app_secret, self.app_secret, self.encryption_key_secret)

    # --- database -----------------------------------------------------------------------
    @property
    def db_instance(self) -> str:
        return f"{self.prefix}-postgres"

    @property
    def db_replica(self) -> str:
        return f"{self.prefix}-postgres-dr"

    @property
    def db_instance_arn(self) -> str:
        return f"arn:aws:rds:{self.primary_region}:{self.account}:db:{self.db_instance}"

    @property
    def db_name(self) -> str:
        return "twenty"

    def _regional(self, base: str, region: str) -> str:
        """``base`` in the primary region, ``base-dr`` in the DR region."""
        return base if region == self.primary_region else f"{base}-dr"

    # --- cache --------------------------------------------------------------------------
    def cache_group(self, region: str) -> str:
        return self._regional(f"{self.prefix}-cache", region)

    # --- storage ------------------------------------------------------------------------
    @property
    def attachments_bucket(self) -> str:
        return self.attachments_bucket_name or f"{self.project}-attachments-{self.account}"

    @property
    def attachments_bucket_dr(self) -> str:
        return self.attachments_bucket_in(self.dr_region)

    def attachments_bucket_in(self, region: str) -> str:
        return self._regional(self.attachments_bucket, region)

    def access_logs_bucket(self, region: str) -> str:
        return f"{self.prefix}-access-logs-{self.account}-{region}"

    # --- backup -------------------------------------------------------------------------
    def backup_vault(self, region: str) -> str:
        return self._regional(f"{self.prefix}-backup-vault", region)

    def backup_vault_arn(self, region: str) -> str:
        return f"arn:aws:backup:{region}:{self.account}:backup-vault:{self.backup_vault(region)}"

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
    def origin_domain(self) -> str:
        """What CloudFront connects to; Route 53 failover picks the region behind it."""
        return f"origin.{self.domain}"

    def direct_origin_domain(self, region: str) -> str:
        """One region's load balancer, whatever the switch says (probes, tests)."""
        side = "primary" if region == self.primary_region else "dr"
        return f"{side}.origin.{self.domain}"

    @property
    def public_url(self) -> str:
        return f"https://{self.domain}"

    @property
    def switch_parameter(self) -> str:
        """The durable traffic-switch state in the DR region: ``primary`` or ``dr``."""
        return f"/{self.project}/{self.environment}/dr/traffic"

    @property
    def switch_alarm(self) -> str:
        """The DR-region alarm whose data Route 53 reads to keep traffic on the primary."""
        return f"{self.prefix}-serve-from-dr"

    @property
    def switch_key_alias(self) -> str:
        """The DR-region HMAC key that signs the switch's state (security/switch_key.py)."""
        return f"alias/{self.prefix}-dr-switch"

    def switch_key_alias_arn(self, region: str) -> str:
        return f"arn:aws:kms:{region}:{self.account}:{self.switch_key_alias}"

    @property
    def switch_beacon_table(self) -> str:
        """The DR-region table only the switch's beacon writes (failover/switch.py)."""
        return f"{self.prefix}-dr-switch-beacon"

    @property
    def switch_beacon_function(self) -> str:
        """The DR-region function that verifies the switch's state and writes the beacon."""
        return f"{self.prefix}-dr-switch-beacon"

    @property
    def failover_step_role(self) -> str:
        """The failover step function's role: named, so the switch key can name it."""
        return f"{self.prefix}-dr-failover-step"

    @property
    def fence_keeper_function(self) -> str:
        """The DR function (and its role) that keeps the old primary fenced while DR
        serves: named, so the switch key can let it verify the switch."""
        return f"{self.prefix}-dr-fence-keeper"

    @property
    def failover_parameter(self) -> str:
        """Failed-over state in the DR region (JSON); deploys refuse unless it is 'none'."""
        return f"/{self.project}/{self.environment}/dr/failover"

    @property
    def impaired_alarm(self) -> str:
        """DR-region composite alarm: the primary looks impaired from DR."""
        return f"{self.prefix}-primary-impaired"

    def probe_down_alarm(self, metric: str) -> str:
        """The DR-region alarm on one probe metric (contracts.PROBE_METRICS) failing."""
        return f"{self.impaired_alarm}-{metric.lower()}-down"

    @property
    def probe_silent_alarm(self) -> str:
        """The DR-region alarm raised when the probe stops reporting at all."""
        return f"{self.impaired_alarm}-probe-silent"

    @property
    def failover_runs_table(self) -> str:
        return f"{self.prefix}-dr-runs"

    @property
    def failover_state_machine(self) -> str:
        return f"{self.prefix}-failover"

    @property
    def operator_role(self) -> str:
        """The DR-region role an operator assumes for incident commands (failover, switch)."""
        return f"{self.prefix}-dr-operator"

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

    @property
    def telemetry_log_group(self) -> str:
        """Where the collector sidecar writes Twenty's metrics as EMF (same name in each
        region; compute/telemetry.py)."""
        return f"/{self.prefix}{TELEMETRY_LOG_SUFFIX}"

    def task_family(self, role: str) -> str:
        return f"{self.task_family_prefix}{role}"

    def sql_task_roles(self, region: str) -> tuple[str, str]:
        """The SQL task's task role and execution role in ``region`` (compute/sql_task.py):
        named, so the failover's and the operator's roles in the DR stack can pass them."""
        base = self._regional(f"{self.prefix}-sql", region)
        return f"{base}-task", f"{base}-execution"

    def jobs_task_roles(self, region: str) -> tuple[str, str]:
        """The jobs task's task role and execution role in ``region`` (compute/application.py):
        named, so the DR stack's roles can pass them, the primary's included (failback's
        purge and job registration run the primary's jobs task as the operator role)."""
        base = self._regional(f"{self.prefix}-jobs", region)
        return f"{base}-task", f"{base}-execution"

    def bootstrap_task_roles(self, region: str) -> tuple[str, str]:
        """The database bootstrap task's task role and execution role in ``region``
        (compute/application.py, ``add_bootstrap``): named, so the DR stack's operator role
        can pass the primary's (``crm-platform restore --execute`` runs it once after the
        restored instance takes the serving name: ops/restore_service.py, reset_logins)."""
        base = self._regional(f"{self.prefix}-bootstrap", region)
        return f"{base}-task", f"{base}-execution"

    # --- cost (us-east-1) ---------------------------------------------------------------
    @property
    def budget(self) -> str:
        return f"{self.prefix}-monthly"

    @property
    def anomaly_monitor(self) -> str:
        return f"{self.prefix}-services"

    @property
    def usage_report_bucket(self) -> str:
        return f"{self.prefix}-cost-reports-{self.account}"

    @property
    def usage_report(self) -> str:
        return f"{self.prefix}-cur"

    # --- e-mail (SES, one sender per serving region) -------------------------------------
    @property
    def smtp_secret(self) -> str:
        """Each serving region's own SES SMTP credentials (same name, never replicated)."""
        return f"{self.secrets_prefix}email/smtp"

    def smtp_user(self, region: str) -> str:
        """The IAM user whose key the region's SMTP password is derived from (IAM is global,
        so the region is part of the name)."""
        return f"{self.prefix}-smtp-{region}"

    def smtp_user_arn(self, region: str) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.smtp_user(region)}"

    def smtp_senders_group(self, region: str) -> str:
        return f"{self.prefix}-smtp-senders-{region}"

    @property
    def email_configuration_set(self) -> str:
        """The configuration set every message of the domain identity goes through."""
        return f"{self.prefix}-email"

    # --- delivery -----------------------------------------------------------------------
    @property
    def repository(self) -> str:
        """The one ECR repository of Twenty's image (same name in the DR replica)."""
        return f"{self.prefix}/twenty"

    def repository_uri(self, region: str) -> str:
        return f"{self.account}.dkr.ecr.{region}.amazonaws.com/{self.repository}"

    def repository_arn(self, region: str) -> str:
        return f"arn:aws:ecr:{region}:{self.account}:repository/{self.repository}"

    @property
    def registry_key_alias(self) -> str:
        """The registry stack's own key (the primary region key is created after it)."""
        return f"alias/{self.prefix}-registry"

    @property
    def publish_project(self) -> str:
        """The CodeBuild project ``crm-platform deploy`` publishes the release with."""
        return f"{self.prefix}-publish"

    def publish_project_arn(self, region: str) -> str:
        return f"arn:aws:codebuild:{region}:{self.account}:project/{self.publish_project}"

    @property
    def release_parameter(self) -> str:
        """The release the database schema is at (JSON), written after each migration."""
        return f"/{self.project}/{self.environment}/release"

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-release"

    def pipeline_artifacts_bucket(self, region: str) -> str:
        return f"{self.prefix}-pipeline-{self.account}-{region}"

    @property
    def pull_through_prefix(self) -> str:
        return "docker-hub"
