"""Compare two synthesized assemblies: are the templates what CloudFormation would see the same?

Usage: python scripts/same_templates.py BEFORE_DIR AFTER_DIR

Every ``*.template.json`` must be byte-identical, and so must ``manifest.json``,
``tree.json`` and the asset folders. The ``*.metadata.json`` files and the validation
report hold construct stack traces with jsii's temporary folder in them
(``/tmp/jsii-kernel-XXXXXX``), which differs on every run: they are compared after that
one path is masked. Prints one line per difference; exit code 0 when there is none.

Used to prove that a refactoring changed nothing a deploy would see (docs/adr/0025).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

KERNEL = re.compile(rb"jsii-kernel-[A-Za-z0-9]+")
MASKED = (".metadata.json", "validation-report.json")


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "/.cache" not in str(p)
    }


def differences(before: Path, after: Path) -> list[str]:
    old, new = files(before), files(after)
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
    args = parser.parse_args()
    found = differences(args.before, args.after)
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
