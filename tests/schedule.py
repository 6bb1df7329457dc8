"""The order in which xdist hands test files to its workers: heaviest first, and no worker
idle while the other synthesizes.

With ``--dist loadfile`` a whole file goes to one worker, and by default xdist orders the
files by how many tests they hold, so a file of 3 tests and 30 s (cfn-lint, checkov) came
last and could keep one worker busy while the other had finished. Here the files go by
their measured seconds, heaviest first (longest-processing-time first: the last files
handed out are the small ones that even out the two workers), with two exceptions at the
start: the first file is the heaviest one that reads the prod assembly (its worker
synthesizes it, tests/assembly_cache.py), the second the heaviest one that does not (the
other worker runs it meanwhile instead of waiting on the lock). A file missing from
``SECONDS`` counts 0.1 s a test. Only the order changes: every test still runs.

``SECONDS`` is measured: ``benchmarks/suite_time.py --module-times`` prints each file's
seconds (set-up, call and tear-down of its tests, summed) from the same run. The figures
below are from 2026-12-07 on the 2-core machine, rounded, for the files of 4 s or more;
the first file's includes the synthesis. A stale table costs speed, never a test.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

SECONDS = {
    "tests/test_drill_failback.py": 61,
    "tests/test_drill.py": 43,
    "tests/test_failback.py": 33,
    "tests/test_checks.py": 30,
    "tests/test_loadtest.py": 23,
    "tests/test_failover.py": 16,
    "tests/test_cdk_cli.py": 12,
    "tests/test_drill_restore.py": 12,
    "tests/test_database.py": 11,
    "tests/test_restore.py": 9,
    "tests/test_platform.py": 8,
    "tests/test_acknowledgements.py": 7,
    "tests/test_dr_commands.py": 7,
    "tests/test_pipeline.py": 6,
    "tests/test_readme_deploy.py": 5,
    "tests/test_email.py": 4,
}
ASSEMBLIES = frozenset({"assembly", "staging_assembly"})


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def ordered(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` grouped by file, the files in the order described above."""
    files: dict[str, list[pytest.Item]] = defaultdict(list)
    for item in items:
        files[_file(item)].append(item)

    def seconds(name: str) -> float:
        return SECONDS.get(name, 0.1 * len(files[name]))

    def reads_assembly(name: str) -> bool:
        return any(ASSEMBLIES & set(getattr(i, "fixturenames", ())) for i in files[name])

    heaviest = sorted(files, key=lambda n: (-seconds(n), n))
    first = next((n for n in heaviest if reads_assembly(n)), None)
    second = next((n for n in heaviest if not reads_assembly(n)), None)
    start = [n for n in (first, second) if n is not None]
    order = start + [n for n in heaviest if n not in start]
    return [item for name in order for item in files[name]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--module-times",
        metavar="PATH",
        help="write each test file's summed seconds to PATH as JSON (the controller's view)",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items[:] = ordered(items)  # every worker collects, and must, the same order


_times: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _times[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("module_times")
    if path and not os.environ.get("PYTEST_XDIST_WORKER"):
        ranked = dict(sorted(_times.items(), key=lambda kv: -kv[1]))
        Path(path).write_text(json.dumps({k: round(v, 1) for k, v in ranked.items()}, indent=1))
