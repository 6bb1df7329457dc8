"""What each main choice costs: a row per choice, each changing only the lines it names.

A row works on the estimate's lines, not on a new synthesis, so the table is cheap and
each row's effect is exactly its own: ``touches`` names the tags of the lines a row may
change, and the tests diff every row against the base to hold it to that. A row that
needs something this platform does not build yet (a failover step that creates the
resource) says so and states what it would add to the recovery time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from crm_platform.cost.estimate.lines import Line
from crm_platform.settings import Settings

Change = Callable[[list[Line]], list[Line]]


@dataclass(frozen=True)
class Choice:
    name: str
    touches: frozenset[str]
    gives_up: str
    change: Change | None  # None: not priced (``gives_up`` says why)
    built: bool = True  # False: needs a change this platform does not have yet
    # How much it gives up, least first: the order in which the cheapest configuration
    # meeting the target takes savings (0 = nothing given up).
    rank: int = 5


def _drop(tag: str) -> Change:
    return lambda lines: [x for x in lines if tag not in x.tags]


def _drop_any(*tags: str) -> Change:
    wanted = set(tags)
    return lambda lines: [x for x in lines if not wanted & x.tags]


def _drop_all(*tags: str) -> Change:
    wanted = set(tags)
    return lambda lines: [x for x in lines if not wanted <= x.tags]


def _rekey(tag: str, swap: Callable[[str], str]) -> Change:
    return lambda lines: [x.with_key(swap(x.key)) if tag in x.tags else x for x in lines]


def _graviton_db(key: str) -> str:
    for old, new in ((".db.t3.", ".db.t4g."), (".db.m5.", ".db.m6g."), (".db.r5.", ".db.r6g.")):
        key = key.replace(old, new)
    return key


def _graviton_cache(key: str) -> str:
    for old, new in ((".cache.t3.", ".cache.t4g."), (".cache.m5.", ".cache.m6g.")):
        key = key.replace(old, new)
    return key


_SMALLER = {"large": "medium", "medium": "small", "small": "micro"}


def _smaller_db(key: str) -> str:
    family, _, size = key.rpartition(".")
    return f"{family}.{_SMALLER.get(size, size)}"


def _halve(tag: str) -> Change:
    return lambda lines: [x.with_count(x.count / 2) if tag in x.tags else x for x in lines]


def _set_count(tag: str, count: float) -> Change:
    return lambda lines: [x.with_count(count) if tag in x.tags else x for x in lines]


def _scale_vcpu(tag: str, factor: float) -> Change:
    return lambda lines: [
        replace(x, each=x.each * factor) if tag in x.tags and ".vcpu_hour." in x.key else x
        for x in lines
    ]


def _x86_db(key: str) -> str:
    for old, new in ((".db.t4g.", ".db.t3."), (".db.m6g.", ".db.m5."), (".db.r6g.", ".db.r5.")):
        key = key.replace(old, new)
    return key


def _another_nat(lines: list[Line]) -> list[Line]:
    """A second NAT gateway (and its address) beside the primary's one."""
    nat = _nats(lines)[0]
    added = [
        replace(x, resource=f"(what-if) second {x.resource}", tags=x.tags - {f"of:{nat}"})
        for x in lines
        if _of_nat(x, nat)
    ]
    return [*lines, *added]


def _no_endpoints(lines: list[Line]) -> list[Line]:
    """Interface endpoints gone: their AWS API traffic goes through the NAT instead."""
    moved = sum(x.quantity for x in lines if "endpoint-data" in x.tags)
    kept = [x for x in lines if "endpoint" not in x.tags]
    return [
        replace(x, count=x.count + moved / x.each) if "nat-data:primary" in x.tags else x
        for x in kept
    ]


def _with_telemetry(settings: Settings) -> Change:
    """The collector's lines where tasks serve (the primary at the standby posture),
    priced like those of an assembly with ``telemetry.enabled`` (rules_operations.py)."""
    v = settings.cost

    def change(lines: list[Line]) -> list[Line]:
        like = next(x for x in lines if "logs" in x.tags and x.region == settings.regions.primary)
        added = [
            replace(like, resource="(what-if) telemetry", what=what, key=key, count=count,
                    each=1, tags=frozenset({"telemetry"}), note="")
            for what, key, count in (
                ("Twenty's metrics (custom)", "cloudwatch.metric_month",
                 v.telemetry_metrics.primary),
                ("EMF logs ingested (GB)", "logs.ingest_gb", v.telemetry_emf_gb.primary),
                ("EMF logs kept (GB)", "logs.store_gb_month", v.telemetry_emf_gb.primary),
            )
        ]  # fmt: skip
        return [*lines, *added]

    return change


