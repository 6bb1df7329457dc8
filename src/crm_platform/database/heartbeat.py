"""A heartbeat write on the primary every minute, so replica lag means something at night.

RDS for PostgreSQL computes ``ReplicaLag`` from the last replayed transaction; with no
transactions on the source a replica reports up to five minutes of lag (RDS switches the
WAL segment every five minutes), so an alarm at the recovery point objective would flap
on every quiet night. A ``pg_cron`` job on the primary upserts one row every minute: the
replayed-transaction clock then never stands still for more than a minute, and an alarm
at ``dr.rpo_seconds`` (at least ``MIN_RPO_SECONDS``) means data really is at risk.

Why pg_cron and not a scheduled function: the database writes its own heartbeat with
nothing else to keep alive, no network path or credentials of its own, and the job is
replicated with the catalog, so after a promotion it simply starts running on the new
primary. The function alternative needs a VPC attachment, a PostgreSQL driver packaged
with it, the master credentials and a route to Secrets Manager, and it stops when its
region is impaired.

The job lives in the ``postgres`` database (``cron.database_name``), away from Twenty's
own schemas. ``SETUP_SQL`` is idempotent and needs ``rds_superuser`` (the master user):
it runs once, as the master, in the bootstrap task the deploy runs (database/bootstrap.py,
compute/wrapper.py's ``bootstrap_entry_point``), never at a task's start: Twenty's own
user may not schedule jobs, and no serving task holds the master's password. Twenty's
user may only read the last beat (``SELECT`` on the one table): the failover's SQL task
reads it there, in either region (docs/adr/0045).
"""

from __future__ import annotations

from crm_platform.database.app_user import APP_USERNAME

HEARTBEAT_DATABASE = "postgres"
HEARTBEAT_JOB = "crm-platform-heartbeat"
INTERVAL_SECONDS = 60
SCHEDULE = "* * * * *"  # every minute (standard cron: the RDS pg_cron docs' form)
# The lag alarm evaluates one-minute maxima; between heartbeats an idle source shows up
# to INTERVAL_SECONDS of lag, so an objective must leave room for two of them.
MIN_RPO_SECONDS = 2 * INTERVAL_SECONDS

# Built from this module's constants only (no input reaches it).
SETUP_SQL = f"""\
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE SCHEMA IF NOT EXISTS crm_platform;
CREATE TABLE IF NOT EXISTS crm_platform.heartbeat
  (id int PRIMARY KEY, beat_at timestamptz NOT NULL);
SELECT cron.schedule('{HEARTBEAT_JOB}', '{SCHEDULE}', $job$
  INSERT INTO crm_platform.heartbeat (id, beat_at) VALUES (1, now())
  ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at
$job$);
-- The SQL task (compute/sql_task.py) reads the last beat as Twenty's own user: that one
-- table, nothing else of the heartbeat's (the job and its schedule stay the master's).
GRANT CONNECT ON DATABASE {HEARTBEAT_DATABASE} TO "{APP_USERNAME}";
GRANT USAGE ON SCHEMA crm_platform TO "{APP_USERNAME}";
GRANT SELECT ON crm_platform.heartbeat TO "{APP_USERNAME}";
"""  # noqa: S608
