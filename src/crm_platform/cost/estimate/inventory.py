"""From a synthesized assembly to billable lines: one rule per priced resource type.

What a resource costs by standing (hours, nodes, keys, tasks) is read from its template
properties; what it costs by use (requests, gigabytes) comes from the configured volumes
(``settings.cost``), split by the role of the region it runs in (the primary serves, DR
stands by, us-east-1 holds the edge and billing). A type with no rule here is listed as
not priced, never dropped; a type in ``FREE`` has no charge of its own (what it carries,
such as logs or requests, is priced on the resource that bills for it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crm_platform.cost.estimate.lines import Inventory, Line, StackLike, Unpriced
from crm_platform.settings.model import CostAssumptions

FREE = frozenset(
    {
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::BCMDataExports::Export",
        "AWS::Backup::BackupSelection",
        "AWS::Backup::BackupVault",
        "AWS::Budgets::Budget",
        "AWS::CE::AnomalyMonitor",
        "AWS::CE::AnomalySubscription",
        "AWS::CertificateManager::Certificate",
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CodeConnections::Connection",
        "AWS::EC2::FlowLog",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::Route",
        "AWS::EC2::RouteTable",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::Subnet",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::VPC",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::ECR::RepositoryCreationTemplate",
        "AWS::ElastiCache::ParameterGroup",
        "AWS::ElastiCache::SubnetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::Events::Rule",
        "AWS::IAM::Group",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::IAM::User",
        "AWS::KMS::Alias",
        "AWS::Lambda::Permission",
        "AWS::Logs::Delivery",
        "AWS::Logs::DeliveryDestination",
        "AWS::Logs::DeliverySource",
        "AWS::RDS::DBParameterGroup",
        "AWS::RDS::DBSubnetGroup",
        "AWS::Route53::RecordSet",
        "AWS::S3::BucketPolicy",
        "AWS::SES::ConfigurationSet",
        "AWS::SES::ConfigurationSetEventDestination",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SSM::Parameter",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::SecretsManager::RotationSchedule",
        "AWS::SecretsManager::SecretTargetAttachment",
        "AWS::WAFv2::LoggingConfiguration",
        "AWS::WAFv2::WebACLAssociation",
    }
)

# Types that cost something the estimator does not model, with the reason it says so.
KNOWN_UNPRICED = {
    "AWS::Backup::RestoreTestingPlan": "each restore test restores a copy for validation "
    "(a temporary database and bucket objects for minutes); not modelled",
    "AWS::Backup::RestoreTestingSelection": "see the restore testing plan",
    "AWS::Serverless::Application": "the nested rotation application (a Lambda function "
    "run at each rotation); cents a month, not modelled",
}


@dataclass(frozen=True)
class Context:
    volumes: CostAssumptions
    roles: Mapping[str, str]  # region -> primary | dr | global
    database_storage_gb: int = 20  # RDS's gp3 minimum when no instance states its own
    replica_buckets: frozenset[str] = frozenset()  # names other buckets replicate into

    @property
    def hours(self) -> float:
        return self.volumes.hours_per_month

    def role(self, region: str) -> str:
        return self.roles.get(region, "global")


@dataclass(frozen=True)
class Resource:
    stack: StackLike
    logical: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["Type"])

    @property
    def props(self) -> dict[str, Any]:
        props: dict[str, Any] = self.body.get("Properties", {})
        return props

    def line(
        self, what: str, key: str, count: float, each: float = 1.0, *tags: str, **kw: Any
    ) -> Line:
        return Line(
            stack=self.stack.name,
            region=kw.pop("region", self.stack.region),
            resource=self.logical,
            kind=self.kind,
            what=what,
            key=key,
            count=count,
            each=each,
            tags=frozenset(tags),
            **kw,
        )


Rule = Callable[[Context, Resource], list[Line]]


def _refs(value: Any) -> set[str]:
    """Logical ids a property refers to (Ref and GetAtt), anywhere inside it."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value and isinstance(value["Fn::GetAtt"], list):
            found.add(str(value["Fn::GetAtt"][0]))
        for v in value.values():
            found |= _refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= _refs(v)
    return found


