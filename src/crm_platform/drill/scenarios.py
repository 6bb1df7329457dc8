"""The drill's scenarios: what goes wrong, how the operator acts, and what must come out.

Each scenario states its expected outcome; the verdict compares the run against it, so a
scenario about a refusal passes when the failover is refused, and fails when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outage = Literal["none", "unreachable", "data-plane", "errors", "dr-isolated"]
Fence = Literal["fenced", "unfenced"]


@dataclass(frozen=True)
class Expected:
    """What the run must show for the scenario to pass."""

    completes: bool = True  # the failover reaches its end (FailedOver)
    refused_at: str | None = None  # the step that must refuse (and change nothing)
    fence: Fence | None = None  # what the fence must record
    one_incident: bool = True  # one run id, one promotion, however often it is started
    second_start_refused: bool = False  # a start while one runs is refused
    retries: bool = False  # throttled calls were retried


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    outage: Outage
    expected: Expected
    throttle_first: int = 0  # attempts of each DR operation of the failover that throttle
    throttle_more: tuple[tuple[str, int], ...] = ()  # operations throttled past the SDK
    crash_after: str | None = None  # the first execution dies after this step
    second_start_after: str | None = None  # a second start arrives after this step
    measures_rto: bool = True  # run at p50 and p95 and hold p95 against the objective
    primary_returns: bool = False  # the primary answers again after the failover
    # A restore from backup (drill/restore.py) instead of a failover: "latest", or "time"
    # (a point in time just before the damage).
    # failback (drill/failback.py): a regional-outage failover, the primary region back,
    # then ``failback --execute``; sequence: that, then a restore, on one emulator.
    kind: Literal["failover", "restore", "failback", "sequence"] = "failover"
    restore_point: Literal["latest", "time"] = "latest"
    # Where the restore runs: "dr" restores from DR's vault with the primary region and
    # the DR replica both lost (drill/restore_dr.py), then the failover's state machine.
    restore_region: Literal["primary", "dr"] = "primary"

    def describe_expected(self) -> str:
        e = self.expected
        if self.kind in ("failback", "sequence"):
            text = (
                "after a regional-outage failover and the primary's return, failback puts the "
                "platform back in the original region with zero data loss (stale original "
                "fenced and kept, attachments verified, replication restored, DR replica "
                "rebuilt) and no drift from the templates"
            )
            if self.kind == "sequence":
                text += "; then a restore of the latest point reaches service"
            return text
        if self.kind == "restore" and self.restore_region == "dr":
            return (
                "with the primary region and the DR replica lost, a new instance restored "
                "from DR's vault, validated, serving under the replica's name (the unusable "
                "replica kept aside and fenced), the logins reset from DR's secrets, then "
                "the forced failover onto it completes"
            )
        if self.kind == "restore":
            return (
                "a new instance restored from the chosen point, validated, serving under the "
                "platform's name; the old one kept aside and fenced"
            )
        if e.refused_at:
            return f"refused at {e.refused_at}; nothing changes anywhere"
        parts = ["the failover completes"]
        if e.fence:
            parts.append(f"the fence records '{e.fence}'")
        if e.second_start_refused:
            parts.append("a second start is refused")
        if self.crash_after:
            parts.append("the re-run resumes the same incident, nothing is promoted twice")
        if e.retries:
            parts.append("throttled calls are retried")
        if self.primary_returns:
            parts.append("the fence keeper fences the primary once it answers, and keeps it so")
        return "; ".join(parts)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "regional-outage",
            "the primary region does not answer at all",
            "unreachable",
            Expected(fence="unfenced"),
        ),
        Scenario(
            "partial-outage",
            "the primary's data plane is down; its ECS and scaling APIs still answer",
            "data-plane",
            Expected(fence="fenced"),
            measures_rto=False,
        ),
        Scenario(
            "primary-errors",
            "the primary's APIs answer 5xx and AccessDenied instead of timing out",
            "errors",
            Expected(fence="unfenced"),
            measures_rto=False,
        ),
        Scenario(
            "throttling",
            "the DR APIs throttle the failover's calls, promotion and scaling past the SDK's "
            "retries",
            "unreachable",
            Expected(fence="unfenced", retries=True),
            throttle_first=3,
            throttle_more=(("PromoteReadReplica", 7), ("RegisterScalableTarget", 7)),
            measures_rto=False,
        ),
        Scenario(
            "crash-resume",
            "the run dies after promotion; the operator runs failover --execute again",
            "unreachable",
            Expected(fence="unfenced"),
            crash_after="promote_replica",
            measures_rto=False,
        ),
        Scenario(
            "concurrent",
            "EventBridge starts a second failover while the operator's runs",
            "unreachable",
            Expected(fence="unfenced", second_start_refused=True),
            second_start_after="promote_replica",
            measures_rto=False,
        ),
        Scenario(
            "primary-returns",
            "the primary region comes back while DR serves; later someone re-opens its "
            "database to the tasks",
            "unreachable",
            Expected(fence="unfenced"),
            measures_rto=False,
            primary_returns=True,
        ),
        Scenario(
            "dr-isolated",
            "DR loses the internet (and its view of Tokyo) while users still reach the "
            "primary; someone starts a failover anyway",
            "dr-isolated",
            Expected(completes=False, refused_at="preflight"),
            measures_rto=False,
        ),
        Scenario(
            "healthy-primary",
            "nothing is wrong; someone starts a failover anyway (no --force)",
            "none",
            Expected(completes=False, refused_at="preflight"),
            measures_rto=False,
        ),
        # issue 19, item 4: restore from backup, put into service (drill/restore.py)
        Scenario(
            "restore-latest",
            "a bad write corrupts the primary database; restore the latest restorable time",
            "none",
            Expected(),
            measures_rto=False,
            kind="restore",
            restore_point="latest",
        ),
        Scenario(
            "restore-point-in-time",
            "a bad write corrupts the primary database; restore to a minute before it",
            "none",
            Expected(),
            measures_rto=False,
            kind="restore",
            restore_point="time",
        ),
        Scenario(
            "restore-dr",
            "the primary region is lost and the DR replica is unusable (the bad write "
            "replicated to it); restore the newest point of DR's vault and fail over onto it",
            "unreachable",
            Expected(fence="unfenced"),
            measures_rto=False,
            kind="restore",
            restore_point="latest",
            restore_region="dr",
        ),
        # issue 19, item 4: the way back (drill/failback.py)
        Scenario(
            "failback",
            "after a regional outage and a failover, the primary region answers again; the "
            "operator fails back",
            "unreachable",
            Expected(fence="unfenced"),
            measures_rto=False,
            kind="failback",
        ),
        Scenario(
            "failover-failback-restore",
            "one emulator: a regional outage and the failover, failback once the primary is "
            "back, then a bad write and a restore of the latest point",
            "unreachable",
            Expected(fence="unfenced"),
            measures_rto=False,
            kind="sequence",
            restore_point="latest",
        ),
    )
}
DEFAULT = "regional-outage"
# ``all`` runs the sequence, which holds the failback scenario's runs: not both.
NOT_IN_ALL = frozenset({"failback"})


def selected(name: str) -> list[Scenario]:
    """``all`` or one scenario by name (the CLI refuses other names)."""
    if name == "all":
        return [s for s in SCENARIOS.values() if s.name not in NOT_IN_ALL]
    return [SCENARIOS[name]]
