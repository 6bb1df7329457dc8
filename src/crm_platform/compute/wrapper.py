"""The small wrapper that runs before Twenty's own entrypoint in every task.

Twenty wants ``PG_DATABASE_URL`` and ``REDIS_URL`` as single strings, but the password
rotates in Secrets Manager and a second copy of it (a composed URL kept in another
secret) could drift. So ECS injects the secret's *fields* (``PG_USER``, ``PG_PASSWORD``,
``REDIS_TOKEN``) next to plain settings (``PG_HOST`` ...), and this script composes the
URLs at task start, then ``exec``s the image's entrypoint with the original command:

1. use the RDS certificate bundle baked into the image at a fixed path
   (contracts.RDS_CA_BUNDLE_PATH): the publish build derives the image we run from the
   pinned release and adds AWS's bundle of every region's RDS CAs, fetched afresh by each
   publish (release/publish.py, docs/adr/0039), so a task start needs no internet and no
   public endpoint. The database forces TLS and the connection verifies the server
   against this bundle: ``PGSSLMODE=verify-full`` with ``PGSSLROOTCERT`` for ``psql``
   (Twenty's entrypoint), and ``NODE_EXTRA_CA_CERTS`` for node-postgres, which reads
   ``PGSSLMODE`` because Twenty sets no ``ssl`` option unless ``PG_SSL_ALLOW_SELF_SIGNED``
   is on (it never is here). An image without the bundle (not published by this
   project) stops the task at once, saying so;
2. compose the URLs without encoding: Twenty's entrypoint hands the URL to ``psql`` and
   the password alphabet is alphanumeric by construction (security/secrets.py), so
   nothing needs escaping; no query string is added, because older entrypoints split the
   URL with awk and would take ``?sslmode=...`` for part of the database name;
3. ``exec /app/entrypoint.sh "$@"``: migrations (unless ``DISABLE_DB_MIGRATIONS``), cron
   registration (unless ``DISABLE_CRON_JOBS_REGISTRATION``), then the command.

No task start touches the database as anyone but Twenty's own user (``PG_USER`` is the
application user, database/app_user.py): the replication heartbeat, the extensions and
the application user itself are set up once, by the master, in the ``bootstrap`` task
(:func:`bootstrap_entry_point`), which the deploy runs and no service ever does.

The migration task (and only it: its task definition sets ``CRM_MIGRATION_VERDICT``,
compute/task.py) does not ``exec`` in step 3: its exit code alone cannot
say whether the upgrade completed, because older Twenty entrypoints catch a failed
``upgrade``, print "Warning: Upgrade completed with errors" and carry on to exit 0, and
the upgrade command itself logs "Upgrade failed: ..." / ``event=aborted`` and a summary
"Upgrade summary: N workspace(s) succeeded, M workspace(s) failed" before its caller
decides what to do with it (/tmp/research/twenty-facts.md, section 3; which variant
v2.45.6 ships is assumed, verify on staging). So the migration wrapper runs the
entrypoint as a child, copies its output to the task's log as it comes (``tee``) and to a
file in ``/tmp``, then judges: a non-zero exit code, or any of those messages with M > 0,
is a failed migration (non-zero exit, a ``failed`` verdict line); otherwise it prints the
``completed`` verdict line, which the migrate step (release/migration.py) requires to
find in the task's log before it records the release.

The task definition runs it as ``sh -c WRAPPER crm-wrapper <command...>``.
"""

from __future__ import annotations

from crm_platform.contracts import RDS_CA_BUNDLE_PATH

IMAGE_ENTRYPOINT = "/app/entrypoint.sh"  # Twenty's image: ENTRYPOINT ["/app/entrypoint.sh"]
CA_BUNDLE_PATH = RDS_CA_BUNDLE_PATH  # baked into the image by the publish build
SCRIPT_NAME = "crm-wrapper"  # $0 of the script, shown in process listings
MIGRATION_OUTPUT_PATH = "/tmp/crm-migration.log"  # noqa: S108 - the task's own /tmp volume
# Set (to "1") in the migration task's environment only: the one script judges there.
MIGRATION_SWITCH = "CRM_MIGRATION_VERDICT"

