"""Which recovery point ``crm-platform restore --point`` means: pure, so it is tested
without AWS, and a refusal happens before anything is created.

Three spellings of ``--point`` (docs/adr/0043-restore-from-backup.md):

- ``latest``: the newest completed recovery point of the database in the region's vault.
  Where the vault holds a continuous backup (the primary's, with ``continuous_backup``
  on), that is the continuous point restored to its latest restorable time.
- an ISO 8601 time with a zone (``2026-12-07T03:15:00Z``): a point-in-time restore of the
  continuous backup. Only the source region's vault holds one: a cross-Region copy of a
  continuous backup "becomes a snapshot (periodic) backup. PITR is not available for
  these copies" (https://docs.aws.amazon.com/aws-backup/latest/devguide/recov-point-create-a-copy.html),
  so a time in the DR vault is refused with that reason. A time outside the window
  (retention, up to the latest restorable time) is refused with the window.
- ``snapshot:<name>``: a manual RDS snapshot by name, such as the pipeline's
  pre-migration snapshot ``<prefix>-postgres-pre-<release>-<UTC time>``
  (release/migration.py). The prefix keeps the three forms apart: no snapshot name can
  be mistaken for ``latest`` or a time. Manual snapshots are taken in the primary region
  and never copied, so ``--region dr`` with a snapshot is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

COPY_IS_A_SNAPSHOT = (
    "https://docs.aws.amazon.com/aws-backup/latest/devguide/recov-point-create-a-copy.html"
)
SNAPSHOT_PREFIX = "snapshot:"
# A continuous recovery point's ARN names it (arn:aws:backup:<region>:<account>:
# recovery-point:continuous:<id>); snapshot points are ``...:recovery-point:<uuid>`` or,
# for RDS, the snapshot's own ARN. Assumed from AWS's documented ARNs, verify on staging.
CONTINUOUS_MARK = ":recovery-point:continuous:"
# RDS: "The latest restorable time for a DB instance is typically within 5 minutes of the
# current time" (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIT.html);
# used when the source instance (and so its LatestRestorableTime) is gone.
LATEST_RESTORABLE_LAG = timedelta(minutes=5)


class RestoreRefused(Exception):
    """The point cannot be restored; the message says why (nothing was created)."""


@dataclass(frozen=True)
class PointSpec:
    """``--point`` as typed, parsed."""

    kind: Literal["latest", "time", "snapshot"]
    time: datetime | None = None
    snapshot: str = ""

    @staticmethod
    def parse(text: str) -> PointSpec:
        text = text.strip()
        if text == "latest":
            return PointSpec("latest")
        if text.startswith(SNAPSHOT_PREFIX):
            name = text.removeprefix(SNAPSHOT_PREFIX)
            if not name:
                raise RestoreRefused("snapshot: needs a snapshot name (snapshot:<name>)")
            return PointSpec("snapshot", snapshot=name)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise RestoreRefused(
                f"--point {text!r}: expected latest, an ISO time with a zone "
                "(2026-12-07T03:15:00Z) or snapshot:<name>"
            ) from None
        if when.tzinfo is None:
            raise RestoreRefused(f"--point {text!r}: give the zone (Z for UTC)")
        return PointSpec("time", time=when.astimezone(UTC))

    def describe(self) -> str:
        if self.kind == "time" and self.time is not None:
            return _iso(self.time)
        return SNAPSHOT_PREFIX + self.snapshot if self.kind == "snapshot" else "latest"


@dataclass(frozen=True)
class RecoveryPoint:
    """One row of ``ListRecoveryPointsByBackupVault``, as far as selection needs it."""

    arn: str
    resource_arn: str
    status: str
    created: datetime
    completed: datetime | None
    key_arn: str

    @property
    def continuous(self) -> bool:
        return CONTINUOUS_MARK in self.arn

    @staticmethod
    def of(row: Mapping[str, Any]) -> RecoveryPoint:
        return RecoveryPoint(
            arn=str(row["RecoveryPointArn"]),
            resource_arn=str(row.get("ResourceArn", "")),
            status=str(row.get("Status", "")),
            created=row["CreationDate"],
            completed=row.get("CompletionDate"),
            key_arn=str(row.get("EncryptionKeyArn", "")),
        )


@dataclass(frozen=True)
class Selection:
    """What will be restored: a recovery point (at a time, for a continuous one) or a
    manual snapshot."""

    how: Literal["recovery-point", "point-in-time", "snapshot"]
    source: str  # the recovery point's ARN, or the snapshot's name
    restore_time: datetime | None  # point-in-time only; None: the latest restorable time
    key_arn: str
    summary: str

    def request_id(self, prefix: str, region: str, now: datetime) -> str:
        """Stable for the same request, so a second ``--execute`` finds the first.

        "The latest restorable time" of a continuous backup names no time of its own, so
        that request carries the UTC day it is made on: a run resumed the same day finds
        the first, and ``latest`` a week later restores anew instead of finding last
        week's restore."""
        if self.restore_time is not None:
            when = _iso(self.restore_time)
        elif self.how == "point-in-time":
            when = f"latest@{now.astimezone(UTC).date().isoformat()}"
        else:
            when = "as-recorded"
        text = f"{prefix}|{region}|{self.how}|{self.source}|{when}"
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Window:
    """Where a point-in-time restore can land."""

    earliest: datetime
    latest: datetime

    def describe(self) -> str:
        return f"{_iso(self.earliest)} .. {_iso(self.latest)}"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usable(points: Iterable[RecoveryPoint], resources: Iterable[str]) -> list[RecoveryPoint]:
    """Completed points of the platform's database, newest first."""
    wanted = set(resources)
    found = [p for p in points if p.status == "COMPLETED" and p.resource_arn in wanted]
    return sorted(found, key=lambda p: p.completed or p.created, reverse=True)