def _of_type(stack: StackLike, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in stack.resources.items() if r.get("Type") == kind}


# --- Networking --------------------------------------------------------------------------


def _nat(ctx: Context, r: Resource) -> list[Line]:
    role = ctx.role(r.stack.region)
    lines = [r.line("NAT gateway", "nat.hour", ctx.hours, 1, "nat", f"nat:{role}")]
    nats = sorted(_of_type(r.stack, "AWS::EC2::NatGateway"))
    if nats and nats[0] == r.logical:  # the region's processed data, once
        gb = ctx.volumes.nat_processed_gb.of(role)
        lines.append(
            r.line("NAT data processed (GB)", "nat.gb", gb, 1, "nat-data", f"nat-data:{role}")
        )
    return lines


def _eip(ctx: Context, r: Resource) -> list[Line]:
    owners = [
        k
        for k, nat in _of_type(r.stack, "AWS::EC2::NatGateway").items()
        if r.logical in _refs(nat.get("Properties", {}).get("AllocationId"))
    ]
    role = ctx.role(r.stack.region)
    tags = ("ipv4", "nat", f"nat:{role}", *(f"of:{r.stack.name}/{o}" for o in owners))
    return [r.line("public IPv4 address", "ipv4.hour", ctx.hours, 1, *tags)]


def _endpoint(ctx: Context, r: Resource) -> list[Line]:
    if r.props.get("VpcEndpointType", "Gateway") != "Interface":
        return []  # gateway endpoints (S3) have no charge
    service = str(r.props.get("ServiceName", "")).split(f"{r.stack.region}.", 1)[-1]
    role = ctx.role(r.stack.region)
    zones = len(r.props.get("SubnetIds", [])) or 1
    lines = [
        r.line(
            f"interface endpoint {service} ({zones} AZ)",
            "endpoint.az_hour",
            ctx.hours,
            zones,
            "endpoint",
            f"endpoint:{service}",
        )
    ]
    interface = sorted(
        k
        for k, e in _of_type(r.stack, "AWS::EC2::VPCEndpoint").items()
        if e.get("Properties", {}).get("VpcEndpointType") == "Interface"
    )
    if interface and interface[0] == r.logical:
        gb = ctx.volumes.endpoint_processed_gb.of(role)
        lines.append(
            r.line(
                "endpoint data processed (GB)", "endpoint.gb", gb, 1, "endpoint", "endpoint-data"
            )
        )
    return lines


def _load_balancer(ctx: Context, r: Resource) -> list[Line]:
    role = ctx.role(r.stack.region)
    tags = ("alb", f"alb:{role}")
    lines = [
        r.line("application load balancer", "alb.hour", ctx.hours, 1, *tags),
        r.line(
            "load balancer capacity units (LCU-hours)",
            "alb.lcu_hour",
            ctx.hours,
            ctx.volumes.load_balancer_lcu.of(role),
            *tags,
        ),
    ]
    if r.props.get("Scheme", "internet-facing") == "internet-facing":
        zones = len(r.props.get("Subnets", [])) or 2
        lines.append(
            r.line(
                f"public IPv4 addresses ({zones} AZ)", "ipv4.hour", ctx.hours, zones, "ipv4", *tags
            )
        )
    return lines


# --- Data ---------------------------------------------------------------------------------


def _rds(ctx: Context, r: Resource) -> list[Line]:
    p = r.props
    cls = str(p.get("DBInstanceClass"))
    multi = bool(p.get("MultiAZ", False))
    source = p.get("SourceDBInstanceIdentifier")
    role = "replica" if source else "primary"
    copies = 2 if multi else 1
    tags = ("rds", f"rds:{role}", *(("multi-az",) if multi else ()))
    # A replica's storage follows its source's (the largest allocation in the assembly).
    storage = p.get("AllocatedStorage") or ctx.database_storage_gb
    az = " Multi-AZ (primary + standby)" if multi else ""
    lines = [
        r.line(
            f"PostgreSQL {cls}{az}", f"rds.hour.{cls}", ctx.hours * copies, 1, "rds-instance", *tags
        ),
        r.line(
            f"gp3 storage {storage} GB{' x2' if multi else ''}",
            "rds.gp3_gb_month",
            copies,
            float(storage),
            "rds-storage",
            *tags,
        ),
    ]
    if isinstance(source, str) and source.startswith("arn:"):
        source_region = source.split(":")[3]
        lines.append(
            r.line(
                "replication to DR (WAL, GB out of the source region)",
                "transfer.inter_region_gb",
                ctx.volumes.database_replication_gb,
                1,
                "rds",
                "rds-replication",
                region=source_region,
            )
        )
    return lines


