"""What every command shares: exit codes, consoles, the environment options, the outside world.

Commands receive an ``Invocation``: the parsed arguments, the settings (loaded once, on
first use, so configuration problems are reported before anything else) and ``Outside``,
what a command reaches beyond its own logic: AWS clients on the caller's credentials, the
credentials check, the CDK CLI, and synthesis (in-process, but the one expensive step).
Tests pass an ``Outside`` of fakes instead of patching this package.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from crm_platform.settings import Settings, load_settings
from crm_platform.settings.loader import CONFIG_DIR, config_path

if TYPE_CHECKING:
    from crm_platform.naming import Names
    from crm_platform.toolchain.synth import SynthResult

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_TOOL = 0, 1, 2, 3

# Wide enough for the summary tables when output is piped (CI logs), narrower terminals wrap.
out = Console(width=None if Console().is_terminal else 120)
err = Console(stderr=True)

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client


class CommandError(Exception):
    """An expected refusal: printed as one line, mapped to ``code``, never a traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE, label: str = "error") -> None:
        super().__init__(message)
        self.code, self.label = code, label


def _boto3_clients() -> ClientFactory:
    """A boto3 client factory (service, region) on the caller's credentials."""
    import boto3

    session = boto3.Session()
    return lambda service, region: session.client(service, region)  # type: ignore[call-overload]


def _check_credentials() -> str:
    from crm_platform.toolchain.cdk_cli import ensure_credentials

    return ensure_credentials()


def _run_cdk(arguments: list[str], progress: Callable[[str], None]) -> int:
    from crm_platform.toolchain.cdk_cli import run_cdk_raw

    return run_cdk_raw(arguments, progress)


def _synthesize(
    settings: Settings, outdir: Path, digest: str | None, hold_services: bool
) -> SynthResult:
    from crm_platform.toolchain.synth import synthesize

    return synthesize(settings, outdir, digest, hold_services)


@dataclass(frozen=True)
class Outside:
    """What commands reach outside the process."""

    clients: Callable[[], ClientFactory] = _boto3_clients
    credentials: Callable[[], str] = _check_credentials  # raises NoCredentialsError
    cdk: Callable[[list[str], Callable[[str], None]], int] = _run_cdk
    synthesize: Callable[[Settings, Path, str | None, bool], SynthResult] = _synthesize


@dataclass
class Invocation:
    args: argparse.Namespace
    outside: Outside = field(default_factory=Outside)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(config_path(self.args.env, Path(self.args.config_dir)))
        return self._settings

    @property
    def names(self) -> Names:
        from crm_platform.naming import Names

        return Names.of(self.settings)

    def clients(self) -> ClientFactory:
        return self.outside.clients()

    def require_credentials(self) -> None:
        """Configuration first (it needs no AWS access to report), then credentials."""
        from crm_platform.toolchain.cdk_cli import NoCredentialsError

        _ = self.settings
        try:
            self.outside.credentials()
        except NoCredentialsError as e:
            raise CommandError(str(e)) from None

    def synthesize(self, digest: str | None = None, hold_services: bool = False) -> SynthResult:
        """Synthesize into ``--out`` with the nag gate, showing progress and the summary."""
        from crm_platform.cli import render

        settings = self.settings
        started = time.perf_counter()
        with err.status(f"synthesizing {settings.project}-{settings.environment} (3 regions)..."):
            result = self.outside.synthesize(settings, Path(self.args.out), digest, hold_services)
        render.synth(result, time.perf_counter() - started)
        return result

    def assembly(self) -> Path | None:
        """The assembly at ``--out``, synthesized (with the nag gate) if there is none yet."""
        outdir = Path(self.args.out)
        if (outdir / "manifest.json").exists():
            return outdir
        result = self.synthesize()
        return result.outdir if result.ok else None


Handler = Callable[[Invocation], int]


@contextmanager
def refusing(*refusals: type[Exception], unchanged: str = "") -> Iterator[None]:
    """A command's own "no" (a plan or preflight that raises one of ``refusals``) as the
    CLI's ``refused`` error, its message followed by ``(unchanged)``: what the refusal left
    as it was. The operator sees the reason, not a traceback, and exit code 2."""
    try:
        yield
    except refusals as e:
        message = f"{e} ({unchanged})" if unchanged else str(e)
        raise CommandError(message, label="refused") from None


def dry_run(then: str) -> int:
    """The end of a command's dry run (the plan is printed): nothing was changed, and
    ``--execute`` would ``then``."""
    out.print(f"dry run: nothing was changed; add --execute to {then}", highlight=False)
    return EXIT_OK


def add_command(
    commands: Any,
    name: str,
    help_text: str,
    handler: Handler,
    *,
    env: bool = True,
    out: bool = False,
    credentials: bool = False,
) -> argparse.ArgumentParser:
    """A sub-command; ``env`` adds --env/--config-dir, ``out`` adds --out (the assembly),
    ``credentials`` checks AWS credentials (after the configuration) before ``handler``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=help_text
    )
    if env:
        parser.add_argument(
            "--env", default="prod", help="environment: config/ENV.yaml (default prod)"
        )
        parser.add_argument(
            "--config-dir", default=str(CONFIG_DIR), help="folder of ENV.yaml files"
        )
    if out:
        parser.add_argument("--out", default="cdk.out", help="assembly folder (default cdk.out)")
    parser.set_defaults(handler=handler, credentials=credentials)
    return parser
