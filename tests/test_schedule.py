"""The order xdist hands out the test files (tests/schedule.py): every test kept once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.schedule import ordered


def _item(nodeid: str, *fixtures: str) -> pytest.Item:
    return cast(pytest.Item, SimpleNamespace(nodeid=nodeid, fixturenames=list(fixtures)))


def _files(items: list[Any]) -> list[str]:
    return list(dict.fromkeys(i.nodeid.split("::")[0] for i in items))


def test_the_assembly_reader_first_then_a_file_without_it_then_heaviest_first() -> None:
    items = [
        _item("tests/test_small.py::a"),
        _item("tests/test_checks.py::cfn_lint", "assembly"),
        _item("tests/test_loadtest.py::run"),
        _item("tests/test_drill_failback.py::seq", "assembly"),
        _item("tests/test_drill_failback.py::sabotage[x]", "assembly"),
        _item("tests/test_small.py::b"),
        _item("tests/test_drill.py::all", "staging_assembly"),
    ]
    result = ordered(items)
    assert sorted(i.nodeid for i in result) == sorted(i.nodeid for i in items)
    assert _files(result) == [
        "tests/test_drill_failback.py",  # the heaviest that reads an assembly: it synthesizes
        "tests/test_loadtest.py",  # the heaviest that does not: the other worker's first
        "tests/test_drill.py",
        "tests/test_checks.py",
        "tests/test_small.py",  # not in the table: 0.1 s a test
    ]
    # within a file, the collection order stays
    assert [i.nodeid for i in result if "small" in i.nodeid] == [
        "tests/test_small.py::a",
        "tests/test_small.py::b",
    ]
