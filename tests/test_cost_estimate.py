"""The cost estimator: hand-computed totals on a scratch stack, full coverage of the real
assemblies, the original design's resources, what-if rows that change only their choice,
the target, and the command's JSON and refusals (no AWS call anywhere)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sns as sns

from crm_platform import cli
from crm_platform.assembly.reader import load
from crm_platform.cost.estimate import TARGET_RATIO, build, load_table
from crm_platform.cost.estimate.inventory import FREE, RULES, inventory
from crm_platform.cost.estimate.lines import Line
from crm_platform.cost.estimate.prices import CURRENT
from crm_platform.cost.estimate.pricing import price
from crm_platform.cost.estimate.report import roles
from crm_platform.cost.estimate.seed import seed_inventory
from crm_platform.cost.estimate.whatif import choices
from crm_platform.settings import Settings
from crm_platform.settings.model import CostAssumptions, RegionVolumes
from crm_platform.toolchain.cdk_cli import NoCredentialsError
from tests.conftest import CONFIG, Assembly

TOKYO, SINGAPORE = "ap-northeast-1", "ap-southeast-1"

# --- A scratch stack with hand-computed prices -------------------------------------------

SCRATCH_PRICES = {
    "nat.hour": 0.1,
    "nat.gb": 0.05,
    "ipv4.hour": 0.01,
    "kms.key_month": 1.0,
    "secrets.secret_month": 0.4,
    "cloudwatch.alarm_metric_month": 0.1,
}


def _scratch_table(tmp_path: Path) -> Path:
    path = tmp_path / "prices.yaml"
    entries = [
        {
            "key": key,
            "unit": "unit",
            "usd": {TOKYO: usd, SINGAPORE: usd},
            "source": "https://example.com/hand",
            "verified": [TOKYO],
        }
        for key, usd in SCRATCH_PRICES.items()
    ]
    path.write_text(yaml.safe_dump({"table": "hand", "read": "2026-12-07", "prices": entries}))
    return path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny assembly: a NAT gateway and its address, a key, a secret replicated to
    Singapore, an alarm on two metrics, a topic (free) and a type with no rule."""
    outdir = tmp_path_factory.mktemp("scratch")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "scratch", env=cdk.Environment(account="123456789012", region=TOKYO))
    vpc = ec2.CfnVPC(stack, "Vpc", cidr_block="10.9.0.0/16")
    subnet = ec2.CfnSubnet(stack, "Subnet", vpc_id=vpc.ref, cidr_block="10.9.1.0/24")
    eip = ec2.CfnEIP(stack, "Address", domain="vpc")
    ec2.CfnNatGateway(stack, "Nat", subnet_id=subnet.ref, allocation_id=eip.attr_allocation_id)
    kms.Key(stack, "Key")
    sm.Secret(stack, "Secret", replica_regions=[sm.ReplicaRegion(region=SINGAPORE)])
    sns.Topic(stack, "Topic")
    metric = {"Namespace": "N", "MetricName": "M"}
    cdk.CfnResource(stack, "Alarm", type="AWS::CloudWatch::Alarm", properties={
        "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1, "Threshold": 1,
        "Metrics": [
            {"Id": "a", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}},
            {"Id": "b", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Max"}},
            {"Id": "e", "Expression": "a+b"},
        ],
    })  # fmt: skip
    cdk.CfnResource(stack, "Thing", type="AWS::IoT::Thing")
    app.synth()
    return outdir