def pitr_window(
    point: RecoveryPoint,
    *,
    retention_days: int,
    now: datetime,
    latest_restorable: datetime | None,
) -> Window:
    """The continuous point's window: no older than its start or the retention, no newer
    than the source's latest restorable time (or ``now`` less RDS's usual lag)."""
    earliest = max(point.created, now - timedelta(days=retention_days))
    return Window(earliest, latest_restorable or now - LATEST_RESTORABLE_LAG)


def select(
    spec: PointSpec,
    *,
    region: str,
    source_region: str,
    vault: str,
    points: Iterable[RecoveryPoint],
    resources: Iterable[str],
    retention_days: int,
    now: datetime,
    latest_restorable: datetime | None = None,
) -> Selection:
    """The point ``spec`` means in ``region``'s ``vault``, or RestoreRefused saying why."""
    if spec.kind == "snapshot":
        if region != source_region:
            raise RestoreRefused(
                f"snapshot {spec.snapshot}: manual snapshots (the pipeline's pre-migration "
                f"snapshot included) exist in the primary region {source_region} only; "
                "restore it with --region primary"
            )
        return Selection("snapshot", spec.snapshot, None, "", f"manual snapshot {spec.snapshot}")
    candidates = usable(points, resources)
    if not candidates:
        raise RestoreRefused(
            f"no completed recovery point of the database in {vault} ({region}); "
            "list them: aws backup list-recovery-points-by-backup-vault "
            f"--region {region} --backup-vault-name {vault}"
        )
    continuous = next((p for p in candidates if p.continuous), None)
    if spec.kind == "latest":
        if continuous is not None:
            return Selection(
                "point-in-time",
                continuous.arn,
                None,
                continuous.key_arn,
                f"continuous backup {continuous.arn} at its latest restorable time",
            )
        newest = candidates[0]
        at = _iso(newest.completed or newest.created)
        return Selection(
            "recovery-point", newest.arn, None, newest.key_arn, f"recovery point of {at}"
        )
    assert spec.time is not None
    if region != source_region:
        raise RestoreRefused(
            f"a point in time ({spec.describe()}) cannot be restored from {vault} ({region}): "
            "its recovery points are copies, and a cross-Region copy of a continuous backup "
            f"is a snapshot without point-in-time restore ({COPY_IS_A_SNAPSHOT}); restore "
            "--point latest there, or a time with --region primary"
        )
    if continuous is None:
        raise RestoreRefused(
            f"no continuous backup of the database in {vault}: point-in-time restore needs "
            "backup.continuous_backup on; restore --point latest instead"
        )
    window = pitr_window(
        continuous, retention_days=retention_days, now=now, latest_restorable=latest_restorable
    )
    if not window.earliest <= spec.time <= window.latest:
        raise RestoreRefused(
            f"{spec.describe()} is outside the restore window {window.describe()} of the "
            f"continuous backup in {vault} (retention {retention_days} days); nothing was "
            "created"
        )
    return Selection(
        "point-in-time",
        continuous.arn,
        spec.time,
        continuous.key_arn,
        f"continuous backup {continuous.arn} at {spec.describe()}",
    )