# What Twenty prints when an upgrade did not complete (twenty-facts.md, section 3): the
# older entrypoints' warning after a failed `upgrade` (they exit 0 anyway), and the
# upgrade command's own error and abort event. Matched as fixed strings.
UPGRADE_FAILED_PATTERNS = ("Upgrade completed with errors", "Upgrade failed", "event=aborted")
# The upgrade command's summary, "Upgrade summary: N workspace(s) succeeded, M
# workspace(s) failed": a failure when M > 0 (an extended regular expression).
WORKSPACES_FAILED_ERE = r"(^|[^0-9])[1-9][0-9]* workspace\(s\) failed"
VERDICT = "crm-platform: migration verdict:"  # the line the migrate step looks for
VERDICT_COMPLETED = f"{VERDICT} completed"
VERDICT_FAILED = f"{VERDICT} failed"
# The wrapper's exit code when Twenty exited 0 but reported a failed upgrade
# (EX_SOFTWARE): ECS reports it as the container's exit code.
REPORTED_FAILURE_EXIT = 70


# Step 1, shared by every task (the bundle's path may be overridden: tests).
_CERTIFICATES = f"""\
CA="${{RDS_CA_BUNDLE_PATH:-{CA_BUNDLE_PATH}}}"
if ! grep -q "BEGIN CERTIFICATE" "$CA" 2>/dev/null; then
  echo "crm-platform: no RDS certificate bundle at $CA: run an image published by \
crm-platform (docs/adr/0039)" >&2
  exit 1
fi
export PGSSLMODE=verify-full PGSSLROOTCERT="$CA" NODE_EXTRA_CA_CERTS="$CA"
"""

WRAPPER = f"""\
set -eu
: "${{PG_HOST:?}}" "${{PG_PORT:?}}" "${{PG_DATABASE:?}}" "${{PG_USER:?}}" "${{PG_PASSWORD:?}}"
: "${{REDIS_HOST:?}}" "${{REDIS_PORT:?}}" "${{REDIS_TOKEN:?}}"
{_CERTIFICATES}\
export PG_DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DATABASE"
export REDIS_URL="rediss://:$REDIS_TOKEN@$REDIS_HOST:$REDIS_PORT"
unset PG_PASSWORD REDIS_TOKEN
"""

# Step 3: every task but the migration hands the process over to Twenty. The migration
# runs the entrypoint as a child (set -e must not stop the script before it records the
# exit code, hence `|| code=$?`), keeps its output and judges it.
_JUDGE = "".join(f' -e "{p}"' for p in UPGRADE_FAILED_PATTERNS)
_STEP_3 = f"""\
if [ -z "${{{MIGRATION_SWITCH}:-}}" ]; then
  exec "${{TWENTY_ENTRYPOINT:-{IMAGE_ENTRYPOINT}}}" "$@"
fi
OUT="${{MIGRATION_OUTPUT_PATH:-{MIGRATION_OUTPUT_PATH}}}"
: > "$OUT"
{{ code=0; "${{TWENTY_ENTRYPOINT:-{IMAGE_ENTRYPOINT}}}" "$@" 2>&1 || code=$?; \\
  echo "$code" > "$OUT.code"; }} | tee -a "$OUT"
code="$(cat "$OUT.code" 2>/dev/null || echo 255)"
reported=""
if grep -F -q{_JUDGE} "$OUT" || grep -E -q '{WORKSPACES_FAILED_ERE}' "$OUT"; then
  reported=yes
fi
rm -f "$OUT" "$OUT.code"
if [ "$code" != 0 ]; then
  echo "{VERDICT_FAILED} (Twenty's entrypoint exited with $code)"
  exit "$code"
fi
if [ -n "$reported" ]; then
  echo "{VERDICT_FAILED} (Twenty exited 0 but reported an upgrade that did not complete)"
  exit {REPORTED_FAILURE_EXIT}
fi
echo "{VERDICT_COMPLETED}"
"""