def _cache(ctx: Context, r: Resource) -> list[Line]:
    p = r.props
    nodes = p.get("NumCacheClusters") or (
        int(p.get("NumNodeGroups", 1)) * (1 + int(p.get("ReplicasPerNodeGroup", 0)))
    )
    engine = str(p.get("Engine", "redis")).lower()
    node = str(p.get("CacheNodeType"))
    role = ctx.role(r.stack.region)
    return [
        r.line(
            f"{engine} {node} x {nodes}",
            f"elasticache.hour.{engine}.{node}",
            float(nodes),
            ctx.hours,
            "cache",
            f"cache:{role}",
        )
    ]


def _secret(ctx: Context, r: Resource) -> list[Line]:
    lines = [r.line("secret", "secrets.secret_month", 1, 1, "secret")]
    for replica in r.props.get("ReplicaRegions", []):
        region = replica.get("Region")
        if isinstance(region, str):
            lines.append(
                r.line(
                    f"secret replica in {region}",
                    "secrets.secret_month",
                    1,
                    1,
                    "secret",
                    region=region,
                )
            )
    return lines


def _bucket_names_replicated_to(stacks: Iterable[StackLike]) -> set[str]:
    names: set[str] = set()
    for s in stacks:
        for b in _of_type(s, "AWS::S3::Bucket").values():
            for rule in (
                b.get("Properties", {}).get("ReplicationConfiguration", {}).get("Rules", [])
            ):
                dest = rule.get("Destination", {}).get("Bucket")
                if isinstance(dest, str):
                    names.add(dest.rsplit(":", 1)[-1])
    return names


def _bucket(ctx: Context, r: Resource) -> list[Line]:
    p = r.props
    replication = p.get("ReplicationConfiguration", {})
    attachments = bool(replication) or p.get("BucketName") in ctx.replica_buckets
    gb = ctx.volumes.attachments_gb if attachments else ctx.volumes.other_bucket_gb
    what = "attachments (S3 Standard, GB)" if attachments else "bucket contents (GB)"
    lines = [r.line(what, "s3.standard_gb_month", gb, 1, "s3")]
    rules = replication.get("Rules", [])
    if rules:
        written = ctx.volumes.attachments_written_gb
        lines.append(
            r.line(
                "replication to DR (GB out)",
                "transfer.inter_region_gb",
                written,
                1,
                "s3-replication",
            )
        )
        timed = [
            x
            for x in rules
            if x.get("Destination", {}).get("ReplicationTime", {}).get("Status") == "Enabled"
        ]
        if timed:
            lines.append(r.line("Replication Time Control (GB)", "s3.rtc_gb", written, 1, "s3-rtc"))
            # RTC turns on replication metrics, billed as custom metrics (4 per rule).
            lines.append(
                r.line("replication metrics", "cloudwatch.metric_month", len(timed), 4, "s3-rtc")
            )
    return lines


