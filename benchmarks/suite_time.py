"""Median wall time of the test suite with ``pytest -n 2``, a fresh pytest process each run.

Usage: python benchmarks/suite_time.py [--runs N] [--workers W] [--module-times]
                                        [-- PYTEST_ARGS...]
  e.g. python benchmarks/suite_time.py                       the whole suite, median of 3
       python benchmarks/suite_time.py --runs 1 -- tests/test_compute.py   one file, once
       python benchmarks/suite_time.py --runs 1 --module-times   and each file's seconds

Each run is a cold pytest: the run-wide assembly cache (tests/assembly_cache.py) lives in
the run's own temporary folder, so every run synthesizes once, as a developer's or CI's
run does. Prints one line per run (wall time, the CPU time of pytest and everything it
waited for, and pytest's summary line) and the medians; CPU time is the steadier figure
on a shared machine, where other people's work stretches the wall time;
the README records the figure (issue target: <= 150 s on a 2-core machine). A failing
run still counts: this measures time, and says so.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _summary(output: str) -> str:
    lines = [x for x in output.splitlines() if " in " in x and ("passed" in x or "failed" in x)]
    return lines[-1].strip("= ") if lines else "(no summary line)"


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process (and theirs, once reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="2", help="pytest-xdist -n value")
    parser.add_argument(
        "--module-times",
        action="store_true",
        help="also print each test file's summed seconds (the last run; tests/schedule.py)",
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: paths or options for pytest")
    args = parser.parse_args()
    times, cpu_times = [], []
    per_file = Path(tempfile.mkdtemp(prefix="suite-time-")) / "module-times.json"
    extra = [f"--module-times={per_file}"] if args.module_times else []
    for run in range(1, args.runs + 1):
        command = [
            sys.executable, "-m", "pytest", "-q", "-n", args.workers,
            "-p", "no:cacheprovider", *extra, *args.pytest_args,
        ]  # fmt: skip
        before = _children_cpu()
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        cpu = _children_cpu() - before
        times.append(elapsed)
        cpu_times.append(cpu)
        verdict = "" if proc.returncode == 0 else f" (exit {proc.returncode})"
        print(
            f"run {run}: {elapsed:.1f} s wall, {cpu:.1f} s CPU{verdict}: {_summary(proc.stdout)}",
            flush=True,
        )
        for line in proc.stdout.splitlines():  # which tests failed, so a flaky one is seen
            if line.startswith(("FAILED ", "ERROR ")):
                print(f"  {line}", flush=True)
    if args.module_times and per_file.exists():
        for name, seconds in json.loads(per_file.read_text()).items():
            print(f"  {seconds:7.1f} s  {name}")
    scope = " ".join(args.pytest_args) or "whole suite"
    median, cpu = statistics.median(times), statistics.median(cpu_times)
    print(
        f"median of {len(times)} runs ({scope}, -n {args.workers}): "
        f"{median:.1f} s wall, {cpu:.1f} s CPU"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
