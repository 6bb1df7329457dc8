"""``crm-platform dr status``: is the DR region ready to take over, right now?

Readiness is broken (non-zero exit) when the replica is missing, its lag is above the
recovery point objective (or it reports none), or no recovery point was copied to the
DR vault within 26 hours (a daily plan plus its windows). Everything else is shown for
the operator: backups, the switch, DR service counts, the failed-over state, the
impaired signal and the last local drill.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crm_platform.failover.runtime import fence_keeper
from crm_platform.naming import Names
from crm_platform.ops.dr_facts import failed_over_state, traffic_switch

Client = Callable[[str, str], Any]
COPY_WITHIN = timedelta(hours=26)
# The keeper acts every few minutes while DR serves; older news is no news.
KEEPER_STALE = timedelta(minutes=3 * fence_keeper.INTERVAL_MINUTES)


@dataclass
class Line:
    what: str
    value: str
    ok: bool | None  # None: informational


@dataclass
class Status:
    lines: list[Line] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(line.ok is not False for line in self.lines)

    def add(self, what: str, value: Any, ok: bool | None = None) -> None:
        self.lines.append(Line(what, str(value), ok))


def _latest(jobs: list[dict[str, Any]], key: str) -> datetime | None:
    times = [j[key] for j in jobs if j.get(key)]
    return max(times) if times else None


def _serving_backups(
    status: Status, names: Names, backup: Any, client: Client, now: datetime
) -> None:
    """Failed over: what serves is in DR, backed up by DR's standby plan into the DR vault
    (backup/standby_plan.py). None within 26 hours is a failure once the failover is a
    day old; before that the first daily backup may simply not have run yet."""
    dr = names.dr_region
    what = "last backup of what serves (DR vault)"
    try:
        jobs = backup.list_backup_jobs(
            ByBackupVaultName=names.backup_vault(dr), ByState="COMPLETED",
            ByCreatedAfter=now - timedelta(days=3),
        ).get("BackupJobs", [])  # fmt: skip
    except (ClientError, BotoCoreError) as err:
        status.add(what, f"unreadable ({type(err).__name__})", False)
        return
    last = _latest(jobs, "CompletionDate")
    if last is not None and now - last <= COPY_WITHIN:
        status.add(what, last, True)
        return
    state = failed_over_state(names, client)
    since = datetime.fromtimestamp(float(state.get("since", now.timestamp())), UTC)
    young = now - since <= COPY_WITHIN
    status.add(what, f"{last or 'none in 3 days'} (failed over {since:%Y-%m-%d %H:%M} UTC)",
               None if young else False)  # fmt: skip


def _fence(status: Status, names: Names, dynamodb: Any, now: datetime) -> None:
    """The fence keeper's last word on the old primary (failover/runtime/fence_keeper.py)."""
    try:
        kept = fence_keeper.read(dynamodb, names.failover_runs_table)
    except ClientError as err:
        status.add("old primary fenced", f"unreadable ({type(err).__name__})", False)
        return
    latest = kept and kept["latest"]
    if not kept or not latest:
        status.add("old primary fenced", "keeper has not acted (DR does not serve)")
        return
    at = datetime.fromtimestamp(latest["at"], UTC)
    ok = str(latest.get("primary")) == "fenced"
    status.add(
        "old primary fenced",
        f"{latest.get('primary')} at {at:%Y-%m-%d %H:%M} UTC "
        f"({len(kept['revoked'])} database rule(s) revoked)",
        ok and now - at <= KEEPER_STALE,
    )


def readiness(
    names: Names,
    client: Client,
    *,
    rpo_seconds: int,
    now: datetime | None = None,
    drill_report: Path | None = None,
) -> Status:
    dr, primary = names.dr_region, names.primary_region
    now = now or datetime.now(UTC)
    status = Status()
    rds = client("rds", dr)
    promoted = False
    try:
        db = rds.describe_db_instances(DBInstanceIdentifier=names.db_replica)["DBInstances"][0]
        promoted = not db.get("ReadReplicaSourceDBInstanceIdentifier")
        role = "promoted" if promoted else "read replica"
        status.add("DR database", f"{names.db_replica}: {db['DBInstanceStatus']}, {role}", True)
    except ClientError:
        status.add("DR database", f"{names.db_replica} missing", False)
    lag = client("cloudwatch", dr).get_metric_statistics(
        Namespace="AWS/RDS", MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": names.db_replica}],
        StartTime=now - timedelta(minutes=15), EndTime=now, Period=60, Statistics=["Maximum"],
    ).get("Datapoints", [])  # fmt: skip
    if lag:
        latest = max(lag, key=lambda p: p["Timestamp"])["Maximum"]
        status.add("replica lag", f"{latest:.0f}s (objective {rpo_seconds}s)",
                   latest <= rpo_seconds)  # fmt: skip
    else:
        status.add("replica lag", "no data in 15 minutes (replication stopped?)", False)
    backup_dr, backup_primary = client("backup", dr), client("backup", primary)
    try:
        copies = backup_dr.list_copy_jobs(
            ByDestinationVaultArn=names.backup_vault_arn(dr), ByState="COMPLETED",
            ByCreatedAfter=now - timedelta(days=3),
        ).get("CopyJobs", [])  # fmt: skip
        last_copy = _latest(copies, "CompletionDate")
        status.add("last copy to the DR vault", last_copy or "none in 3 days",
                   bool(last_copy and now - last_copy <= COPY_WITHIN))  # fmt: skip
    except (ClientError, BotoCoreError) as err:
        status.add("last copy to the DR vault", f"unreadable ({type(err).__name__})", False)
    try:
        jobs = backup_primary.list_backup_jobs(
            ByBackupVaultName=names.backup_vault(primary), ByState="COMPLETED",
            ByCreatedAfter=now - timedelta(days=3),
        ).get("BackupJobs", [])  # fmt: skip
        status.add(
            "last backup (primary vault)", _latest(jobs, "CompletionDate") or "none in 3 days"
        )
    except (ClientError, BotoCoreError) as err:
        status.add("last backup (primary vault)", f"primary unreadable ({type(err).__name__})")
    if promoted:
        _serving_backups(status, names, backup_dr, client, now)
    try:
        status.add("traffic switch (verified)", traffic_switch(names, client))
        status.add("failed-over state", failed_over_state(names, client).get("state", "none"))
    except ClientError as err:
        status.add("traffic switch", f"unreadable ({type(err).__name__})", False)
    _fence(status, names, client("dynamodb", dr), now)
    alarms = client("cloudwatch", dr).describe_alarms(
        AlarmNames=[names.impaired_alarm], AlarmTypes=["CompositeAlarm", "MetricAlarm"]
    )
    found = alarms.get("CompositeAlarms", []) + alarms.get("MetricAlarms", [])
    status.add("primary impaired (seen from DR)", found[0]["StateValue"] if found else "missing")
    ecs = client("ecs", dr)
    try:
        services = ecs.describe_services(
            cluster=names.ecs_cluster(dr), services=[names.server_service, names.worker_service]
        )["services"]
        counts = ", ".join(
            f"{x['serviceName']} {x.get('runningCount', 0)}/{x['desiredCount']}" for x in services
        )
        status.add("DR services (running/desired)", counts or "none")
    except ClientError as err:
        status.add("DR services", f"unreadable ({type(err).__name__})", False)
    if drill_report and drill_report.exists():
        report = json.loads(drill_report.read_text())
        status.add("last local drill", f"{report.get('verdict')} in {report.get('seconds')}s")
    else:
        status.add("last local drill", "none recorded (crm-platform drill --local)")
    return status
