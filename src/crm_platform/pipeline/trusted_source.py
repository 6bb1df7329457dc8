"""The code the pipeline's migrate step runs: the operator's deployed copy, not the commit.

The migrate step holds what a release must not be able to choose: it registers the
``migrate`` family's revision (passing the task the roles that read the database master
credentials and the application secrets), runs it, judges it and writes the release
record. If it ran the commit's code (``pip install .`` of the source artifact, as the
build step does), whoever can push to the branch could run any image or command with
those roles. So the migrate step installs this checkout as it was when the operator last
synthesized and deployed the pipeline stack: a CDK file asset (an S3 object in the
bootstrap bucket, uploaded by ``cdk deploy``) holding ``pyproject.toml``, ``README.md``
(the package metadata reads it), the ``crm_platform`` package and the settings the
assembly was synthesized from, written as ``config/<env>.yaml``. A commit changes what the
migrate step does only once an operator deploys it.

The folder is staged once per content (its name is the content's hash) under the system's
temporary directory, so repeated synthesis reuses it and the asset's hash changes exactly
when the shipped code or settings change; copies a day old are removed.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from crm_platform.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1]  # src/crm_platform
ROOT = PACKAGE.parents[1]  # the checkout: pyproject.toml, README.md, src/
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


class NotACheckout(Exception):
    """Synthesis did not run from a checkout, so there is no source to ship."""


def _files() -> list[tuple[str, Path]]:
    """(path inside the staged folder, file) for everything shipped but the settings."""
    for needed in (ROOT / "pyproject.toml", ROOT / "README.md", ROOT / "src" / PACKAGE.name):
        if not needed.exists():
            raise NotACheckout(
                f"{needed} is missing: the pipeline's migrate step ships the checkout it is "
                "synthesized from (install it with `pip install -e .`)"
            )
    found = [("pyproject.toml", ROOT / "pyproject.toml"), ("README.md", ROOT / "README.md")]
    for path in sorted(PACKAGE.rglob("*")):
        relative = path.relative_to(ROOT)
        if (
            path.is_file()
            and not _SKIPPED_DIRS.intersection(relative.parts)
            and not path.name.endswith(_SKIPPED_SUFFIXES)
            and not any(part.endswith(".egg-info") for part in relative.parts)
        ):
            found.append((relative.as_posix(), path))
    return found


def settings_file(settings: Settings) -> str:
    """The settings as a configuration file the CLI loads back to the same model."""
    data = settings.model_dump(mode="json", exclude_defaults=True)
    header = "# Written at synthesis for the pipeline's migrate step (pipeline/trusted_source.py)\n"
    return header + yaml.safe_dump(data, sort_keys=False)


def stage(settings: Settings) -> Path:
    """The folder to ship, staged once per content; returns its path."""
    files = _files()
    dockerfile = settings.pipeline.dockerfile
    if dockerfile and (ROOT / dockerfile).is_file():
        # The publish build (registry/publish_project.py) builds from it, too.
        files.append((dockerfile, ROOT / dockerfile))
    config = (f"config/{settings.environment}.yaml", settings_file(settings).encode())
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(config[0].encode() + b"\0" + config[1])
    target = Path(tempfile.gettempdir()) / "crm-platform-trusted-source" / digest.hexdigest()[:24]
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent))
    for name, path in files:
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, scratch / name)
    (scratch / config[0]).parent.mkdir(parents=True, exist_ok=True)
    (scratch / config[0]).write_bytes(config[1])
    try:
        scratch.rename(target)  # atomic: a concurrent synthesis staged the same content
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune(target.parent, keep=target)
    return target


STALE_SECONDS = 24 * 3600


def _prune(folder: Path, *, keep: Path) -> None:
    """Copies of earlier code (about 1 MiB each) go once a day old: an assembly that
    still points at one is rebuilt from the checkout by the next synthesis anyway."""
    now = time.time()
    for old in folder.iterdir():
        try:
            if old != keep and now - old.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
