"""The typed settings model: every field an environment may set, with its allowed values.

Field-level rules live on the fields; rules that relate several fields live in
``crm_platform.settings.rules`` so each problem can be reported at its exact path.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from crm_platform.settings import validators as v


def _pattern(regex: object, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):  # type: ignore[attr-defined]
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


def _region(value: str) -> str:
    if value not in v.KNOWN_REGIONS:
        raise ValueError(f"unknown AWS region; allowed: {', '.join(sorted(v.KNOWN_REGIONS))}")
    return value


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"must be an IPv4 CIDR block with no host bits set ({err})") from None
    if net.version != 4:
        raise ValueError("must be an IPv4 CIDR block")
    return value


def _cron(value: str) -> str:
    problem = v.cron_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _log_retention(value: int) -> int:
    if value not in v.LOG_RETENTION_DAYS:
        raise ValueError(
            "CloudWatch Logs accepts only "
            + ", ".join(str(d) for d in sorted(v.LOG_RETENTION_DAYS))
        )
    return value


Region = Annotated[str, AfterValidator(_region)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Cron = Annotated[str, AfterValidator(_cron)]
LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]
Email = Annotated[str, _pattern(v.EMAIL, "an e-mail address such as alerts@example.com")]
DomainName = Annotated[str, _pattern(v.DOMAIN, "a lower-case DNS name such as crm.example.com")]
BucketName = Annotated[
    str, _pattern(v.BUCKET, "3-63 lower-case letters, digits or hyphens (no dots)")
]
PositiveDays = Annotated[int, Field(ge=1)]
_DAY_TIME = r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d"
MaintenanceWindow = Annotated[str, Field(pattern=rf"^{_DAY_TIME}-{_DAY_TIME}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")]


NatGateways = Annotated[int, Field(ge=1, le=2)]


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Regions(Strict):
    primary: Region = "ap-northeast-1"
    dr: Region = "ap-southeast-1"


class InterfaceEndpoint(StrEnum):
    ECR_API = "ecr.api"
    ECR_DKR = "ecr.dkr"
    LOGS = "logs"
    SECRETS_MANAGER = "secretsmanager"
    SSM = "ssm"
    KMS = "kms"
    STS = "sts"


class RegionNetwork(Strict):
    """One region's VPC: two AZs, each with a public, a private and an isolated subnet."""

    vpc_cidr: Cidr
    availability_zones: Annotated[list[str], Field(min_length=2, max_length=2)]
    public_subnets: Annotated[list[Cidr], Field(min_length=2, max_length=2)]
    private_subnets: Annotated[list[Cidr], Field(min_length=2, max_length=2)]
    isolated_subnets: Annotated[list[Cidr], Field(min_length=2, max_length=2)]
    nat_gateways: NatGateways
    interface_endpoints: list[InterfaceEndpoint] = []
    # The region's "com.amazonaws.global.cloudfront.origin-facing" managed prefix list
    # (aws ec2 describe-managed-prefix-lists); the load balancer admits only these sources.
    cloudfront_prefix_list_id: Annotated[str, Field(pattern=r"^pl-[0-9a-f]{8,17}$")]


class PrimaryNetwork(RegionNetwork):
    nat_gateways: NatGateways = 2  # one per zone: losing a zone does not cut egress


class DrNetwork(RegionNetwork):
    nat_gateways: NatGateways = 1  # standby region: one until failover


class Network(Strict):
    primary: PrimaryNetwork
    dr: DrNetwork
    flow_log_retention_days: LogRetentionDays = 90


class Alerts(Strict):
    email: Email


