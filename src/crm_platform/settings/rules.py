"""Rules that relate several fields, each reported at the exact field path it concerns."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterator
from itertools import combinations

from crm_platform.settings import validators as v
from crm_platform.settings.catalogs import rds as catalog
from crm_platform.settings.catalogs.cache import parameter_group_family
from crm_platform.settings.model import RegionNetwork, Settings

Problem = tuple[str, str]  # (field path, what is wrong and what is allowed)

TWENTY_MIN_SERVER_MIB = 2048
TWENTY_MIN_WORKER_MIB = 1024


def problems(s: Settings) -> list[Problem]:
    """Every cross-field problem in ``s``; an empty list means the settings are usable."""
    return [
        *_regions(s),
        *_network(s),
        *_database(s),
        *_cache(s),
        *_compute(s),
        *_budget(s),
        *_backup(s),
        *_pipeline(s),
        *_loadtest(s),
        *_telemetry(s),
    ]


def _regions(s: Settings) -> Iterator[Problem]:
    if s.regions.primary == s.regions.dr:
        yield "regions.dr", f"must differ from regions.primary ({s.regions.primary})"


def _network(s: Settings) -> Iterator[Problem]:
    for side, region in (("primary", s.regions.primary), ("dr", s.regions.dr)):
        yield from _region_network(f"network.{side}", getattr(s.network, side), region)
    primary = ipaddress.ip_network(s.network.primary.vpc_cidr)
    dr = ipaddress.ip_network(s.network.dr.vpc_cidr)
    if primary.overlaps(dr):
        yield (
            "network.dr.vpc_cidr",
            f"{dr} overlaps network.primary.vpc_cidr {primary}; the regions' VPCs must not "
            "overlap so they can be peered or routed during recovery",
        )


def _region_network(path: str, net: RegionNetwork, region: str) -> Iterator[Problem]:
    for i, az in enumerate(net.availability_zones):
        if not (az.startswith(region) and len(az) == len(region) + 1 and az[-1].isalpha()):
            yield f"{path}.availability_zones[{i}]", f"{az!r} is not a zone of {region}"
    if len(set(net.availability_zones)) != len(net.availability_zones):
        yield f"{path}.availability_zones", "the two zones must differ"
    vpc = ipaddress.ip_network(net.vpc_cidr)
    subnets: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for tier in ("public_subnets", "private_subnets", "isolated_subnets"):
        for i, cidr in enumerate(getattr(net, tier)):
            subnet = ipaddress.ip_network(cidr)
            where = f"{path}.{tier}[{i}]"
            if not subnet.subnet_of(vpc):  # type: ignore[arg-type]
                yield where, f"{subnet} is not inside the VPC {vpc}"
            subnets.append((where, subnet))
    for (a_path, a), (b_path, b) in combinations(subnets, 2):
        if a.overlaps(b):
            yield b_path, f"{b} overlaps {a_path} ({a})"


def _database(s: Settings) -> Iterator[Problem]:
    db = s.database
    version = db.engine_version
    if version not in catalog.engine_versions():
        yield "database.engine_version", f"{version!r} is not a PostgreSQL version RDS offers"
        return
    if catalog.major(version) < catalog.MIN_MAJOR:
        yield (
            "database.engine_version",
            f"{version} is below {catalog.MIN_MAJOR}; Twenty requires PostgreSQL "
            f"{catalog.MIN_MAJOR} or newer",
        )
    if version in catalog.deprecated_engine_versions() or "." not in version:
        yield (
            "database.engine_version",
            f"{version} is retired or not a full minor version; pick a current minor such as 17.6",
        )
    offered = catalog.instance_classes(version)
    for field in ("instance_class", "replica_instance_class"):
        value = getattr(db, field)
        if offered and value not in offered:
            families = sorted({c.rsplit(".", 1)[0] for c in offered})
            yield (
                f"database.{field}",
                f"{value!r} is not offered for PostgreSQL {version}; families offered: "
                + ", ".join(families),
            )
        elif value.rsplit(".", 1)[-1] in ("micro", "small"):
            yield (
                f"database.{field}",
                f"{value!r} cannot run Performance Insights, which this platform always "
                "enables; use a medium or larger size",
            )
    if db.max_allocated_storage_gb <= db.allocated_storage_gb:
        yield (
            "database.max_allocated_storage_gb",
            f"must exceed database.allocated_storage_gb ({db.allocated_storage_gb}) so "
            "storage autoscaling has room",
        )
    yield from _backup_window(s)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two daily [start, end) minute ranges overlap, allowing wrap past midnight."""
    day = 24 * 60

    def spans(start: int, end: int) -> list[tuple[int, int]]:
        end = end if end > start else end + day
        return [(start, end), (start - day, end - day), (start + day, end + day)]

    return any(x0 < y1 and y0 < x1 for x0, x1 in spans(*a) for y0, y1 in spans(*b))