def test_the_estimator_prices_a_scratch_stack_as_computed_by_hand(
    scratch: Path, tmp_path: Path
) -> None:
    volumes = CostAssumptions(hours_per_month=100, nat_processed_gb=RegionVolumes(primary=10))
    stacks = load(scratch).values()
    table = load_table(_scratch_table(tmp_path))
    estimate = price("scratch", inventory(stacks, volumes, {TOKYO: "primary"}), table)

    by_key = Counter[str]()
    for p in estimate.priced:
        by_key[f"{p.line.key}@{p.line.region}"] += round(p.usd, 6)
    assert dict(by_key) == {
        "nat.hour@ap-northeast-1": 0.1 * 100,  # one NAT gateway, 100 hours
        "nat.gb@ap-northeast-1": 0.05 * 10,  # 10 GB processed
        "ipv4.hour@ap-northeast-1": 0.01 * 100,  # its address
        "kms.key_month@ap-northeast-1": 1.0,
        "secrets.secret_month@ap-northeast-1": 0.4,
        "secrets.secret_month@ap-southeast-1": 0.4,  # the replica is a secret too
        "cloudwatch.alarm_metric_month@ap-northeast-1": 0.1 * 2,  # two metrics, one alarm
    }
    assert estimate.total == pytest.approx(10 + 0.5 + 1 + 1 + 0.8 + 0.2)
    # Only Tokyo's figures were marked verified in the scratch table.
    assert estimate.unverified_usd == pytest.approx(0.4)
    assert [(u.kind, u.resource) for u in estimate.unpriced] == [("AWS::IoT::Thing", "Thing")]
    assert estimate.free["AWS::SNS::Topic"] == 1
    assert estimate.missing == ()


# --- The real assemblies -----------------------------------------------------------------


def _stacks(a: Assembly) -> list[Any]:
    return list(load(a.outdir).values())


@pytest.mark.parametrize("which", ["prod", "staging"])
def test_every_priced_type_has_a_price_in_every_region_it_appears(
    which: str, request: pytest.FixtureRequest
) -> None:
    a: Assembly = request.getfixturevalue("assembly" if which == "prod" else "staging_assembly")
    settings: Settings = request.getfixturevalue(f"{which}_settings")
    table = load_table()
    stacks = _stacks(a)
    inv = inventory(stacks, settings.cost, roles(settings))
    estimate = price(which, inv, table)
    assert estimate.missing == (), [(x.kind, x.key, x.region) for x in estimate.missing]
    seen_types = {(r["Type"], s.region) for s in stacks for r in s.resources.values()}
    priced_types = {(x.kind, x.region) for x in inv.lines}
    for kind, region in seen_types:
        if kind in RULES and kind not in ("AWS::EC2::VPCEndpoint", "AWS::ECS::TaskDefinition"):
            assert any(k == kind for k, _ in priced_types), f"{kind} in {region} has no line"
    # Nothing is dropped: each resource is priced, free, or listed as not priced.
    unpriced = Counter(u.kind for u in inv.unpriced)
    for kind, count in Counter(r["Type"] for s in stacks for r in s.resources.values()).items():
        assert kind in RULES or kind in FREE or unpriced[kind] == count, kind


def test_the_price_table_names_a_source_and_date_for_every_price() -> None:
    table = load_table(CURRENT)
    for p in table.prices.values():
        assert p.source.startswith("https://"), p.key
        assert p.unit and p.usd >= 0
        assert p.region in {TOKYO, SINGAPORE, "us-east-1"}
    # Every key is priced in all three regions (global services carry one figure).
    for key in table.price_keys():
        assert table.regions_of(key) == {TOKYO, SINGAPORE, "us-east-1"}, key


def test_a_malformed_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    entry = {"key": "k", "unit": "u", "usd": {TOKYO: 1}, "source": "s", "verified": [SINGAPORE]}
    path.write_text(yaml.safe_dump({"table": "t", "read": "2026-12-07", "prices": [entry]}))
    with pytest.raises(ValueError, match="verified names regions without a figure"):
        load_table(path)