class Domain(Strict):
    name: DomainName
    # The public hosted zone that serves ``name`` (already delegated: DNS validation of
    # the certificates and the records of the traffic switch are written into it).
    hosted_zone_id: Annotated[
        str, _pattern(v.HOSTED_ZONE_ID, "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
    ]


class Twenty(Strict):
    """Which Twenty release runs (server and worker are the same image)."""

    image: Annotated[
        str, _pattern(v.IMAGE_REPOSITORY, "an image repository such as twentycrm/twenty")
    ] = "twentycrm/twenty"
    # A full release tag; floating tags (latest, v2, v2.45) are refused so a rollback
    # never redeploys whatever the tag points at today.
    version: Annotated[
        str,
        _pattern(v.RELEASE_TAG, "a full release tag such as v2.45.6 (never latest, v2 or v2.45)"),
    ] = "v2.45.6"
    # Releases Twenty documents as required upgrade stops: a deploy or pipeline run that
    # would jump over one of them is refused (upgrade one stop at a time).
    required_upgrade_steps: list[
        Annotated[str, _pattern(v.RELEASE_TAG, "a full release tag such as v1.0.0")]
    ] = []


def _replica_backups_supported(version: str) -> str:
    """The DR replica takes its own automated backups, which RDS for PostgreSQL offers
    from 14.1 on (USER_ReadRepl.html, "Automated backups for read replicas are supported
    for RDS for PostgreSQL 14.1 and higher versions only")."""
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError as err:
        raise ValueError(f"a PostgreSQL version such as 17.6, not {version!r}") from err
    if (major, minor) < (14, 1):
        raise ValueError(
            f"PostgreSQL {version}: 14.1 or later is needed (read replicas with automated "
            "backups, which the DR replica uses)"
        )
    return version


class Database(Strict):
    engine_version: Annotated[str, AfterValidator(_replica_backups_supported)] = "17.6"
    instance_class: str = "db.t3.medium"
    replica_instance_class: str = "db.t3.medium"
    multi_az: bool = True
    allocated_storage_gb: Annotated[int, Field(ge=20, le=65536)] = 20
    max_allocated_storage_gb: Annotated[int, Field(ge=21, le=65536)] = 100
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 7
    # UTC "hh:mm-hh:mm"; must not overlap the AWS Backup plan's start window.
    backup_window: Annotated[
        str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
    ] = "00:00-00:30"
    maintenance_window: MaintenanceWindow = "sun:18:00-sun:18:30"
    # Staggered from the primary's so both regions are never patched at the same moment.
    replica_maintenance_window: MaintenanceWindow = "sun:20:00-sun:20:30"
    performance_insights_retention_days: Literal[7, 31, 62, 93, 186, 372, 731] = 7
    monitoring_interval_seconds: Literal[1, 5, 10, 15, 30, 60] = 60
    log_retention_days: LogRetentionDays = 30
    slow_query_ms: Annotated[int, Field(ge=100)] = 1000
    credentials_rotation_days: Annotated[int, Field(ge=1, le=365)] = 30


class Cache(Strict):
    engine: Literal["valkey", "redis"] = "valkey"
    engine_version: Annotated[str, Field(pattern=r"^\d+\.\d+$")] = "8.0"
    node_type: Annotated[str, Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")] = "cache.t4g.small"
    # The DR region keeps a small standing cache so failover does not wait for one to build.
    dr_node_type: Annotated[str, Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")] = (
        "cache.t4g.micro"
    )
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)] = 1
    nodes: Annotated[int, Field(ge=2, le=6)] = 2  # primary and replicas across the two AZs
    # The DR cache holds nothing until a failover (queues start empty there): one node by
    # default; 2 keeps a replica in the other AZ from the first minute.
    dr_nodes: Annotated[int, Field(ge=1, le=6)] = 1


class Storage(Strict):
    attachments_bucket: BucketName | None = None  # default: crm-attachments-<account>
    noncurrent_version_expiration_days: PositiveDays = 90
    replication_time_control: bool = True


class TaskSize(Strict):
    cpu: int
    memory_mib: int
    desired_count: Annotated[int, Field(ge=1, le=100)]


class Deployment(Strict):
    """How a new server release takes traffic (ECS built-in blue/green)."""

    strategy: Literal["blue_green", "linear", "canary"] = "blue_green"
    # Both revisions keep running this long after all traffic moved (rollback window).
    bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 10
    # linear: share moved per step; canary: share of the first step.
    step_percent: Annotated[float, Field(ge=0.1, le=100)] = 10
    step_minutes: Annotated[int, Field(ge=0, le=1440)] = 5


