"""Every class of bad configuration fails with one line naming file, field and rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from crm_platform.settings import ConfigError, load_settings
from crm_platform.settings.loader import parse_settings

CONFIG = Path(__file__).resolve().parent.parent / "config"
PROD: dict[str, Any] = yaml.safe_load((CONFIG / "prod.yaml").read_text())


def mutated(path: str, value: Any) -> dict[str, Any]:
    """A copy of prod.yaml with ``path`` (dotted, [i] for lists) set to ``value``."""
    data = copy.deepcopy(PROD)
    node: Any = data
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    last = parts[-1]
    if value is KeyError:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


def errors_for(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, "config/test.yaml")
    return caught.value.lines


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_shipped_configurations_are_valid(env: str) -> None:
    settings = load_settings(CONFIG / f"{env}.yaml")
    assert settings.environment == env


BAD = [
    ("account", "12345", "account", "pattern"),
    ("account", KeyError, "account", "is required"),
    ("regions.primary", "ap-northeast-9", "regions.primary", "unknown AWS region"),
    ("regions.dr", "ap-northeast-1", "regions.dr", "must differ"),
    ("network.primary.vpc_cidr", "10.0.0.1/16", "network.primary.vpc_cidr", "host bits"),
    ("network.primary.vpc_cidr", "not-a-cidr", "network.primary.vpc_cidr", "CIDR"),
    (
        "network.primary.public_subnets[1]",
        "10.9.2.0/24",
        "network.primary.public_subnets[1]",
        "not inside",
    ),
    (
        "network.primary.private_subnets[0]",
        "10.0.1.0/24",
        "network.primary.private_subnets[0]",
        "overlaps",
    ),
    ("network.dr.vpc_cidr", "10.0.0.0/8", "network.dr.vpc_cidr", "overlaps network.primary"),
    (
        "network.primary.availability_zones[1]",
        "ap-southeast-1b",
        "network.primary.availability_zones[1]",
        "not a zone",
    ),
    ("network.primary.nat_gateways", 0, "network.primary.nat_gateways", "greater than or equal"),
    (
        "network.flow_log_retention_days",
        10,
        "network.flow_log_retention_days",
        "CloudWatch Logs accepts only",
    ),
    ("alerts.email", "not-an-email", "alerts.email", "e-mail address"),
    ("domain.name", "CRM..example", "domain.name", "DNS name"),
    ("budget.limit", 0, "budget.limit", "greater than 0"),
    ("budget.currency", "yen", "budget.currency", "ISO 4217"),
    (
        "budget.exchange_rate_per_usd",
        KeyError,
        "budget.exchange_rate_per_usd",
        "accepts budgets in USD only",
    ),
    ("budget.usage_report", "cur", "budget.usage_report", "Input should be"),
    ("budget.email", "finance", "budget.email", "e-mail address"),
    (
        "budget.anomaly_monitor_arn",
        "arn:aws:ce::999999999999:anomalymonitor/0b5ad7b2-4a1c-4c5e-9d6e-1c2a3b4c5d6e",
        "budget.anomaly_monitor_arn",
        "belongs to account 999999999999",
    ),
    ("budget.anomaly_monitor_arn", "mon-1", "budget.anomaly_monitor_arn", "pattern"),
    ("pipeline.repository", None, "pipeline.repository", "needs the GitHub repository"),
    ("pipeline.repository", "not a repo", "pipeline.repository", "pattern"),
    ("pipeline.fail_on_severity", "SEVERE", "pipeline.fail_on_severity", "Input should be"),
    ("pipeline.deploy_timeout_minutes", 90, "pipeline.deploy_timeout_minutes", "less than or"),
    (
        "compute.deployment.bake_minutes",
        55,
        "pipeline.deploy_timeout_minutes",
        "a server rollout takes 55 minutes",
    ),
    (
        "pipeline.docker_hub_credentials_arn",
        "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dockerhub-AbCdEf",
        "pipeline.docker_hub_credentials_arn",
        "pattern",
    ),
    ("twenty.required_upgrade_steps", ["v1"], "twenty.required_upgrade_steps[0]", "full release"),
    ("compute.server.memory_mib", 1000, "compute.server.memory_mib", "not valid with 512 CPU"),
    ("compute.worker.cpu", 300, "compute.worker.cpu", "Fargate CPU must be one of"),
    ("backup.schedule", "cron(0 3 * * *)", "backup.schedule", "6 fields"),
    ("backup.schedule", "cron(0 3 * * 1 *)", "backup.schedule", "exactly one of day-of-month"),
    ("backup.schedule", "daily", "backup.schedule", "must look like cron"),
    ("backup.retention_days", 0, "backup.retention_days", "greater than or equal to 1"),
    (
        "backup.dr_copy_retention_days",
        7,
        "backup.dr_copy_retention_days",
        "shorter than backup.retention_days",
    ),
    (
        "database.backup_retention_days",
        0,
        "database.backup_retention_days",
        "greater than or equal to 1",
    ),
    ("database.engine_version", "14.17", "database.engine_version", "below 15"),
    ("database.engine_version", "15.5", "database.engine_version", "retired"),
    ("database.engine_version", "99.1", "database.engine_version", "not a PostgreSQL version"),
    (
        "database.instance_class",
        "db.x9.huge",
        "database.instance_class",
        "not offered for PostgreSQL",
    ),
    (
        "database.backup_window",
        "10:00-10:30",
        "database.backup_window",
        "backup.completion_window_minutes",
    ),
    ("database.backup_window", "00:00-00:10", "database.backup_window", "at least 30 minutes"),
    (
        "network.dr.availability_zones[1]",
        "ap-southeast-1a",
        "network.dr.availability_zones",
        "must differ",
    ),
    (
        "backup.start_window_minutes",
        600,
        "backup.completion_window_minutes",
        "must exceed backup.start_window_minutes",
    ),
    (
        "backup.vault_lock.min_retention_days",
        500,
        "backup.vault_lock.min_retention_days",
        "must not exceed",
    ),
    (
        "compute.autoscaling_max_tasks",
        1,
        "compute.autoscaling_max_tasks",
        "at least compute.server.desired_count",
    ),
    ("cache.engine", "memcached", "cache.engine", "Input should be"),
    ("dr.rpo_seconds", 60, "dr.rpo_seconds", "greater than or equal to 120"),
    ("twenty.version", "latest", "twenty.version", "full release tag"),
    ("twenty.version", "v2", "twenty.version", "full release tag"),
    ("twenty.version", "v2.45", "twenty.version", "full release tag"),
    ("compute.server.memory_mib", 1024, "compute.server.memory_mib", "at least 2048 MiB"),
    ("domain.hosted_zone_id", KeyError, "domain.hosted_zone_id", "is required"),
    ("domain.hosted_zone_id", "zone-1", "domain.hosted_zone_id", "hosted zone id"),
    ("edge.price_class", "PriceClass_100", "edge.price_class", "Input should be"),
    ("compute.deployment.strategy", "all_at_once", "compute.deployment.strategy", "Input should"),
    ("functions.reserve_concurrency", "sometimes", "functions.reserve_concurrency", "boolean"),
    (
        "database.replica_instance_class",
        "db.t4g.small",
        "database.replica_instance_class",
        "Performance Insights",
    ),
    (
        "database.backup_window",
        "03:00-06:00",
        "database.backup_window",
        "overlaps the AWS Backup job window",
    ),
    ("database.allocated_storage_gb", 100, "database.max_allocated_storage_gb", "must exceed"),
    ("database.password", "hunter2", "database.password", "not a known setting"),
    ("storage.attachments_bucket", "Bad_Bucket", "storage.attachments_bucket", "lower-case"),
    (
        "cache.engine_version",
        "6.2",
        "cache.engine_version",
        "no ElastiCache parameter group family",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "message"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD]
)
def test_bad_value_is_reported_at_its_field(
    path: str, value: Any, field: str, message: str
) -> None:
    lines = errors_for(mutated(path, value))
    matching = [line for line in lines if line.startswith(f"config/test.yaml: {field}: ")]
    assert matching, lines
    assert any(message in line for line in matching), matching


def test_every_problem_is_reported_not_just_the_first() -> None:
    data = mutated("backup.dr_copy_retention_days", 7)
    data["regions"]["dr"] = data["regions"]["primary"]
    lines = errors_for(data)
    assert len(lines) >= 2
    assert all(line.startswith("config/test.yaml: ") for line in lines)


def test_a_limit_in_another_currency_is_converted_for_aws_budgets() -> None:
    settings = parse_settings(PROD, "config/test.yaml")
    assert (settings.budget.currency, settings.budget.exchange_rate_per_usd) == ("JPY", 150)
    assert settings.budget.limit_usd == 6666.67  # 1,000,000 JPY at 150 JPY per USD
    usd = mutated("budget.currency", "USD")
    del usd["budget"]["exchange_rate_per_usd"]
    usd["budget"]["limit"] = 1234.567
    assert parse_settings(usd, "config/test.yaml").budget.limit_usd == 1234.57


def test_continuous_backup_is_limited_to_35_days() -> None:
    data = mutated("backup.retention_days", 60)
    data["backup"]["dr_copy_retention_days"] = 60
    lines = errors_for(data)
    assert any(
        line.startswith("config/test.yaml: backup.retention_days: ") and "35 days" in line
        for line in lines
    ), lines


def test_nat_gateways_default_to_two_in_primary_and_one_in_dr() -> None:
    data = copy.deepcopy(PROD)
    del data["network"]["primary"]["nat_gateways"]
    del data["network"]["dr"]["nat_gateways"]
    settings = parse_settings(data, "config/test.yaml")
    assert (settings.network.primary.nat_gateways, settings.network.dr.nat_gateways) == (2, 1)


def test_vault_lock_bounds_must_admit_the_retentions() -> None:
    data = mutated("backup.vault_lock.max_retention_days", 30)
    lines = errors_for(data)
    assert any(line.startswith("config/test.yaml: backup.retention_days: ") for line in lines)


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("project: crm\nnetwork: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(bad)
    assert caught.value.lines[0].startswith(f"{bad}: line ")


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.yaml")
    assert caught.value.lines == [f"{tmp_path / 'nope.yaml'}: file not found"]


def test_no_field_of_the_model_can_hold_a_secret() -> None:
    from crm_platform.settings.model import Settings

    def fields(model: Any, prefix: str = "") -> list[str]:
        found = []
        for name, info in model.model_fields.items():
            found.append(prefix + name)
            annotation = info.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                found.extend(fields(annotation, f"{prefix}{name}."))
        return found

    secretish = [
        f for f in fields(Settings) if any(w in f for w in ("password", "secret", "token"))
    ]
    assert secretish == []


def test_rpo_floor_leaves_room_for_two_heartbeats() -> None:
    """The model's minimum objective is the database heartbeat's, not a number of its own."""
    from crm_platform.database.heartbeat import MIN_RPO_SECONDS
    from crm_platform.settings.model import DisasterRecovery

    (floor,) = [
        m.ge for m in DisasterRecovery.model_fields["rpo_seconds"].metadata if hasattr(m, "ge")
    ]
    assert floor == MIN_RPO_SECONDS


def test_settings_import_nothing_above_them() -> None:
    """Configuration is the ground floor: no construct, stack or CDK module is imported."""
    import ast

    root = Path(__file__).resolve().parent.parent / "src" / "crm_platform" / "settings"
    for source in root.rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            assert not module.startswith("aws_cdk"), (source, module)
            if module.startswith("crm_platform"):
                assert module.startswith("crm_platform.settings"), (source, module)


def test_reserved_concurrency_is_off_unless_configured() -> None:
    assert parse_settings(copy.deepcopy(PROD), "prod").functions.reserve_concurrency is False


def test_warm_standby_needs_a_server_task() -> None:
    data = mutated("dr.posture", "warm_standby")
    data["dr"]["warm_standby_server_tasks"] = 0
    (line,) = [e for e in errors_for(data) if "dr.warm_standby_server_tasks" in e]
    assert "at least one server task" in line


def test_cost_volumes_are_per_region_role_and_typo_safe() -> None:
    """The estimator's usage volumes: `global` is a role (a Python keyword in the model),
    roles left out are 0, and an unknown volume is refused like any other typo."""
    settings = parse_settings(
        mutated("cost.log_ingest_gb", {"primary": 3, "global": 2}), "config/test.yaml"
    )
    volumes = settings.cost.log_ingest_gb
    assert (volumes.of("primary"), volumes.of("dr"), volumes.of("global")) == (3, 0, 2)
    lines = errors_for(mutated("cost.requests_milion", 1))
    assert any(line.startswith("config/test.yaml: cost.requests_milion: ") for line in lines)
    lines = errors_for(mutated("cost.nat_processed_gb", {"primary": -1}))
    assert any("cost.nat_processed_gb.primary" in line for line in lines), lines
