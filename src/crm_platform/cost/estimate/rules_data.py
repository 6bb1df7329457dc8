"""Price rules for data: databases, caches, secrets, buckets, backups, images, tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from crm_platform.cost.estimate.context import Context, Resource, Rule, of_type, refs
from crm_platform.cost.estimate.lines import Line, StackLike


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


def bucket_names_replicated_to(stacks: Iterable[StackLike]) -> set[str]:
    names: set[str] = set()
    for s in stacks:
        for b in of_type(s, "AWS::S3::Bucket").values():
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
    for sel in of_type(r.stack, "AWS::Backup::BackupSelection").values():
        if r.logical in refs(sel.get("Properties", {}).get("BackupPlanId")):
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


def _key(ctx: Context, r: Resource) -> list[Line]:
    return [r.line("customer managed key", "kms.key_month", 1, 1, "kms")]


RULES: dict[str, Rule] = {
    "AWS::RDS::DBInstance": _rds,
    "AWS::ElastiCache::ReplicationGroup": _cache,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::KMS::Key": _key,
    "AWS::KMS::ReplicaKey": _key,
    "AWS::Backup::BackupPlan": _backup_plan,
    "AWS::ECR::Repository": _repository,
    "AWS::ECR::ReplicationConfiguration": _registry_replication,
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
}