class Compute(Strict):
    server: TaskSize
    worker: TaskSize
    autoscaling_target_cpu_percent: Annotated[int, Field(ge=10, le=95)] = 70
    autoscaling_max_tasks: Annotated[int, Field(ge=1, le=100)] = 6
    # Second scaling signal: load-balancer requests per server task per minute.
    requests_per_task_per_minute: Annotated[int, Field(ge=10, le=100000)] = 1000
    # Twenty writes only to /tmp (uploads are buffered there) and $HOME (set to /tmp).
    read_only_root_filesystem: bool = True
    deployment: Deployment = Deployment()


class Pipeline(Strict):
    """The delivery pipeline (ECR, CodeBuild, CodePipeline) in the primary region."""

    enabled: bool = False
    # The GitHub repository holding this project's code and config (owner/name).
    repository: (
        Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")]
        | None
    ) = None
    branch: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,200}$")] = "main"
    # An existing CodeConnections connection; unset: the stack creates one (PENDING until
    # its one-time handshake in the console, see README "Delivery pipeline").
    connection_arn: (
        Annotated[
            str,
            Field(
                pattern=r"^arn:aws:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:"
                r"connection/[0-9a-f-]{36}$"
            ),
        ]
        | None
    ) = None
    # Build a derived image from this Dockerfile (path in the repository) instead of
    # re-publishing the upstream release as it is.
    dockerfile: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,200}$")] | None = None
    # Amazon Inspector enhanced scanning for the whole registry (basic scan on push otherwise).
    enhanced_scanning: bool = False
    # A release with a finding at or above this severity is never deployed.
    fail_on_severity: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] = "CRITICAL"
    keep_release_tags: Annotated[int, Field(ge=1, le=1000)] = 20
    # Docker Hub credentials for an ECR pull-through cache (avoids Docker Hub pull limits);
    # Secrets Manager requires the name prefix ecr-pullthroughcache/, same region.
    docker_hub_credentials_arn: (
        Annotated[
            str,
            Field(
                pattern=r"^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:"
                r"ecr-pullthroughcache/.+$"
            ),
        ]
        | None
    ) = None
    # Only for an account whose repository the pipeline stack created (before ADR 0039):
    # the key that repository is encrypted with (the primary region key), so the registry
    # stack models it exactly when it imports it (a repository's encryption cannot change).
    imported_repository_key_arn: (
        Annotated[str, Field(pattern=r"^arn:aws:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")] | None
    ) = None
    # Images mirrored into the platform's repository beside Twenty's by every publish
    # (a sidecar's image, say), so no task pulls from a public registry at start.
    mirror_images: list[
        Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._/-]{0,200}(:[A-Za-z0-9._-]{1,128})$")]
    ] = []
    deploy_timeout_minutes: Annotated[int, Field(ge=10, le=60)] = 60
    migration_timeout_minutes: Annotated[int, Field(ge=5, le=120)] = 60


class Budget(Strict):
    limit: Annotated[float, Field(gt=0)]
    currency: Annotated[str, _pattern(v.CURRENCY, "an ISO 4217 code such as USD or JPY")]
    # AWS Budgets takes USD only: a limit in another currency is converted at this rate
    # (units of `currency` per USD), and the output says so.
    exchange_rate_per_usd: Annotated[float, Field(gt=0)] | None = None
    alert_threshold_percent: Annotated[int, Field(ge=1, le=1000)] = 80
    forecast_threshold_percent: Annotated[int, Field(ge=1, le=1000)] = 100
    # account: everything the account spends; environment: only what carries this
    # environment's `environment` tag (activate it as a cost allocation tag first).
    scope: Literal["account", "environment"] = "account"
    # Where cost alerts go (default: alerts.email). Budgets also mail it directly, so an
    # alert arrives even if the topic cannot be published to.
    email: Email | None = None
    # Cost Anomaly Detection. An account may hold one AWS services monitor: set its ARN
    # to subscribe to it instead of creating one, or turn detection off (e.g. staging
    # in prod's account, which prod's monitor already covers).
    anomaly_detection: bool = True
    anomaly_monitor_arn: (
        Annotated[str, Field(pattern=r"^arn:aws:ce::\d{12}:anomalymonitor/[0-9a-f-]+$")] | None
    ) = None
    # Alert when an anomaly's total impact reaches this (USD, as Cost Explorer reports).
    anomaly_threshold_usd: Annotated[float, Field(ge=1)] = 50
    # Cost and Usage Report: CUR 2.0 through AWS Data Exports, the legacy CUR, or none
    # (one report per account is enough).
    usage_report: Literal["data_export", "legacy", "none"] = "data_export"

    @property
    def limit_usd(self) -> float:
        """The limit AWS Budgets is given (it accepts USD only), to the cent."""
        if self.currency == "USD":
            return round(self.limit, 2)
        assert self.exchange_rate_per_usd is not None  # rules._budget refuses it otherwise
        return round(self.limit / self.exchange_rate_per_usd, 2)