def entry_point() -> list[str]:
    """The container's entryPoint; the task's command becomes the script's arguments.

    One script for every task: with ``MIGRATION_SWITCH`` set in its environment (the
    migration task) it judges what Twenty reported instead of handing the process over
    (see the module's docstring).
    """
    return ["/bin/sh", "-c", WRAPPER + _STEP_3, SCRIPT_NAME]


# --- the bootstrap task: the master's one-off setup (database/app_user.py, heartbeat.py) ---
# Set in the bootstrap task's environment only: the SQL each database receives.
BOOTSTRAP_SQL_VARIABLE = "BOOTSTRAP_SQL"
HEARTBEAT_SQL_VARIABLE = "HEARTBEAT_SETUP_SQL"
BOOTSTRAP_DONE = "crm-platform: database bootstrap completed"


def bootstrap_entry_point(password_variable: str) -> list[str]:
    """The ``bootstrap`` task's whole program: as the master (``MASTER_USER`` and
    ``MASTER_PASSWORD``, which only this task's execution role may read), run
    ``BOOTSTRAP_SQL`` in Twenty's database with the application user's password (its
    secret's ``PG_PASSWORD``) in the psql variable ``password_variable``, then
    ``HEARTBEAT_SETUP_SQL`` in ``HEARTBEAT_DATABASE``; TLS verified as every task does.

    Any failure fails the task (``ON_ERROR_STOP``, ``set -e``): the deploy that runs it
    stops there and the services keep the revision they run. The passwords reach psql in
    its environment (``PGPASSWORD``) and its standard input (a ``\\set`` line; the password
    is alphanumeric by construction, which the script checks), never a command line;
    Twenty's own entrypoint is not started at all.
    """
    script = f"""\
set -eu
: "${{PG_HOST:?}}" "${{PG_PORT:?}}" "${{PG_DATABASE:?}}" "${{PG_PASSWORD:?}}"
: "${{MASTER_USER:?}}" "${{MASTER_PASSWORD:?}}" "${{HEARTBEAT_DATABASE:?}}"
: "${{{BOOTSTRAP_SQL_VARIABLE}:?}}" "${{{HEARTBEAT_SQL_VARIABLE}:?}}"
{_CERTIFICATES}\
case "$PG_PASSWORD" in
  *[!A-Za-z0-9]*) echo "crm-platform: the application password is not alphanumeric" >&2; exit 1;;
esac
APP_PASSWORD="$PG_PASSWORD"
export PGPASSWORD="$MASTER_PASSWORD" PGHOST="$PG_HOST" PGPORT="$PG_PORT" PGUSER="$MASTER_USER"
unset PG_PASSWORD MASTER_PASSWORD
{{ printf "\\\\\\\\set {password_variable} '%s'\\n" "$APP_PASSWORD"; \\
  printf '%s\\n' "${BOOTSTRAP_SQL_VARIABLE}"; }} \\
  | psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --dbname "$PG_DATABASE"
echo "crm-platform: application user, ownership and extensions in $PG_DATABASE"
printf '%s\\n' "${HEARTBEAT_SQL_VARIABLE}" | psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 \\
  --dbname "$HEARTBEAT_DATABASE" >/dev/null
echo "crm-platform: replication heartbeat in $HEARTBEAT_DATABASE"
echo "{BOOTSTRAP_DONE}"
"""
    return ["/bin/sh", "-c", script, f"{SCRIPT_NAME}-bootstrap"]


