"""Tools that live outside the venv, under ``.tools/``: installed once, on first use.

checkov (whose pins break pytest) and the npm CDK CLI are installed here rather than
into the project's environment. Installs take a file lock so two processes (parallel
test workers, two terminals) never install into the same folder at once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TOOLS_DIR = Path(os.environ.get("CRM_PLATFORM_TOOLS_DIR", ".tools"))


class ToolError(Exception):
    """A tool outside the venv could not be installed or run; the message says which."""


@contextmanager
def _lock(name: str) -> Iterator[None]:
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    with (TOOLS_DIR / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_installed(
    name: str,
    marker: Path,
    install: Callable[[], None],
    progress: Callable[[str], None],
) -> None:
    """Run ``install`` unless ``marker`` exists; safe against concurrent callers."""
    if marker.exists():
        return
    with _lock(name):
        if marker.exists():  # another process finished the install while we waited
            return
        progress(f"installing {name} into {TOOLS_DIR} (first use only)...")
        try:
            install()
        except (subprocess.CalledProcessError, OSError) as err:
            raise ToolError(f"installing {name} failed: {err}") from None
        if not marker.exists():
            raise ToolError(f"installing {name} finished but {marker} is missing")
