"""PostgreSQL primary and its cross-region replica."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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


def test_the_heartbeat_setup_lets_twentys_user_read_the_last_beat_only() -> None:
    """The SQL task's last-beat purpose logs in as Twenty's user (docs/adr/0045)."""
    from crm_platform.database import heartbeat
    from crm_platform.database.app_user import APP_USERNAME

    grants = [line for line in heartbeat.SETUP_SQL.splitlines() if line.startswith("GRANT")]
    assert grants == [
        f'GRANT CONNECT ON DATABASE postgres TO "{APP_USERNAME}";',
        f'GRANT USAGE ON SCHEMA crm_platform TO "{APP_USERNAME}";',
        f'GRANT SELECT ON crm_platform.heartbeat TO "{APP_USERNAME}";',
    ]


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

    schedules = [
        s for s in primary.find_resources("AWS::SecretsManager::RotationSchedule").values()
        if "HostedRotationLambda" in s["Properties"]  # the SMTP secret rotates by a function
    ]  # fmt: skip
    assert len(schedules) == 2  # the master's and Twenty's own user's
    for schedule in schedules:
        hosted = schedule["Properties"]["HostedRotationLambda"]
        assert hosted["RotationType"] == "PostgreSQLSingleUser"
        excluded = set(hosted["ExcludeCharacters"])
        printable = set(string.printable) - set(string.whitespace) | {" "}
        alphabet = printable - excluded
        assert alphabet == set(string.ascii_letters + string.digits)
        for special in "@/:?#[]%&=+ ":
            assert special in excluded, special


# --- Twenty's own database user (issue 18, item 9) ------------------------------------------
def _logical(template: Template, kind: str, props: dict[str, Any]) -> str:
    (found,) = template.find_resources(kind, {"Properties": props})
    return found


def test_twenty_has_its_own_secret_replicated_to_dr(primary: Template) -> None:
    """Generated URL-safe with the user and the database; replicated to DR under the DR
    key (the failover makes it DR's own), retained like every secret."""
    from crm_platform.database.app_user import APP_USERNAME

    primary.has_resource(
        "AWS::SecretsManager::Secret",
        {
            "Properties": {
                "Name": "crm/prod/database/app",
                "GenerateSecretString": Match.object_like(
                    {
                        "ExcludePunctuation": True,
                        "GenerateStringKey": "password",
                        "SecretStringTemplate": json.dumps(
                            {"username": APP_USERNAME, "dbname": "twenty"}
                        ),
                    }
                ),
                "ReplicaRegions": [{"Region": "ap-southeast-1", "KmsKeyId": "alias/crm-prod"}],
            },
            "DeletionPolicy": "RetainExceptOnCreate",
        },
    )


def test_twentys_secret_is_attached_and_rotated_single_user(primary: Template) -> None:
    """The attachment writes host, port and engine for the hosted rotation; the rotation
    is single-user (the user changes its own password: no master needed)."""
    secret = _logical(primary, "AWS::SecretsManager::Secret", {"Name": "crm/prod/database/app"})
    instance = _logical(
        primary, "AWS::RDS::DBInstance", {"DBInstanceIdentifier": "crm-prod-postgres"}
    )
    attachment = _logical(
        primary,
        "AWS::SecretsManager::SecretTargetAttachment",
        {"SecretId": {"Ref": secret}},
    )
    primary.has_resource_properties(
        "AWS::SecretsManager::SecretTargetAttachment",
        {"SecretId": {"Ref": secret}, "TargetId": {"Ref": instance},
         "TargetType": "AWS::RDS::DBInstance"},
    )  # fmt: skip
    (schedule,) = primary.find_resources(
        "AWS::SecretsManager::RotationSchedule",
        {
            "Properties": {
                "SecretId": {"Ref": attachment},
                "HostedRotationLambda": Match.object_like({"RotationType": "PostgreSQLSingleUser"}),
            }
        },
    ).values()
    # A new schedule rotates at once: only after the bootstrap created the user.
    (bootstrap,) = primary.find_resources("Custom::DatabaseBootstrap")
    assert bootstrap in schedule["DependsOn"]


def test_the_rotation_roll_follows_twentys_secret(primary: Template) -> None:
    """On main the roll followed the master's secret, which no task reads any more."""
    secret = _logical(primary, "AWS::SecretsManager::Secret", {"Name": "crm/prod/database/app"})
    (rule,) = primary.find_resources(
        "AWS::Events::Rule",
        {"Properties": {"EventPattern": {"detail-type": ["Secret Label Updated"]}}},
    ).values()
    assert rule["Properties"]["EventPattern"]["resources"] == [{"Ref": secret}]
    (function,) = primary.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "roll_services.handler"}}
    ).values()
    targets = json.loads(function["Properties"]["Environment"]["Variables"]["TARGETS"])
    assert targets["secret"] == "crm/prod/database/app"