class VaultLock(Strict):
    mode: Literal["none", "governance", "compliance"] = "none"
    min_retention_days: PositiveDays = 7
    max_retention_days: PositiveDays = 3650
    # Compliance mode only: days before the lock becomes immutable (AWS minimum 3).
    changeable_for_days: Annotated[int, Field(ge=3)] = 3


class Backup(Strict):
    schedule: Cron = "cron(0 3 * * ? *)"
    start_window_minutes: Annotated[int, Field(ge=60, le=1440)] = 60
    completion_window_minutes: Annotated[int, Field(ge=120)] = 480
    retention_days: PositiveDays = 35
    dr_copy_retention_days: PositiveDays = 35
    continuous_backup: bool = True
    vault_lock: VaultLock = VaultLock()
    restore_test_schedule: Cron = "cron(0 5 ? * SUN *)"


class Functions(Strict):
    """The operational Lambda functions (rotation roll, restore validation, DR steps)."""

    # Opt-in: AWS keeps 100 concurrent executions per region unreserved, and a new
    # account's quota is often 10, so reserving any fails the deploy there.
    reserve_concurrency: bool = False


class OriginHeaderVersions(Strict):
    # VersionId of each slot's secret value; set after `put-secret-value` so CloudFormation
    # re-reads it (it never re-resolves an unchanged dynamic reference). null: AWSCURRENT.
    a: Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{32,64}$")] | None = None
    b: Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{32,64}$")] | None = None


class OriginHeader(Strict):
    """The header CloudFront adds and the load balancers require (two slots for rotation)."""

    active: Literal["a", "b"] = "a"
    versions: OriginHeaderVersions = OriginHeaderVersions()


class Edge(Strict):
    """CloudFront and WAF in us-east-1."""

    # 100 has no edge locations in Japan or Singapore; 200 does.
    price_class: Literal["PriceClass_200", "PriceClass_All"] = "PriceClass_200"
    # Requests per client IP per five minutes before WAF blocks it (AWS minimum 10). An
    # office behind one NAT is one IP: a busy Twenty user makes ~750 requests in five
    # minutes (~25 per page, a page every ~10 s; assumed, to be measured on staging), so
    # 10000 lets about 13 people work at full pace from one address (docs/decisions.md,
    # "a WAF that fits Twenty's traffic").
    waf_rate_limit: Annotated[int, Field(ge=10, le=2_000_000_000)] = 10_000
    static_asset_ttl_seconds: Annotated[int, Field(ge=0, le=31_536_000)] = 3600
    origin_header: OriginHeader = OriginHeader()


class OutboundEmail(Strict):
    """Twenty's e-mail (invitations, password resets, notifications) through Amazon SES in
    each serving region; off, Twenty only logs the messages it would send."""

    enabled: bool = True
    # The sender is <from_local_part>@<domain.name>: the domain SES verifies with DKIM
    # records in domain.hosted_zone_id, so the address cannot name an unverified domain.
    from_local_part: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._+-]{0,63}$")] = "noreply"
    # The display name of the From header (Twenty writes `name <address>`).
    from_name: Annotated[str, Field(pattern=r'^[^"<>\r\n]{1,64}$')] = "Twenty"
    # Bcc'd on Twenty's system notices (EMAIL_SYSTEM_ADDRESS); default: alerts.email.
    system_address: Email | None = None
    # Each region's SMTP credentials are replaced this often (a new IAM access key).
    credentials_rotation_days: Annotated[int, Field(ge=1, le=365)] = 90


