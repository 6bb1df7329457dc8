"""The standard CDK CLI (npm aws-cdk on the bundled Node) works against this project offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_platform.toolchain.cdk_cli import cdk_cli
from tests.conftest import ROOT, Assembly

# A second synthesis or a whole gate run on purpose (see docs/testing.md, "The fast set").
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cdk() -> list[str]:
    return cdk_cli(progress=lambda _msg: None)


def _env(tmp_path: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))} | {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }


def test_cdk_lists_stacks_in_deployment_order(
    cdk: list[str], assembly: Assembly, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [*cdk, "ls", "--app", str(assembly.outdir)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "crm-prod-global",
        "crm-prod-dr",
        "crm-prod-registry",
        "crm-prod-primary",
        "crm-prod-dr-database",
        "crm-prod-dr-app",
        "crm-prod-edge",
        "crm-prod-pipeline",
    ]


def test_plain_cdk_synth_produces_the_same_templates(
    cdk: list[str], assembly: Assembly, tmp_path: Path
) -> None:
    """A cold process with every AWS credential source pointed at nothing (``_env``)
    synthesizes every stack, byte for byte what the suite's in-process synthesis (the
    CLI's ``toolchain.synth.synthesize``) wrote: synthesis needs no credentials."""
    out = tmp_path / "cdk.out"
    proc = subprocess.run(
        [*cdk, "synth", "--quiet", "--output", str(out), "-c", "env=prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(p.name for p in out.glob("*.template.json"))
    assert written == sorted(p.name for p in assembly.outdir.glob("*.template.json"))
    assert len(written) == len(assembly.result.stacks) == 8
    for template in assembly.outdir.glob("*.template.json"):
        assert json.loads((out / template.name).read_text()) == json.loads(template.read_text())
