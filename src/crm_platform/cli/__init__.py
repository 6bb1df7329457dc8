"""The ``crm-platform`` command: argument parsing only; operations do the work.

A module per group of verbs (``build``: synth, check, diff, bootstrap, deploy; ``dr``:
switch, failover, drill, dr status; ``release``; ``config``; ``cost``; ``loadtest``), the
options and the credentials check they share in ``common``, and everything printed in
``render``.

Exit codes: 0 success; 1 a gate found something, a drill or failover did not pass, DR
is not ready, or a delegated CDK CLI command failed; 2 bad input (configuration, usage,
missing credentials, an unsafe output folder, a refused switch, a failed deploy
preflight); 3 a tool outside the venv could not be installed or run. No expected failure
prints a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from crm_platform.cli import build, config, cost, dr, failback, loadtest, release, render
from crm_platform.cli.common import EXIT_TOOL, EXIT_USAGE, CommandError, Invocation, Outside
from crm_platform.installs import ToolError
from crm_platform.settings import ConfigError
from crm_platform.toolchain.synth import UnsafeOutputError

__all__ = ["Outside", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-platform",
        description="Synthesize, check and deploy the Twenty CRM platform (AWS CDK, 3 regions).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (build, dr, failback, release, config, cost, loadtest):
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, outside: Outside | None = None) -> int:
    args = build_parser().parse_args(argv)
    invocation = Invocation(args, outside or Outside())
    try:
        if args.credentials:
            invocation.require_credentials()
        code: int = args.handler(invocation)
    except ConfigError as e:
        for line in e.lines:
            render.refusal("error", line)
        return EXIT_USAGE
    except (UnsafeOutputError, CommandError) as e:
        render.refusal(getattr(e, "label", "error"), e)
        return getattr(e, "code", EXIT_USAGE)
    except ToolError as e:
        render.refusal("error", e)
        return EXIT_TOOL
    except KeyboardInterrupt:
        return 130
    return code
