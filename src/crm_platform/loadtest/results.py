"""Figures read back from Locust's CSV files: the summary, the verdict and the capacity.

Locust writes ``<prefix>_stats.csv`` (one row per request name plus ``Aggregated``) and
``<prefix>_stats_history.csv`` (every few seconds: users, requests/s and the current
percentiles of all requests). The verdict compares the run's aggregated 95th percentile
and failure share with configuration (``loadtest``); the capacity figure is the highest
request rate the run sustained while its current 95th percentile stayed at or under the
threshold, per server task (docs/adr/0041).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class EndpointStats:
    name: str
    method: str
    requests: int
    failures: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def error_percent(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Thresholds:
    p95_ms: float
    max_error_rate_percent: float


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Capacity:
    """The rate sustained at or under the p95 threshold, per task, and the scaling target
    it implies (``compute.requests_per_task_per_minute``)."""

    tasks: int
    sustained_requests_per_second: float | None  # all tasks; None: never under threshold
    target_utilization: float  # the share of the sustained rate the scaling aims at
    # False: the current p95 never went over the threshold, so the tasks were not pushed
    # to their limit and the rate is only a lower bound (more users are needed).
    threshold_reached: bool = True

    @property
    def per_task_per_minute(self) -> float | None:
        if self.sustained_requests_per_second is None:
            return None
        return self.sustained_requests_per_second * 60 / self.tasks

    @property
    def requests_per_task_per_minute(self) -> int | None:
        """What to configure: scaling starts before the measured limit, at the same share
        of it as the CPU target is of a task's CPU."""
        per_task = self.per_task_per_minute
        if per_task is None:
            return None
        return max(10, math.floor(per_task * self.target_utilization))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0  # Locust writes "N/A" before a percentile exists


def read_stats(prefix: Path) -> tuple[list[EndpointStats], EndpointStats]:
    """The per-request rows and the aggregated row of ``<prefix>_stats.csv``."""
    path = Path(f"{prefix}_stats.csv")
    rows: list[EndpointStats] = []
    total: EndpointStats | None = None
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            stats = EndpointStats(
                name=row["Name"],
                method=row["Type"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                requests_per_second=_number(row["Requests/s"]),
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
            )
            if row["Name"] == AGGREGATED:
                total = stats
            else:
                rows.append(stats)
    if total is None:
        raise ValueError(f"{path}: no {AGGREGATED} row")
    return rows, total


def judge(total: EndpointStats, thresholds: Thresholds) -> Verdict:
    reasons = []
    if total.requests == 0:
        reasons.append("no request completed")
    if total.p95_ms > thresholds.p95_ms:
        reasons.append(f"p95 {total.p95_ms:.0f} ms > {thresholds.p95_ms:.0f} ms")
    if total.error_percent > thresholds.max_error_rate_percent:
        reasons.append(
            f"errors {total.error_percent:.2f}% > {thresholds.max_error_rate_percent:g}%"
        )
    return Verdict(not reasons, tuple(reasons))


def threshold_reached(prefix: Path, p95_threshold_ms: float) -> bool:
    """Whether any history sample's current p95 went over the threshold."""
    with Path(f"{prefix}_stats_history.csv").open(newline="", encoding="utf-8") as f:
        return any(
            row["Name"] == AGGREGATED and _number(row["95%"]) > p95_threshold_ms
            for row in csv.DictReader(f)
        )


def sustained_rate(prefix: Path, p95_threshold_ms: float) -> float | None:
    """The highest aggregated requests/s of a history sample whose current p95 was at or
    under the threshold (samples without a p95 yet are skipped)."""
    path = Path(f"{prefix}_stats_history.csv")
    best: float | None = None
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["Name"] != AGGREGATED or row["95%"] in ("", "N/A"):
                continue
            rate, p95 = _number(row["Requests/s"]), _number(row["95%"])
            if p95 <= p95_threshold_ms and rate > 0 and (best is None or rate > best):
                best = rate
    return best