# --- the SQL task: one named purpose, Twenty's own login (compute/sql_task.py) ----------
SQL_RESULT_MARKER = "crm-platform: sql"  # contracts.SQL_RESULT_MARKER, checked by tests
SQL_WRITE_PROBE_TABLE = "crm_platform_write_probe"

# Each purpose's SQL, run by psql with ON_ERROR_STOP; the result is one JSON object.
# The write probe leaves nothing: a temporary table in a transaction rolled back. A hot
# standby refuses it ("cannot execute CREATE TABLE in a read-only transaction"; the
# PostgreSQL docs' Hot Standby chapter: DDL is refused "even to temporary tables").
SQL_PURPOSES: dict[str, dict[str, str]] = {
    "writable": {
        "database": "PG_DATABASE",
        "probe": f"BEGIN;\nCREATE TEMP TABLE {SQL_WRITE_PROBE_TABLE} (probe int);\nROLLBACK;",
        "result": (
            "SELECT json_build_object('in_recovery', pg_is_in_recovery(), 'write', :'write');"
        ),
    },
    "last-beat": {
        "database": "HEARTBEAT_DATABASE",
        "probe": "",
        "result": (
            "SELECT json_build_object("
            "'beat_at', (SELECT extract(epoch FROM beat_at)::float8 FROM crm_platform.heartbeat"
            " WHERE id = 1), "
            "'in_recovery', pg_is_in_recovery(), "
            "'now', extract(epoch FROM clock_timestamp())::float8);"
        ),
    },
}


def _sql_case(purpose: str, sql: dict[str, str]) -> str:
    """One ``case`` branch: the optional write probe (its outcome in ``$write``), then
    the result query, whose one line is printed after the marker."""
    probe = ""
    if sql["probe"]:
        probe = f"""\
    if out="$(q --dbname "${sql["database"]}" 2>&1 <<'CRM_SQL'
{sql["probe"]}
CRM_SQL
)"; then write=ok; else
      write="error: $(printf '%s\\n' "$out" | grep -m1 ERROR || printf '%s\\n' "$out" | head -n1)"
    fi
"""
    return f"""\
  {purpose})
{probe}\
    result="$(q --dbname "${sql["database"]}" -v write="$write" <<'CRM_SQL'
{sql["result"]}
CRM_SQL
)"
    ;;
"""


def sql_entry_point() -> list[str]:
    """The SQL task's whole program: the purpose (its command, the only thing a caller
    chooses) picks SQL written here, never sent by the caller; ECS cannot override an
    entry point. It logs in as Twenty's own user (``PG_USER``/``PG_PASSWORD``, the
    application user's secret), TLS verified as every task does, and prints exactly one
    line, ``crm-platform: sql <purpose>: <json>``, which the failover reads back from the
    task's log (failover/runtime/sql_task.py). Any other failure fails the task
    (non-zero exit), and the caller starts another.
    """
    cases = "".join(_sql_case(p, sql) for p, sql in SQL_PURPOSES.items())
    script = f"""\
set -eu
: "${{PG_HOST:?}}" "${{PG_PORT:?}}" "${{PG_DATABASE:?}}" "${{PG_USER:?}}" "${{PG_PASSWORD:?}}"
: "${{HEARTBEAT_DATABASE:?}}"
{_CERTIFICATES}\
export PGHOST="$PG_HOST" PGPORT="$PG_PORT" PGUSER="$PG_USER" PGPASSWORD="$PG_PASSWORD"
export PGCONNECT_TIMEOUT=15 PGAPPNAME=crm-platform-sql
unset PG_PASSWORD
q() {{ psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 "$@"; }}
purpose="${{1:-}}"
write=""
case "$purpose" in
{cases}\
  *)
    echo "crm-platform: sql: unknown purpose '$purpose'" >&2
    exit 2
    ;;
esac
echo "{SQL_RESULT_MARKER} $purpose: $result"
"""
    return ["/bin/sh", "-c", script, f"{SCRIPT_NAME}-sql"]
