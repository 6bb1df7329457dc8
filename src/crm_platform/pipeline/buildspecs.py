"""The two CodeBuild buildspecs: shell only to install this project and call its CLI.

Everything that decides something (upgrade path, idempotent push, scan gate, deploy
files, snapshot, migration verdict) is Python in ``crm_platform.release``, unit-tested;
the buildspecs only install the project and run ``crm-platform release build`` /
``crm-platform release migrate``.

They differ in *whose* code they install:

- the build step installs the commit (the source artifact) and runs it: it publishes the
  image and writes the deploy files, with a role that can do nothing else (push to the
  one repository, read the release record). It exports ``RELEASE_VERSION`` and
  ``RELEASE_DIGEST`` as CodePipeline variables, which the approval notice shows;
- the migrate step never runs the commit's code: it installs the operator's deployed copy
  (pipeline/trusted_source.py, an S3 object named in ``TRUSTED_SOURCE``), takes the
  release from the variables the approver saw (``RELEASE_VERSION``/``RELEASE_DIGEST``,
  set on the action), refuses deploy files that name any other image than the platform's
  repository at that digest, and only then migrates. The deploy actions run after it, on
  those same files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PYTHON = "3.13"  # what aws/codebuild/standard:8.0 offers
VENV = "/tmp/crm-platform"  # noqa: S108 - the build container's own scratch space
TRUSTED = "/tmp/trusted-source"  # noqa: S108 - where the migrate step unpacks its code
APPROVED_RELEASE = "/tmp/approved-release.json"  # noqa: S108 - written from the variables
RELEASE_DIR = "release"
EXPORTED = ("RELEASE_VERSION", "RELEASE_DIGEST")  # CodePipeline variables of the build
_PIP_CACHE = {"paths": ["/root/.cache/pip/**/*"]}


def _install(source: str) -> dict[str, Any]:
    return {
        "runtime-versions": {"python": PYTHON},
        "commands": [f"python -m venv {VENV}", f"{VENV}/bin/pip install --quiet {source}"],
    }


def _read(field: str) -> str:
    """A field of the build's release.json, printed by the venv's Python."""
    return (
        f"{VENV}/bin/python -c "
        f'\'import json; print(json.load(open("{RELEASE_DIR}/release.json"))["{field}"])\''
    )


def build(environment: str) -> dict[str, Any]:
    """Publish the pinned release, gate it on its scan, write the deploy files; export
    the release's version and digest for the approval and the migrate step."""
    return {
        "version": "0.2",
        # Commands of one phase run in one shell, so the exports reach the variables.
        "env": {"exported-variables": list(EXPORTED)},
        "phases": {
            "install": _install("."),
            "build": {
                "commands": [
                    f"{VENV}/bin/crm-platform release build --env {environment} "
                    f"--out {RELEASE_DIR}",
                    f'export RELEASE_VERSION="$({_read("version")})"',
                    f'export RELEASE_DIGEST="$({_read("digest")})"',
                ]
            },
        },
        "cache": _PIP_CACHE,
        "artifacts": {"base-directory": RELEASE_DIR, "files": ["*.json"]},
    }


def check_deploy_files(files: Mapping[str, str]) -> list[str]:
    """Commands that stop the step unless every deploy file names only
    ``<repository URI>@$RELEASE_DIGEST`` (``files``: file name -> repository URI)."""
    return [
        f'jq -e --arg image "{uri}@$RELEASE_DIGEST" '
        "'length > 0 and all(.[]; .imageUri == $image)' "
        f'"$CODEBUILD_SRC_DIR/{name}" > /dev/null '
        f'|| {{ echo "{name} does not deploy {uri}@$RELEASE_DIGEST, the approved image: '
        'refusing the release"; exit 1; }'
        for name, uri in sorted(files.items())
    ]


def migrate(environment: str, deploy_files: Mapping[str, str]) -> dict[str, Any]:
    """Install the deployed copy, check the deploy files against the approved digest,
    then snapshot, migrate and record; ``deploy_files``: file name -> repository URI."""
    approved = (
        f"{VENV}/bin/python -c 'import json, os; json.dump("
        '{"version": os.environ["RELEASE_VERSION"], "digest": os.environ["RELEASE_DIGEST"]}, '
        f'open("{APPROVED_RELEASE}", "w"))\''
    )
    return {
        "version": "0.2",
        "phases": {
            "install": {
                "runtime-versions": {"python": PYTHON},
                "commands": [
                    'aws s3 cp "$TRUSTED_SOURCE" /tmp/trusted-source.zip --only-show-errors',
                    f"rm -rf {TRUSTED} && mkdir -p {TRUSTED}",
                    f"unzip -q /tmp/trusted-source.zip -d {TRUSTED}",
                    f"python -m venv {VENV}",
                    f"{VENV}/bin/pip install --quiet {TRUSTED}",
                ],
            },
            "build": {
                "commands": [
                    'echo "release $RELEASE_VERSION $RELEASE_DIGEST of commit $SOURCE_COMMIT"',
                    *check_deploy_files(deploy_files),
                    approved,
                    f"cd {TRUSTED} && {VENV}/bin/crm-platform release migrate "
                    f"--env {environment} --release {APPROVED_RELEASE}",
                ]
            },
        },
        "cache": _PIP_CACHE,
    }
