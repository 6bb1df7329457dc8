"""Change one protected setting at a time, run the tests that claim to guard it, restore.

Usage: python scripts/mutation_pass.py [--only SUBSTRING]
Prints one table row per mutation (killed = the suite failed, as it must). Each mutation
is an exact text replacement that must occur once in its file; the file is restored
whatever happens. docs/testing.md records the last run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "crm_platform"


@dataclass(frozen=True)
class Mutation:
    what: str
    file: str
    old: str
    new: str
    tests: str


MUTATIONS = [
    # The three that survived the data-tier pass (issue 6, item 5).
    Mutation("replication target in the primary's region", "stacks/primary.py",
             "region=s.regions.dr,\n                kms_key_alias_arn",
             "region=s.regions.primary,\n                kms_key_alias_arn", "tests/test_wiring.py"),
    Mutation("rotation may generate '@' and '/'", "database/construct.py",
             'exclude_characters=string.punctuation + " ",',
             'exclude_characters=string.punctuation.replace("@", "").replace("/", "") + " ",',
             "tests/test_database.py"),
    Mutation("lag threshold hard-coded", "database/replica.py",
             "threshold=rpo_seconds,", "threshold=300,", "tests/test_database.py"),
    # Security-critical settings of the data tier.
    Mutation("attachments SSE-S3 instead of KMS", "storage/construct.py",
             "encryption=s3.BucketEncryption.KMS,", "encryption=s3.BucketEncryption.S3_MANAGED,",
             "tests/test_storage.py"),
    Mutation("database single-AZ", "database/construct.py",
             "multi_az=config.multi_az,", "multi_az=False,", "tests/test_database.py"),
    Mutation("no deletion protection", "database/common.py",
             '"deletion_protection": True,', '"deletion_protection": False,',
             "tests/test_stateful.py"),
    Mutation("cache may evict queued jobs", "cache/construct.py",
             'properties={"maxmemory-policy": "noeviction"},',
             'properties={"maxmemory-policy": "allkeys-lru"},', "tests/test_cache.py"),
    Mutation("database accepts plain text", "database/common.py",
             '"rds.force_ssl": "1",', '"rds.force_ssl": "0",', "tests/test_database.py"),
    Mutation("cache TLS only preferred", "cache/construct.py",
             'transit_encryption_mode="required",', 'transit_encryption_mode="preferred",',
             "tests/test_cache.py"),
    # (BLOCK_ACLS alone is an equivalent mutant: with the project's feature flags CDK
    # fills the unset fields with true. Public policies allowed is not.)
    Mutation("attachment bucket allows public policies", "storage/construct.py",
             "block_public_access=s3.BlockPublicAccess.BLOCK_ALL,\n            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,\n            enforce_ssl=True,\n            minimum_tls_version=1.2,\n            versioned=True,\n            lifecycle_rules",
             "block_public_access=s3.BlockPublicAccess(block_public_acls=True, ignore_public_acls=True, block_public_policy=False, restrict_public_buckets=False),\n            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,\n            enforce_ssl=True,\n            minimum_tls_version=1.2,\n            versioned=True,\n            lifecycle_rules",
             "tests/test_storage.py"),
    Mutation("key rotation off", "security/key.py",
             "enable_key_rotation=True,", "enable_key_rotation=False,", "tests/test_security.py"),
    Mutation("no copy to the DR vault", "backup/plan.py",
             "                    copy_actions=[", "                    copy_actions=[] and [",
             "tests/test_backup.py"),
    Mutation("database admits the load balancer", "networking/security_groups.py",
             'self.database.add_ingress_rule(self.tasks, ec2.Port.tcp(POSTGRES_PORT), "From tasks")',
             'self.database.add_ingress_rule(self.load_balancer, ec2.Port.tcp(POSTGRES_PORT), "From tasks")',
             "tests/test_networking.py"),
    Mutation("flow logs only rejected traffic", "networking/construct.py",
             "traffic_type=ec2.FlowLogTrafficType.ALL,", "traffic_type=ec2.FlowLogTrafficType.REJECT,",
             "tests/test_networking.py"),
    # What the hardening added.
    Mutation("plain Retain again (failed creates leave leftovers)", "retention.py",
             "KEEP = cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE", "KEEP = cdk.RemovalPolicy.RETAIN",
             "tests/test_stateful.py"),
    Mutation("reserved concurrency on by default", "settings/model.py",
             "    reserve_concurrency: bool = False", "    reserve_concurrency: bool = True",
             "tests/test_preflight.py tests/test_settings.py"),
    Mutation("EventBridge key use under aws:SourceAccount", "security/key.py",
             '            actions=_PUBLISH_ACTIONS,\n            resources=["*"],\n        ),\n    ]',
             '            actions=_PUBLISH_ACTIONS,\n            resources=["*"],\n            conditions={"StringEquals": {"aws:SourceAccount": account}},\n        ),\n    ]',
             "tests/test_security.py"),
    Mutation("replica secrets key use for any secret", "security/key.py",
             'f"arn:aws:secretsmanager:{region}:{account}:secret:{prefix}*"',
             'f"arn:aws:secretsmanager:{region}:{account}:secret:*"', "tests/test_security.py"),
    Mutation("no pg_cron for the heartbeat", "database/common.py",
             '"shared_preload_libraries": "pg_cron",', '"shared_preload_libraries": "",',
             "tests/test_database.py"),
    Mutation("roll may enable ECS Exec", "database/construct.py",
             '"BoolIfExists": {"ecs:enable-execute-command": "false"},', "",
             "tests/test_security.py"),
    Mutation("replication role trusted without source", "storage/construct.py",
             '"aws:SourceArn": source_arn,', "", "tests/test_wiring.py"),
    Mutation("restore tests may restore every bucket", "backup/roles.py",
             'RESTORE_TEST_POLICIES = ("service-role/AWSBackupServiceRolePolicyForRestores",)',
             'RESTORE_TEST_POLICIES = ("service-role/AWSBackupServiceRolePolicyForRestores", "AWSBackupServiceRolePolicyForS3Restore")',
             "tests/test_backup.py"),
    # The application tier and DR.
    Mutation("origin rule without the secret header", "compute/load_balancer.py",
             "conditions=[elbv2.ListenerCondition.http_header(ORIGIN_HEADER, origin_header_values)],",
             'conditions=[elbv2.ListenerCondition.path_patterns(["/*"])],',
             "tests/test_compute.py"),
    Mutation("TLS without verification", "compute/wrapper.py",
             "export PGSSLMODE=verify-full", "export PGSSLMODE=require", "tests/test_wrapper.py"),
    Mutation("DR server migrates", "stacks/application.py",
             "    return Role(\n        migrations=False,", "    return Role(\n        migrations=True,",
             "tests/test_compute.py"),
    Mutation("switch falls back to healthy", "failover/switch.py",
             'insufficient_data_health_status="LastKnownStatus",',
             'insufficient_data_health_status="Healthy",', "tests/test_edge.py"),
    Mutation("preflight never refuses", "failover/runtime/steps.py",
             "    if not (impaired or promoted or ctx.force):", "    if False:",
             "tests/test_failover.py"),
    Mutation("promotion not idempotent", "failover/runtime/steps.py",
             '    if not replica.get("ReadReplicaSourceDBInstanceIdentifier"):\n        return Outcome(True, {"promoted": "already"})\n',
             "", "tests/test_failover.py"),
    Mutation("worker runs in DR pilot light", "stacks/application.py",
             "worker=Capacity(0, 0, c.worker.desired_count),",
             "worker=Capacity(1, 1, c.worker.desired_count),", "tests/test_compute.py"),
]  # fmt: skip


def run(m: Mutation) -> tuple[bool, float]:
    path = SRC / m.file
    original = path.read_text()
    if original.count(m.old) != 1:
        raise SystemExit(
            f"{m.what}: the text to mutate occurs {original.count(m.old)} times in {m.file}"
        )
    path.write_text(original.replace(m.old, m.new))
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests.split()],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        path.write_text(original)
    return proc.returncode != 0, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only in m.what]
    print("| mutation | file | guarded by | result |")
    print("|---|---|---|---|")
    survived = 0
    for m in chosen:
        killed, seconds = run(m)
        survived += not killed
        result = "killed" if killed else "**SURVIVED**"
        print(f"| {m.what} | `{m.file}` | `{m.tests}` | {result} ({seconds:.0f} s) |", flush=True)
    print(f"\n{len(chosen) - survived} of {len(chosen)} killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
