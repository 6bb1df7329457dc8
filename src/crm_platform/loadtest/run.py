"""Run Locust in a subprocess and collect what it wrote.

Locust monkey-patches the standard library with gevent as it is imported; in its own
process that patching can never reach the CLI or the test runner. The API key is never
on a command line (where ``ps`` shows it): the child inherits the environment variable
the operator named and is told only that name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from crm_platform.loadtest import shapes

SCENARIO = Path(__file__).with_name("scenario.py")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding crm_platform


@dataclass(frozen=True)
class Plan:
    url: str
    api_key_variable: str
    users: int
    spawn_rate: float
    duration_seconds: int
    wait_seconds: tuple[float, float]
    out: Path  # folder for the CSV files and the HTML report
    files_field_id: str | None = None

    @property
    def prefix(self) -> Path:
        return self.out / "loadtest"

    @property
    def html(self) -> Path:
        return self.out / "loadtest.html"


@dataclass(frozen=True)
class Outcome:
    returncode: int
    prefix: Path
    html: Path


class LocustFailed(Exception):
    """Locust did not produce its statistics (it crashed, or never started)."""


def command(plan: Plan) -> list[str]:
    return [
        sys.executable, "-m", "locust",
        "-f", str(SCENARIO),
        "--headless",
        "--host", plan.url.rstrip("/"),
        "--users", str(plan.users),
        "--spawn-rate", str(plan.spawn_rate),
        "--run-time", f"{plan.duration_seconds}s",
        "--stop-timeout", "10",
        "--csv", str(plan.prefix),
        "--csv-full-history",
        "--html", str(plan.html),
        "--only-summary",
        "--exit-code-on-error", "0",  # the verdict is ours (results.judge), not Locust's
    ]  # fmt: skip


def environment(plan: Plan, base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env[shapes.ENV_API_KEY_VARIABLE] = plan.api_key_variable
    env[shapes.ENV_WAIT_MIN], env[shapes.ENV_WAIT_MAX] = map(str, plan.wait_seconds)
    if plan.files_field_id:
        env[shapes.ENV_FILES_FIELD_ID] = plan.files_field_id
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_ROOT), base.get("PYTHONPATH", "")) if p
    )
    return env


def run_locust(plan: Plan, progress: Callable[[str], None] = lambda _line: None) -> Outcome:
    """Run the scenario; raise LocustFailed when no statistics were written."""
    plan.out.mkdir(parents=True, exist_ok=True)
    for stale in plan.out.glob("loadtest_*.csv"):
        stale.unlink()
    process = subprocess.Popen(
        command(plan),
        env=environment(plan, os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        tail = [*tail[-19:], line.rstrip()]
        progress(line.rstrip())
    returncode = process.wait()
    if not Path(f"{plan.prefix}_stats.csv").exists():
        raise LocustFailed(f"Locust exited {returncode} without statistics:\n" + "\n".join(tail))
    return Outcome(returncode, plan.prefix, plan.html)