def _insights(mode: str) -> Change:
    return lambda lines: [
        x.with_count(1 if f"insights:{mode}" in x.tags else 0) if "insights" in x.tags else x
        for x in lines
    ]


def _nats(lines: Sequence[Line]) -> list[str]:
    """The primary's NAT gateways, as ``stack/logical`` (logical ids repeat across stacks)."""
    return sorted(
        {
            f"{x.stack}/{x.resource}"
            for x in lines
            if "nat:primary" in x.tags and x.key == "nat.hour"
        }
    )


def _of_nat(x: Line, nat: str) -> bool:
    return (f"{x.stack}/{x.resource}" == nat and x.key == "nat.hour") or f"of:{nat}" in x.tags


def _without_nat(nat: str) -> Change:
    return lambda lines: [x for x in lines if not _of_nat(x, nat)]


def _with_endpoint(service: str, like: Line) -> Change:
    added = replace(
        like,
        resource=f"(what-if) endpoint {service}",
        what=f"interface endpoint {service} (2 AZ)",
        tags=frozenset({"endpoint", f"endpoint:{service}"}),
    )
    return lambda lines: [*lines, added]


def choices(settings: Settings, lines: Sequence[Line]) -> list[Choice]:
    """The main choices of issue 20, against the configuration ``lines`` were built from."""
    s = settings
    tags = set().union(*(x.tags for x in lines)) if lines else set()
    rows: list[Choice] = []

    if "endpoint:ssm" in tags:
        rows.append(
            Choice(
                "drop the ssm interface endpoint",
                frozenset({"endpoint:ssm"}),
                "nothing: no task, function or build in the VPC calls SSM",
                _drop("endpoint:ssm"),
                rank=0,
            )
        )
    else:
        like = next((x for x in lines if x.key == "endpoint.az_hour"), None)
        rows.append(
            Choice(
                "add an ssm interface endpoint (unused)",
                frozenset({"endpoint:ssm"}),
                "money: nothing in the VPC calls SSM",
                _with_endpoint("ssm", like) if like else None,
            )
        )
    if "endpoint" in tags:
        rows.append(
            Choice(
                "no interface endpoints (AWS APIs through the NAT)",
                frozenset({"endpoint", "nat-data:primary"}),
                "image pulls, logs and secrets leave the VPC through the NAT "
                "(still TLS to AWS endpoints, but over the internet path)",
                _no_endpoints,
                rank=8,
            )
        )
    nats = _nats(lines)
    if len(nats) > 1:
        second = nats[1]
        rows.append(
            Choice(
                "one NAT gateway in the primary (not one per AZ)",
                frozenset({"nat:primary"}),
                "egress of the tasks in the other AZ fails with that NAT's AZ, "
                "and crosses AZs (data transfer) meanwhile",
                _without_nat(second),
                rank=4,
            )
        )
    elif nats:
        rows.append(
            Choice(
                "a NAT gateway per AZ in the primary",
                frozenset({"nat:primary"}),
                "costs more; keeps outbound e-mail and integrations of both AZs "
                "through the loss of one",
                _another_nat,
            )
        )
    if "nat:dr" in tags:
        rows.append(
            Choice(
                "no standing NAT in DR (failover creates one)",
                frozenset({"nat:dr", "nat-data:dr"}),
                "not built: needs a failover step creating the NAT gateway and "
                "routes before the services start; adds about 2-5 min to the "
                "modelled RTO (NAT creation; assumed, verify on staging)",
                _drop_any("nat:dr", "nat-data:dr"),
                built=False,
                rank=6,
            )
        )
    if "alb:dr" in tags:
        rows.append(
            Choice(
                "no standing load balancer in DR (failover creates one)",
                frozenset({"alb:dr"}),
                "not built: a failover step would create the load balancer, its "
                "listeners and the SECONDARY record; adds about 3-5 min to the "
                "modelled RTO (assumed, verify on staging)",
                _drop("alb:dr"),
                built=False,
                rank=6,
            )
        )
    if any(".db.t4g." in x.key for x in lines if "rds-instance" in x.tags):
        rows.append(
            Choice(
                "x86 database (db.t3, the earlier default)",
                frozenset({"rds-instance"}),
                "costs more for the same size",
                _rekey("rds-instance", _x86_db),
            )
        )
    else:
        rows.append(
            Choice(
                "Graviton database (db.t4g)",
                frozenset({"rds-instance"}),
                "nothing functional (PostgreSQL runs the same); a class change "
                "restarts the instance once",
                _rekey("rds-instance", _graviton_db),
                rank=1,
            )
        )
    graviton = all(".cache.t4g." in x.key for x in lines if "cache" in x.tags)
    rows.append(
        Choice(
            "Graviton cache (already cache.t4g: no change)" if graviton else "Graviton cache",
            frozenset({"cache"}),
            "nothing: Valkey runs the same on Graviton",
            _rekey("cache", _graviton_cache),
            rank=1,
        )
    )
    rows.append(
        Choice(
            "Graviton tasks (Fargate arm64)",
            frozenset({"fargate"}),
            "needs an arm64 image of the pinned Twenty release: unknown offline; "
            "the publish step checks the manifest and refuses an architecture "
            "the image lacks",
            _rekey("fargate", lambda k: k.replace(".x86_64", ".arm64")),
            rank=9,
        )
    )
    if s.dr.posture == "pilot_light":
        rows.append(
            Choice(
                f"warm standby ({s.dr.warm_standby_server_tasks} server task in DR)",
                frozenset({"service:dr:server"}),
                "costs more; saves the cold start of the DR services in a failover",
                _set_count("service:dr:server", s.dr.warm_standby_server_tasks),
            )
        )
    else:
        rows.append(
            Choice(
                "pilot light (no server task in DR)",
                frozenset({"service:dr:server"}),
                "the DR services cold-start during a failover (modelled RTO)",
                _set_count("service:dr:server", 0),
            )
        )
    rows.append(
        Choice(
            "database one class smaller",
            frozenset({"rds-instance"}),
            "half the memory for PostgreSQL's cache: slower queries under load",
            _rekey("rds-instance", _smaller_db),
            rank=9,
        )
    )
    if "multi-az" in tags:
        rows.append(
            Choice(
                "no Multi-AZ database",
                frozenset({"multi-az"}),
                "an AZ failure means a restore or a regional failover instead of "
                "a 1-2 min automatic failover",
                _halve("multi-az"),
                rank=10,
            )
        )
    if "cache:dr" in tags:
        rows.append(
            Choice(
                "no standing cache in DR (failover creates one)",
                frozenset({"cache:dr"}),
                "not built: creating a replication group adds 10-15 min to the RTO (docs/cost.md)",
                _drop("cache:dr"),
                built=False,
                rank=7,
            )
        )
    enhanced = any("insights:enhanced" in x.tags and x.count for x in lines)
    rows.append(
        Choice(
            "standard Container Insights" if enhanced else "enhanced Container Insights",
            frozenset({"insights"}),
            "task- and container-level metrics (standard keeps cluster and service level)"
            if enhanced
            else "costs more: task and container level",
            _insights("standard" if enhanced else "enhanced"),
            rank=2,
        )
    )
    rows.append(
        Choice(
            "attachments without Replication Time Control",
            frozenset({"s3-rtc"}),
            "the 15-minute replication SLA and its metrics; replication itself "
            "stays (usually minutes)",
            _drop("s3-rtc"),
            rank=3,
        )
    )
    rows.append(
        Choice(
            "attachments without AWS Backup",
            frozenset({"backup:s3"}),
            "point-in-time restore of attachments and copies outside the "
            "bucket's own versioning; deletions replicate to DR",
            _drop("backup:s3"),
            rank=9,
        )
    )
    rows.append(
        Choice(
            "attachments' backups not copied to DR",
            frozenset({"backup:s3"}),
            "a restorable attachment history if the primary region is lost "
            "(the replica bucket still holds current objects)",
            _drop_all("backup:s3", "backup-copy"),
            rank=8,
        )
    )
    if s.compute.server.cpu >= 1024:
        rows.append(
            Choice(
                "server tasks at 0.5 vCPU (2 GB kept)",
                frozenset({"server"}),
                "half the CPU per server task: scaling out sooner, slower requests "
                "at peaks (Twenty still gets 2 GB)",
                _scale_vcpu("server", 0.5),
                rank=5,
            )
        )
    else:
        factor = 1024 / s.compute.server.cpu
        rows.append(
            Choice(
                "server tasks at 1 vCPU (the earlier default)",
                frozenset({"server"}),
                "costs more; fewer server tasks at the same load",
                _scale_vcpu("server", factor),
            )
        )
    if "telemetry" in tags:
        rows.append(
            Choice(
                "telemetry off",
                frozenset({"telemetry"}),
                "Twenty's own metrics (queue depths, job and request timings) in CloudWatch",
                _drop("telemetry"),
                rank=2,
            )
        )
    else:
        rows.append(
            Choice(
                "telemetry on",
                frozenset({"telemetry"}),
                "costs more: Twenty's own metrics in CloudWatch (collector sidecar within "
                "the tasks' size; cost.telemetry_* are assumptions until measured)",
                _with_telemetry(s),
            )
        )
    return rows
