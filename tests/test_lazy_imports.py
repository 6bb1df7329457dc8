"""`crm-platform --help` and `config validate` never load the CDK (about 2 s of import).

Each case runs a fresh interpreter, as a user's shell does, and lists the modules loaded
when the command returns: a module-level `import aws_cdk` anywhere the CLI package reaches
at start-up would show here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CONFIG, ROOT

PROBE = """
import json, sys
from crm_platform.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:  # argparse's --help
    code = stop.code
print("MODULES=" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"aws_cdk", "jsii", "cdk_nag", "constructs"})))
sys.exit(code)
"""


def _loaded(*argv: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES="))
    modules: list[str] = json.loads(line.removeprefix("MODULES="))
    return modules


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("config", "validate", str(CONFIG / "prod.yaml"))],
    ids=["help", "config-validate"],
)
def test_the_cli_answers_without_loading_the_cdk(argv: tuple[str, ...]) -> None:
    assert _loaded(*argv) == []


def test_the_probe_sees_the_cdk_when_it_is_loaded() -> None:
    """The probe is not blind: `synth --help` parses the same way, so load the CDK first."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import aws_cdk\n" + PROBE
    proc = subprocess.run(
        [sys.executable, "-c", code, "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES="))
    assert "aws_cdk" in json.loads(line.removeprefix("MODULES="))
