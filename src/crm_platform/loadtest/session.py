"""One load test from start to verdict: refuse or warn, run Locust, read its figures.

The CLI parses and prints; this decides. ``prod`` names production (whatever
environment is tested) so its host names can be refused.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from crm_platform.loadtest import guard, results
from crm_platform.loadtest.run import Outcome, Plan, run_locust
from crm_platform.naming import Names
from crm_platform.settings import Settings

Runner = Callable[[Plan, Callable[[str], None]], Outcome]


@dataclass(frozen=True)
class Options:
    url: str
    api_key_variable: str
    users: int | None = None
    spawn_rate: float | None = None
    duration_seconds: int | None = None
    tasks: int | None = None  # server tasks behind the URL during the run
    out: Path = Path("loadtest-report")
    files_field_id: str | None = None
    production_acknowledged: bool = False


@dataclass(frozen=True)
class Report:
    plan: Plan
    production: bool
    warnings: tuple[str, ...]
    endpoints: tuple[results.EndpointStats, ...]
    total: results.EndpointStats
    thresholds: results.Thresholds
    verdict: results.Verdict
    capacity: results.Capacity
    outcome: Outcome


def plan_for(settings: Settings, options: Options) -> Plan:
    c = settings.loadtest
    return Plan(
        url=options.url,
        api_key_variable=options.api_key_variable,
        users=options.users or c.users,
        spawn_rate=options.spawn_rate or c.spawn_rate,
        duration_seconds=options.duration_seconds or c.duration_seconds,
        wait_seconds=c.wait_seconds,
        out=options.out,
        files_field_id=options.files_field_id,
    )


def prepare(
    settings: Settings, prod: Names, options: Options, env: Mapping[str, str]
) -> tuple[Plan, bool, tuple[str, ...]]:
    """Everything checked before Locust starts (raises guard.Refused)."""
    production = guard.check_target(
        options.url, prod, production_acknowledged=options.production_acknowledged
    )
    if not options.api_key_variable.isidentifier():
        raise guard.Refused(f"--api-key-env {options.api_key_variable!r} is not a variable name")
    if not env.get(options.api_key_variable):
        raise guard.Refused(
            f"the environment variable {options.api_key_variable} is empty or unset: export "
            "a Twenty API key in it (Settings > APIs & Webhooks); keys are never options"
        )
    if importlib.util.find_spec("locust") is None:  # looked up, not imported (gevent)
        raise guard.Refused(
            "Locust is not installed: pip install 'crm-platform[loadtest]' (README, Load test)"
        )
    plan = plan_for(settings, options)
    warnings = []
    estimate = guard.waf_estimate(plan.users, plan.wait_seconds, settings.edge.waf_rate_limit)
    warning = guard.waf_warning(options.url, Names.of(settings), estimate)
    if warning:
        warnings.append(warning)
    if not plan.files_field_id:
        warnings.append(
            "no --files-field-id: the attachment upload and download are not exercised "
            "(the id of a FILES field, Settings > Data model)"
        )
    return plan, production, tuple(warnings)


def execute(
    settings: Settings,
    prod: Names,
    options: Options,
    *,
    progress: Callable[[str], None] = lambda _line: None,
    warn: Callable[[str], None] = lambda _line: None,
    runner: Runner = run_locust,
    env: Mapping[str, str] | None = None,
) -> Report:
    plan, production, warnings = prepare(
        settings, prod, options, os.environ if env is None else env
    )
    for line in warnings:
        warn(line)
    outcome = runner(plan, progress)
    endpoints, total = results.read_stats(outcome.prefix)
    thresholds = results.Thresholds(
        settings.loadtest.p95_ms, settings.loadtest.max_error_rate_percent
    )
    capacity = results.Capacity(
        tasks=options.tasks or settings.compute.server.desired_count,
        sustained_requests_per_second=results.sustained_rate(outcome.prefix, thresholds.p95_ms),
        target_utilization=settings.compute.autoscaling_target_cpu_percent / 100,
        threshold_reached=results.threshold_reached(outcome.prefix, thresholds.p95_ms),
    )
    return Report(
        plan, production, warnings, tuple(endpoints), total, thresholds,
        results.judge(total, thresholds), capacity, outcome,
    )  # fmt: skip
