"""Median wall time of the local drill's every scenario (``crm-platform drill --local
--scenario all``), a cold process each.

Usage: python benchmarks/drill_time.py [--runs N] [--env NAME] [--scenario NAME]
Synthesizes once into a scratch folder (not timed), then times N drills against that
assembly, each in its own process (evaluator start, emulator, stand-ups, failovers,
checks). A drill whose verdict is FAIL (exit code 1) still counts: this measures time.
Prints one line per run and the median; the README records the figure (target: 60 s).
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
    parser.add_argument("--scenario", default="all")
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
                 "--scenario", args.scenario,
                 "--report", str(Path(scratch) / "drill-report.json"),
                 "--html", str(Path(scratch) / "drill-report.html")],
                cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            if proc.returncode not in (0, 1):  # 1: the verdict is FAIL, which is still a run
                print(proc.stdout[-3000:], proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            times.append(elapsed)
            verdict = "PASS" if proc.returncode == 0 else "FAIL"
            print(f"run {run}: {elapsed:.2f} s (verdict {verdict})")
    print(
        f"median of {len(times)} local drills ({args.env}, {args.scenario}): "
        f"{statistics.median(times):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
