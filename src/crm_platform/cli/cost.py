"""Cost: ``cost`` (the monthly estimate, the original design beside it, the what-ifs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm_platform.cli import render
from crm_platform.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    CommandError,
    Invocation,
    add_command,
    err,
)


def _table(inv: Invocation) -> Any:
    from crm_platform.cost.estimate import load_table
    from crm_platform.toolchain.cdk_cli import NoCredentialsError

    table = load_table()
    if not inv.args.live:
        return table
    stored = f"using the stored table {table.name} (read {table.read.isoformat()})"
    try:
        inv.outside.credentials()
    except NoCredentialsError as e:
        render.refusal("cannot refresh prices", f"{e}; {stored}")
        return table
    render.refusal(
        "not refreshed", f"a live refresh from the AWS Price List API is not built yet; {stored}"
    )
    return table


def _assembly(inv: Invocation) -> Path | None:
    """The assembly at ``--out`` (synthesized first if absent; quietly under ``--json``)."""
    outdir = Path(inv.args.out)
    if (outdir / "manifest.json").exists() or not inv.args.json:
        return inv.assembly()
    with err.status("synthesizing..."):
        result = inv.outside.synthesize(inv.settings, outdir, None, False)
    if not result.ok:
        render.refusal("error", f"{len(result.findings)} unacknowledged finding(s); run synth")
        return None
    return result.outdir


def cost(inv: Invocation) -> int:
    from crm_platform.assembly.reader import load
    from crm_platform.cost.estimate import build, to_dict

    table = _table(inv)
    outdir = _assembly(inv)
    if outdir is None:
        return EXIT_FINDINGS
    stacks = load(outdir)
    prefix = f"{inv.names.prefix}-"
    others = sorted(n for n in stacks if not n.startswith(prefix))
    if others:
        raise CommandError(
            f"the assembly in {outdir} holds stacks of another environment ({others[0]}); "
            f"pass --out with a folder for {inv.settings.environment} (it is synthesized there)"
        )
    report = build(
        stacks.values(),
        inv.settings,
        table,
        posture=inv.args.posture,
        compare_seed=inv.args.compare_seed,
    )
    if inv.args.json:
        render.as_json(to_dict(report))
    else:
        render.cost(report, lines=inv.args.lines)
    return EXIT_OK


def register(commands: Any) -> None:
    parser = add_command(
        commands, "cost",
        "monthly estimate of the synthesized assembly from the price table in this repository",
        cost, out=True,
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--posture",
        choices=["pilot_light", "warm_standby"],
        help="price this DR posture instead of the configured one",
    )
    parser.add_argument(
        "--compare-seed",
        action="store_true",
        help="price the original design with the same table and print the ratio",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="refresh prices from the AWS Price List API (needs credentials; not built yet)",
    )
    parser.add_argument("--lines", action="store_true", help="print every priced line")