def test_the_seed_comparison_lists_the_original_designs_resources(
    prod_settings: Settings,
) -> None:
    regions = {role: region for region, role in roles(prod_settings).items()}
    inv, gaps = seed_inventory(prod_settings.cost, regions)
    kinds = {x.kind for x in inv.lines}
    assert kinds >= {
        "aws_nat_gateway", "aws_lb", "aws_db_instance", "aws_ecs_service",
        "aws_cloudfront_distribution", "aws_wafv2_web_acl", "aws_backup_plan", "aws_kms_key",
        "aws_secretsmanager_secret", "aws_ecr_repository", "aws_codebuild_project",
        "aws_codepipeline", "aws_route53_zone", "aws_cloudwatch_metric_alarm",
    }  # fmt: skip
    hours = prod_settings.cost.hours_per_month

    def quantity(key: str, region: str) -> float:
        return sum(x.quantity for x in inv.lines if x.key == key and x.region == region)

    # The seed's README: db.t3.medium Multi-AZ plus a replica of the same class in DR;
    # server 0.5 vCPU x 2 and worker 0.25 vCPU x 1; two NAT gateways.
    assert quantity("rds.hour.db.t3.medium", TOKYO) == 2 * hours
    assert quantity("rds.hour.db.t3.medium", SINGAPORE) == hours
    assert quantity("fargate.vcpu_hour.x86_64", TOKYO) == (2 * 0.5 + 0.25) * hours
    assert quantity("nat.hour", TOKYO) == 2 * hours
    assert all(x.note for x in inv.lines)  # each item says where it comes from
    assert any("Redis" in g.what for g in gaps)


@pytest.fixture(scope="module")
def prod_report(assembly: Assembly, prod_settings: Settings) -> Any:
    return build(_stacks(assembly), prod_settings, load_table(), compare_seed=True)


def test_production_at_its_default_posture_is_within_the_target(prod_report: Any) -> None:
    assert prod_report.posture == "pilot_light"
    assert prod_report.ratio is not None
    assert prod_report.ratio <= TARGET_RATIO, prod_report.ratio
    assert prod_report.ratio == pytest.approx(prod_report.estimate.total / prod_report.seed.total)


def _diff(before: list[Line], after: list[Line]) -> list[Line]:
    b, a = Counter(before), Counter(after)
    return list((b - a).elements()) + list((a - b).elements())


def test_each_what_if_row_changes_only_what_it_says(
    assembly: Assembly, prod_settings: Settings
) -> None:
    inv = inventory(_stacks(assembly), prod_settings.cost, roles(prod_settings))
    base = list(inv.lines)
    rows = choices(prod_settings, base)
    names = " | ".join(c.name for c in rows)
    for wanted in ("ssm", "interface endpoints", "NAT", "DR", "Graviton", "standby",
                   "Multi-AZ", "cache", "Container Insights", "Replication Time Control",
                   "AWS Backup", "copied to DR", "telemetry", "database one class"):  # fmt: skip
        assert wanted in names, wanted
    for row in rows:
        if row.change is None:
            assert "not yet priced" in row.gives_up
            continue
        changed = _diff(base, row.change(list(base)))
        strays = [x for x in changed if not (row.touches & x.tags)]
        assert not strays, (row.name, strays[:3])
        if "no change" not in row.name:
            assert changed, f"{row.name} changes nothing"
        if not row.built:
            assert "not built" in row.gives_up and "RTO" in row.gives_up


def test_telemetry_is_priced_by_its_setting(
    assembly: Assembly,
    staging_assembly: Assembly,
    prod_settings: Settings,
    staging_settings: Settings,
) -> None:
    """Off in prod (a what-if adds it), on in staging (its lines come from the collector's
    log group in the assembly, and a what-if takes them away)."""
    prod = inventory(_stacks(assembly), prod_settings.cost, roles(prod_settings)).lines
    staging = inventory(
        _stacks(staging_assembly), staging_settings.cost, roles(staging_settings)
    ).lines
    assert not [x for x in prod if "telemetry" in x.tags]
    found = [x for x in staging if "telemetry" in x.tags]
    assert {x.key for x in found} == {
        "cloudwatch.metric_month", "logs.ingest_gb", "logs.store_gb_month"
    }  # fmt: skip
    metrics = sum(x.quantity for x in found if x.key == "cloudwatch.metric_month")
    assert metrics == staging_settings.cost.telemetry_metrics.primary  # DR emits nothing idle
    (on,) = [c for c in choices(prod_settings, list(prod)) if c.name == "telemetry on"]
    (off,) = [c for c in choices(staging_settings, list(staging)) if c.name == "telemetry off"]
    assert on.change is not None and off.change is not None
    added = [x for x in on.change(list(prod)) if "telemetry" in x.tags]
    assert sum(x.quantity for x in added if x.key == "cloudwatch.metric_month") == (
        prod_settings.cost.telemetry_metrics.primary
    )
    assert not [x for x in off.change(list(staging)) if "telemetry" in x.tags]


