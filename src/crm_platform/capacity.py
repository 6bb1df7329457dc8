"""How many tasks each service runs in each region, as the templates declare them.

One function for the stacks (stacks/application.py builds the services from it) and for
the commands that compare a running platform with its templates (ops/drift.py): what a
failover changes outside CloudFormation is drift only against these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crm_platform.settings import Settings

Side = Literal["primary", "dr"]


@dataclass(frozen=True)
class Capacity:
    """Task counts of one service in one region (DR starts low and is raised by failover)."""

    desired: int
    minimum: int
    maximum: int


@dataclass(frozen=True)
class Planned:
    server: Capacity
    worker: Capacity


def planned(settings: Settings, side: Side, *, hold: bool = False) -> Planned:
    """The primary serves at its configured size; DR at its posture (pilot light: none;
    warm standby: some server tasks against the read-only replica, never a worker).

    ``hold`` (a first deploy, before the schema exists): zero tasks everywhere.
    """
    c = settings.compute
    worker_max = c.worker.desired_count
    if hold:
        return Planned(Capacity(0, 0, c.autoscaling_max_tasks), Capacity(0, 0, worker_max))
    if side == "primary":
        return Planned(
            Capacity(c.server.desired_count, c.server.desired_count, c.autoscaling_max_tasks),
            Capacity(worker_max, worker_max, worker_max),
        )
    dr = settings.dr
    warm = dr.warm_standby_server_tasks if dr.posture == "warm_standby" else 0
    # The worker writes on every job: never against a read-only replica.
    return Planned(Capacity(warm, warm, c.autoscaling_max_tasks), Capacity(0, 0, worker_max))
