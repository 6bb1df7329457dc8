"""``crm-platform loadtest``: parse, then hand over to crm_platform.loadtest."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from crm_platform.cli import render
from crm_platform.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    CommandError,
    Invocation,
    add_command,
    err,
)
from crm_platform.settings.loader import CONFIG_DIR, config_path

_DURATION = re.compile(r"^(\d+)([smh]?)$")


def duration(text: str) -> int:
    """``300``, ``300s``, ``5m`` or ``1h`` as seconds (Locust's own notation)."""
    found = _DURATION.fullmatch(text.strip())
    if not found or int(found[1]) == 0:
        raise ValueError(text)
    return int(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[found[2]]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def loadtest(inv: Invocation) -> int:
    from crm_platform.loadtest.guard import Refused
    from crm_platform.loadtest.run import LocustFailed
    from crm_platform.loadtest.session import Options, execute
    from crm_platform.naming import Names
    from crm_platform.settings import load_settings

    args = inv.args
    prod = Names.of(load_settings(config_path("prod", Path(args.config_dir))))
    options = Options(
        url=args.url,
        api_key_variable=args.api_key_env,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_seconds=args.duration,
        tasks=args.tasks,
        out=Path(args.out),
        files_field_id=args.files_field_id,
        production_acknowledged=args.i_know_this_is_production,
    )
    try:
        report = execute(
            inv.settings, prod, options,
            progress=lambda line: err.print(line, highlight=False, markup=False),
            warn=lambda line: render.refusal("warning", line),
        )  # fmt: skip
    except Refused as e:
        raise CommandError(str(e), label="refused") from None
    except LocustFailed as e:
        raise CommandError(str(e), EXIT_FINDINGS, "locust failed") from None
    render.loadtest(report)
    return EXIT_OK if report.verdict.passed else EXIT_FINDINGS


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "loadtest",
        "run a Locust scenario of Twenty's API against URL and judge it against the "
        "loadtest thresholds",
        loadtest,
        env=False,
    )
    parser.add_argument(
        "--env", default="staging", help="environment: config/ENV.yaml (default staging)"
    )
    parser.add_argument("--config-dir", default=str(CONFIG_DIR), help="folder of ENV.yaml files")
    parser.add_argument("--url", required=True, help="Twenty's address, e.g. https://staging...")
    parser.add_argument(
        "--api-key-env",
        required=True,
        metavar="VAR",
        help="name of the environment variable holding a Twenty API key (never the key)",
    )
    parser.add_argument(
        "--users", type=positive_int, help="simulated people (default loadtest.users)"
    )
    parser.add_argument(
        "--spawn-rate",
        type=positive_float,
        help="users started per second (default loadtest.spawn_rate)",
    )
    parser.add_argument(
        "--duration", type=duration, help="300, 300s, 5m or 1h (default loadtest.duration_seconds)"
    )
    parser.add_argument(
        "--tasks",
        type=positive_int,
        help="server tasks behind URL during the run, for the capacity figure "
        "(default compute.server.desired_count)",
    )
    parser.add_argument(
        "--files-field-id", help="id of a FILES field for the attachment upload and download"
    )
    parser.add_argument(
        "--out", default="loadtest-report", help="folder for Locust's CSV and HTML report"
    )
    parser.add_argument(
        "--i-know-this-is-production",
        action="store_true",
        help="allow a URL of production (its users feel the test)",
    )
