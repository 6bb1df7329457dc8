"""Each step's effect removed in turn, from one drill run: a fork at each step's first call.

The sabotage tests prove that removing any one step's effect turns the drill's verdict to
FAIL. Run from scratch, each sabotaged drill repeats everything before its step (the
failover before a failback, the steps before the sabotaged one), and the failback family
alone took 18 runs of about 4 s each. Everything before step k is the same in the run
without sabotage, so one baseline run forks where each named step is first called: the
parent carries on with the real step; the child (a copy of the whole process: the
emulator's state, the virtual clock, the scenario's models) gets the step without its
effect (``no_effect``: done at once, nothing called) and runs the scenario to its report,
which it writes to a file and exits. That is the same run as one from scratch: the
steps before k are identical, and the drill is deterministic on its virtual clock (the
runner's jitter is seeded; moto's random identifiers do not change a verdict).
``tests/test_drill_failback.py`` checks one forked report against a from-scratch run.

Only on Linux: elsewhere (Windows has no ``fork``; on macOS a forked process may not use
some of the system's own libraries, https://docs.python.org/3/library/os.html#os.fork),
and for a single step (the baseline would be a run more), each step runs from scratch.

Hazards, and why they do not apply here: a forked child holds only the forking thread
(xdist's execnet thread is gone; the child never talks to it), it never calls into the
CDK's Node process (the drill reads the assembly as JSON) and it leaves with
``os._exit``, so no finalizer, atexit handler or pytest hook runs in it. At most
``MAX_CHILDREN`` children run at once, bounding memory and the load on the machine.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from crm_platform.drill.run import DrillReport
from crm_platform.failover.runtime import steps

MAX_CHILDREN = 2
Steps = tuple[steps.Step, ...]


def no_effect(step: steps.Step) -> steps.Step:
    """``step`` as if its effect were removed: done at once, nothing called."""
    return replace(step, run=lambda _ctx: steps.Outcome(True, {}), poll=False)


def each_step_removed(
    drill: Callable[[Steps], DrillReport], step_list: Steps, names: Iterable[str]
) -> dict[str, DrillReport]:
    """For each of ``names``: ``drill`` run with that step of ``step_list`` without effect."""
    wanted = list(dict.fromkeys(names))
    unknown = set(wanted) - {s.name for s in step_list}
    if unknown:
        raise ValueError(f"not in the step list: {sorted(unknown)}")
    if len(wanted) < 2 or not sys.platform.startswith("linux"):  # one step: nothing saved
        return {
            n: drill(tuple(no_effect(s) if s.name == n else s for s in step_list)) for n in wanted
        }
    return _Forks(set(wanted)).run(drill, step_list)


class _Forks:
    """One baseline run that forks a sabotaged child at each named step's first call."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.folder = Path(tempfile.mkdtemp(prefix="crm-sabotage-"))
        self.sabotaged: str | None = None  # set in a child: the step it runs without effect
        self.children: dict[str, int] = {}  # step -> pid, still to be reaped
        self.finished: dict[str, int] = {}  # step -> exit status

    def run(
        self, drill: Callable[[Steps], DrillReport], step_list: Steps
    ) -> dict[str, DrillReport]:
        wrapped = tuple(self._wrap(s) if s.name in self.names else s for s in step_list)
        try:
            report = drill(wrapped)
        except BaseException:
            if self.sabotaged is not None:  # a child never returns into the caller's code
                self._leave(None, traceback.format_exc())
            self._end()
            raise
        if self.sabotaged is not None:
            self._leave(report, "")
        try:
            while self.children:
                self._reap_one()
            return {name: self._result(name) for name in sorted(self.names)}
        finally:
            self._end()

    def _end(self) -> None:
        """The parent's end, however the run ended: no child left unreaped, no files."""
        while self.children:
            self._reap_one()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _wrap(self, step: steps.Step) -> steps.Step:
        def run(ctx: steps.Context) -> steps.Outcome:
            if self.sabotaged == step.name:
                return steps.Outcome(True, {})
            if self.sabotaged is None and step.name not in self.children | self.finished:
                self._fork(step.name)
                if self.sabotaged == step.name:  # the child: this call is the sabotaged one
                    return steps.Outcome(True, {})
            return step.run(ctx)

        return replace(step, run=run)

    def _fork(self, name: str) -> None:
        while len(self.children) >= MAX_CHILDREN:
            self._reap_one()
        with warnings.catch_warnings():
            # Python 3.12+ warns when a process with threads forks (xdist's execnet thread):
            # the child uses no thread and no lock of theirs, and leaves with os._exit.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            self.sabotaged = name
            self.children.clear()  # the parent's children are not this process's to reap
        else:
            self.children[name] = pid

    def _reap_one(self) -> None:
        """Wait for the oldest child (by its pid: never reap another subprocess of ours)."""
        name, pid = next(iter(self.children.items()))
        _, status = os.waitpid(pid, 0)
        del self.children[name]
        self.finished[name] = os.waitstatus_to_exitcode(status)

    def _leave(self, report: DrillReport | None, error: str) -> None:
        """The child's end: its report (or its traceback) in a file, then ``os._exit``."""
        assert self.sabotaged is not None
        code = 1
        try:
            path = self.folder / f"{self.sabotaged}.pickle"
            scratch = path.with_suffix(".partial")
            scratch.write_bytes(pickle.dumps((report, error)))
            scratch.rename(path)
            code = 0 if report is not None else 1
        finally:
            os._exit(code)

    def _result(self, name: str) -> DrillReport:
        path = self.folder / f"{name}.pickle"
        if name not in self.finished:
            raise AssertionError(f"{name}: the baseline run never called this step")
        if not path.exists():
            raise AssertionError(f"{name}: the sabotaged run died (exit {self.finished[name]})")
        report, error = pickle.loads(path.read_bytes())  # noqa: S301 - written by our own child
        if report is None:
            raise AssertionError(f"{name}: the sabotaged run raised:\n{error}")
        assert isinstance(report, DrillReport)
        return report
