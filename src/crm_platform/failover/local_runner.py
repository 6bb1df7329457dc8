"""Run the failover's step list outside Step Functions, with the same semantics.

The drill runs it against the AWS emulator; tests run it with injected faults. It is
the state machine of failover/definition.py in Python: each step through the same
``run_attempt`` (so the same timeline, the same timeouts counted from a step's first
start), throttling retried with the same policy (policy.py: exponential backoff, capped,
full jitter), a polling step called again after the wait it asked for, any other error
ending the run at that step. Time is a clock the
caller provides: the drill's virtual clock makes a 30-minute promotion wait instant
while timeouts still count.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crm_platform.failover.policy import RETRY
from crm_platform.failover.runtime import handler, steps, timeline


class VirtualClock:
    """``now`` and ``sleep`` for a run that must not really wait."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class StepReport:
    name: str
    status: str  # done | failed | not emulated | not reached | skipped (resumed after it)
    detail: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    note: str = ""


@dataclass
class RunReport:
    run: str
    steps: list[StepReport]

    @property
    def failed_step(self) -> StepReport | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def ok(self) -> bool:
        return self.failed_step is None


def run_local(
    ctx: steps.Context,
    *,
    run: str,
    dynamodb: Any,
    table: str,
    sleep: Callable[[float], None],
    not_emulated: dict[str, str] | None = None,
    progress: Callable[[StepReport], None] = lambda _r: None,
    step_list: tuple[steps.Step, ...] = steps.STEPS,
    invoke: Callable[[steps.Step], None] = lambda _s: None,
    stop_after: str | None = None,
    start_at: str | None = None,
    resume: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Every step in order; stops at the first failure, like the state machine.

    ``invoke`` runs before each attempt, as the state machine's call of the step function
    (the drill authorizes it); ``stop_after`` ends the run after that step, as a crash
    would, and ``start_at`` resumes a run at that step. Any step tuple runs here (the
    failover's ``STEPS``, failback's ``FAILBACK_STEPS``); with ``resume`` the steps the
    run's timeline records as done are skipped (failback's second ``--execute``). ``stop``
    is asked before each step: true ends the run there (a live drill's ``--stop``), with
    the rest "not reached" and resumable.
    """
    skipped = not_emulated or {}
    reports = [StepReport(s.name, "not reached") for s in step_list]
    first = next((i for i, s in enumerate(step_list) if s.name == start_at), 0)
    jitter = random.Random(run)  # noqa: S311 - a wait, not a secret; seeded: a drill repeats
    done_before = timeline.completed(dynamodb, table, run) if resume else {}
    for index, (report, step) in enumerate(zip(reports, step_list, strict=True)):
        if index < first:
            report.status = "skipped"
            continue
        if stop():
            break
        if step.name in done_before:
            report.status, report.detail = "skipped", done_before[step.name]
            report.note = "done earlier in this incident"
            progress(report)
            continue
        report.started = ctx.now()
        if step.name in skipped:
            report.status, report.note = "not emulated", skipped[step.name]
            report.ended = ctx.now()
            order = step_list.index(step)
            timeline.start(dynamodb, table, run, step.name, order, ctx.now())
            timeline.end(dynamodb, table, run, step.name, "not emulated",
                         {"reason": skipped[step.name]}, ctx.now())  # fmt: skip
            progress(report)
            continue
        retries = 0
        while True:
            report.attempts += 1
            try:
                invoke(step)
                answer = handler.run_attempt(ctx, step, run, table, dynamodb, step_list)
            except steps.Retryable as err:
                retries += 1
                if retries > RETRY.max_retries:
                    report.status, report.detail = (
                        "failed",
                        {"error": "Retryable", "message": str(err)},
                    )
                    break
                sleep(RETRY.delay(retries, jitter))
                continue
            except Exception as err:  # the run ends at this step, which the report names
                report.status = "failed"
                report.detail = {"error": type(err).__name__, "message": str(err)}
                break
            report.detail = answer["detail"]
            if answer["done"]:
                report.status = "done"
                break
            sleep(answer["wait"])
        report.ended = ctx.now()
        progress(report)
        if report.status == "failed" or step.name == stop_after:
            break
    return RunReport(run, reports)