def test_bootstrap_sql_creates_the_user_once_and_never_resets_its_password() -> None:
    from crm_platform.database import app_user

    sql = app_user.BOOTSTRAP_SQL
    # Created only when missing, with the password from a psql variable (never in text).
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'twenty_app') \\gexec" in sql
    assert f":'{app_user.PASSWORD_VARIABLE}'" in sql
    assert "ALTER ROLE" not in sql.upper().replace("ALTER ROUTINE", "")
    assert "PASSWORD %L" in sql and sql.count("PASSWORD") == 1
    # It owns its database; the master creates the trusted extensions it needs.
    assert 'ALTER DATABASE %I OWNER TO "twenty_app"\', current_database()' in sql
    for extension in ("uuid-ossp", "unaccent", "citext"):
        assert f'CREATE EXTENSION IF NOT EXISTS "{extension}" WITH SCHEMA public;' in sql
    # Nothing of the master's powers is handed over.
    for grant in ("SUPERUSER", "CREATEDB", "CREATEROLE", "rds_superuser", "BYPASSRLS"):
        assert f"GRANT {grant}" not in sql.upper() and f"WITH {grant}" not in sql.upper()
    assert "RAISE EXCEPTION 'twenty_app holds more than Twenty needs" in sql


# A real PostgreSQL (15, from the machine) stands in for RDS: a master with CREATEDB and
# CREATEROLE but no superuser, owner of Twenty's database, as RDS creates it.
def _pg_bin() -> Path | None:
    for candidate in [
        shutil.which("initdb"),
        *sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    ]:
        if candidate:
            return Path(candidate).resolve().parent
    return None


