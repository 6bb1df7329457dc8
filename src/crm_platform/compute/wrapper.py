"""The small wrapper that runs before Twenty's own entrypoint in every task.

Twenty wants ``PG_DATABASE_URL`` and ``REDIS_URL`` as single strings, but the password
rotates in Secrets Manager and a second copy of it (a composed URL kept in another
secret) could drift. So ECS injects the secret's *fields* (``PG_USER``, ``PG_PASSWORD``,
``REDIS_TOKEN``) next to plain settings (``PG_HOST`` ...), and this script composes the
URLs at task start, then ``exec``s the image's entrypoint with the original command:

1. fetch the region's RDS certificate bundle from AWS's trust store over HTTPS (curl,
   which the image ships) into the task's writable ``/tmp``; the database forces TLS and
   the connection verifies the server against this bundle: ``PGSSLMODE=verify-full``
   with ``PGSSLROOTCERT`` for ``psql`` (Twenty's entrypoint), and ``NODE_EXTRA_CA_CERTS``
   for node-postgres, which reads ``PGSSLMODE`` because Twenty sets no ``ssl`` option
   unless ``PG_SSL_ALLOW_SELF_SIGNED`` is on (it never is here). Fetching at start rather
   than baking a copy in keeps up with AWS's CA rotations; a task that cannot fetch it
   exits and ECS starts another;
2. compose the URLs without encoding: Twenty's entrypoint hands the URL to ``psql`` and
   the password alphabet is alphanumeric by construction (security/secrets.py), so
   nothing needs escaping; no query string is added, because older entrypoints split the
   URL with awk and would take ``?sslmode=...`` for part of the database name;
3. on the primary's server only (``HEARTBEAT_SETUP_SQL`` set), install the replication
   heartbeat (database/heartbeat.py); a failure is logged, never fatal: the application
   matters more than the lag signal;
4. ``exec /app/entrypoint.sh "$@"``: migrations (unless ``DISABLE_DB_MIGRATIONS``), cron
   registration (unless ``DISABLE_CRON_JOBS_REGISTRATION``), then the command.

The task definition runs it as ``sh -c WRAPPER crm-wrapper <command...>``.
"""

from __future__ import annotations

IMAGE_ENTRYPOINT = "/app/entrypoint.sh"  # Twenty's image: ENTRYPOINT ["/app/entrypoint.sh"]
CA_BUNDLE_PATH = "/tmp/rds-ca-bundle.pem"  # noqa: S108 - the task's own ephemeral volume
SCRIPT_NAME = "crm-wrapper"  # $0 of the script, shown in process listings


def rds_ca_bundle_url(region: str) -> str:
    """AWS's published certificate bundle for RDS in ``region``."""
    return f"https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"


# Both paths may be overridden from the environment (tests, derived images).
WRAPPER = f"""\
set -eu
CA="${{RDS_CA_BUNDLE_PATH:-{CA_BUNDLE_PATH}}}"
: "${{PG_HOST:?}}" "${{PG_PORT:?}}" "${{PG_DATABASE:?}}" "${{PG_USER:?}}" "${{PG_PASSWORD:?}}"
: "${{REDIS_HOST:?}}" "${{REDIS_PORT:?}}" "${{REDIS_TOKEN:?}}" "${{RDS_CA_BUNDLE_URL:?}}"
curl --fail --silent --show-error --retry 5 --retry-all-errors --max-time 30 \\
  --output "$CA" "$RDS_CA_BUNDLE_URL"
grep -q "BEGIN CERTIFICATE" "$CA"
export PGSSLMODE=verify-full PGSSLROOTCERT="$CA" NODE_EXTRA_CA_CERTS="$CA"
export PG_DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DATABASE"
export REDIS_URL="rediss://:$REDIS_TOKEN@$REDIS_HOST:$REDIS_PORT"
if [ -n "${{HEARTBEAT_SETUP_SQL:-}}" ]; then
  if printf '%s\\n' "$HEARTBEAT_SETUP_SQL" | psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 \\
      "postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$HEARTBEAT_DATABASE" >/dev/null; then
    echo "crm-platform: replication heartbeat installed"
  else
    echo "crm-platform: WARNING replication heartbeat not installed;" \
      "ReplicaLag may rise on an idle database"
  fi
fi
unset PG_PASSWORD REDIS_TOKEN HEARTBEAT_SETUP_SQL
exec "${{TWENTY_ENTRYPOINT:-{IMAGE_ENTRYPOINT}}}" "$@"
"""


def entry_point() -> list[str]:
    """The container's entryPoint; the task's command becomes the script's arguments."""
    return ["/bin/sh", "-c", WRAPPER, SCRIPT_NAME]
