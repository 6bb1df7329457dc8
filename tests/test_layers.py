"""The package's shape: no import runs back up the layers, and shared facts have one home."""

from __future__ import annotations

import ast

import pytest

from crm_platform import contracts
from crm_platform.failover.runtime import fence_keeper, probe, switch
from tests.conftest import ROOT

SRC = ROOT / "src" / "crm_platform"


def test_no_import_runs_back_up_the_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The import-linter contract in pyproject.toml: exhaustive, so a new package must be
    placed in a layer before it can land."""
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True) == 0


def test_lambda_copies_of_the_shared_metric_names_match_the_contracts() -> None:
    """Runtime code runs without the package, so it keeps copies: they must not drift."""
    assert probe.NAMESPACE == contracts.PROBE_NAMESPACE
    assert (switch.NAMESPACE, switch.METRIC) == (
        contracts.SWITCH_NAMESPACE,
        contracts.SERVE_FROM_DR,
    )
    handler = ast.parse((SRC / "failover" / "runtime" / "probe.py").read_text())
    published = {
        node.value
        for node in ast.walk(handler)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.endswith("Up")
    }
    assert published == set(contracts.PROBE_METRICS)
    runtime_text = "\n".join(p.read_text() for p in SRC.glob("*/runtime/*.py"))
    assert (fence_keeper.NAMESPACE, fence_keeper.METRIC) == (
        contracts.FENCE_NAMESPACE,
        contracts.UNFENCED,
    )
    # probe, switch and fence keeper: the contract's dimension
    assert runtime_text.count('"Environment"') == 3
    assert contracts.ENVIRONMENT_DIMENSION == "Environment"


def test_shared_literals_live_only_in_the_contracts_module() -> None:
    """Outside contracts.py and the Lambda copies, no module spells a shared metric or header."""
    literals = {
        contracts.ORIGIN_HEADER, contracts.PROBE_NAMESPACE, contracts.SWITCH_NAMESPACE,
        contracts.PUBLIC_UP, contracts.PRIMARY_ORIGIN_UP, contracts.TWENTY_NAMESPACE,
        contracts.BACKUP_NAMESPACE, contracts.FENCE_NAMESPACE,
    }  # fmt: skip
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "contracts.py" or "runtime" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in literals:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value}")
    assert offenders == []


def test_names_hold_no_settings_release_or_sizes() -> None:
    from dataclasses import fields

    from crm_platform.naming import Names

    assert {f.name for f in fields(Names)} == {
        "project", "environment", "account", "primary_region", "dr_region", "domain",
        "attachments_bucket_name",
    }  # fmt: skip


def test_every_package_has_an_init_so_the_layer_contract_sees_it() -> None:
    missing = [
        str(d.relative_to(SRC))
        for d in SRC.rglob("*")
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
        and not (d / "__init__.py").exists()
    ]  # fmt: skip
    assert missing == []


def test_the_package_tree_matches_the_readme_layout() -> None:
    """Every top-level package and module is named in the README's layout section."""
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("### Layout") :].split("\n## ", 1)[0]
    entries = [
        f"{p.name}/" if p.is_dir() else p.name
        for p in sorted(SRC.iterdir())
        if p.name not in ("__init__.py", "__pycache__", "feature_flags.json")
        and (p.is_dir() or p.suffix == ".py")
    ]
    missing = [e for e in entries if e not in layout]
    assert missing == [], f"README layout does not name {missing}"


def test_every_decision_record_is_in_the_index_and_links_stay_inside_the_repository() -> None:
    docs = ROOT / "docs"
    index = (docs / "decisions.md").read_text()
    records = sorted((docs / "adr").glob("*.md"))
    assert records, "decision records live in docs/adr/"
    for record in records:
        assert f"(adr/{record.name})" in index, record.name
        text = record.read_text()
        assert text.splitlines()[2].startswith("- Status: "), record.name
        assert "../shared" not in text and "](/" not in text, record.name
