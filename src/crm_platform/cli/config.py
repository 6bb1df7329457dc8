"""Configuration tools: ``config validate FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm_platform.cli.common import EXIT_OK, Invocation, add_command, out


def validate(inv: Invocation) -> int:
    from crm_platform.settings import load_settings

    settings = load_settings(Path(inv.args.file))
    out.print(
        f"{inv.args.file}: valid ({settings.project}-{settings.environment}, primary "
        f"{settings.regions.primary}, DR {settings.regions.dr})"
    )
    return EXIT_OK


def register(commands: Any) -> None:
    config = commands.add_parser("config", help="configuration tools")
    actions = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    checking = add_command(
        actions, "validate", "validate one configuration file", validate, env=False
    )
    checking.add_argument("file", help="path to an environment YAML file")
