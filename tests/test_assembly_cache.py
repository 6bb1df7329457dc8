"""The run-wide assembly cache: its key follows its inputs and a mismatch is never read.

No synthesis here: a stand-in writes a tiny assembly, so these run in milliseconds.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import assembly_cache
from tests.assembly_cache import KEY_FILE, cache_key, is_valid, shared_assembly, tree_digest
from tests.conftest import CONFIG, SOURCE


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    source, config = tmp_path / "src", tmp_path / "config"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "stack.py").write_text("BUCKETS = 1\n")
    (source / "pkg" / "flags.json").write_text("{}\n")
    config.mkdir()
    (config / "prod.yaml").write_text("project: crm\n")
    return source, config


def _fake_synth(calls: list[Path]) -> Callable[[Path], None]:
    def synthesize(outdir: Path) -> None:
        calls.append(outdir)
        outdir.mkdir(parents=True)
        (outdir / "manifest.json").write_text('{"version": "1"}')
        (outdir / "crm-prod-primary.template.json").write_text('{"Resources": {}}')

    return synthesize


def test_a_change_in_a_source_file_changes_the_key(tmp_path: Path) -> None:
    source, config = _inputs(tmp_path)
    before = cache_key("prod", source, config)
    assert cache_key("prod", source, config) == before  # deterministic
    (source / "pkg" / "stack.py").write_text("BUCKETS = 2\n")
    assert cache_key("prod", source, config) != before


def test_a_new_file_a_renamed_file_and_the_configuration_change_the_key(tmp_path: Path) -> None:
    source, config = _inputs(tmp_path)
    keys = {cache_key("prod", source, config)}
    (source / "pkg" / "extra.py").write_text("")
    keys.add(cache_key("prod", source, config))
    (source / "pkg" / "extra.py").rename(source / "pkg" / "other.py")
    keys.add(cache_key("prod", source, config))
    (config / "prod.yaml").write_text("project: crm2\n")
    keys.add(cache_key("prod", source, config))
    keys.add(cache_key("staging", source, config))
    assert len(keys) == 5


def test_a_shipped_project_file_changes_the_key(tmp_path: Path) -> None:
    """README.md and pyproject.toml are in the pipeline's trusted-source asset."""
    source, config = _inputs(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# crm\n")
    before = cache_key("prod", source, config, [readme])
    assert cache_key("prod", source, config, [readme]) == before
    readme.write_text("# crm, edited\n")
    assert cache_key("prod", source, config, [readme]) != before


def test_a_dependency_version_changes_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, config = _inputs(tmp_path)
    before = cache_key("prod", source, config)
    installed = assembly_cache.versions()
    assert installed["aws-cdk-lib"] != "absent" and installed["cdk-nag"] != "absent"
    monkeypatch.setattr(assembly_cache, "versions", lambda: {**installed, "aws-cdk-lib": "2.999.0"})
    assert cache_key("prod", source, config) != before


def test_bytecode_caches_do_not_change_the_key(tmp_path: Path) -> None:
    source, config = _inputs(tmp_path)
    before = cache_key("prod", source, config)
    (source / "pkg" / "__pycache__").mkdir()
    (source / "pkg" / "__pycache__" / "stack.cpython-311.pyc").write_bytes(b"\x00")
    assert cache_key("prod", source, config) == before


def test_the_real_tree_is_digested_whole() -> None:
    """Every module of the package counts: the digest of src/ differs from config/ alone."""
    assert tree_digest([SOURCE, CONFIG]) != tree_digest([CONFIG])
    assert any(SOURCE.rglob("app.py")) and any(CONFIG.glob("*.yaml"))


def test_a_valid_cache_is_reused_and_a_key_mismatch_synthesizes_again(tmp_path: Path) -> None:
    calls: list[Path] = []
    folder = tmp_path / "cache"
    outdir, made = shared_assembly(folder, "k1", _fake_synth(calls))
    assert made and len(calls) == 1 and (outdir / "manifest.json").is_file()
    assert shared_assembly(folder, "k1", _fake_synth(calls)) == (outdir, False)
    assert len(calls) == 1
    _, made = shared_assembly(folder, "k2", _fake_synth(calls))
    assert made and len(calls) == 2
    assert json.loads((folder / KEY_FILE).read_text())["key"] == "k2"


def test_an_altered_or_partial_cache_is_never_read(tmp_path: Path) -> None:
    calls: list[Path] = []
    folder = tmp_path / "cache"
    outdir, _ = shared_assembly(folder, "k", _fake_synth(calls))
    (outdir / "crm-prod-primary.template.json").write_text('{"Resources": {"X": {}}}')
    assert not is_valid(folder, "k")
    shared_assembly(folder, "k", _fake_synth(calls))
    assert len(calls) == 2 and is_valid(folder, "k")
    (folder / KEY_FILE).unlink()  # synthesis interrupted before the key was written
    assert not is_valid(folder, "k")
    shared_assembly(folder, "k", _fake_synth(calls))
    assert len(calls) == 3
    (folder / KEY_FILE).write_text("{not json")
    assert not is_valid(folder, "k")
    shutil.rmtree(outdir)
    assert not is_valid(folder, "k")


def test_a_failed_synthesis_records_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "cache"

    def failing(outdir: Path) -> None:
        outdir.mkdir(parents=True)
        (outdir / "manifest.json").write_text("{}")
        raise AssertionError("unacknowledged findings")

    with pytest.raises(AssertionError):
        shared_assembly(folder, "k", failing)
    assert not (folder / KEY_FILE).exists() and not is_valid(folder, "k")


def _worker(folder: str, log: str) -> None:
    def slow(outdir: Path) -> None:
        with Path(log).open("a") as handle:
            handle.write("synth\n")
        time.sleep(0.5)  # long enough for the other process to reach the lock
        _fake_synth([])(outdir)

    shared_assembly(Path(folder), "k", slow)


def test_two_workers_at_once_synthesize_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(str(tmp_path / "cache"), str(log))) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert log.read_text().splitlines() == ["synth"]
    assert is_valid(tmp_path / "cache", "k")