class Postgres:
    """A throwaway cluster on a local TCP port, passwords checked (scram-sha-256)."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin, self.folder = bin_dir, folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        (folder / "pw").write_text("SuperPw\n")
        self._run([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                   "--auth-local=trust", "--auth-host=scram-sha-256",
                   f"--pwfile={folder / 'pw'}"])  # fmt: skip
        self._run([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-w", "-l",
                   str(folder / "log"), "-o",
                   f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1", "start"])  # fmt: skip
        self.psql("postgres", "SuperPw", "postgres",
                  "CREATE ROLE twenty_admin LOGIN CREATEDB CREATEROLE PASSWORD 'MasterPw';"
                  "CREATE DATABASE twenty OWNER twenty_admin;")  # fmt: skip

    def _run(self, command: list[str]) -> None:
        subprocess.run([*self.as_postgres, *command], check=True, capture_output=True)

    def psql(
        self, user: str, password: str, database: str, sql: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin / "psql"), "--no-psqlrc", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", database],
            input=sql, text=True, capture_output=True, check=False,
            env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
        )  # fmt: skip
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def bootstrap(
        self,
        app_password: str = "AppPw1",  # noqa: S107 - a throwaway cluster
        extra: str = "",
    ) -> subprocess.CompletedProcess[str]:
        """As the bootstrap task runs it (compute/wrapper.py): a \\set line, then the SQL
        (``extra`` appended: a restore's override, ops/restore_service.py reset_logins)."""
        from crm_platform.database.app_user import BOOTSTRAP_SQL, PASSWORD_VARIABLE

        stdin = f"\\set {PASSWORD_VARIABLE} '{app_password}'\n{BOOTSTRAP_SQL}{extra}"
        return self.psql("twenty_admin", "MasterPw", "twenty", stdin, check=False)

    def stop(self) -> None:
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                   "stop"])  # fmt: skip


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    bin_dir = _pg_bin()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries on this machine")
    folder = Path(tempfile.mkdtemp(prefix="crm-pg-", dir="/tmp"))
    folder.chmod(0o777)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    server = Postgres(bin_dir, folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


TWENTY_AT_WORK = """
CREATE SCHEMA IF NOT EXISTS "public";
CREATE SCHEMA IF NOT EXISTS "core";
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS "unaccent";
CREATE EXTENSION IF NOT EXISTS "citext";
CREATE OR REPLACE FUNCTION public.unaccent_immutable(input text) RETURNS text LANGUAGE sql
  IMMUTABLE AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, input) $$;
CREATE TABLE IF NOT EXISTS core.workspace (id uuid DEFAULT uuid_generate_v4() PRIMARY KEY);
CREATE SCHEMA workspace_1a2b3c;
CREATE TYPE workspace_1a2b3c.stage AS ENUM ('new');
CREATE TABLE workspace_1a2b3c.person (id serial PRIMARY KEY, stage workspace_1a2b3c.stage);
ALTER TYPE workspace_1a2b3c.stage ADD VALUE 'won';
ALTER TABLE workspace_1a2b3c.person ADD COLUMN email citext;
INSERT INTO workspace_1a2b3c.person (stage, email) VALUES ('new', 'Ada@Example.com');
SELECT public.unaccent_immutable('crème');
"""


def test_the_bootstrap_lets_twenty_run_as_its_own_user(postgres: Postgres) -> None:
    """Run twice (idempotent); then Twenty's own user does what Twenty's setup, upgrades
    and new workspaces do, and cannot do what only an administrator may."""
    for _ in range(2):
        done = postgres.bootstrap()
        assert done.returncode == 0, done.stderr
    assert postgres.psql("twenty_app", "AppPw1", "twenty", TWENTY_AT_WORK).stdout.strip() == "creme"
    owner = postgres.psql(
        "postgres", "SuperPw", "postgres",
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'twenty';",
    ).stdout.strip()  # fmt: skip
    assert owner == "twenty_app"
    for forbidden in (
        "CREATE DATABASE other;",
        "CREATE ROLE other;",
        "ALTER ROLE twenty_app CREATEDB;",
        "GRANT twenty_admin TO twenty_app;",
    ):
        refused = postgres.psql("twenty_app", "AppPw1", "twenty", forbidden, check=False)
        assert refused.returncode != 0, forbidden  # fmt: skip


def test_the_bootstrap_hands_over_what_twenty_created_as_the_master(postgres: Postgres) -> None:
    """A platform migrated as the master (main): its schemas, tables, sequences, views,
    enums and functions become the application user's, so upgrades can alter them."""
    postgres.psql("twenty_admin", "MasterPw", "twenty", """
        CREATE SCHEMA core;
        CREATE TABLE core."user" (id serial PRIMARY KEY, n int GENERATED ALWAYS AS IDENTITY);
        CREATE TYPE core.role AS ENUM ('admin');
        CREATE VIEW core.users AS SELECT id FROM core."user";
        CREATE SEQUENCE core.numbers;
        CREATE EXTENSION unaccent;
        CREATE FUNCTION public.unaccent_immutable(input text) RETURNS text LANGUAGE sql
          IMMUTABLE AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, input) $$;
        CREATE SCHEMA workspace_x;
        CREATE TABLE workspace_x.company (id uuid, role core.role);
    """)  # fmt: skip
    assert postgres.bootstrap().returncode == 0
    postgres.psql("twenty_app", "AppPw1", "twenty", """
        ALTER TABLE core."user" ADD COLUMN email text;
        ALTER TYPE core.role ADD VALUE 'member';
        DROP VIEW core.users;
        SELECT nextval('core.numbers');
        INSERT INTO core."user" DEFAULT VALUES;
        ALTER TABLE workspace_x.company ADD COLUMN name text;
        CREATE OR REPLACE FUNCTION public.unaccent_immutable(input text) RETURNS text
          LANGUAGE sql IMMUTABLE AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, input) $$;
        DROP SCHEMA workspace_x CASCADE;
    """)  # fmt: skip
    left = postgres.psql("postgres", "SuperPw", "twenty", """
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE pg_get_userbyid(c.relowner) = 'twenty_admin' AND n.nspname = 'core';
    """).stdout.strip()  # fmt: skip
    assert left == "0"


def test_the_bootstrap_never_resets_a_rotated_password(postgres: Postgres) -> None:
    assert postgres.bootstrap("AppPw1").returncode == 0
    # The rotation (single user) changes the user's own password ...
    postgres.psql("twenty_app", "AppPw1", "twenty", "ALTER USER twenty_app WITH PASSWORD 'AppPw2';")
    # ... and a later bootstrap with the secret's old value leaves it alone.
    assert postgres.bootstrap("AppPw1").returncode == 0
    assert postgres.psql("twenty_app", "AppPw2", "twenty", "SELECT 1;").stdout.strip() == "1"
    assert postgres.psql("twenty_app", "AppPw1", "twenty", "SELECT 1;", check=False).returncode


def test_a_restores_bootstrap_sets_the_secrets_password(postgres: Postgres) -> None:
    """reset_logins: the recovery point's role has an old password; the bootstrap with
    RESET_PASSWORD_SQL appended sets the secret's current one (and stays idempotent)."""
    from crm_platform.database.app_user import RESET_PASSWORD_SQL

    assert postgres.bootstrap("AppPw1").returncode == 0  # the recovery point's password
    for _ in range(2):
        done = postgres.bootstrap("AppPw3", RESET_PASSWORD_SQL)  # the secret's, rotated since
        assert done.returncode == 0, done.stderr
    assert postgres.psql("twenty_app", "AppPw3", "twenty", "SELECT 1;").stdout.strip() == "1"
    assert postgres.psql("twenty_app", "AppPw1", "twenty", "SELECT 1;", check=False).returncode


def test_the_bootstrap_refuses_a_user_that_holds_more(postgres: Postgres) -> None:
    assert postgres.bootstrap().returncode == 0
    postgres.psql("postgres", "SuperPw", "postgres", "GRANT pg_read_all_data TO twenty_app;")
    refused = postgres.bootstrap()
    assert refused.returncode != 0 and "holds more than Twenty needs" in refused.stderr