def _backup_window(s: Settings) -> Iterator[Problem]:
    start, end = (_minutes(t) for t in s.database.backup_window.split("-"))
    if (end - start) % (24 * 60) < 30:
        yield "database.backup_window", "RDS requires a backup window of at least 30 minutes"
    fires = v.cron_hour_minute(s.backup.schedule)
    if fires is not None:
        plan_start = fires[0] * 60 + fires[1]
        # The job may start late in its start window and run until its completion window
        # closes; the database's own snapshot must not compete with it at any point.
        plan = (plan_start, plan_start + s.backup.completion_window_minutes)
        if _overlap((start, end), plan):
            yield (
                "database.backup_window",
                f"{s.database.backup_window} overlaps the AWS Backup job window "
                f"{fires[0]:02d}:{fires[1]:02d} UTC + {s.backup.completion_window_minutes} "
                "min (backup.completion_window_minutes); move one of them",
            )


def _cache(s: Settings) -> Iterator[Problem]:
    try:
        parameter_group_family(s.cache.engine, s.cache.engine_version)
    except ValueError as err:
        yield "cache.engine_version", str(err)


def _compute(s: Settings) -> Iterator[Problem]:
    for name in ("server", "worker"):
        task = getattr(s.compute, name)
        path = f"compute.{name}"
        if task.cpu not in v.FARGATE_SIZES:
            yield (
                f"{path}.cpu",
                "Fargate CPU must be one of " + ", ".join(str(c) for c in v.FARGATE_SIZES),
            )
        elif task.memory_mib not in v.FARGATE_SIZES[task.cpu]:
            allowed = sorted(v.FARGATE_SIZES[task.cpu])
            yield (
                f"{path}.memory_mib",
                f"{task.memory_mib} MiB is not valid with {task.cpu} CPU units; allowed "
                f"{allowed[0]}-{allowed[-1]} in steps of {allowed[1] - allowed[0]}"
                if len(allowed) > 3
                else f"allowed with {task.cpu} CPU units: {', '.join(map(str, allowed))}",
            )
    if s.compute.autoscaling_max_tasks < s.compute.server.desired_count:
        yield "compute.autoscaling_max_tasks", "must be at least compute.server.desired_count"
    # Twenty's self-hosting docs: "at least 2GB of RAM. Insufficient memory can cause
    # processes to crash" (docs.twenty.com, self-host, system requirements).
    for name, floor in (("server", TWENTY_MIN_SERVER_MIB), ("worker", TWENTY_MIN_WORKER_MIB)):
        if getattr(s.compute, name).memory_mib < floor:
            yield (
                f"compute.{name}.memory_mib",
                f"Twenty needs at least {floor} MiB for its {name} (self-hosting docs: at least "
                "2 GB of RAM); smaller tasks crash under load",
            )
    if s.dr.posture == "warm_standby":
        if s.dr.warm_standby_server_tasks < 1:
            yield (
                "dr.warm_standby_server_tasks",
                "warm standby needs at least one server task in DR (use posture: pilot_light "
                "for none)",
            )
        elif s.dr.warm_standby_server_tasks > s.compute.autoscaling_max_tasks:
            yield "dr.warm_standby_server_tasks", "must not exceed compute.autoscaling_max_tasks"


def server_rollout_minutes(s: Settings) -> float:
    """How long a server deployment takes from first shift to the end of the bake time."""
    d = s.compute.deployment
    steps = 0.0
    if d.strategy == "linear":
        steps = math.ceil(100 / d.step_percent) * d.step_minutes
    elif d.strategy == "canary":
        steps = d.step_minutes
    return steps + d.bake_minutes


