"""The one table of how long the failover's AWS operations and human acts take.

The drill runs against an emulator that does everything at once. To rehearse time as
well as order, the drill's emulator answers "in progress" (a replica still promoting,
a task not yet running, a target not yet healthy) until its virtual clock has passed
the duration given here, so the failover's polling steps wait as they would in AWS.
Each entry has two figures: ``p50`` (a typical run) and ``p95`` (a bad but ordinary
one). The drill is run at one of them and its verdict reports the recovery time
against the objective at that quantile: p50 says whether the plan meets the objective
on a normal day, p95 whether it still does on a slow one.

Every figure names its source. An ``https://docs.aws.amazon.com/`` source quotes what
AWS documents (quotes taken from the research notes, some from the 2023 guides). A
source starting with ``assumed:`` is our guess, with the reason for it: AWS publishes
no number for most of these. Assumed figures are placeholders until a staging drill
measures them; correct them here, in this one table, from that drill's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Quantile = Literal["p50", "p95"]

AWS_DOCS = "https://docs.aws.amazon.com/"
ASSUMED = "assumed:"

_READ_REPLICAS = f"{AWS_DOCS}AmazonRDS/latest/UserGuide/USER_ReadRepl.html"
_MULTI_AZ = f"{AWS_DOCS}AmazonRDS/latest/UserGuide/Concepts.MultiAZSingleStandby.html"
_ALARMS = f"{AWS_DOCS}AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html"
_FARGATE_PULL = f"{AWS_DOCS}AmazonECS/latest/developerguide/fargate-pull-behavior.html"
_TARGET_HEALTH = (
    f"{AWS_DOCS}elasticloadbalancing/latest/application/target-group-health-checks.html"
)
_ROUTE53_ALARM = (
    f"{AWS_DOCS}Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html"
)
_EVALUATED_EVERY_MINUTE = (
    '"For any period of one minute or longer, an alarm is evaluated every minute"'
)


@dataclass(frozen=True)
class Duration:
    """How long one operation takes, in seconds, at the two quantiles the drill reports."""

    name: str
    what: str
    p50: float
    p95: float
    source: str

    def __post_init__(self) -> None:
        # The table is trusted by every drill run: a bad entry fails at import, not later.
        if not 0 <= self.p50 <= self.p95:
            raise ValueError(f"{self.name}: need 0 <= p50 <= p95, got {self.p50}, {self.p95}")
        if not self.source.startswith((AWS_DOCS, ASSUMED)):
            raise ValueError(f"{self.name}: source must be an AWS docs URL or '{ASSUMED} why'")

    def at(self, quantile: Quantile) -> float:
        """The figure the drill waits for when it runs at ``quantile``."""
        return self.p50 if quantile == "p50" else self.p95

    @property
    def assumed(self) -> bool:
        """Not documented by AWS: to be replaced by a measurement from a staging drill."""
        return self.source.startswith(ASSUMED)


def detection(minutes: int) -> Duration:
    """How long after the outage began the DR-side composite alarm fires.

    Both DR probes must fail for ``dr.detection_minutes`` (a configuration value, hence a
    function rather than a table entry); the alarm is then evaluated once a minute, so it
    fires within the next minute (p50) or, when the last data point is late, the one after.
    """
    if minutes < 1:
        raise ValueError(f"detection needs at least one minute, got {minutes}")
    return Duration(
        "detection",
        f"both DR probes fail for {minutes} min, then the composite alarm fires",
        minutes * 60 + 60,
        minutes * 60 + 120,
        f"{_ALARMS} {_EVALUATED_EVERY_MINUTE}",
    )


_TABLE: tuple[Duration, ...] = (
    Duration(
        "operator.decision",
        "manual mode: the on-call person is paged, confirms the outage, starts the failover",
        300,
        900,
        f"{ASSUMED} a human act AWS cannot document; 5 min for a rehearsed on-call who "
        "trusts the impaired alarm, 15 min when the page comes off-hours or the outage "
        "must be confirmed by other means",
    ),
    Duration(
        "rds.promotion",
        "PromoteReadReplica of the cross-region PostgreSQL replica until available, writable",
        300,
        900,
        f'{ASSUMED} figures chosen within AWS\'s "several minutes or longer": '
        f'{_READ_REPLICAS} "The promotion process can take several minutes or longer to '
        'complete, depending on the size of the read replica."',
    ),
    Duration(
        "rds.first_backup",
        "first automated backup after promoting a replica that took none of its own",
        600,
        1800,
        f"{ASSUMED} AWS documents no time for the first backup after promotion; a full "
        "snapshot grows with the database's size; 10 min / 30 min until measured",
    ),
    Duration(
        "rds.multi_az",
        "Single-AZ to Multi-AZ conversion of the promoted database, in the background",
        1200,
        3600,
        f"{ASSUMED} AWS builds the standby from a snapshot and documents no duration "
        f'({_MULTI_AZ} "Using a snapshot to create the standby instance avoids downtime when '
        'you convert from Single-AZ to Multi-AZ"); 20 min / 60 min until measured',
    ),
    Duration(
        "secrets.stop_replication",
        "StopReplicationToReplica: a DR secret becomes standalone and writable",
        2,
        10,
        f"{ASSUMED} a metadata change in the replica region; AWS documents no duration",
    ),
    Duration(
        "fargate.cold_start",
        "pilot light: a Twenty task from zero (image pull, Twenty's boot) until it runs",
        120,
        300,
        f"{ASSUMED} Fargate caches no images, so the pull drives start-up ({_FARGATE_PULL}); "
        're:Post (https://repost.aws/questions/QUjZAzJd27SZWxXM7MgyxOZw) says "30-45 seconds '
        "or longer\" for a small image; Twenty's is about 1.5 GB and it boots before it "
        "listens, so 2 min / 5 min",
    ),
    Duration(
        "twenty.jobs",
        "a one-off Twenty task's work once it runs: the entrypoint's cron:register:all",
        60,
        180,
        f"{ASSUMED} Twenty boots its command module and writes each job to the cache; "
        "no published figure, 1 min / 3 min until a staging drill measures it",
    ),
    Duration(
        "fargate.sql_task",
        "the SQL task: RunTask of the platform's image until psql's answer is logged",
        60,
        180,
        f"{ASSUMED} the same image as Twenty's (about 1.5 GB), pulled afresh: Fargate caches "
        f"no images ({_FARGATE_PULL}), and re:Post "
        '(https://repost.aws/questions/QUjZAzJd27SZWxXM7MgyxOZw) says "30-45 seconds or '
        'longer" for a small image; no Twenty boot and two short queries after it, so '
        "1 min / 3 min until a staging drill measures it",
    ),
    Duration(
        "fargate.warm",
        "warm standby: the server task is already running and registered",
        0,
        0,
        f"{ASSUMED} nothing to wait for by construction (dr.posture warm_standby)",
    ),
    Duration(
        "alb.first_health_check",
        "a newly registered target passes its first health check (every 15 s here)",
        15,
        30,
        f'{_TARGET_HEALTH} "After your target is registered, it must pass one health check '
        'to be considered healthy." Our target groups check every 15 s '
        "(compute/load_balancer.py); p95 allows one failed check while Twenty warms up",
    ),
    Duration(
        "cloudwatch.alarm_evaluation",
        "a metric alarm sees new data (the switch's metric) and changes state",
        60,
        120,
        f"{_ALARMS} {_EVALUATED_EVERY_MINUTE}",
    ),
    Duration(
        "route53.switch",
        "Route 53 reads the DR alarm's metric data; the PRIMARY record's health check flips",
        60,
        120,
        f"{ASSUMED} Route 53 watches the alarm's data stream, not its state ({_ROUTE53_ALARM} "
        '"Route 53 monitors the data stream for the corresponding alarm instead of '
        'monitoring the alarm state."), and documents no delay; 1 min / 2 min until measured',
    ),
    Duration(
        "dns.ttl",
        "resolvers (CloudFront's included) drop the cached origin answer (alias TTL 60 s)",
        30,
        60,
        f"{ASSUMED} the alias record takes the load balancer's 60 s TTL "
        "(edge/origin_records.py); a cached answer lives half the TTL on average, the whole "
        "TTL at worst; resolvers that ignore TTLs are not modelled",
    ),
    Duration(
        "backup.restore",
        "AWS Backup restores an RDS recovery point into a new instance, until available",
        1200,
        3600,
        f"{ASSUMED} AWS documents no restore time; it grows with the database's size "
        "(a restore creates a new instance from a snapshot: "
        f"{AWS_DOCS}aws-backup/latest/devguide/restoring-rds.html); 20 min / 60 min for "
        "a database of a few tens of GB until a staging drill measures it",
    ),
    Duration(
        "backup.pitr_replay",
        "a point-in-time restore also replays the transaction logs up to the chosen time",
        300,
        1200,
        f"{ASSUMED} RDS restores the snapshot before the time and replays the logs after it "
        f"({AWS_DOCS}AmazonRDS/latest/UserGuide/USER_PIT.html); AWS documents no rate, "
        "5 min / 20 min until measured",
    ),
    Duration(
        "rds.rename",
        "ModifyDBInstance with a new identifier: the instance is renamed and rebooted",
        600,
        900,
        f'{AWS_DOCS}AmazonRDS/latest/UserGuide/USER_RenameInstance.html "The new DNS name '
        "for the renamed DB instance becomes effective in about 10 minutes. The renamed DB "
        'instance is not available until the new name becomes effective." p95 adds 5 min '
        "(assumed)",
    ),
    Duration(
        "rds.cross_region_replica",
        "failback: CreateDBInstanceReadReplica of the serving DR database into the original "
        "region, until available",
        1800,
        5400,
        f"{ASSUMED} RDS builds a replica from a snapshot of the source "
        f'({AWS_DOCS}AmazonRDS/latest/UserGuide/USER_ReadRepl.Create.html "When you create '
        "a read replica, Amazon RDS takes a DB snapshot of your source DB instance and begins "
        f'replication"), copied across Regions ({AWS_DOCS}AmazonRDS/latest/UserGuide/'
        "USER_ReadRepl.XRgn.html); AWS documents no duration: 30 min / 90 min for a few tens "
        "of GB until a staging drill measures it",
    ),
    Duration(
        "rds.replica_catch_up",
        "failback: the new replica replays the WAL written since its snapshot, until its "
        "ReplicaLag is within the RPO",
        300,
        1800,
        f"{ASSUMED} PostgreSQL streams WAL asynchronously ({AWS_DOCS}AmazonRDS/latest/"
        "UserGuide/USER_PostgreSQL.Replication.ReadReplicas.Configuration.html); the backlog "
        "is what DR wrote during the creation; AWS documents no rate, 5 min / 30 min",
    ),
    Duration(
        "api.call",
        "one AWS API call from the failover Lambda to a service in its own region",
        0.1,
        0.5,
        f"{ASSUMED} typical in-region control-plane latency; AWS publishes no figure",
    ),
)

DURATIONS: dict[str, Duration] = {d.name: d for d in _TABLE}


def _text(seconds: float) -> str:
    """Seconds as people read them: "0.5 s", "90 s", "5 min"."""
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min"


def explain(detection_minutes: int | None = None) -> list[tuple[str, str, str, str, str]]:
    """Rows (name, what, p50, p95, source) for the console table, in the failover's order.

    ``detection_minutes`` (the configured ``dr.detection_minutes``) adds the detection row
    first; it has no default here so that a table never shows a figure the configuration
    does not have.
    """
    rows = [detection(detection_minutes)] if detection_minutes is not None else []
    rows.extend(DURATIONS.values())
    return [(d.name, d.what, _text(d.p50), _text(d.p95), d.source) for d in rows]
