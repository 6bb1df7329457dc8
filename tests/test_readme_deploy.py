"""The README's deploy section, walked: every ``crm-platform`` command it names, in order,
run offline (issue 18, item 12).

The commands are read from the README, so renaming a command, an option or a step there
without the CLI (or the other way round) breaks this test. Each runs through the real
CLI, with what reaches outside the process replaced: credentials present, the CDK CLI
recorded (exit 0), synthesis answered by the session's assembly, AWS answered by the
emulator (moto), the publish build and the repository by fakes, and the release's
migration (tested in test_release.py with its verdict) recorded. A command the walk does
not know fails the test: add its offline run here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from crm_platform import cli
from crm_platform.naming import Names
from crm_platform.release import operations as release_ops
from crm_platform.settings import Settings
from tests.conftest import ROOT, Assembly
from tests.test_deploy import PUBLISHED, FakeCodeBuild, FakeRepository

SECTION = "## Deploying to a real account"
# Commands whose verdict is about the account or the drill, not the command: they run to
# their report, which may say "not ready" (1) in an empty emulator; never 2 (usage,
# credentials, configuration) or 3 (a tool that cannot run).
REPORTS = {"dr status", "drill"}


class FreshAccountLambda:
    """A new account's Lambda quota (1000 concurrent executions, none reserved)."""

    def get_account_settings(self) -> dict[str, Any]:
        limit = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}
        return {"AccountLimit": limit}

    def get_function_concurrency(self, **_kwargs: Any) -> dict[str, Any]:
        return {}


class FreshAccountCostExplorer:
    """A new account has no cost anomaly monitor yet."""

    def get_anomaly_monitors(self, **_kwargs: Any) -> dict[str, Any]:
        return {"AnomalyMonitors": []}


def readme_commands() -> list[str]:
    """The ``crm-platform`` commands of the deploy section, in order, each once."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :]
    section = re.split(r"\n#{2,3} ", section[len(SECTION) :], maxsplit=1)[0]
    found = re.findall(r"`(crm-platform [^`]+)`", section)
    return list(dict.fromkeys(" ".join(c.split()) for c in found))


def verb(argv: list[str]) -> str:
    return " ".join(argv[:2]) if argv[0] in ("config", "release", "dr") else argv[0]


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials for the emulator; each command gets a fresh one (the drill runs
    its own, so it runs outside)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield


def test_the_deploy_section_names_the_path_in_order() -> None:
    commands = [verb(shlex.split(c)[1:]) for c in readme_commands()]
    for earlier, later in [
        ("config validate", "bootstrap"), ("bootstrap", "diff"), ("diff", "deploy"),
        ("deploy", "release status"), ("deploy", "dr status"), ("deploy", "drill"),
    ]:  # fmt: skip
        assert earlier in commands and later in commands, (earlier, later)
        assert commands.index(earlier) < commands.index(later), (earlier, later)


@pytest.mark.slow
def test_every_command_of_the_deploy_section_runs_offline(
    emulator: None,
    assembly: Assembly,
    prod_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)  # the README's commands use the default config/ folder
    names = Names.of(prod_settings)
    seen: dict[str, list[Any]] = {"cdk": [], "migrate": []}
    codebuild = FakeCodeBuild(
        ["SUCCEEDED"],
        {"RELEASE_VERSION": prod_settings.twenty.version, "RELEASE_DIGEST": PUBLISHED},
    )

    def clients() -> Any:
        def client(service: str, region: str) -> Any:
            if service == "codebuild":
                return codebuild
            if service == "ecr":
                return FakeRepository({PUBLISHED})
            if service == "lambda":
                return FreshAccountLambda()  # moto has no GetAccountSettings
            if service == "ce":
                return FreshAccountCostExplorer()  # nor GetAnomalyMonitors
            return boto3.client(service, region_name=region)

        return client

    def migrate(_s: Settings, _n: Names, _c: Any, release: Any, progress: Any) -> bool:
        seen["migrate"].append(release)
        return True

    monkeypatch.setattr(release_ops, "migrate", migrate)
    outside = cli.Outside(
        clients=clients,
        credentials=lambda: "env",
        cdk=lambda arguments, _progress: seen["cdk"].append(arguments) or 0,
        synthesize=lambda *_args: assembly.result,
    )
    commands = readme_commands()
    assert commands, "the deploy section names no crm-platform command"
    for command in commands:
        argv = shlex.split(command)[1:]
        kind = verb(argv)
        if kind == "drill":  # the session's assembly; reports into the test's folder
            argv += ["--out", str(assembly.outdir), "--report", str(tmp_path / "d.json"),
                     "--html", str(tmp_path / "d.html")]  # fmt: skip
        known = {"config validate", "bootstrap", "diff", "deploy", "release status",
                 "dr status", "drill"}  # fmt: skip
        assert kind in known, f"the README names `{command}`: give it an offline run here"
        before = len(seen["cdk"])
        with mock_aws() if kind != "drill" else nullcontext():
            code = cli.main(argv, outside)
        output = capsys.readouterr()
        assert "Traceback" not in output.err, (command, output.err[-2000:])
        allowed = (0, 1) if kind in REPORTS else (0,)
        assert code in allowed, (command, code, output.err[-2000:])
        ran = seen["cdk"][before:]
        if kind == "bootstrap":
            assert ran == [["bootstrap", *(f"aws://{names.account}/{r}" for r in
                            ("ap-northeast-1", "ap-southeast-1", "us-east-1"))]]  # fmt: skip
        if kind == "diff":
            assert [a[0] for a in ran] == ["diff"]
        if kind == "deploy":
            # The registry and the publish build before anything that runs the image.
            assert ran[0][3:5] == [names.dr_stack, names.registry_stack]
            assert codebuild.calls[0] == ("StartBuild", {"projectName": names.publish_project})
            assert "--all" in ran[1] and seen["migrate"][0].digest == PUBLISHED