def _pipeline(s: Settings) -> Iterator[Problem]:
    p = s.pipeline
    if not p.enabled:
        return
    if p.repository is None:
        yield "pipeline.repository", "the pipeline needs the GitHub repository (owner/name)"
    # The deploy action waits for the whole blue/green rollout, bake time included.
    rollout = server_rollout_minutes(s)
    if rollout + 10 > p.deploy_timeout_minutes:
        yield (
            "pipeline.deploy_timeout_minutes",
            f"a server rollout takes {rollout:g} minutes (compute.deployment) plus start-up; "
            f"{p.deploy_timeout_minutes} leaves less than 10 minutes for the tasks to start "
            "(shorten the shift or bake time, or raise this up to 60)",
        )


def _budget(s: Settings) -> Iterator[Problem]:
    b = s.budget
    if b.currency != "USD" and b.exchange_rate_per_usd is None:
        yield (
            "budget.exchange_rate_per_usd",
            f"AWS Budgets accepts budgets in USD only: set the rate ({b.currency} per USD) to "
            f"convert the {b.limit:g} {b.currency} limit, or give budget.limit in USD",
        )
    arn = b.anomaly_monitor_arn
    if arn is not None and not b.anomaly_detection:
        yield "budget.anomaly_monitor_arn", "is set but budget.anomaly_detection is false"
    if arn is not None and arn.split(":")[4] != s.account:
        yield (
            "budget.anomaly_monitor_arn",
            f"belongs to account {arn.split(':')[4]}, not {s.account}: monitors and "
            "subscriptions are visible only to the account that created them",
        )


def _backup(s: Settings) -> Iterator[Problem]:
    b = s.backup
    if b.dr_copy_retention_days < b.retention_days:
        yield (
            "backup.dr_copy_retention_days",
            f"{b.dr_copy_retention_days} is shorter than backup.retention_days "
            f"({b.retention_days}); the DR copy must live at least as long as the source",
        )
    if b.continuous_backup and b.retention_days > 35:
        yield (
            "backup.retention_days",
            "continuous backup (point-in-time restore) keeps at most 35 days; lower it or "
            "set backup.continuous_backup: false",
        )
    if b.completion_window_minutes <= b.start_window_minutes:
        yield "backup.completion_window_minutes", "must exceed backup.start_window_minutes"
    lock = b.vault_lock
    if lock.mode != "none":
        if lock.min_retention_days > lock.max_retention_days:
            yield "backup.vault_lock.min_retention_days", "must not exceed max_retention_days"
        for field in ("retention_days", "dr_copy_retention_days"):
            days = getattr(b, field)
            if not lock.min_retention_days <= days <= lock.max_retention_days:
                yield (
                    f"backup.{field}",
                    f"{days} is outside the vault lock's {lock.min_retention_days}-"
                    f"{lock.max_retention_days} days; the vault would reject the recovery points",
                )


# The collector's share of a task is small next to Twenty's (docs/adr/0042): at most this
# fraction of the smallest server or worker task.
COLLECTOR_MAX_SHARE = 8


def _loadtest(s: Settings) -> Iterator[Problem]:
    low, high = s.loadtest.wait_seconds
    if low < 0 or high < low:
        yield "loadtest.wait_seconds", "must be [min, max] seconds with 0 <= min <= max"


def _telemetry(s: Settings) -> Iterator[Problem]:
    if not s.telemetry.enabled:
        return
    tasks = (s.compute.server, s.compute.worker)
    memory = min(t.memory_mib for t in tasks)
    cpu = min(t.cpu for t in tasks)
    if s.telemetry.collector_memory_mib * COLLECTOR_MAX_SHARE > memory:
        yield (
            "telemetry.collector_memory_mib",
            f"at most 1/{COLLECTOR_MAX_SHARE} of the smallest server or worker task "
            f"({memory // COLLECTOR_MAX_SHARE} MiB of {memory}): the collector must not take "
            "Twenty's memory",
        )
    if s.telemetry.collector_cpu * COLLECTOR_MAX_SHARE > cpu:
        yield (
            "telemetry.collector_cpu",
            f"at most 1/{COLLECTOR_MAX_SHARE} of the smallest server or worker task "
            f"({cpu // COLLECTOR_MAX_SHARE} of {cpu} CPU units)",
        )
