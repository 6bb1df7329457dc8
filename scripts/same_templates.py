"""Compare two synthesized assemblies: are the templates what CloudFormation would see the same?

Usage: python scripts/same_templates.py BEFORE_DIR AFTER_DIR

Every ``*.template.json`` must be byte-identical, and so must ``manifest.json``,
``tree.json`` and the asset folders. The ``*.metadata.json`` files and the validation
report hold construct stack traces with jsii's temporary folder in them
(``/tmp/jsii-kernel-XXXXXX``), which differs on every run: they are compared after that
one path is masked. Prints one line per difference; exit code 0 when there is none.

Used to prove that a refactoring changed nothing a deploy would see (docs/adr/0025).

``--source-moves``: the project's own source is a file asset of the pipeline and registry
stacks (the trusted source, pipeline/trusted_source.py), so a change to *any* source file
changes that asset's hash, the two templates that name it, and their templates' hashes in
the manifest. With the flag, the source asset folder (the one holding
``src/crm_platform/__init__.py``) is left out, and on each side its hash and every
template's own sha256 are replaced by a name before comparing: every other byte must
still be equal, the templates themselves included.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

KERNEL = re.compile(rb"jsii-kernel-[A-Za-z0-9]+")
DESTINATION = re.compile(rb'("\d{12}-[a-z0-9-]+-)[0-9a-f]{8}"')
MASKED = (".metadata.json", "validation-report.json")


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "/.cache" not in str(p)
    }


def without_source(found: dict[str, bytes]) -> dict[str, bytes]:
    """``found`` with the source asset left out and the hashes that follow it named."""
    folders = {n.split("/")[0] for n in found if n.endswith("/src/crm_platform/__init__.py")}
    names = {folder.removeprefix("asset.").encode(): b"<source asset>" for folder in folders}
    for name, content in found.items():
        if name.endswith(".template.json"):
            names[hashlib.sha256(content).hexdigest().encode()] = f"<{name}>".encode()
    kept = {}
    for name, content in found.items():
        if name.split("/")[0] in folders:
            continue
        for digest, label in names.items():
            content = content.replace(digest, label)
        if name.endswith(".assets.json"):  # a destination's ID hashes its object key
            content = DESTINATION.sub(rb'\1<destination>"', content)
        kept[name] = content
    return kept


def differences(before: Path, after: Path, source_moves: bool = False) -> list[str]:
    old, new = files(before), files(after)
    if source_moves:
        old, new = without_source(old), without_source(new)
    found = [f"only in {before}: {name}" for name in sorted(old.keys() - new.keys())]
    found += [f"only in {after}: {name}" for name in sorted(new.keys() - old.keys())]
    for name in sorted(old.keys() & new.keys()):
        a, b = old[name], new[name]
        if name.endswith(MASKED):
            a, b = KERNEL.sub(b"jsii-kernel", a), KERNEL.sub(b"jsii-kernel", b)
        if a != b:
            found.append(f"differs: {name}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--source-moves",
        action="store_true",
        help="the source asset's hash (and the templates' hashes that follow it) may differ",
    )
    args = parser.parse_args()
    found = differences(args.before, args.after, args.source_moves)
    templates = len(list(args.before.glob("*.template.json")))
    for line in found:
        print(line)
    print(
        f"{templates} templates compared: "
        + ("identical" if not found else f"{len(found)} differences")
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