def _tagged(stack: StackLike, selection: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of ``stack`` a backup selection picks by tag or by ARN."""
    wanted = {
        (c.get("ConditionKey"), c.get("ConditionValue"))
        for c in selection.get("ListOfTags", [])
        if c.get("ConditionType") == "STRINGEQUALS"
    }
    arns = [a for a in selection.get("Resources", []) if isinstance(a, str)]
    chosen = []
    for body in stack.resources.values():
        tags = body.get("Properties", {}).get("Tags")
        pairs = {(t.get("Key"), t.get("Value")) for t in tags} if isinstance(tags, list) else set()
        if wanted & pairs:
            chosen.append(body)
    if "*" in arns:
        chosen = list(stack.resources.values())
    return chosen


def _backup_plan(ctx: Context, r: Resource) -> list[Line]:
    selected: list[dict[str, Any]] = []
    for sel in _of_type(r.stack, "AWS::Backup::BackupSelection").values():
        if r.logical in _refs(sel.get("Properties", {}).get("BackupPlanId")):
            selected += _tagged(r.stack, sel["Properties"].get("BackupSelection", {}))
    kinds = Counter(b.get("Type") for b in selected)
    growth = ctx.volumes.backup_growth
    stored = {
        "rds": ctx.volumes.database_gb * growth * kinds["AWS::RDS::DBInstance"],
        "s3": ctx.volumes.attachments_gb * growth * kinds["AWS::S3::Bucket"],
    }
    lines: list[Line] = []
    rules = r.props.get("BackupPlan", {}).get("BackupPlanRule", [])
    for kind, gb in stored.items():
        if not gb:
            continue
        lines.append(
            r.line(
                f"{kind} recovery points in the vault (GB)",
                f"backup.{kind}_gb_month",
                gb,
                1,
                "backup",
                f"backup:{kind}",
            )
        )
        for rule in rules:
            for copy in rule.get("CopyActions", []):
                arn = copy.get("DestinationBackupVaultArn")
                if not (isinstance(arn, str) and arn.startswith("arn:")):
                    continue
                region = arn.split(":")[3]
                tags = ("backup", f"backup:{kind}", "backup-copy")
                lines.append(
                    r.line(
                        f"{kind} copies in {region} (GB)",
                        f"backup.{kind}_gb_month",
                        gb,
                        1,
                        *tags,
                        region=region,
                    )
                )
                lines.append(
                    r.line(
                        f"{kind} copy transfer to {region} (GB changed a month)",
                        "transfer.inter_region_gb",
                        gb - gb / growth,
                        1,
                        *tags,
                    )
                )
    return lines


def _repository(ctx: Context, r: Resource) -> list[Line]:
    return [r.line("images (GB)", "ecr.gb_month", ctx.volumes.images_gb, 1, "ecr")]


def _registry_replication(ctx: Context, r: Resource) -> list[Line]:
    lines = []
    for rule in r.props.get("ReplicationConfiguration", {}).get("Rules", []):
        for dest in rule.get("Destinations", []):
            region = dest.get("Region")
            if not isinstance(region, str) or region == r.stack.region:
                continue
            lines.append(
                r.line(
                    f"image replicas in {region} (GB)",
                    "ecr.gb_month",
                    ctx.volumes.images_gb,
                    1,
                    "ecr",
                    region=region,
                )
            )
            lines.append(
                r.line(
                    f"image replication to {region} (GB pushed)",
                    "transfer.inter_region_gb",
                    ctx.volumes.image_pushed_gb,
                    1,
                    "ecr",
                )
            )
    return lines


def _table(ctx: Context, r: Resource) -> list[Line]:
    if r.props.get("BillingMode") != "PAY_PER_REQUEST":
        return []  # provisioned tables are listed as not priced by the caller
    writes = ctx.volumes.table_writes_per_table / 1e6
    return [r.line("on-demand writes (million)", "dynamodb.million_writes", writes, 1, "dynamodb")]


# --- Compute ------------------------------------------------------------------------------


def _arch(task: dict[str, Any]) -> str:
    arch = task.get("Properties", {}).get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64")
    return "arm64" if str(arch).upper() == "ARM64" else "x86_64"


def _fargate_lines(
    ctx: Context, r: Resource, task_id: str, count: float, label: str, *tags: str
) -> list[Line]:
    task = r.stack.resources[task_id]
    tp = task.get("Properties", {})
    vcpu, gb = int(tp.get("Cpu", 256)) / 1024, int(tp.get("Memory", 512)) / 1024
    arch = _arch(task)
    family = str(tp.get("Family", task_id))
    shape = f"{vcpu:g} vCPU / {gb:g} GB {arch}"
    return [
        Line(
            r.stack.name,
            r.stack.region,
            r.logical,
            r.kind,
            f"{label} {family} vCPU ({shape})",
            f"fargate.vcpu_hour.{arch}",
            count,
            vcpu * ctx.hours,
            frozenset(tags),
        ),
        Line(
            r.stack.name,
            r.stack.region,
            r.logical,
            r.kind,
            f"{label} {family} memory ({shape})",
            f"fargate.gb_hour.{arch}",
            count,
            gb * ctx.hours,
            frozenset(tags),
        ),
    ]


def _role_of_family(family: str) -> str:
    for part in ("server", "worker"):
        if part in family:
            return part
    return family


def _service(ctx: Context, r: Resource) -> list[Line]:
    task_id = next(iter(_refs(r.props.get("TaskDefinition"))), None)
    if task_id is None or task_id not in r.stack.resources:
        return []
    family = str(r.stack.resources[task_id].get("Properties", {}).get("Family", task_id))
    role = ctx.role(r.stack.region)
    count = float(r.props.get("DesiredCount", 1))
    kind = _role_of_family(family)
    tags = ("fargate", f"fargate:{role}", kind, f"service:{role}:{kind}")
    return _fargate_lines(ctx, r, task_id, count, "tasks x", *tags)


def _task_definition(ctx: Context, r: Resource) -> list[Line]:
    """A task definition no service runs (migrate, bootstrap, scheduled jobs): one-off hours."""
    for s in _of_type(r.stack, "AWS::ECS::Service").values():
        if r.logical in _refs(s.get("Properties", {}).get("TaskDefinition")):
            return []
    hours = ctx.volumes.one_off_task_hours
    role = ctx.role(r.stack.region)
    lines = _fargate_lines(
        ctx,
        r,
        r.logical,
        hours / ctx.hours,
        "one-off hours of",
        "fargate",
        "one-off",
        f"fargate:{role}",
    )
    return lines


def _cluster_insights(ctx: Context, r: Resource) -> list[Line]:
    mode = next(
        (
            s.get("Value")
            for s in r.props.get("ClusterSettings", [])
            if s.get("Name") == "containerInsights"
        ),
        "disabled",
    )
    if mode not in ("enabled", "enhanced"):
        return []
    services = _of_type(r.stack, "AWS::ECS::Service").values()
    running = sum(float(s.get("Properties", {}).get("DesiredCount", 1)) for s in services)
    v = ctx.volumes
    metrics = (
        (v.insights_metrics_per_cluster + v.insights_metrics_per_service * len(services))
        if running
        else 0
    )
    observations = running * v.insights_observations_per_task_hour * ctx.hours / 1e6
    return [
        r.line(
            "Container Insights metrics (standard)",
            "cloudwatch.metric_month",
            1 if mode == "enabled" else 0,
            metrics,
            "insights",
            "insights:standard",
        ),
        r.line(
            "Container Insights observations (enhanced, million)",
            "cloudwatch.insights_million_observations",
            1 if mode == "enhanced" else 0,
            observations,
            "insights",
            "insights:enhanced",
        ),
    ]


def _function(ctx: Context, r: Resource) -> list[Line]:
    n = ctx.volumes.lambda_invocations_per_function
    gb = int(r.props.get("MemorySize", 128)) / 1024
    seconds = n * ctx.volumes.lambda_seconds_per_invocation
    return [
        r.line("invocations (million)", "lambda.million_requests", n / 1e6, 1, "lambda"),
        r.line("compute (GB-seconds)", "lambda.gb_second", seconds, gb, "lambda"),
    ]


# --- Monitoring, security, edge, delivery --------------------------------------------------


def _alarm(ctx: Context, r: Resource) -> list[Line]:
    metrics = [m for m in r.props.get("Metrics", []) if "MetricStat" in m]
    return [
        r.line("alarm metrics", "cloudwatch.alarm_metric_month", 1, max(len(metrics), 1), "alarm")
    ]


def _log_group(ctx: Context, r: Resource) -> list[Line]:
    role = ctx.role(r.stack.region)
    groups = len(_of_type(r.stack, "AWS::Logs::LogGroup"))
    region_groups = groups or 1
    ingest = ctx.volumes.log_ingest_gb.of(role) / region_groups
    kept_months = min(int(r.props.get("RetentionInDays", 365)), 365) / 30
    return [
        r.line("logs ingested (GB)", "logs.ingest_gb", ingest, 1, "logs"),
        r.line(
            f"logs kept ({kept_months:.0f} months of ingest, GB)",
            "logs.store_gb_month",
            ingest,
            kept_months,
            "logs",
        ),
    ]


def _web_acl(ctx: Context, r: Resource) -> list[Line]:
    rules = len(r.props.get("Rules", []))
    role = ctx.role(r.stack.region)
    edge = r.props.get("Scope") == "CLOUDFRONT"
    requests = ctx.volumes.requests_million if edge or role == "primary" else 0
    return [
        r.line("web ACL", "waf.acl_month", 1, 1, "waf"),
        r.line(f"rules ({rules}; a managed group counts one)", "waf.rule_month", rules, 1, "waf"),
        r.line("requests inspected (million)", "waf.million_requests", requests, 1, "waf"),
    ]


_FEATURES = {"HTTPS", "HTTPS_STR_MATCH", "HTTP_STR_MATCH"}


def _health_check(ctx: Context, r: Resource) -> list[Line]:
    config = r.props.get("HealthCheckConfig", {})
    kind = config.get("Type")
    if kind in ("CLOUDWATCH_METRIC", "CALCULATED", "RECOVERY_CONTROL"):
        return [r.line(f"health check ({kind})", "route53.health_check_aws_month", 1, 1, "route53")]
    features = (
        (kind in _FEATURES)
        + (kind == "HTTPS_STR_MATCH")
        + (config.get("RequestInterval") == 10)
        + bool(config.get("MeasureLatency"))
    )
    lines = [
        r.line(
            f"health check ({kind}, endpoint outside AWS: CloudFront name)",
            "route53.health_check_other_month",
            1,
            1,
            "route53",
        ),
    ]
    if features:
        lines.append(
            r.line(
                "health check optional features",
                "route53.health_check_feature_other_month",
                features,
                1,
                "route53",
            )
        )
    return lines


def _distribution(ctx: Context, r: Resource) -> list[Line]:
    config = r.props.get("DistributionConfig", {})
    zone = "us_eu" if config.get("PriceClass") == "PriceClass_100" else "japan"
    v = ctx.volumes
    return [
        r.line(
            "data to viewers (GB)", f"cloudfront.gb_out_{zone}", v.cloudfront_egress_gb, 1, "cdn"
        ),
        r.line(
            "HTTPS requests (10,000)",
            f"cloudfront.10k_https_{zone}",
            v.requests_million * 100,
            1,
            "cdn",
        ),
    ]


def _cdn_function(ctx: Context, r: Resource) -> list[Line]:
    # Runs only on the paths it is associated with (the probe path): a few requests.
    return [
        r.line(
            "function invocations (million, probe path)",
            "cloudfront.function_million",
            0.05,
            1,
            "cdn",
        )
    ]


def _pipeline(ctx: Context, r: Resource) -> list[Line]:
    if r.props.get("PipelineType") == "V2":
        minutes = ctx.volumes.pipeline_action_minutes
        return [
            r.line("action minutes (V2)", "codepipeline.v2_action_minute", minutes, 1, "pipeline")
        ]
    return [r.line("active pipeline (V1)", "codepipeline.v1_pipeline_month", 1, 1, "pipeline")]


def _build_project(ctx: Context, r: Resource) -> list[Line]:
    compute = r.props.get("Environment", {}).get("ComputeType", "BUILD_GENERAL1_SMALL")
    minutes = ctx.volumes.build_minutes_per_project
    return [
        r.line(f"build minutes ({compute})", f"codebuild.minute.{compute}", minutes, 1, "pipeline")
    ]


def _email_identity(ctx: Context, r: Resource) -> list[Line]:
    sent = ctx.volumes.emails / 1000 if ctx.role(r.stack.region) == "primary" else 0
    return [r.line("e-mails sent (thousand)", "ses.thousand_emails", sent, 1, "ses")]


def _simple(what: str, key: str, tag: str) -> Rule:
    return lambda ctx, r: [r.line(what, key, 1, 1, tag)]


RULES: dict[str, Rule] = {
    "AWS::EC2::NatGateway": _nat,
    "AWS::EC2::EIP": _eip,
    "AWS::EC2::VPCEndpoint": _endpoint,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::RDS::DBInstance": _rds,
    "AWS::ElastiCache::ReplicationGroup": _cache,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::KMS::Key": _simple("customer managed key", "kms.key_month", "kms"),
    "AWS::KMS::ReplicaKey": _simple("multi-Region replica key", "kms.key_month", "kms"),
    "AWS::Backup::BackupPlan": _backup_plan,
    "AWS::ECR::Repository": _repository,
    "AWS::ECR::ReplicationConfiguration": _registry_replication,
    "AWS::DynamoDB::Table": _table,
    "AWS::ECS::Service": _service,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::ECS::Cluster": _cluster_insights,
    "AWS::S3::Bucket": _bucket,
    "AWS::Lambda::Function": _function,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::CompositeAlarm": _simple(
        "composite alarm", "cloudwatch.composite_alarm_month", "alarm"
    ),
    "AWS::CloudWatch::Dashboard": _simple("dashboard", "cloudwatch.dashboard_month", "dashboard"),
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::MetricFilter": _simple(
        "metric from a log filter", "cloudwatch.metric_month", "metric"
    ),
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::Route53::HealthCheck": _health_check,
    "AWS::Route53::HostedZone": _simple("hosted zone", "route53.zone_month", "route53"),
    "AWS::CloudFront::Distribution": _distribution,
    "AWS::CloudFront::Function": _cdn_function,
    "AWS::CodePipeline::Pipeline": _pipeline,
    "AWS::CodeBuild::Project": _build_project,
    "AWS::SES::EmailIdentity": _email_identity,
    "AWS::StepFunctions::StateMachine": lambda ctx, r: [
        r.line(
            "state transitions (thousand)",
            "stepfunctions.thousand_transitions",
            ctx.volumes.state_transitions / 1000,
            1,
            "stepfunctions",
        )
    ],
}


def inventory(
    stacks: Iterable[StackLike], volumes: CostAssumptions, roles: Mapping[str, str]
) -> Inventory:
    """Every billable line of ``stacks``; what has no rule is listed as not priced."""
    stacks = list(stacks)
    storage = [
        int(body["Properties"]["AllocatedStorage"])
        for stack in stacks
        for body in _of_type(stack, "AWS::RDS::DBInstance").values()
        if body.get("Properties", {}).get("AllocatedStorage")
    ]
    replicas = frozenset(_bucket_names_replicated_to(stacks))
    ctx = Context(volumes, roles, max(storage, default=20), replicas)
    lines: list[Line] = []
    unpriced: list[Unpriced] = []
    free: Counter[str] = Counter()
    for stack in stacks:
        for logical, body in stack.resources.items():
            r = Resource(stack, logical, body)
            kind = r.kind
            if kind in RULES:
                found = RULES[kind](ctx, r)
                if not found and kind == "AWS::DynamoDB::Table":
                    reason = "provisioned capacity: not modelled"
                    unpriced.append(Unpriced(stack.name, stack.region, logical, kind, reason))
                elif not found:  # e.g. a gateway endpoint, a task definition run by a service
                    free[kind] += 1
                lines += found
            elif kind in FREE:
                free[kind] += 1
            else:
                reason = KNOWN_UNPRICED.get(kind) or (
                    "a custom resource: its provider runs at deploy time only"
                    if kind.startswith("Custom::")
                    else "no price rule for this type"
                )
                unpriced.append(Unpriced(stack.name, stack.region, logical, kind, reason))
    return Inventory(tuple(lines), tuple(unpriced), dict(free))
