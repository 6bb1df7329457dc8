"""The ``crm-platform`` command: thin argument parsing over ``crm_platform.ops``.

Exit codes: 0 success; 1 a gate found something, or a delegated CDK CLI command failed;
2 bad input (configuration, usage, missing credentials, an unsafe output folder); 3 a
tool outside the venv could not be installed or run. No expected failure prints a
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from crm_platform.ops.synth import UnsafeOutputError
from crm_platform.ops.tools import ToolError
from crm_platform.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from crm_platform.naming import Names
    from crm_platform.ops.synth import SynthResult
from crm_platform.settings.loader import CONFIG_DIR, config_path

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_TOOL = 0, 1, 2, 3

# Wide enough for the summary tables when output is piped (CI logs), narrower terminals wrap.
out = Console(width=None if Console().is_terminal else 120)
err = Console(stderr=True)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_path(args.env, Path(args.config_dir)))


def _synth(
    args: argparse.Namespace, release_digest: str | None = None, hold_services: bool = False
) -> SynthResult:
    from crm_platform.ops.synth import synthesize

    settings = _settings(args)
    started = time.perf_counter()
    with err.status(f"synthesizing {settings.project}-{settings.environment} (3 regions)..."):
        result = synthesize(settings, Path(args.out), release_digest, hold_services)
    elapsed = time.perf_counter() - started
    _print_synth(result, elapsed)
    return result


def _print_synth(result: SynthResult, elapsed: float) -> None:
    if not result.ok:
        out.print(
            f"[red]{len(result.findings)} unacknowledged finding(s); nothing was written[/red]"
        )
        for f in result.findings:
            out.print(
                f"  {f.rule}  {f.path}\n      {f.description}", highlight=False, soft_wrap=True
            )
        return
    table = Table(title=f"Assembly in {result.outdir} ({elapsed:.1f} s)")
    for column in ("stack", "region", "resources", "nag findings", "acknowledged"):
        table.add_column(column, justify="left" if column == "stack" else "right", no_wrap=True)
    for s in result.stacks:
        table.add_row(s.name, s.region, str(s.resources), "0", str(s.acknowledged))
    out.print(table)


def cmd_synth(args: argparse.Namespace) -> int:
    return EXIT_OK if _synth(args).ok else EXIT_FINDINGS


def cmd_check(args: argparse.Namespace) -> int:
    from crm_platform.ops.checks import run_cfn_lint, run_checkov

    result = _synth(args)
    if not result.ok:
        return EXIT_FINDINGS
    checks = []
    with err.status("cfn-lint..."):
        checks.append(run_cfn_lint(result.outdir))
    if not args.skip_checkov:
        with err.status("checkov..."):
            checks.append(run_checkov(result.outdir, progress=err.print))
    summary = Table(title="Gates")
    for column in ("gate", "passed", "skipped with reason", "unexplained findings"):
        summary.add_column(column)
    summary.add_row(
        "cdk-nag (AwsSolutions, NIST 800-53 r5) + CDK validation",
        "all stacks",
        str(sum(s.acknowledged for s in result.stacks)),
        "0",
    )
    for c in checks:
        summary.add_row(
            c.tool, f"{c.passed} {c.unit}", str(c.skipped + len(c.ignored)), str(len(c.findings))
        )
    out.print(summary)
    for c in checks:
        for rule, reason in c.ignored.items():
            out.print(f"  {c.tool} ignores {rule}: {reason}")
        for f in c.findings:
            out.print(f"  [red]{f.tool} {f.rule}[/red] {f.location}: {f.message}")
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FINDINGS


def _cdk(verb: str, args: argparse.Namespace) -> int:
    from crm_platform.ops.cdk_cli import NoCredentialsError, ensure_credentials, run_cdk

    _settings(args)  # configuration problems first: they need no AWS access to report
    try:
        ensure_credentials()
    except NoCredentialsError as e:
        err.print(f"[red]error:[/red] {e}")
        return EXIT_USAGE
    result = _synth(args)
    if not result.ok:
        return EXIT_FINDINGS
    return run_cdk(verb, result.outdir, [], progress=err.print)


def _preflight(outdir: Path, args: argparse.Namespace) -> bool:
    """Account checks before CloudFormation starts; one line each, False if any failed."""
    from crm_platform.naming import Names
    from crm_platform.ops.preflight import run_preflight

    names = Names(_settings(args))
    with err.status("checking the account (failed-over state, Lambda concurrency, leftovers)..."):
        checks = run_preflight(
            outdir, _aws_client(), (names.settings.regions.dr, names.failover_parameter)
        )
    for c in checks:
        mark = "[green]ok[/green]  " if c.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {c.region}: {c.what}: {c.message}", highlight=False, soft_wrap=True)
    if not all(c.ok for c in checks):
        err.print("[red]preflight failed; nothing was deployed[/red]")
        return False
    return True


def cmd_diff(args: argparse.Namespace) -> int:
    return _cdk("diff", args)


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy every stack, migrating the schema first when the release is new to it."""
    from crm_platform.naming import Names
    from crm_platform.ops import release as release_ops
    from crm_platform.ops.cdk_cli import (
        NoCredentialsError,
        ensure_credentials,
        run_cdk,
        run_cdk_raw,
    )
    from crm_platform.ops.deploy_plan import plan
    from crm_platform.release import record
    from crm_platform.release.migration import MigrationFailed
    from crm_platform.release.versions import UpgradeRefused

    settings = _settings(args)  # configuration problems first: they need no AWS access
    try:
        ensure_credentials()
    except NoCredentialsError as e:
        err.print(f"[red]error:[/red] {e}")
        return EXIT_USAGE
    names, client = Names(settings), _aws_client()
    try:
        recorded = record.read(client("ssm", settings.regions.primary), names.release_parameter)
        steps = plan(settings, recorded)
    except UpgradeRefused as e:
        err.print(f"[red]refused:[/red] {e}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    out.print(f"release: {steps.note}", highlight=False)
    result = _synth(args, steps.release.digest, hold_services=steps.first_deploy)
    if not result.ok:
        return EXIT_FINDINGS
    if not args.skip_preflight and not _preflight(result.outdir, args):
        return EXIT_USAGE
    extra = ["--require-approval", "broadening"]
    try:
        if steps.migrate_before:
            release_ops.migrate(names, client, steps.release, progress=err.print)
        code = run_cdk("deploy", result.outdir, extra, progress=err.print)
        if code != 0 or not steps.first_deploy:
            return code
        err.print("stacks are up with the services held; creating the schema...")
        release_ops.migrate(names, client, steps.release, progress=err.print)
    except (MigrationFailed, UpgradeRefused) as e:
        err.print(f"[red]migration failed:[/red] {e}", highlight=False, soft_wrap=True)
        return EXIT_FINDINGS
    result = _synth(args, steps.release.digest)
    if not result.ok:
        return EXIT_FINDINGS
    err.print("starting the services at their configured sizes...")
    app_stacks = [names.primary_stack, names.dr_app_stack]
    return run_cdk_raw(
        ["deploy", "--app", str(result.outdir), *app_stacks, "--exclusively", *extra],
        progress=err.print,
    )


def cmd_release_build(args: argparse.Namespace) -> int:
    """In the pipeline's build step: publish the pinned release, scan gate, deploy files."""
    from crm_platform.naming import Names
    from crm_platform.ops import release as release_ops
    from crm_platform.release.publish import PublishRefused
    from crm_platform.release.versions import UpgradeRefused

    names = Names(_settings(args))
    try:
        release_ops.build(names, _aws_client(), Path(args.out), progress=err.print)
    except (PublishRefused, UpgradeRefused) as e:
        err.print(f"[red]refused:[/red] {e}", highlight=False, soft_wrap=True)
        return EXIT_FINDINGS
    return EXIT_OK


def cmd_release_migrate(args: argparse.Namespace) -> int:
    """In the pipeline's migrate step: snapshot, run the migration once, record it."""
    from crm_platform.naming import Names
    from crm_platform.ops import release as release_ops
    from crm_platform.release.migration import MigrationFailed
    from crm_platform.release.record import Release
    from crm_platform.release.versions import UpgradeRefused

    names = Names(_settings(args))
    release = Release.from_json(Path(args.release).read_text())
    try:
        release_ops.migrate(names, _aws_client(), release, progress=err.print)
    except (MigrationFailed, UpgradeRefused) as e:
        err.print(f"[red]migration failed:[/red] {e}", highlight=False, soft_wrap=True)
        return EXIT_FINDINGS
    return EXIT_OK


def cmd_release_status(args: argparse.Namespace) -> int:
    """The schema's recorded release in both regions; non-zero if they disagree."""
    from crm_platform.naming import Names
    from crm_platform.release import record

    settings = _settings(args)
    names, client = Names(settings), _aws_client()
    seen = {}
    for region in (settings.regions.primary, settings.regions.dr):
        found = record.read(client("ssm", region), names.release_parameter)
        seen[region] = found
        text = (
            "none recorded"
            if found is None
            else f"{found.version} ({found.digest or 'upstream image'})"
        )
        out.print(f"{region}: {names.release_parameter} = {text}", highlight=False)
    out.print(f"configured twenty.version: {settings.twenty.version}", highlight=False)
    return EXIT_OK if len(set(seen.values())) == 1 else EXIT_FINDINGS


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from crm_platform.naming import GLOBAL_REGION
    from crm_platform.ops.cdk_cli import NoCredentialsError, ensure_credentials, run_cdk_raw

    settings = _settings(args)
    try:
        ensure_credentials()
    except NoCredentialsError as e:
        err.print(f"[red]error:[/red] {e}")
        return EXIT_USAGE
    regions = dict.fromkeys([settings.regions.primary, settings.regions.dr, GLOBAL_REGION])
    targets = [f"aws://{settings.account}/{region}" for region in regions]
    return run_cdk_raw(["bootstrap", *targets], progress=err.print)


def _aws_client() -> Callable[[str, str], Any]:
    """A boto3 client factory (service, region) on the caller's credentials."""
    import boto3

    session = boto3.Session()
    return lambda service, region: session.client(service, region)  # type: ignore[call-overload]


def cmd_switch(args: argparse.Namespace) -> int:
    from crm_platform.naming import Names
    from crm_platform.ops.cdk_cli import NoCredentialsError, ensure_credentials

    names = Names(_settings(args))
    try:
        ensure_credentials()
    except NoCredentialsError as e:
        err.print(f"[red]error:[/red] {e}")
        return EXIT_USAGE
    return run_switch(names, args.to, _aws_client(), execute=args.execute, force=args.force)


def run_switch(
    names: Names, to: str, client: Callable[[str, str], Any], *, execute: bool, force: bool
) -> int:
    """Show the switch, refuse an unsafe flip, flip it when ``execute``."""
    from crm_platform.ops import switch

    p = switch.plan(names, to, client)
    replica = {None: "missing", True: "read replica", False: "promoted (writable)"}
    out.print(
        f"traffic switch {names.switch_parameter} ({names.settings.regions.dr}): {p.current}; "
        f"DR database {names.db_replica}: {replica[p.dr_database_is_replica]}",
        highlight=False,
    )
    if not p.changes:
        out.print(f"already {p.wanted}: nothing to do")
        return EXIT_OK
    if not force:
        try:
            switch.check(p, names)
        except switch.SwitchRefused as e:
            err.print(f"[red]refused:[/red] {e}", highlight=False, soft_wrap=True)
            return EXIT_USAGE
    if not execute:
        out.print(f"dry run: would switch {p.current} -> {p.wanted}; add --execute to do it")
        return EXIT_OK
    previous = switch.execute(names, p, client, force=force)
    out.print(
        f"switched {previous} -> {p.wanted}; Route 53 follows within about two minutes, "
        "plus the 60 s DNS TTL"
    )
    return EXIT_OK


def _assembly(args: argparse.Namespace) -> Path | None:
    """The assembly at --out, synthesized (with the nag gate) if there is none yet."""
    outdir = Path(args.out)
    if (outdir / "manifest.json").exists():
        return outdir
    result = _synth(args)
    return result.outdir if result.ok else None


def cmd_drill(args: argparse.Namespace) -> int:
    from crm_platform.naming import Names
    from crm_platform.ops.drill import run_drill

    if not args.local:
        err.print(
            "[red]error:[/red] only the local drill exists (--local); against AWS a drill is a "
            "real failover: crm-platform failover"
        )
        return EXIT_USAGE
    names = Names(_settings(args))
    outdir = _assembly(args)
    if outdir is None:
        return EXIT_FINDINGS
    marks = {"done": "[green]done[/green]", "failed": "[red]FAILED[/red]"}

    def on_step(step: Any) -> None:
        mark = marks.get(step.status, f"[yellow]{step.status}[/yellow]")
        note = f" ({step.note})" if step.note else ""
        out.print(f"  {mark:<22} {step.name}{note}", highlight=False)

    out.print(
        f"drill: regional failover of {names.prefix} in the AWS emulator, {args.outage} outage"
    )
    report = run_drill(outdir, names, outage=args.outage, progress=err.print, on_step=on_step)
    Path(args.report).write_text(report.to_json())
    _print_drill(report)
    out.print(f"report written to {args.report}")
    return EXIT_OK if report.passed else EXIT_FINDINGS


def _print_drill(report: Any) -> None:
    start = min((r["started_at"] for r in report.timeline if r["started_at"]), default=0.0)
    table = Table(title=f"Timeline of {report.run} (emulated clock)")
    for column in ("step", "status", "start", "end", "attempts"):
        table.add_column(column)
    for row in report.timeline:

        def at(v: float | None) -> str:
            return f"+{v - start:.0f}s" if v is not None else "-"

        table.add_row(row["step"], row["status"], at(row["started_at"]), at(row["ended_at"]),
                      str(row["attempts"]))  # fmt: skip
    out.print(table)
    checks = Table(title="End state, from the emulator's answers")
    for column in ("check", "result", "observed"):
        checks.add_column(column)
    for c in report.checks:
        checks.add_row(c["name"], "pass" if c["ok"] else "[red]FAIL[/red]", str(c["observed"])[:60])
    out.print(checks)
    not_emulated = [s for s in report.steps if s["status"] == "not emulated"]
    for s in not_emulated:
        out.print(f"  not emulated: {s['name']}: {s['note']}", highlight=False)
    for note in report.notes:
        out.print(f"  emulator: {note}", highlight=False)
    verdict = "[green]PASS[/green]" if report.passed else "[red]FAIL[/red]"
    out.print(
        f"verdict: {verdict}: {sum(c['ok'] for c in report.checks)}/{len(report.checks)} checks, "
        f"{len(not_emulated)} step(s) not emulated, {report.seconds:.1f} s"
    )


def cmd_failover(args: argparse.Namespace) -> int:
    from crm_platform.naming import Names
    from crm_platform.ops import failover
    from crm_platform.ops.cdk_cli import NoCredentialsError, ensure_credentials
    from crm_platform.ops.dr_status import readiness

    names = Names(_settings(args))
    try:
        ensure_credentials()
    except NoCredentialsError as e:
        err.print(f"[red]error:[/red] {e}")
        return EXIT_USAGE
    client = _aws_client()
    if args.approve:
        failover.approve(names, client, args.approve)
        out.print("approved: the failover continues")
        return EXIT_OK
    _print_status(readiness(names, client, drill_report=Path(args.report)))
    table = Table(title=f"What a failover of {names.prefix} does, from {names.settings.regions.dr}")
    table.add_column("step")
    table.add_column("what")
    for name, summary in failover.plan_lines():
        table.add_row(name, summary)
    out.print(table)
    if not args.execute:
        out.print("dry run: nothing was changed; add --execute to start the failover")
        return EXIT_OK
    run = failover.start(names, client, force=args.force)
    out.print(f"started {run} in {names.settings.regions.dr}; following it (Ctrl-C stops "
              "following, not the failover)")  # fmt: skip

    def on_change(row: dict[str, Any]) -> None:
        detail = json.dumps(row["detail"])[:120]
        out.print(f"  {row['status']:<8} {row['step']} {detail}", highlight=False)

    status = failover.follow(names, client, run, on_change)
    out.print(f"{run}: {status}")
    return EXIT_OK if status == "SUCCEEDED" else EXIT_FINDINGS


def _print_status(status: Any) -> None:
    table = Table(title="DR readiness")
    for column in ("", "what", "now"):
        table.add_column(column)
    for line in status.lines:
        mark = {True: "[green]ok[/green]", False: "[red]FAIL[/red]", None: ""}[line.ok]
        table.add_row(mark, line.what, line.value)
    out.print(table)


def cmd_dr_status(args: argparse.Namespace) -> int:
    from crm_platform.naming import Names
    from crm_platform.ops.cdk_cli import NoCredentialsError, ensure_credentials
    from crm_platform.ops.dr_status import readiness

    names = Names(_settings(args))
    try:
        ensure_credentials()
    except NoCredentialsError as e:
        err.print(f"[red]error:[/red] {e}")
        return EXIT_USAGE
    status = readiness(names, _aws_client(), drill_report=Path(args.report))
    _print_status(status)
    return EXIT_OK if status.ready else EXIT_FINDINGS


def cmd_config_validate(args: argparse.Namespace) -> int:
    settings = load_settings(Path(args.file))
    out.print(
        f"{args.file}: valid ({settings.project}-{settings.environment}, primary "
        f"{settings.regions.primary}, DR {settings.regions.dr})"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-platform",
        description="Synthesize, check and deploy the Twenty CRM platform (AWS CDK, 3 regions).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def env_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--env", default="prod", help="environment: config/ENV.yaml (default prod)")
        p.add_argument("--config-dir", default=str(CONFIG_DIR), help="folder of ENV.yaml files")
        p.add_argument("--out", default="cdk.out", help="assembly folder (default cdk.out)")
        return p

    env_command("synth", "synthesize every stack and run the cdk-nag gate").set_defaults(
        func=cmd_synth
    )
    check = env_command("check", "synthesize, then run cfn-lint and checkov; one summary")
    check.add_argument("--skip-checkov", action="store_true", help="run cfn-lint only")
    check.set_defaults(func=cmd_check)
    env_command(
        "diff", "cdk diff against the deployed stacks (needs AWS credentials)"
    ).set_defaults(func=cmd_diff)
    deploy = env_command("deploy", "check the account, then cdk deploy every stack in order")
    deploy.add_argument(
        "--skip-preflight",
        action="store_true",
        help="do not check Lambda concurrency and leftovers before deploying",
    )
    deploy.set_defaults(func=cmd_deploy)
    env_command(
        "bootstrap", "cdk bootstrap the account in all three regions (needs AWS credentials)"
    ).set_defaults(func=cmd_bootstrap)
    flip = env_command(
        "switch", "show or flip the traffic switch in the DR region (dry run by default)"
    )
    flip.add_argument("--to", required=True, choices=["primary", "dr"], help="send traffic here")
    flip.add_argument("--execute", action="store_true", help="really flip it")
    flip.add_argument(
        "--force", action="store_true", help="skip the database-state safety check (drills)"
    )
    flip.set_defaults(func=cmd_switch)
    drill = env_command(
        "drill", "rehearse a regional failover in the AWS emulator (offline); writes a report"
    )
    drill.add_argument("--local", action="store_true", help="against the local emulator")
    drill.add_argument(
        "--outage",
        choices=["partial", "full"],
        default="partial",
        help="partial: the primary's data plane is down; full: all of it",
    )
    drill.add_argument("--report", default="drill-report.json", help="where to write the report")
    drill.set_defaults(func=cmd_drill)
    fail = env_command(
        "failover", "plan (dry run) or --execute the regional failover from the DR region"
    )
    fail.add_argument("--execute", action="store_true", help="start it (default: dry run)")
    fail.add_argument(
        "--force",
        action="store_true",
        help="fail over although the primary does not look impaired from DR",
    )
    fail.add_argument("--approve", metavar="TOKEN", help="approve an automatic failover")
    fail.add_argument("--report", default="drill-report.json", help="the last drill's report")
    fail.set_defaults(func=cmd_failover)
    rel = commands.add_parser("release", help="release steps (the pipeline runs build/migrate)")
    rel_commands = rel.add_subparsers(dest="release_command", required=True, metavar="ACTION")

    def release_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = rel_commands.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--env", default="prod", help="environment: config/ENV.yaml")
        p.add_argument("--config-dir", default=str(CONFIG_DIR), help="folder of ENV.yaml files")
        return p

    rel_build = release_command(
        "build", "publish twenty.version into ECR once, gate it on its scan, write deploy files"
    )
    rel_build.add_argument("--out", default="release", help="folder for the deploy files")
    rel_build.set_defaults(func=cmd_release_build)
    rel_migrate = release_command(
        "migrate", "snapshot, run the release's migration as a one-off ECS task, record it"
    )
    rel_migrate.add_argument("--release", required=True, help="release.json of the build step")
    rel_migrate.set_defaults(func=cmd_release_migrate)
    release_command("status", "the schema's recorded release in both regions").set_defaults(
        func=cmd_release_status
    )
    dr = commands.add_parser("dr", help="disaster-recovery status")
    dr_commands = dr.add_subparsers(dest="dr_command", required=True, metavar="ACTION")
    dr_status = dr_commands.add_parser("status", help="is DR ready? non-zero when it is not")
    dr_status.add_argument("--env", default="prod", help="environment: config/ENV.yaml")
    dr_status.add_argument("--config-dir", default=str(CONFIG_DIR), help="folder of ENV.yaml files")
    dr_status.add_argument("--report", default="drill-report.json", help="the last drill's report")
    dr_status.set_defaults(func=cmd_dr_status)
    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    validate = config_commands.add_parser("validate", help="validate one configuration file")
    validate.add_argument("file", help="path to an environment YAML file")
    validate.set_defaults(func=cmd_config_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as e:
        for line in e.lines:
            err.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except UnsafeOutputError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except ToolError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        return EXIT_TOOL
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
