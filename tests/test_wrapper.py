"""The task wrapper, run for real under /bin/sh with stand-ins for psql and Twenty (and
for curl and wget, which it must never call: the certificate bundle is in the image)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crm_platform.compute import wrapper
from crm_platform.compute.wrapper import entry_point
from crm_platform.contracts import RDS_CA_BUNDLE_PATH
from crm_platform.release import publish

BASE = {
    "PG_HOST": "db.example.internal",
    "PG_PORT": "5432",
    "PG_DATABASE": "twenty",
    "PG_USER": "twenty_app",
    "PG_PASSWORD": "Abc123xyz",
    "REDIS_HOST": "cache.example.internal",
    "REDIS_PORT": "6379",
    "REDIS_TOKEN": "Tok3n",
}
PEM = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    # The bundle the publish build bakes into the image (release/publish.py).
    (tmp_path / "ca.pem").write_text(PEM)
    # Any download at a task start is a defect (issue 18, item 3): they only log a call.
    for tool in ("curl", "wget"):
        stub(
            folder,
            tool,
            f'echo "$@" >> "$LOG_DIR/downloads"; echo {tool} >> "$LOG_DIR/downloads"\n',
        )
    stub(folder, "psql", 'cat > "$LOG_DIR/psql.sql"; echo "$@" > "$LOG_DIR/psql.args"\n')
    # Twenty's entrypoint: print what it was given, as the real one would hand it on.
    stub(
        folder,
        "entrypoint",
        'env | sort > "$LOG_DIR/env"; echo "$@" > "$LOG_DIR/argv"\n',
    )
    return folder


def run(bin_dir: Path, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LOG_DIR": str(tmp_path),
        "TWENTY_ENTRYPOINT": str(bin_dir / "entrypoint"),
        "RDS_CA_BUNDLE_PATH": str(tmp_path / "ca.pem"),
        **BASE,
        **extra,
    }
    return subprocess.run(
        [*entry_point(), "node", "dist/main"], env=env, capture_output=True, text=True, check=False
    )


def environment(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_urls_are_composed_from_the_secret_fields_and_tls_verifies(
    bin_dir: Path, tmp_path: Path
) -> None:
    done = run(bin_dir, tmp_path)
    assert done.returncode == 0, done.stderr
    env = environment(tmp_path)
    assert (
        env["PG_DATABASE_URL"] == "postgres://twenty_app:Abc123xyz@db.example.internal:5432/twenty"
    )
    assert env["REDIS_URL"] == "rediss://:Tok3n@cache.example.internal:6379"
    assert env["PGSSLMODE"] == "verify-full"
    assert env["PGSSLROOTCERT"] == env["NODE_EXTRA_CA_CERTS"] == str(tmp_path / "ca.pem")
    assert not (tmp_path / "downloads").exists()
    # The image's command is handed on untouched; the raw secrets are not.
    assert (tmp_path / "argv").read_text().strip() == "node dist/main"
    assert "PG_PASSWORD" not in env and "REDIS_TOKEN" not in env
    assert "?" not in env["PG_DATABASE_URL"]  # older entrypoints split the URL with awk


def test_no_task_start_touches_the_database(bin_dir: Path, tmp_path: Path) -> None:
    """On main the primary's server installed the pg_cron heartbeat as the master at every
    start (``HEARTBEAT_SETUP_SQL``). Now nothing at a start runs SQL, even when a stale
    task definition still carries it: the bootstrap task does it once (issue 18, item 9)."""
    done = run(bin_dir, tmp_path, HEARTBEAT_SETUP_SQL="SELECT 1;")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "psql.sql").exists()
    assert "heartbeat" not in done.stdout
    assert (tmp_path / "argv").read_text().strip() == "node dist/main"


@pytest.mark.parametrize("missing", ["PG_PASSWORD", "REDIS_TOKEN", "PG_HOST"])
def test_a_missing_input_stops_before_twenty_starts(
    bin_dir: Path, tmp_path: Path, missing: str
) -> None:
    done = run(bin_dir, tmp_path, **{missing: ""})
    assert done.returncode != 0
    assert not (tmp_path / "argv").exists()


def test_no_task_start_downloads_anything(bin_dir: Path, tmp_path: Path) -> None:
    """On main every task fetched the RDS bundle from the internet at start (issue 18,
    item 3). Now the server, worker, migration and bootstrap tasks read the bundle baked
    into the image at its fixed path, and call no download tool."""
    assert run(bin_dir, tmp_path).returncode == 0
    assert migrate(bin_dir, tmp_path, CLEAN).returncode == 0
    assert bootstrap(bin_dir, tmp_path).returncode == 0
    assert not (tmp_path / "downloads").exists()
    scripts = [entry_point()[2], wrapper.bootstrap_entry_point("app_password")[2]]
    for script in scripts:
        assert "curl" not in script and "wget" not in script and "https://" not in script
        assert RDS_CA_BUNDLE_PATH in script


def test_the_default_bundle_path_is_the_one_the_publish_build_bakes() -> None:
    assert wrapper.CA_BUNDLE_PATH == RDS_CA_BUNDLE_PATH
    assert f"COPY {publish.BUNDLE_FILE} {RDS_CA_BUNDLE_PATH}" in publish.DERIVED_DOCKERFILE


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_no_certificate_bundle_no_start(bin_dir: Path, tmp_path: Path, content: str | None) -> None:
    if content is None:
        (tmp_path / "ca.pem").unlink()
    else:
        (tmp_path / "ca.pem").write_text(content)
    done = run(bin_dir, tmp_path)
    assert done.returncode != 0
    assert "no RDS certificate bundle" in done.stderr
    assert not (tmp_path / "argv").exists()


# --- the migration task judges what Twenty reported ---------------------------------------
def migrate(
    bin_dir: Path, tmp_path: Path, output: str, code: int = 0
) -> subprocess.CompletedProcess[str]:
    """The migration wrapper around a stand-in entrypoint that prints ``output`` (as Twenty
    would, on both streams) and exits ``code``."""
    (tmp_path / "twenty-output").write_text(output)
    stub(
        bin_dir,
        "twenty",
        f'cat "$LOG_DIR/twenty-output"; echo "to stderr" >&2; echo "$@" > "$LOG_DIR/argv"\n'
        f"exit {code}\n",
    )
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LOG_DIR": str(tmp_path),
        "TWENTY_ENTRYPOINT": str(bin_dir / "twenty"),
        "RDS_CA_BUNDLE_PATH": str(tmp_path / "ca.pem"),
        "MIGRATION_OUTPUT_PATH": str(tmp_path / "migration.log"),
        wrapper.MIGRATION_SWITCH: "1",
        **BASE,
    }
    return subprocess.run(
        [*entry_point(), "true"], env=env, capture_output=True, text=True, check=False
    )


CLEAN = (
    "Running database upgrade\nUpgrade summary: 3 workspace(s) succeeded, 0 workspace(s) failed\n"
)


def test_a_clean_migration_passes_its_output_on_and_says_so(bin_dir: Path, tmp_path: Path) -> None:
    done = migrate(bin_dir, tmp_path, CLEAN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Upgrade summary: 3 workspace(s) succeeded" in done.stdout
    assert "to stderr" in done.stdout  # one stream for the task's log
    assert done.stdout.rstrip().endswith(wrapper.VERDICT_COMPLETED)
    assert (tmp_path / "argv").read_text().strip() == "true"  # the command is handed on
    assert not (tmp_path / "migration.log").exists()  # its copy of the output is removed


@pytest.mark.parametrize(
    "reported",
    [
        "Warning: Upgrade completed with errors. Some workspaces may not be fully migrated.",
        "[upgrade] Upgrade failed: Query read timeout",
        "[upgrade] event=aborted",
        "Upgrade summary: 8 workspace(s) succeeded, 12 workspace(s) failed",
    ],
)
def test_a_failed_upgrade_that_exits_0_is_a_failed_migration(
    bin_dir: Path, tmp_path: Path, reported: str
) -> None:
    """Older entrypoints warn and exit 0 after a failed `upgrade` (twenty-facts.md, 3)."""
    done = migrate(bin_dir, tmp_path, f"Running database upgrade\n{reported}\n", code=0)
    assert done.returncode == wrapper.REPORTED_FAILURE_EXIT
    assert wrapper.VERDICT_FAILED in done.stdout
    assert wrapper.VERDICT_COMPLETED not in done.stdout


def test_a_non_zero_exit_keeps_its_code_and_says_failed(bin_dir: Path, tmp_path: Path) -> None:
    done = migrate(bin_dir, tmp_path, "Error: Upgrade failed. Refusing to start\n", code=1)
    assert done.returncode == 1
    assert f"{wrapper.VERDICT_FAILED} (Twenty's entrypoint exited with 1)" in done.stdout
    assert wrapper.VERDICT_COMPLETED not in done.stdout


def test_without_the_switch_the_wrapper_hands_over_to_twenty(bin_dir: Path, tmp_path: Path) -> None:
    """The server and worker exec Twenty (its exit code is theirs) and say nothing more,
    even when Twenty's output would fail a migration."""
    stub(bin_dir, "entrypoint", 'echo "Upgrade failed: x"; echo "$@" > "$LOG_DIR/argv"; exit 0\n')
    done = run(bin_dir, tmp_path)
    assert done.returncode == 0
    assert wrapper.VERDICT not in done.stdout
    assert (tmp_path / "argv").read_text().strip() == "node dist/main"


