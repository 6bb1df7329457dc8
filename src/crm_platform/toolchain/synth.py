"""Synthesize every stack of an environment into an assembly, or report why not.

Synthesis writes into a scratch folder next to the output folder and moves it into
place only when it succeeded, so a failed run (bad configuration or a compliance
finding) never leaves a partial assembly behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_platform.assembly.reader import stack_artifacts
from crm_platform.compliance import METADATA_KEY
from crm_platform.settings import Settings


class UnsafeOutputError(Exception):
    """The output folder exists and is not a cloud assembly: we will not replace it."""


@dataclass(frozen=True)
class Finding:
    """One unacknowledged cdk-nag finding."""

    pack: str
    rule: str
    path: str
    description: str


@dataclass(frozen=True)
class StackSummary:
    name: str
    region: str
    resources: int
    acknowledged: int


@dataclass
class SynthResult:
    outdir: Path
    stacks: list[StackSummary] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def findings_from_report(report_path: Path) -> list[Finding]:
    """Read CDK's policy-validation report into findings (empty when it is absent)."""
    if not report_path.exists():
        return []
    report = json.loads(report_path.read_text())
    found = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                found.append(
                    Finding(
                        pack=plugin["pluginName"],
                        rule=violation["ruleName"],
                        path=construct["constructPath"],
                        description=violation["description"].split(" - (Control IDs")[0],
                    )
                )
    return found


def acknowledgements(outdir: Path, stack: str) -> list[dict[str, str]]:
    """The cdk-nag acknowledgements recorded for ``stack`` (finding and reason each)."""
    artifact = stack_artifacts(outdir)[stack]
    metadata = artifact.get("metadata", {})
    extra = artifact.get("additionalMetadataFile")
    if extra:
        metadata = {**metadata, **json.loads((outdir / extra).read_text())}
    return [
        entry["data"]
        for entries in metadata.values()
        for entry in entries
        if entry.get("type") == METADATA_KEY
    ]


def summarize_assembly(outdir: Path) -> list[StackSummary]:
    """Stack name, region, resource count and acknowledgement count from an assembly."""
    summaries = []
    for name, artifact in stack_artifacts(outdir).items():
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        region = artifact["environment"].rsplit("/", 1)[-1]
        summaries.append(
            StackSummary(
                name,
                region,
                len(template.get("Resources", {})),
                len(acknowledgements(outdir, name)),
            )
        )
    return summaries


def _check_replaceable(outdir: Path) -> None:
    if outdir.exists() and (
        not outdir.is_dir() or (any(outdir.iterdir()) and not (outdir / "manifest.json").exists())
    ):
        raise UnsafeOutputError(
            f"{outdir} exists and is not a cloud assembly (no manifest.json); "
            "refusing to replace it: choose another --out"
        )


def synthesize(
    settings: Settings,
    outdir: Path,
    release_digest: str | None = None,
    hold_services: bool = False,
) -> SynthResult:
    """Synthesize ``settings`` into ``outdir`` (replaced only on success).

    ``release_digest``: the recorded release's image (deploys pass it; offline synthesis
    uses the upstream image of the configuration).
    """
    from crm_platform.app import compose, new_app  # imports aws_cdk: keep it lazy for --help

    outdir = outdir.resolve()
    _check_replaceable(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".synth-", dir=outdir.parent))
    try:
        app = new_app(str(scratch))
        compose(app, settings, release_digest=release_digest, hold_services=hold_services)
        try:
            app.synth()
        except RuntimeError as err:
            if "ValidationFailed" not in str(err):
                raise
            findings = findings_from_report(scratch / "validation-report.json")
            return SynthResult(outdir=outdir, findings=findings or [_unparsed(err)])
        if outdir.exists():
            shutil.rmtree(outdir)
        scratch.rename(outdir)
        return SynthResult(outdir=outdir, stacks=summarize_assembly(outdir))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _unparsed(err: Any) -> Finding:
    return Finding("cdk", "ValidationFailed", "(app)", str(err)[:500])
