"""Median wall time of a full synthesis of every stack, each run in a cold process.

Usage: python benchmarks/synth_time.py [--runs N] [--env NAME]
Prints one line per run and the median; the README records the figure.
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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--env", default="prod")
    args = parser.parse_args()
    times = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "crm_platform.cli", "synth", "--env", args.env,
                 "--out", str(Path(scratch) / "cdk.out")],
                cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        times.append(elapsed)
        print(f"run {run}: {elapsed:.2f} s")
    print(f"median of {len(times)} cold synth runs ({args.env}): {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
