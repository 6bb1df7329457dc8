"""Static checks on a synthesized assembly: cfn-lint in-process, checkov in its own venv.

checkov pins old ``boto3`` and ``packaging`` versions that break pytest, so it lives in a
separate tools environment under ``.tools/`` that is created on first use.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crm_platform.installs import TOOLS_DIR, ToolError, ensure_installed

CHECKOV_SPEC = "checkov>=3.2,<4"

# cfn-lint rules ignored for every template, each with its reason.
CFN_LINT_IGNORED = {
    "W3010": "availability zones are pinned in configuration on purpose: synthesis needs no "
    "lookups and each subnet's zone is explicit (the seed let both land in one zone)",
    "W3005": "CDK emits DependsOn entries that are also implied by Ref/GetAtt; harmless",
}


@dataclass(frozen=True)
class CheckFinding:
    tool: str
    rule: str
    level: str
    location: str
    message: str


@dataclass
class CheckResult:
    tool: str
    findings: list[CheckFinding] = field(default_factory=list)
    passed: int = 0
    unit: str = "checks"  # what ``passed`` counts
    skipped: int = 0
    ignored: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings


def templates(outdir: Path) -> list[Path]:
    """Every stack template in an assembly."""
    return sorted(outdir.glob("*.template.json"))


def run_cfn_lint(outdir: Path) -> CheckResult:
    """Lint every template; any error or unignored warning is a finding."""
    from cfnlint.api import ManualArgs, lint_file

    result = CheckResult("cfn-lint", unit="templates", ignored=dict(CFN_LINT_IGNORED))
    for template in templates(outdir):
        region = _template_region(outdir, template)
        config = ManualArgs(regions=[region], ignore_checks=list(CFN_LINT_IGNORED))
        matches = lint_file(template, config)
        for m in matches:
            result.findings.append(
                CheckFinding(
                    "cfn-lint",
                    m.rule.id,
                    "error" if m.rule.id.startswith("E") else "warning",
                    f"{template.name}:{m.linenumber}",
                    m.message,
                )
            )
        result.passed += 1 if not matches else 0
    return result


def _template_region(outdir: Path, template: Path) -> str:
    manifest = json.loads((outdir / "manifest.json").read_text())
    for artifact in manifest["artifacts"].values():
        if artifact.get("properties", {}).get("templateFile") == template.name:
            return str(artifact["environment"].rsplit("/", 1)[-1])
    raise ToolError(f"{template.name} is not a stack of the assembly in {outdir}")


def checkov_executable(progress: Callable[[str], None] = print) -> Path:
    """The checkov in ``.tools/checkov``, installed there on first use."""
    env_dir = TOOLS_DIR / "checkov"
    exe = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "checkov"

    def install() -> None:
        venv.create(env_dir, with_pip=True, clear=True)
        done = subprocess.run(
            [str(exe.parent / "pip"), "install", "--quiet", CHECKOV_SPEC],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise ToolError(f"installing checkov failed:\n{done.stderr[-3000:]}")

    ensure_installed(CHECKOV_SPEC, exe, install, progress)
    return exe


def run_checkov(outdir: Path, progress: Callable[[str], None] = print) -> CheckResult:
    """checkov (framework cloudformation) over the assembly's templates."""
    exe = checkov_executable(progress)
    args = [str(exe), "--framework", "cloudformation", "--output", "json", "--quiet"]
    args += ["--compact", "--skip-download"]
    proc = subprocess.run(
        [*args, "--directory", str(outdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise ToolError(f"checkov failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    result = CheckResult("checkov")
    for report in reports:
        checks = report.get("results", {})
        summary = report.get("summary", {})
        result.passed += int(summary.get("passed", 0))
        result.skipped += int(summary.get("skipped", 0))
        for failed in checks.get("failed_checks", []):
            result.findings.append(
                CheckFinding(
                    "checkov",
                    failed["check_id"],
                    "failed",
                    f"{Path(failed['file_path']).name}:{failed['resource']}",
                    failed["check_name"],
                )
            )
    return result
