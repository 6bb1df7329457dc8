"""Synthesis in one process per stack group writes the assembly one process writes.

The session's assembly (tests/conftest.py) is synthesized the parallel way on any
machine with two cores; the slow test below synthesizes once more in one process and
compares every byte (scripts/same_templates.py). The rest prove, without synthesizing,
what the merge relies on: the groups cover every stack once and are closed under
construct references, the settings cross the process boundary unchanged, and the
validation report is merged in stack order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from crm_platform.app import STACK_GROUPS, StandIn, real, stack_names
from crm_platform.naming import Names
from crm_platform.settings import Settings
from crm_platform.stacks.dr import DrStack
from crm_platform.toolchain import parallel
from crm_platform.toolchain.synth import processes, synthesize
from tests.conftest import ROOT, Assembly


def same_templates() -> Any:
    spec = importlib.util.spec_from_file_location("same", ROOT / "scripts" / "same_templates.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_parallel_assembly_is_the_one_process_assembly_byte_for_byte(
    assembly: Assembly, prod_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if processes() < 2:
        pytest.skip("one core: the session's assembly was synthesized in one process too")
    monkeypatch.setenv("CRM_PLATFORM_SYNTH_PROCESSES", "1")
    single = synthesize(prod_settings, tmp_path / "single")
    assert single.ok
    assert same_templates().differences(single.outdir, assembly.outdir) == []


def test_the_groups_hold_every_stack_once(prod_settings: Settings) -> None:
    keys = set(stack_names(Names.of(prod_settings)))
    assert set().union(*STACK_GROUPS) == keys
    assert sum(len(g) for g in STACK_GROUPS) == len(keys)


def test_a_stand_in_is_refused_where_a_constructor_needs_the_real_stack() -> None:
    app = cdk.App()
    with pytest.raises(TypeError, match="stand-in"):
        real(StandIn(app, "crm-prod-dr"), DrStack)


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_settings_reach_the_parts_unchanged(env: str) -> None:
    from crm_platform.settings import load_settings
    from tests.conftest import CONFIG

    settings = load_settings(CONFIG / f"{env}.yaml")
    assert Settings.model_validate(settings.model_dump(mode="json")) == settings


def _entry(stack: str, rule: str) -> dict[str, Any]:
    return {"ruleName": rule, "violatingConstructs": [{"constructPath": f"{stack}/X/Resource"}]}


def _report(conclusion: str, *entries: dict[str, Any]) -> dict[str, Any]:
    plugin = {"pluginName": "CloudFormation Validate", "conclusion": conclusion}
    return {"version": "1", "pluginReports": [{**plugin, "suppressedViolations": list(entries)}]}


def test_the_validation_report_is_merged_in_stack_order() -> None:
    order = ["global", "dr", "registry", "primary"]
    first = _report("success", _entry("dr", "W1"), _entry("registry", "W2"))
    second = _report("failure", _entry("global", "W9"), _entry("primary", "W1"))
    merged = parallel.merged_report([first, second], order)
    (plugin,) = merged["pluginReports"]
    stacks = [e["violatingConstructs"][0]["constructPath"].split("/")[0] for e in plugin[
        "suppressedViolations"
    ]]  # fmt: skip
    assert stacks == ["global", "dr", "registry", "primary"]
    assert plugin["conclusion"] == "failure"  # one part's failure is the whole app's


def test_parts_that_list_other_stacks_are_refused(tmp_path: Path) -> None:
    import json

    for name, stacks in (("a", ["s1", "s2"]), ("b", ["s2", "s1"])):
        folder = tmp_path / name
        folder.mkdir()
        artifacts = {s: {"type": "aws:cloudformation:stack"} for s in stacks}
        (folder / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
        (folder / "tree.json").write_text(json.dumps({"tree": {"children": {}}}))
    with pytest.raises(RuntimeError, match="lists other stacks"):
        parallel.merge([(tmp_path / "a", ["s1"]), (tmp_path / "b", ["s2"])], tmp_path / "out")
