"""Median wall time of the local drill (``crm-platform drill --local``), cold process each.

Usage: python benchmarks/drill_time.py [--runs N] [--env NAME]
Synthesizes once into a scratch folder (not timed), then times N drills against that
assembly, each in its own process (emulator start, stand-up, failover, checks). Prints one
line per run and the median; the README records the figure (target: 60 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--env", default="prod")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "crm_platform.cli"]
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "cdk.out")
        synth = subprocess.run([*cli, "synth", "--env", args.env, "--out", out], cwd=ROOT,
                               capture_output=True, text=True, check=False)  # fmt: skip
        if synth.returncode != 0:
            print(synth.stdout[-2000:], synth.stderr[-2000:], file=sys.stderr)
            return synth.returncode
        times = []
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            proc = subprocess.run(
                [*cli, "drill", "--local", "--env", args.env, "--out", out,
                 "--report", str(Path(scratch) / "drill-report.json")],
                cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            times.append(elapsed)
            print(f"run {run}: {elapsed:.2f} s")
    print(f"median of {len(times)} local drills ({args.env}): {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
