"""Every acknowledgement is needed: without them, exactly the acknowledged findings appear.

The main gate proves no finding is left unacknowledged; this proves the converse, so an
acknowledgement cannot outlive the finding it explained (a stale suppression hides the
next real finding of that rule on that construct).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_platform.app import compose, new_app
from crm_platform.compliance.acknowledge import recording_only
from crm_platform.settings import load_settings
from crm_platform.toolchain.synth import findings_from_report
from tests.conftest import CONFIG
from tests.support import acknowledged_in

# A second synthesis or a whole gate run on purpose (see docs/testing.md, "The fast set").
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_each_acknowledgement_matches_a_real_finding(env: str, tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    with recording_only():
        app = new_app(str(outdir))
        compose(app, load_settings(CONFIG / f"{env}.yaml"))
        try:
            app.synth()
        except RuntimeError as err:
            assert "ValidationFailed" in str(err)
    findings = findings_from_report(outdir / "validation-report.json")
    acknowledged = acknowledged_in(app)
    assert acknowledged

    def rule_of(finding_id: str) -> str:
        # "CloudFormation-Validate::W3010" is reported as rule W3010; construct
        # annotations keep their "Annotation::" prefix in the report.
        if finding_id.startswith("Annotation::"):
            return finding_id
        return finding_id.split("::", 1)[1] if "::" in finding_id.split("[", 1)[0] else finding_id

    unmatched = [
        (path, finding_id)
        for path, finding_id in acknowledged
        if not any(
            f.rule == rule_of(finding_id) and (f.path == path or f.path.startswith(path + "/"))
            for f in findings
        )
    ]
    assert unmatched == [], f"acknowledgements with no finding behind them: {unmatched}"
    uncovered = [
        (f.rule, f.path)
        for f in findings
        if not any(
            f.rule == rule_of(finding_id) and (f.path == path or f.path.startswith(path + "/"))
            for path, finding_id in acknowledged
        )
    ]
    assert uncovered == [], f"findings nobody acknowledged: {uncovered}"
