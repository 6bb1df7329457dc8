"""The two CodeBuild buildspecs: shell only to install this project and call its CLI.

Everything that decides something (upgrade path, idempotent push, scan gate, deploy
files, snapshot, migration verdict) is Python in ``crm_platform.release``, unit-tested;
the buildspecs only install the project from the source artifact and run
``crm-platform release build`` / ``crm-platform release migrate``.
"""

from __future__ import annotations

from typing import Any

PYTHON = "3.13"  # what aws/codebuild/standard:8.0 offers
VENV = "/tmp/crm-platform"  # noqa: S108 - the build container's own scratch space
RELEASE_DIR = "release"
_INSTALL = {
    "runtime-versions": {"python": PYTHON},
    "commands": [f"python -m venv {VENV}", f"{VENV}/bin/pip install --quiet ."],
}
_PIP_CACHE = {"paths": ["/root/.cache/pip/**/*"]}


def _spec(command: str, **extra: object) -> dict[str, Any]:
    return {
        "version": "0.2",
        "phases": {"install": _INSTALL, "build": {"commands": [f"{VENV}/bin/{command}"]}},
        "cache": _PIP_CACHE,
        **extra,
    }


def build(environment: str) -> dict[str, Any]:
    """Publish the pinned release, gate it on its scan, write the deploy files."""
    return _spec(
        f"crm-platform release build --env {environment} --out {RELEASE_DIR}",
        artifacts={"base-directory": RELEASE_DIR, "files": ["*.json"]},
    )


def migrate(environment: str, release_artifact: str) -> dict[str, Any]:
    """Snapshot, then run the release's migration once; record the schema's release."""
    release_file = f"$CODEBUILD_SRC_DIR_{release_artifact}/release.json"
    return _spec(f"crm-platform release migrate --env {environment} --release {release_file}")
