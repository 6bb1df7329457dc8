"""What RDS for PostgreSQL offers: engine versions and instance classes.

The facts come from cfn-lint's bundled AWS data (refreshed with every cfn-lint
release), so configuration is validated offline against the same catalogue the
template linter uses instead of a hand-kept list that goes stale.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ENGINE = "postgres"
MIN_MAJOR = 15  # recent Twenty releases refuse older PostgreSQL


@cache
def _data_dir() -> Path:
    """cfn-lint's RDS data folder, found without importing cfn-lint (that takes ~1 s)."""
    spec = find_spec("cfnlint")
    if spec is None or spec.origin is None:
        raise RuntimeError("cfn-lint is not installed; it is a dependency of crm-platform")
    return Path(spec.origin).parent / "data" / "schemas" / "extensions" / "aws_rds_dbinstance"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_data_dir() / name).read_text())
    return data


def _postgres_blocks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b for b in doc["allOf"] if b["if"]["properties"].get("Engine", {}).get("const") == ENGINE
    ]


@cache
def engine_versions() -> frozenset[str]:
    """Every PostgreSQL version CloudFormation accepts."""
    block = _postgres_blocks(_load("engine_version.json"))[0]
    return frozenset(block["then"]["properties"]["EngineVersion"]["enum"])


@cache
def deprecated_engine_versions() -> frozenset[str]:
    """Versions RDS has retired (new instances cannot use them)."""
    found: set[str] = set()
    for block in _postgres_blocks(_load("engine_version_deprecated.json")):
        found.update(block["if"]["properties"]["EngineVersion"].get("enum", []))
    return frozenset(found)


@cache
def _class_table() -> list[tuple[re.Pattern[str], frozenset[str]]]:
    table = []
    for block in _postgres_blocks(_load("db_instance_class.json")):
        pattern = block["if"]["properties"].get("EngineVersion", {}).get("pattern")
        classes = block["then"]["properties"]["DBInstanceClass"].get("enum")
        if pattern and classes:
            table.append((re.compile(pattern), frozenset(classes)))
    return table


def instance_classes(engine_version: str) -> frozenset[str]:
    """Instance classes RDS offers for this PostgreSQL version (empty if unknown)."""
    for pattern, classes in _class_table():
        if pattern.match(engine_version):
            return classes
    return frozenset()


def major(engine_version: str) -> int:
    """The major version number, e.g. 17 for "17.6"."""
    return int(engine_version.split(".", 1)[0])
