"""Median wall time of a full synthesis of every stack, each run in a cold process, and
(given the original design's repository) the paired ratio to its ``terraform plan``.

Usage: python benchmarks/synth_time.py [--runs N] [--env NAME]
           [--seed PATH [--terraform BIN] [--plugin-mirror DIR]]

Prints one line per run and the medians (wall time, and the CPU time of the process and
everything it started: the steadier figure on a shared machine); the README records the
figures (issue 21's target: ratio <= 1.0). ``--seed`` is a checkout of the original
design's repository (the folder holding ``infrastructure/``): its ``infrastructure``
folder is copied into a scratch folder (the checkout is never written), ``terraform
init`` runs there once, untimed (``--plugin-mirror``: a provider folder laid out as a
filesystem mirror, for a machine without the Terraform registry), and every variable
without a default gets a placeholder value, so ``terraform plan`` runs offline with the
mock credentials the original's providers.tf already sets. Each run is a pair, synthesis
and plan back to back, in alternating order so neither always runs on the warmer
machine; the ratio is the median of the pairs' ratios. Without a terraform binary it
says so and prints the synthesis figure only.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_ENV = Path("infrastructure/environments/prod")
VARIABLE = re.compile(r'variable\s+"([^"]+)"\s*\{(.*?)\n\}', re.S)


def placeholder(name: str) -> str:
    """A value of the right shape for a variable the original leaves to its CI secrets."""
    if name.endswith("certificate_arn"):
        return "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    if name.endswith("_arn"):
        return f"arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:{name}-AbCdEf"
    if "email" in name:
        return "ops@example.com"
    if "domain" in name:
        return "crm.example.com"
    return f"placeholder-{name}-0123456789"


def required_variables(env_dir: Path) -> dict[str, str]:
    """``TF_VAR_*`` for every variable declared without a default."""
    found = {}
    for path in sorted(env_dir.glob("*.tf")):
        for name, body in VARIABLE.findall(path.read_text()):
            if not re.search(r"^\s*default\s*=", body, re.M):
                found[f"TF_VAR_{name}"] = placeholder(name)
    return found


class Plan:
    """The original design's ``terraform plan``, initialised once in a scratch copy."""

    def __init__(self, seed: Path, terraform: str, mirror: Path | None, scratch: Path) -> None:
        shutil.copytree(seed / "infrastructure", scratch / "infrastructure")
        self.dir = scratch / SEED_ENV
        for stale in ("tfplan", "tfplan.json", ".terraform", ".terraform.lock.hcl"):
            target = self.dir / stale
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        self.terraform = terraform
        self.cpu: list[float] = []
        self.env = {**os.environ, **required_variables(self.dir), "TF_IN_AUTOMATION": "1"}
        if mirror is not None:
            config = scratch / "terraformrc"
            config.write_text(
                "provider_installation {\n"
                f'  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n'
                "}\n"
            )
            self.env["TF_CLI_CONFIG_FILE"] = str(config)
        self._run(["init", "-input=false", "-no-color"], "terraform init")

    def _run(self, arguments: list[str], what: str) -> str:
        proc = subprocess.run(
            [self.terraform, *arguments], cwd=self.dir, env=self.env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"{what} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return proc.stdout

    def timed(self) -> tuple[float, str]:
        before = children_cpu()
        started = time.perf_counter()
        output = self._run(["plan", "-input=false", "-lock=false", "-no-color"], "terraform plan")
        elapsed = time.perf_counter() - started
        self.cpu.append(children_cpu() - before)
        summary = next((x for x in output.splitlines() if x.startswith("Plan:")), "(no summary)")
        return elapsed, summary


def children_cpu() -> float:
    """User + system CPU seconds of every finished child process (and theirs, reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_synth(env: str) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "crm_platform.cli", "synth", "--env", env,
             "--out", str(Path(scratch) / "cdk.out")],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"synth failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--env", default="prod")
    parser.add_argument("--seed", type=Path, help="checkout of the original design's repository")
    parser.add_argument("--terraform", default=shutil.which("terraform"))
    parser.add_argument("--plugin-mirror", type=Path, help="Terraform provider mirror folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        plan = None
        if args.seed is not None:
            if not args.terraform:
                print("no terraform binary found: synthesis time only, no ratio")
            else:
                print(f"terraform init in a copy of {args.seed} (untimed)...", flush=True)
                plan = Plan(args.seed, args.terraform, args.plugin_mirror, Path(scratch))
        synths, plans, ratios, cpus = [], [], [], []
        for run in range(1, args.runs + 1):
            if plan is None:
                before = children_cpu()
                synths.append(timed_synth(args.env))
                cpus.append(children_cpu() - before)
                print(f"run {run}: synth {synths[-1]:.2f} s ({cpus[-1]:.1f} s CPU)", flush=True)
                continue
            if run % 2:
                before = children_cpu()
                synth = timed_synth(args.env)
                cpus.append(children_cpu() - before)
                planned, summary = plan.timed()
            else:
                planned, summary = plan.timed()
                before = children_cpu()
                synth = timed_synth(args.env)
                cpus.append(children_cpu() - before)
            synths.append(synth)
            plans.append(planned)
            ratios.append(synth / planned)
            print(
                f"run {run}: synth {synth:.2f} s ({cpus[-1]:.1f} s CPU), "
                f"terraform plan {planned:.2f} s ({plan.cpu[-1]:.1f} s CPU) "
                f"({summary}), ratio {synth / planned:.2f}",
                flush=True,
            )
    print(
        f"median of {len(synths)} cold synth runs ({args.env}): {statistics.median(synths):.2f} s"
        f" wall, {statistics.median(cpus):.1f} s CPU"
    )
    if plan is not None and plans:
        print(
            f"median of {len(plans)} terraform plan runs (original design): "
            f"{statistics.median(plans):.2f} s wall, {statistics.median(plan.cpu):.1f} s CPU; "
            "median paired ratio synth/plan: "
            f"{statistics.median(ratios):.2f} (target <= 1.0)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
