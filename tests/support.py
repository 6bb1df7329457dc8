"""Test helpers: build one construct in a scratch stack and see what cdk-nag says about it.

Constructs are checked in isolation (a small app with only them) so each test file can
prove its own construct is clean without synthesizing the whole platform.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Template
from constructs import IConstruct

from crm_platform.app import new_app
from crm_platform.compliance.acknowledge import METADATA_KEY
from crm_platform.compliance.packs import add_nag_packs
from crm_platform.toolchain.synth import Finding, findings_from_report

ACCOUNT = "123456789012"


@cache
def _scratch_root() -> Path:
    """One folder per test process for scratch assemblies, removed when the process ends."""
    root = Path(tempfile.mkdtemp(prefix="crm-test-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def scratch_stack(region: str = "ap-northeast-1") -> tuple[cdk.App, cdk.Stack]:
    """A fresh app (project feature flags, own outdir) with one empty stack."""
    app = new_app(tempfile.mkdtemp(dir=_scratch_root()))
    stack = cdk.Stack(app, "Scratch", env=cdk.Environment(account=ACCOUNT, region=region))
    return app, stack


def nag_findings(
    build: Callable[[cdk.Stack], object], region: str = "ap-northeast-1"
) -> list[Finding]:
    """Unacknowledged cdk-nag findings for whatever ``build`` adds to a scratch stack."""
    app, stack = scratch_stack(region)
    build(stack)
    add_nag_packs(app)
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
        return findings_from_report(Path(app.outdir) / "validation-report.json")
    return []


def template_of(build: Callable[[cdk.Stack], object], region: str = "ap-northeast-1") -> Template:
    """The template of a scratch stack holding what ``build`` adds (no nag)."""
    _, stack = scratch_stack(region)
    build(stack)
    return Template.from_stack(stack)


def acknowledged_in(construct: IConstruct) -> list[tuple[str, str]]:
    """(construct path, finding) of every acknowledgement made in ``construct``'s subtree."""
    return [
        (node.node.path, str(entry.data["finding"]))
        for node in construct.node.find_all()
        for entry in node.node.metadata
        if entry.type == METADATA_KEY
    ]
