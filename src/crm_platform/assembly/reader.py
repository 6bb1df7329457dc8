"""The stacks of a synthesized assembly, read from its manifest, in deployment order.

Everything that inspects what a deploy would create (the preflight, the drill's stand-up,
the authorization model, the gates' summaries) reads the assembly through this module,
never through the CDK: an assembly on disk is the contract between synthesis and the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def stack_artifacts(outdir: Path) -> dict[str, dict[str, Any]]:
    """The manifest's stack artifacts, by stack name."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    return {
        name: artifact
        for name, artifact in manifest.get("artifacts", {}).items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }


def deployment_order(artifacts: dict[str, Any]) -> list[str]:
    """Stack names, each after the stacks it depends on (ties by name, so it is stable)."""
    done: list[str] = []
    pending = dict(artifacts)
    while pending:
        ready = [
            n
            for n, a in pending.items()
            if all(d in done or d not in artifacts for d in a.get("dependencies", []))
        ]
        if not ready:
            raise ValueError(f"stack dependencies form a cycle: {sorted(pending)}")
        for name in sorted(ready):
            done.append(name)
            del pending[name]
    return done


@dataclass
class StackTemplate:
    """One stack: where it deploys and what its template holds."""

    name: str
    account: str
    region: str
    template: dict[str, Any]
    dependencies: tuple[str, ...] = ()
    _paths: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template.get("Resources", {})
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def path(self, logical: str) -> str:
        """The construct path CDK recorded for a resource (``stack/Construct/.../Resource``)."""
        if not self._paths:
            for lid, resource in self.resources.items():
                self._paths[lid] = str(resource.get("Metadata", {}).get("aws:cdk:path", lid))
        return self._paths.get(logical, logical)


def load(outdir: Path) -> dict[str, StackTemplate]:
    """Every stack of the assembly at ``outdir``, in deployment order."""
    artifacts = stack_artifacts(outdir)
    stacks: dict[str, StackTemplate] = {}
    for name in deployment_order(artifacts):
        artifact = artifacts[name]
        account, region = artifact["environment"].removeprefix("aws://").split("/", 1)
        stacks[name] = StackTemplate(
            name=name,
            account=account,
            region=region,
            template=json.loads((outdir / artifact["properties"]["templateFile"]).read_text()),
            dependencies=tuple(d for d in artifact.get("dependencies", []) if d in artifacts),
        )
    return stacks
