"""Synthesize the stack groups in processes of their own and merge one cloud assembly.

Why: synthesis is one Python process driving one Node process through jsii, turn by
turn, so it keeps one core busy; constructing and synthesizing the 8 stacks took about
17 s on the 2-core machine. The stacks fall into two groups that never pass constructs
to each other (``app.STACK_GROUPS``), so each group is built and synthesized by its own
process, the other group's stacks replaced by empty stand-ins of the same names (which
record the stack dependencies exactly as the real ones do). The parent then merges the
two assemblies into the one a single process writes, byte for byte (docs/adr/0047,
``tests/test_parallel_synth.py``, ``scripts/same_templates.py``):

- each stack's template, asset manifest and metadata file, and the asset folders, come
  from the process that built the stack;
- ``manifest.json`` and ``tree.json`` list every stack in the app's order already (the
  stand-ins hold the other group's places): each stand-in's entries are replaced by the
  real stack's, and the file is written in the CDK's own JSON layout;
- ``validation-report.json``: each plugin's violations and suppressed violations are
  the two processes' lists in stack order (the plugins report stack by stack).

Findings (a failed validation) are the two processes' findings together.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from crm_platform.settings import Settings

PART_FAILED = 3  # a part whose validation failed: its report is in its folder
REPORT = "validation-report.json"


def synthesize_part(
    settings: Settings,
    outdir: Path,
    only: frozenset[str],
    release_digest: str | None,
    hold_services: bool,
) -> bool:
    """Build ``only`` (stand-ins for the rest) and synthesize into ``outdir``; False when
    the validation plugins reported findings (the report is in ``outdir``)."""
    from crm_platform.app import compose, new_app

    app = new_app(str(outdir))
    compose(app, settings, release_digest, hold_services, only=only)
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
        return False
    return True


def run_parts(
    settings: Settings,
    scratch: Path,
    groups: tuple[frozenset[str], ...],
    release_digest: str | None,
    hold_services: bool,
) -> list[tuple[Path, frozenset[str], bool]]:
    """One process per group, all at once; each part's folder, group and success."""
    # The settings as validated JSON (they round-trip: tests/test_parallel_synth.py).
    job = scratch / "job.json"
    job.write_text(
        json.dumps(
            {
                "settings": settings.model_dump(mode="json"),
                "release_digest": release_digest,
                "hold_services": hold_services,
            }
        )
    )
    running = []
    for index, group in enumerate(groups):
        part = scratch / f"part-{index}"
        command = [sys.executable, "-m", __name__, str(job), str(part), *sorted(group)]
        running.append(
            (
                part,
                group,
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
            )
        )
    results = []
    try:
        for part, group, process in running:
            output, _ = process.communicate()
            if process.returncode not in (0, PART_FAILED):
                raise RuntimeError(
                    f"synthesis of {sorted(group)} failed (exit {process.returncode}):\n"
                    + output.decode(errors="replace")[-4000:]
                )
            results.append((part, group, process.returncode == 0))
    finally:  # a failed part or an interrupt: the other part stops too
        for _part, _group, process in running:
            if process.poll() is None:
                process.terminate()
                process.wait()
    return results


def _stack_names(manifest: dict[str, Any]) -> list[str]:
    return [k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"]


def merge(parts: list[tuple[Path, list[str]]], outdir: Path) -> None:
    """Write into ``outdir`` the assembly of the whole app from ``parts``: each part's
    folder and the names of the stacks it built (the rest of its stacks are stand-ins)."""
    outdir.mkdir(parents=True)
    first = parts[0][0]
    manifest = json.loads((first / "manifest.json").read_text())
    tree = json.loads((first / "tree.json").read_text())
    order = _stack_names(manifest)
    manifests = [json.loads((folder / "manifest.json").read_text()) for folder, _ in parts]
    for (folder, _built), theirs in zip(parts, manifests, strict=True):
        if _stack_names(theirs) != order:  # every part holds every stack, in one order
            raise RuntimeError(f"{folder} lists other stacks: {_stack_names(theirs)} vs {order}")
    for (folder, built), theirs in zip(parts, manifests, strict=True):
        their_tree = json.loads((folder / "tree.json").read_text())
        for name in built:
            for artifact in (f"{name}.assets", name):
                manifest["artifacts"][artifact] = theirs["artifacts"][artifact]
            tree["tree"]["children"][name] = their_tree["tree"]["children"][name]
            for suffix in (".template.json", ".assets.json", ".metadata.json"):
                source = folder / f"{name}{suffix}"
                if source.exists():
                    shutil.copyfile(source, outdir / source.name)
        for asset in folder.glob("asset.*"):
            target = outdir / asset.name
            if not target.exists():
                shutil.copytree(asset, target) if asset.is_dir() else shutil.copyfile(asset, target)
    shutil.copyfile(first / "cdk.out", outdir / "cdk.out")
    # The CDK writes these with JSON.stringify: the manifest and the report indented by
    # two, the tree without whitespace; Python's json writes the same bytes.
    (outdir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (outdir / "tree.json").write_text(json.dumps(tree, separators=(",", ":")))
    reports = [json.loads((f / REPORT).read_text()) for f, _ in parts if (f / REPORT).exists()]
    if reports:
        (outdir / REPORT).write_text(json.dumps(merged_report(reports, order), indent=2))


def merged_report(reports: list[dict[str, Any]], order: list[str]) -> dict[str, Any]:
    """One validation report: each plugin's entries from every part, in stack order."""

    def position(entry: dict[str, Any]) -> int:
        constructs = entry.get("violatingConstructs") or [{}]
        stack = str(constructs[0].get("constructPath", "")).split("/", 1)[0]
        return order.index(stack) if stack in order else len(order)

    merged = copy.deepcopy(reports[0])
    for plugin in merged["pluginReports"]:
        same = [
            p
            for r in reports
            for p in r["pluginReports"]
            if p["pluginName"] == plugin["pluginName"]
        ]
        for key in ("violations", "suppressedViolations"):
            if key in plugin:
                entries = [e for p in same for e in p.get(key, [])]
                plugin[key] = sorted(entries, key=position)  # stable: each part's own order
        if any(p.get("conclusion") == "failure" for p in same):
            plugin["conclusion"] = "failure"
    return merged


def _main(job: str, outdir: str, *group: str) -> int:
    inputs = json.loads(Path(job).read_text())
    settings = Settings.model_validate(inputs["settings"])
    ok = synthesize_part(
        settings, Path(outdir), frozenset(group), inputs["release_digest"], inputs["hold_services"]
    )
    return 0 if ok else PART_FAILED


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:]))
