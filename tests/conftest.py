"""One synthesized assembly per test run, shared by every test and xdist worker that reads it.

The first worker to need the prod (or staging) assembly synthesizes it into a cache under
the run's temporary root, holding a file lock; the other workers wait and reuse it
(tests/assembly_cache.py: the cache is keyed on the sources, the configuration and the
dependency versions, and a mismatch is synthesized again, never read).

A few tests synthesize again on purpose, because the second synthesis is what they
prove: plain `cdk synth` in a cold process with no credentials writing the same templates
(test_cdk_cli), staging through the same code (test_platform), and every
acknowledgement being necessary (test_acknowledgements, prod and staging).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from crm_platform.settings import Settings, load_settings
from crm_platform.toolchain.synth import SynthResult, summarize_assembly, synthesize
from tests.assembly_cache import cache_key, shared_assembly

# The order xdist hands out the test files (tests/schedule.py) and --module-times.
pytest_plugins = ["tests.schedule"]

# moto's EC2 loads about 4,000 default AMIs into every region it is first asked about, on
# every fresh emulator (about 0.7 s a region); no test and no drill step reads an AMI.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
SOURCE = ROOT / "src"
SHIPPED = (ROOT / "pyproject.toml", ROOT / "README.md")  # in the trusted-source asset


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


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every worker of this run shares (xdist workers' base folders are siblings).

    Outside xdist the session's own base folder: it is the whole run. pytest keeps the
    last three runs' folders and removes older ones, so the caches do not accumulate.
    """
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def cached_assembly(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """The run's assembly of ``settings``: synthesized by the first worker, read by the rest."""

    def synthesize_into(outdir: Path) -> None:
        result = synthesize(settings, outdir)
        assert result.ok, f"unacknowledged findings: {result.findings}"

    key = cache_key(settings.environment, SOURCE, CONFIG, SHIPPED)
    folder = run_root(tmp_path_factory) / f"assembly-cache-{settings.environment}"
    outdir, _made = shared_assembly(folder, key, synthesize_into)
    # Only ok assemblies are ever cached, so no findings; read-only from here on.
    return Assembly(SynthResult(outdir=outdir, stacks=summarize_assembly(outdir)))


@pytest.fixture(scope="session")
def assembly(prod_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return cached_assembly(prod_settings, tmp_path_factory)


@pytest.fixture(scope="session")
def staging_settings() -> Settings:
    return load_settings(CONFIG / "staging.yaml")


@pytest.fixture(scope="session")
def staging_assembly(
    staging_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Assembly:
    """The staging assembly, synthesized once per run for the tests that need it."""
    return cached_assembly(staging_settings, tmp_path_factory)


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
