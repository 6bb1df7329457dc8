"""One synthesized assembly per test session, shared by every test that reads templates.

A few tests synthesize again on purpose, because the second synthesis is what they
prove: a cold process with no credentials (test_platform), plain `cdk synth` writing the
same templates (test_cdk_cli), staging through the same code (test_platform), and every
acknowledgement being necessary (test_acknowledgements, prod and staging).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from crm_platform.settings import Settings, load_settings
from crm_platform.toolchain.synth import SynthResult, synthesize

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"


@dataclass
class Assembly:
    """The synthesized prod assembly, with templates parsed once."""

    result: SynthResult
    _templates: dict[str, Template] = field(default_factory=dict)

    @property
    def outdir(self) -> Path:
        return self.result.outdir

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.outdir / "manifest.json").read_text())
        return data

    def template(self, stack: str) -> Template:
        """Parsed once per stack: `Template.from_json` crosses into the CDK's runtime."""
        if stack not in self._templates:
            self._templates[stack] = Template.from_json(self.raw(stack))
        return self._templates[stack]

    def raw(self, stack: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.outdir / f"{stack}.template.json").read_text())
        return data


@pytest.fixture(scope="session")
def prod_settings() -> Settings:
    return load_settings(CONFIG / "prod.yaml")


@pytest.fixture(scope="session")
def assembly(
    prod_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Assembly]:
    folder = tmp_path_factory.mktemp("assembly")
    result = synthesize(prod_settings, folder / "cdk.out")
    assert result.ok, f"unacknowledged findings: {result.findings}"
    yield Assembly(result)
    shutil.rmtree(folder, ignore_errors=True)  # a few MB per session otherwise


@pytest.fixture(scope="session")
def staging_settings() -> Settings:
    return load_settings(CONFIG / "staging.yaml")


@pytest.fixture(scope="session")
def staging_assembly(
    staging_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Assembly]:
    """The staging assembly, synthesized once per session for the tests that need it."""
    folder = tmp_path_factory.mktemp("staging")
    result = synthesize(staging_settings, folder / "cdk.out")
    assert result.ok, f"unacknowledged findings: {result.findings}"
    yield Assembly(result)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def primary(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-primary")


@pytest.fixture(scope="session")
def dr(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-dr")


@pytest.fixture(scope="session")
def dr_database(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-dr-database")


@pytest.fixture(scope="session")
def global_(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-global")
