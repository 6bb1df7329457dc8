"""PostgreSQL primary and its cross-region replica."""

from __future__ import annotations

from pathlib import Path

from aws_cdk.assertions import Match, Template

from crm_platform.settings import Settings


def _instance(template: Template, identifier: str) -> dict:
    found = template.find_resources(
        "AWS::RDS::DBInstance", {"Properties": {"DBInstanceIdentifier": identifier}}
    )
    assert len(found) == 1
    return next(iter(found.values()))


def test_primary_properties(primary: Template, prod_settings: Settings) -> None:
    db = prod_settings.database
    primary.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "DBInstanceIdentifier": "crm-prod-postgres",
            "Engine": "postgres",
            "EngineVersion": db.engine_version,
            "DBInstanceClass": db.instance_class,
            "MultiAZ": True,
            "StorageType": "gp3",
            "AllocatedStorage": str(db.allocated_storage_gb),
            "MaxAllocatedStorage": db.max_allocated_storage_gb,
            "StorageEncrypted": True,
            "KmsKeyId": Match.any_value(),
            "DeletionProtection": True,
            "BackupRetentionPeriod": db.backup_retention_days,
            "PreferredBackupWindow": db.backup_window,
            "PreferredMaintenanceWindow": db.maintenance_window,
            "EnablePerformanceInsights": True,
            "PerformanceInsightsKMSKeyId": Match.any_value(),
            "MonitoringInterval": db.monitoring_interval_seconds,
            "EnableCloudwatchLogsExports": ["postgresql", "upgrade"],
            "PubliclyAccessible": False,
            "DBName": "twenty",
        },
    )


def test_primary_is_snapshotted_not_deleted(primary: Template) -> None:
    resource = _instance(primary, "crm-prod-postgres")
    assert resource["DeletionPolicy"] == "Snapshot"
    assert resource["UpdateReplacePolicy"] == "Snapshot"


def test_primary_is_in_isolated_subnets(primary: Template, prod_settings: Settings) -> None:
    group = next(iter(primary.find_resources("AWS::RDS::DBSubnetGroup").values()))
    subnet_ids = {ref["Ref"] for ref in group["Properties"]["SubnetIds"]}
    subnets = primary.find_resources("AWS::EC2::Subnet")
    cidrs = {subnets[s]["Properties"]["CidrBlock"] for s in subnet_ids}
    assert cidrs == set(prod_settings.network.primary.isolated_subnets)


def test_parameter_group_forces_tls_logs_slow_queries_never_all(
    primary: Template, dr_database: Template
) -> None:
    for template in (primary, dr_database):
        template.has_resource_properties(
            "AWS::RDS::DBParameterGroup",
            {
                "Family": "postgres17",
                "Parameters": Match.object_like(
                    {
                        "rds.force_ssl": "1",
                        "log_min_duration_statement": "1000",
                        "log_statement": "none",
                    }
                ),
            },
        )


def test_exported_logs_are_encrypted_and_retained(primary: Template) -> None:
    for export in ("postgresql", "upgrade"):
        primary.has_resource(
            "AWS::Logs::LogGroup",
            {
                "Properties": {
                    "LogGroupName": f"/aws/rds/instance/crm-prod-postgres/{export}",
                    "KmsKeyId": Match.any_value(),
                    "RetentionInDays": 30,
                },
                "DeletionPolicy": "RetainExceptOnCreate",
            },
        )


def test_replica_source_is_the_primary_arn_and_resources_are_dr_local(
    dr_database: Template,
) -> None:
    replica = _instance(dr_database, "crm-prod-postgres-dr")
    props = replica["Properties"]
    assert props["SourceDBInstanceIdentifier"] == (
        "arn:aws:rds:ap-northeast-1:123456789012:db:crm-prod-postgres"
    )
    assert "StorageEncrypted" not in props
    # The key comes from the DR foundation stack, in the same region.
    assert "'StackName': 'crm-prod-dr', 'Region': 'ap-southeast-1'" in str(props["KmsKeyId"])
    assert "Ref" in props["DBSubnetGroupName"]  # a DR-local subnet group, defined here
    dr_group = dr_database.find_resources("AWS::RDS::DBSubnetGroup")
    assert len(dr_group) == 1
    assert replica["DeletionPolicy"] == "Snapshot"
    assert props["DeletionProtection"] is True


def test_replica_lag_alarm_uses_the_rpo(dr_database: Template, prod_settings: Settings) -> None:
    dr_database.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ReplicaLag",
            "Namespace": "AWS/RDS",
            "Threshold": prod_settings.dr.rpo_seconds,
            "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "crm-prod-postgres-dr"}],
            "TreatMissingData": "breaching",
            "AlarmActions": Match.any_value(),
        },
    )


def test_parameter_groups_load_pg_cron_for_the_heartbeat(
    primary: Template, dr_database: Template
) -> None:
    """Both load it: the replica must run the heartbeat job as soon as it is promoted."""
    from crm_platform.database.heartbeat import HEARTBEAT_DATABASE

    for template in (primary, dr_database):
        template.has_resource_properties(
            "AWS::RDS::DBParameterGroup",
            {
                "Parameters": Match.object_like(
                    {
                        "shared_preload_libraries": "pg_cron",
                        "cron.database_name": HEARTBEAT_DATABASE,
                    }
                )
            },
        )


def test_heartbeat_setup_is_idempotent_and_writes_every_interval() -> None:
    from crm_platform.database import heartbeat

    sql = heartbeat.SETUP_SQL
    assert "CREATE EXTENSION IF NOT EXISTS pg_cron" in sql
    assert "CREATE TABLE IF NOT EXISTS" in sql
    assert "ON CONFLICT (id) DO UPDATE" in sql  # an upsert: one row, rewritten each beat
    assert f"cron.schedule('{heartbeat.HEARTBEAT_JOB}', '* * * * *'" in sql  # named: re-runs update
    assert heartbeat.INTERVAL_SECONDS * 2 == heartbeat.MIN_RPO_SECONDS


def test_replica_lag_threshold_follows_a_non_default_objective(
    prod_settings: Settings, tmp_path: Path
) -> None:
    """Build the DR database stack with another objective: the alarm must move with it."""
    from crm_platform.app import compose, new_app

    settings = prod_settings.model_copy(
        update={"dr": prod_settings.dr.model_copy(update={"rpo_seconds": 900})}
    )
    app = new_app(str(tmp_path))
    stacks = compose(app, settings)
    lag = Template.from_stack(stacks["dr_database"])
    lag.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ReplicaLag", "Threshold": 900}
    )


def test_rotation_never_generates_a_url_special_character(primary: Template) -> None:
    """Twenty splits PG_DATABASE_URL unencoded: every non-alphanumeric character is excluded."""
    import string

    (schedule,) = primary.find_resources("AWS::SecretsManager::RotationSchedule").values()
    excluded = set(schedule["Properties"]["HostedRotationLambda"]["ExcludeCharacters"])
    printable = set(string.printable) - set(string.whitespace) | {" "}
    alphabet = printable - excluded
    assert alphabet == set(string.ascii_letters + string.digits)
    for special in "@/:?#[]%&=+ ":
        assert special in excluded, special