def test_posture_changes_only_the_dr_server(assembly: Assembly, prod_settings: Settings) -> None:
    stacks = _stacks(assembly)
    table = load_table()
    pilot = build(stacks, prod_settings, table)
    warm = build(stacks, prod_settings, table, posture="warm_standby")
    changed = _diff([p.line for p in pilot.estimate.priced], [p.line for p in warm.estimate.priced])
    assert changed and all("service:dr:server" in x.tags for x in changed)
    assert warm.estimate.total > pilot.estimate.total


# --- The command ----------------------------------------------------------------------------


def _no_aws(assembly: Assembly, credentials: Any) -> cli.Outside:
    def never(*_: Any) -> Any:
        raise AssertionError("the estimator must not call AWS")

    return cli.Outside(
        clients=never, credentials=credentials, cdk=never, synthesize=lambda *_: assembly.result
    )


def test_cost_json_parses_and_adds_up(
    assembly: Assembly, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cost", "--config-dir", str(CONFIG), "--out", str(assembly.outdir)]
    code = cli.main([*argv, "--json", "--compare-seed"], _no_aws(assembly, lambda: "env"))
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    lines = data["estimate"]["lines"]
    # Each line is rounded to the cent on its own: the sum may differ by half a cent a line.
    assert data["estimate"]["total_usd"] == pytest.approx(
        sum(x["usd"] for x in lines), abs=0.005 * len(lines) + 0.005
    )
    assert data["ratio"] == pytest.approx(
        data["estimate"]["total_usd"] / data["seed"]["total_usd"], abs=0.001
    )
    assert {"choice", "delta_usd", "built", "gives_up"} <= set(data["what_if"][0])
    assert data["budget"]["currency"] == "JPY"
    assert all(x["source"].startswith("https://") and x["read"] for x in lines)


def test_live_without_credentials_says_so_and_uses_the_table(
    assembly: Assembly, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_credentials() -> str:
        raise NoCredentialsError("no AWS credentials found")

    argv = ["cost", "--config-dir", str(CONFIG), "--out", str(assembly.outdir), "--json", "--live"]
    assert cli.main(argv, _no_aws(assembly, no_credentials)) == 0
    captured = capsys.readouterr()
    assert "cannot refresh prices" in captured.err and "aws-list-2026-12" in captured.err
    assert json.loads(captured.out)["estimate"]["total_usd"] > 0


def test_an_assembly_of_another_environment_is_refused(
    assembly: Assembly, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cost", "--env", "staging", "--config-dir", str(CONFIG), "--out", str(assembly.outdir)]
    assert cli.main(argv, _no_aws(assembly, lambda: "env")) == 2
    assert "another environment" in capsys.readouterr().err


def test_nothing_in_the_vpc_calls_ssm(assembly: Assembly) -> None:
    """Why production has no ``ssm`` interface endpoint: no task reads a parameter, ECS Exec
    is off, and no function in the VPC may call SSM (the switch and failover functions that
    read parameters run outside the VPC)."""
    for stack in _stacks(assembly):
        resources = stack.resources
        for body in resources.values():
            props = body.get("Properties", {})
            text = json.dumps(props)
            if body["Type"] == "AWS::ECS::TaskDefinition":
                assert ":ssm:" not in text and ":parameter/" not in text
            if body["Type"] == "AWS::ECS::Service":
                assert not props.get("EnableExecuteCommand")
            if body["Type"] == "AWS::Lambda::Function" and props.get("VpcConfig"):
                role = json.dumps(props["Role"])
                granted = [
                    p for p in resources.values()
                    if p["Type"] == "AWS::IAM::Policy"
                    and role.strip('"') in json.dumps(p["Properties"].get("Roles"))
                ]  # fmt: skip
                assert '"ssm:' not in json.dumps(granted), stack.name