class DisasterRecovery(Strict):
    # Recovery point objective: the replica-lag alarm fires above it. At least two of the
    # database's one-minute heartbeats (database/heartbeat.py, MIN_RPO_SECONDS), or an
    # idle source would look like a breach.
    rpo_seconds: Annotated[int, Field(ge=120, le=86400)] = 300
    # Recovery time objective of a regional failover (README, "Recovery objectives").
    rto_minutes: Annotated[int, Field(ge=1)] = 15
    # manual (AWS's recommendation): a person runs `crm-platform failover --execute`;
    # automatic: the "primary impaired" signal starts the failover itself.
    failover_mode: Literal["manual", "automatic"] = "manual"
    # automatic only: the run waits for `crm-platform failover approve` first.
    failover_approval: bool = True
    # How long the primary must look down from DR before the impaired signal fires.
    detection_minutes: Annotated[int, Field(ge=2, le=30)] = 3
    # pilot_light: the DR services exist at zero tasks; warm_standby: server tasks run
    # (migrations off, read-only database) so failover skips the cold start.
    posture: Literal["pilot_light", "warm_standby"] = "pilot_light"
    warm_standby_server_tasks: Annotated[int, Field(ge=0, le=100)] = 1


class RegionVolumes(Strict):
    """A monthly volume in each role a region plays (primary serves, DR stands by, global
    is us-east-1's edge and billing)."""

    primary: Annotated[float, Field(ge=0)]
    dr: Annotated[float, Field(ge=0)] = 0
    global_: Annotated[float, Field(ge=0, alias="global")] = 0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def of(self, role: str) -> float:
        return {"primary": self.primary, "dr": self.dr, "global": self.global_}[role]


class CostAssumptions(Strict):
    """Usage volumes ``crm-platform cost`` prices per month. Only usage-driven charges
    read them; what a resource costs by standing (hours, nodes, keys) comes from the
    assembly. Defaults describe a small team (about 50 users) and are assumptions to be
    replaced by a month of Cost Explorer data (docs/cost.md)."""

    hours_per_month: Annotated[float, Field(gt=0, le=744)] = 730
    # Viewer traffic: requests through CloudFront and WAF, bytes out to viewers.
    requests_million: Annotated[float, Field(ge=0)] = 5
    cloudfront_egress_gb: Annotated[float, Field(ge=0)] = 50
    # The DR probes reach the primary through CloudFront every minute (the probe path's
    # CloudFront function runs on those only).
    probe_requests_million: Annotated[float, Field(ge=0)] = 0.05
    # Average load-balancer capacity units while serving (1 LCU = 25 new connections/s
    # or 1 GB/h processed); a standby load balancer with no traffic uses none.
    load_balancer_lcu: RegionVolumes = RegionVolumes(primary=1)
    nat_processed_gb: RegionVolumes = RegionVolumes(primary=20, dr=1)
    # AWS API traffic (image pulls, logs, secrets) through interface endpoints.
    endpoint_processed_gb: RegionVolumes = RegionVolumes(primary=10)
    # Data: the database's used size, the WAL the replica receives, attachments.
    database_gb: Annotated[float, Field(ge=0)] = 10
    database_replication_gb: Annotated[float, Field(ge=0)] = 20
    attachments_gb: Annotated[float, Field(ge=0)] = 20
    attachments_written_gb: Annotated[float, Field(ge=0)] = 2
    other_bucket_gb: Annotated[float, Field(ge=0)] = 1  # each log, report or artifact bucket
    # Backup vault contents (full copy plus daily changes over the retention).
    backup_growth: Annotated[float, Field(ge=1)] = 1.5
    # Logs ingested per region role (application, flow, WAF, CloudFront, functions).
    log_ingest_gb: RegionVolumes = RegionVolumes(primary=5, dr=0.5, global_=1)
    # Container Insights: metrics per cluster and per service (standard), observations
    # per running task-hour (enhanced adds task and container level).
    insights_metrics_per_cluster: Annotated[int, Field(ge=0)] = 8
    insights_metrics_per_service: Annotated[int, Field(ge=0)] = 11
    insights_observations_per_task_hour: Annotated[float, Field(ge=0)] = 2400
    one_off_task_hours: Annotated[float, Field(ge=0)] = 1  # migrate, bootstrap, jobs
    images_gb: Annotated[float, Field(ge=0)] = 3
    image_pushed_gb: Annotated[float, Field(ge=0)] = 2
    build_minutes_per_project: Annotated[float, Field(ge=0)] = 60
    pipeline_action_minutes: Annotated[float, Field(ge=0)] = 200
    emails: Annotated[int, Field(ge=0)] = 3000
    lambda_invocations_per_function: Annotated[int, Field(ge=0)] = 45_000
    lambda_seconds_per_invocation: Annotated[float, Field(ge=0)] = 0.5
    state_transitions: Annotated[int, Field(ge=0)] = 1000
    table_writes_per_table: Annotated[int, Field(ge=0)] = 90_000
    # Telemetry (``telemetry.enabled``): each metric Twenty emits becomes a CloudWatch
    # custom metric, and the collector writes them as EMF logs. Assumed until measured
    # on staging (README "Telemetry"); DR emits only while it serves.
    telemetry_metrics: RegionVolumes = RegionVolumes(primary=150)
    telemetry_emf_gb: RegionVolumes = RegionVolumes(primary=2)