# --- the bootstrap task: the master's one-off setup ----------------------------------------
BOOTSTRAP = {
    "PG_HOST": "db.example.internal",
    "PG_PORT": "5432",
    "PG_DATABASE": "twenty",
    "PG_PASSWORD": "AppPassw0rd",
    "MASTER_USER": "twenty_admin",
    "MASTER_PASSWORD": "MasterPassw0rd",
    "HEARTBEAT_DATABASE": "postgres",
    "BOOTSTRAP_SQL": "SELECT :'app_password';",
    "HEARTBEAT_SETUP_SQL": "SELECT 'beat';",
}


# psql: keep what it reads, its arguments, its login and its environment, one folder a call.
RECORDING_PSQL = (
    'n=$(ls "$LOG_DIR" | grep -c "^psql-call") ; d="$LOG_DIR/psql-call$n"; mkdir "$d"\n'
    'cat > "$d/stdin"; echo "$@" > "$d/args"; echo "$PGUSER $PGPASSWORD $PGHOST" > "$d/login"\n'
    'env > "$d/env"\n'
)


def bootstrap(
    bin_dir: Path, tmp_path: Path, psql: str = RECORDING_PSQL, **extra: str
) -> subprocess.CompletedProcess[str]:
    stub(bin_dir, "psql", psql)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LOG_DIR": str(tmp_path),
        "RDS_CA_BUNDLE_PATH": str(tmp_path / "ca.pem"),
        **BOOTSTRAP,
        **extra,
    }
    return subprocess.run(
        wrapper.bootstrap_entry_point("app_password"),
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_bootstrap_runs_its_sql_as_the_master_with_the_app_password(
    bin_dir: Path, tmp_path: Path
) -> None:
    done = bootstrap(bin_dir, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith(wrapper.BOOTSTRAP_DONE)
    first, second = tmp_path / "psql-call0", tmp_path / "psql-call1"
    # Twenty's database first, with the application user's password as a psql variable
    # on standard input; then the heartbeat in its own database.
    assert (
        first / "stdin"
    ).read_text() == "\\set app_password 'AppPassw0rd'\nSELECT :'app_password';\n"
    assert "--dbname twenty" in (first / "args").read_text()
    assert "--dbname postgres" in (second / "args").read_text()
    assert (second / "stdin").read_text() == "SELECT 'beat';\n"
    for call in (first, second):
        assert (call / "login").read_text().split() == [
            "twenty_admin", "MasterPassw0rd", "db.example.internal",
        ]  # fmt: skip
        assert "ON_ERROR_STOP=1" in (call / "args").read_text()
        # Neither password on a command line, nor left in psql's environment by name.
        assert "Passw0rd" not in (call / "args").read_text()
        environment = (call / "env").read_text()
        assert "MASTER_PASSWORD=" not in environment and "PG_PASSWORD=" not in environment
        assert "PGSSLMODE=verify-full" in environment


def test_a_failed_bootstrap_fails_the_task(bin_dir: Path, tmp_path: Path) -> None:
    """Unlike the heartbeat at a start on main (a warning), a failed setup is a failure:
    the custom resource reports it and the deploy stops before the services move."""
    done = bootstrap(bin_dir, tmp_path, psql="cat > /dev/null; exit 3\n")
    assert done.returncode != 0
    assert wrapper.BOOTSTRAP_DONE not in done.stdout


@pytest.mark.parametrize("missing", ["MASTER_PASSWORD", "PG_PASSWORD", "BOOTSTRAP_SQL"])
def test_the_bootstrap_refuses_missing_inputs(bin_dir: Path, tmp_path: Path, missing: str) -> None:
    done = bootstrap(bin_dir, tmp_path, **{missing: ""})
    assert done.returncode != 0
    assert not (tmp_path / "psql-call0").exists()


def test_the_bootstrap_refuses_a_password_it_cannot_quote(bin_dir: Path, tmp_path: Path) -> None:
    done = bootstrap(bin_dir, tmp_path, PG_PASSWORD="x'; DROP ROLE y; --")
    assert done.returncode != 0
    assert not (tmp_path / "psql-call0").exists()
