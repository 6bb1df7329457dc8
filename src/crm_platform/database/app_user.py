"""Twenty's own database user: what it is, how it is created, and its rotated secret.

Twenty used to log in as the RDS master user, a member of ``rds_superuser``: remote code
execution in the application was then full control of the database (every database,
every role, pg_cron). Twenty needs far less (docs/adr/0033; /tmp/research/twenty-facts.md,
section 5, from Twenty's source):

- ``CREATE`` on its database: it runs ``CREATE SCHEMA IF NOT EXISTS "core"`` and
  ``"public"`` (``packages/twenty-server/src/database/scripts/setup-db.ts``) and one
  ``workspace_<id>`` schema per workspace at run time
  (``engine/workspace-datasource/workspace-schema.service.ts``: ``createSchema``);
- to keep altering what it created (every upgrade alters its own tables and enums), so it
  must *own* those objects: it owns the database, and whatever it creates is its own;
- the extensions ``uuid-ossp``, ``unaccent`` and (newer releases) ``citext``. They are
  "trusted" on PostgreSQL 13 and later, so a database owner could create them itself; the
  master creates them once anyway, as RDS documents for extensions, so Twenty's
  ``CREATE EXTENSION IF NOT EXISTS`` finds them and never needs more than it has.

So the application user ``APP_USERNAME`` is a plain ``LOGIN`` role: not a superuser, no
``CREATEDB``/``CREATEROLE``/``REPLICATION``/``BYPASSRLS``, a member of no role, owner of
Twenty's database. ``BOOTSTRAP_SQL`` (run once by the master, from the ``bootstrap``
task, compute/application.py) creates it with the password of its own secret, hands it
the database, creates the extensions, and hands it whatever of Twenty's the master still
owns (a database that Twenty migrated as the master before this change). It is
idempotent: run again, it changes nothing, and it never resets the password once the
role exists (that is the rotation's job: a reset during a rotation would undo it).
It ends by refusing a role that holds more than it may.

The secret holds ``username`` and ``dbname`` from the start and gets ``host``, ``port`` and
``engine`` from its attachment to the instance: what AWS's hosted single-user rotation
for PostgreSQL reads (it connects as the user to ``dbname``, default ``postgres``, and
changes its own password).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from crm_platform.retention import KEEP
from crm_platform.security.secrets import url_safe_generator

APP_USERNAME = "twenty_app"
# Twenty's setup-db.ts creates these with CREATE EXTENSION IF NOT EXISTS (citext from
# newer releases on); all three are trusted extensions on PostgreSQL 13 and later.
EXTENSIONS = ("uuid-ossp", "unaccent", "citext")
# The psql variable the bootstrap passes the application user's first password in
# (compute/wrapper.py): never part of the SQL text, so never part of a template.
PASSWORD_VARIABLE = "app_password"  # noqa: S105 - a psql variable's name, not a password

# A restore's reset_logins (ops/restore_service.py) appends this to BOOTSTRAP_SQL in a
# one-off run's environment override: the recovery point's role keeps the password it had
# then, and the secret holds the current one (a rotation since). Never part of the deploy's
# run, which must not undo a rotation.
RESET_PASSWORD_SQL = (
    f"SELECT format('ALTER ROLE %I PASSWORD %L', '{APP_USERNAME}', :'{PASSWORD_VARIABLE}') "
    "\\gexec\n"
)

_EXTENSIONS_SQL = "".join(
    f'CREATE EXTENSION IF NOT EXISTS "{name}" WITH SCHEMA public;\n' for name in EXTENSIONS
)

# Built from this module's constants only; the password arrives as a psql variable.
BOOTSTRAP_SQL = f"""\
-- Twenty's own user: created once, with its secret's password; never reset here.
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '{APP_USERNAME}', :'{PASSWORD_VARIABLE}')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_USERNAME}') \\gexec
-- The master may act as it (PostgreSQL 16 and later: ALTER ... OWNER TO needs SET ROLE).
GRANT "{APP_USERNAME}" TO CURRENT_USER;
DO $bootstrap$
BEGIN
  EXECUTE format('ALTER DATABASE %I OWNER TO "{APP_USERNAME}"', current_database());
END
$bootstrap$;
{_EXTENSIONS_SQL}\
-- What the master still owns of Twenty's (a schema migrated as the master before the
-- application user existed) becomes the application user's; extensions stay the master's.
DO $bootstrap$
DECLARE
  found record;
BEGIN
  FOR found IN
    SELECT format('ALTER SCHEMA %I OWNER TO "{APP_USERNAME}"', n.nspname) AS statement
      FROM pg_namespace n
     WHERE pg_get_userbyid(n.nspowner) = current_user
       AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    UNION ALL
    SELECT format('ALTER %s %s OWNER TO "{APP_USERNAME}"',
                  CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                 WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                  c.oid::regclass) AS statement
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE pg_get_userbyid(c.relowner) = current_user
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
       -- a sequence owned by a column moves with its table
       AND NOT EXISTS (SELECT FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
       AND NOT EXISTS (SELECT FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype = 'e')
    UNION ALL
    SELECT format('ALTER ROUTINE %s OWNER TO "{APP_USERNAME}"', p.oid::regprocedure)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE pg_get_userbyid(p.proowner) = current_user AND p.prokind IN ('f', 'p')
       AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
       AND NOT EXISTS (SELECT FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')
    UNION ALL
    SELECT format('ALTER %s %s OWNER TO "{APP_USERNAME}"',
                  CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype)
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE pg_get_userbyid(t.typowner) = current_user
       AND (t.typtype IN ('e', 'd', 'r')
            OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c
                                      WHERE c.oid = t.typrelid) = 'c'))
       AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
       AND NOT EXISTS (SELECT FROM pg_depend d
                        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                          AND d.deptype = 'e')
  LOOP
    EXECUTE found.statement;
  END LOOP;
END
$bootstrap$;
-- Refuse a role that holds more than it may (someone granted it more by hand).
DO $bootstrap$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_USERNAME}'
              AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls))
     OR EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
                 WHERE r.rolname = '{APP_USERNAME}') THEN
    RAISE EXCEPTION '{APP_USERNAME} holds more than Twenty needs (a role attribute or a '
      'membership): revoke it; the application user must not be able to administer the database';
  END IF;
END
$bootstrap$;
"""  # noqa: S608


def app_user_secret(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    database_name: str,
    key: kms.IKey,
    replica_region: str,
    replica_key_alias: str,
) -> sm.Secret:
    """The application user's credentials, generated URL-safe, retained, replicated to DR
    under the DR key's alias (as the master's are: security/secrets.py), so DR's tasks
    read the same password and the failover can make it DR's own."""
    secret = sm.Secret(
        scope,
        construct_id,
        secret_name=name,
        description=(
            f"PostgreSQL credentials Twenty runs with ({APP_USERNAME}: owns the {database_name} "
            "database, nothing else; rotated; URL-safe password)"
        ),
        encryption_key=key,
        generate_secret_string=url_safe_generator(
            32, {"username": APP_USERNAME, "dbname": database_name}
        ),
        replica_regions=[sm.ReplicaRegion(region=replica_region)],
        removal_policy=KEEP,
    )
    cfn = secret.node.default_child
    assert isinstance(cfn, cdk.CfnResource)
    cfn.add_property_override(
        "ReplicaRegions", [{"Region": replica_region, "KmsKeyId": replica_key_alias}]
    )
    return secret