class LoadTest(Strict):
    """``crm-platform loadtest``: its defaults and the thresholds that fail a run.

    A run exits non-zero when the 95th percentile of all requests or the share of failed
    requests exceeds these (docs/adr/0041). The defaults fit a staging environment at
    its configured size (one server task); a production test is refused unless asked.
    """

    users: Annotated[int, Field(ge=1, le=10_000)] = 20
    spawn_rate: Annotated[float, Field(gt=0, le=1000)] = 2
    duration_seconds: Annotated[int, Field(ge=5, le=86_400)] = 300
    # Twenty's own pages fire many small API calls: a page feels slow past ~1 s.
    p95_ms: Annotated[int, Field(ge=10, le=60_000)] = 1000
    max_error_rate_percent: Annotated[float, Field(ge=0, le=100)] = 1.0
    # Seconds each simulated user waits between actions (min, max): a person reading.
    wait_seconds: Annotated[tuple[float, float], Field()] = (1.0, 5.0)


class Telemetry(Strict):
    """Twenty's OpenTelemetry metrics through an AWS Distro for OpenTelemetry collector
    sidecar into CloudWatch (EMF), in both regions (docs/adr/0042).

    Off by default: the load balancer's, Container Insights' and the database's metrics
    already cover the signals the alarms use, and each metric Twenty emits becomes a
    priced CloudWatch custom metric whose count is known only once measured (turn it on
    in staging first: config/staging.yaml).
    """

    enabled: bool = False
    # The collector's own share of each server and worker task (it never takes Twenty's):
    # CPU units reserved for it, and a hard memory limit (it is stopped, not Twenty,
    # if it grows past it; it is not essential to the task).
    collector_cpu: Annotated[int, Field(ge=0, le=1024)] = 64
    collector_memory_mib: Annotated[int, Field(ge=32, le=1024)] = 128
    metrics_log_retention_days: LogRetentionDays = 30


class Settings(Strict):
    """One environment's complete configuration (nothing secret lives here)."""

    project: Slug = "crm"
    environment: Slug
    account: Annotated[str, Field(pattern=r"^\d{12}$")]
    cost_centre: Annotated[str, Field(min_length=1, max_length=128)]
    regions: Regions = Regions()
    network: Network
    domain: Domain
    alerts: Alerts
    database: Database = Database()
    cache: Cache = Cache()
    storage: Storage = Storage()
    twenty: Twenty = Twenty()
    compute: Compute
    edge: Edge = Edge()
    budget: Budget
    pipeline: Pipeline = Pipeline()
    backup: Backup = Backup()
    functions: Functions = Functions()
    dr: DisasterRecovery = DisasterRecovery()
    email: OutboundEmail = OutboundEmail()
    cost: CostAssumptions = CostAssumptions()
    loadtest: LoadTest = LoadTest()
    telemetry: Telemetry = Telemetry()
