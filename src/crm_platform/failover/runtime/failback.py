"""The way back: failback to the original region as one ordered list of steps.

The same machinery as the failover (steps.py: ``Step``, ``Outcome``, ``Context``, the run
table's timeline and lock), run by the operator from the CLI (ops/failback.py) through the
local runner (failover/local_runner.py), as the operator role: a failback is planned work
that an operator watches, not an emergency that must survive the operator's laptop
(docs/adr/0046-failback.md). Every step reads the world first and does nothing when its
effect is already there, so a second ``--execute`` resumes the same incident.

Order, and why (each step's summary names its stop state: where the platform stands if
the run stops right after it):

1. ``preflight``: failed over, the original region answers its probes (or ``--force``);
   the failover's lock; the failed-over state becomes "failing-back" (deploys stay
   refused); the placements (groups, keys) are recorded for the later steps.
2. ``fence_stale``: the stale original instance is renamed aside, moved into a security
   group with no ingress and kept with deletion protection (a stopped instance restarts
   by itself after 7 days, so it is fenced, not stopped).
3. ``replicate_back``: a cross-region read replica of the serving DR database in the
   original region under the ORIGINAL identifier (original key, subnet, parameter and
   security group), so CloudFormation describes it again without an import.
4. ``wait_caught_up``: available, and its ReplicaLag at most the RPO.
5. ``stop_writes``: DR's services and their scaling to zero (the outage window starts).
6. ``wait_zero_lag``: a DR heartbeat beat written after the stop has replayed on the new
   replica, read inside each VPC (sql_task.py): nothing written in DR is lost.
7. ``copy_attachments``: objects written in DR since the failover copied to the primary
   bucket and verified by count and ETag, before any traffic moves.
8. ``promote_primary`` and 9. ``wait_primary_writable`` (RDS, then a write through the
   SQL task).
10. ``restore_secrets``: the primary's secrets hold the serving passwords and replicate
    to DR again; DR's release record is copied to the primary (a ``release into-dr``
    while failed over moved the schema on).
11. ``switch_to_primary``: the signed switch says "primary"; from now on the fence keeper
    stands down (it acts only while the verified switch says "dr").
12. ``reopen_primary``: once a keeper round that read "dr" can no longer be running, the
    rules the fence revoked (``FENCE_RUN``) are put back.
13. ``purge_queues`` and 14. ``register_jobs``: the original region's stale BullMQ
    queues emptied, then Twenty's scheduled jobs registered, before any worker starts.
15. ``start_primary``: the primary's services at their template sizes, healthy.
16. ``rebuild_dr_replica``: the promoted DR instance renamed aside (fenced, kept), a new
    replica under the replica identifier.
17. ``reset_dr``: DR's sizes and scaling, the replica-lag alarm's actions, the backup tag.
18. ``finish``: the failed-over state "none"; a notice to the DR alert topic; the lock
    released.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.failover.runtime import steps, switch
from crm_platform.failover.runtime.steps import Context, Outcome, Step, StepFailed, call

FAILING_BACK = "failing-back"
# The copy's metadata key that holds the DR object's ETag (SSE-KMS ETags are not digests
# of the data and differ between two encryptions of it, so the copy's own ETag proves
# nothing; the source's, recorded on the copy and read again, does).
SOURCE_ETAG = "crm-platform-source-etag"
# A keeper round may have read "dr" just before the switch moved: after this long no
# round that did can still be running (its Lambda timeout, failover/fence_keeper.py).
KEEPER_GRACE_SECONDS = 120
# The instances renamed aside are tagged so a person finds them and the reason.
ASIDE_TAG = "crm-platform:failback-aside"
FENCE_GROUP = "crm-platform-fenced-database"

SqlRun = Callable[..., Outcome]


def _sql() -> SqlRun:
    """The in-VPC SQL task (sql_task.run); looked up at call time so tests and the drill
    can stand in for it (moto runs no task)."""
    if SQL is not None:
        return SQL
    from crm_platform.failover.runtime import sql_task

    return sql_task.run


SQL: SqlRun | None = None


class FailbackRefused(StepFailed):
    """Not failed over, or the original region does not look healthy (without --force)."""


def _fb(ctx: Context) -> dict[str, Any]:
    return dict(ctx.config["failback"])


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def describe(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        found = call(rds.describe_db_instances, DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as err:
        if _code(err) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return None
        raise
    return dict(found[0]) if found else None


def _state(ctx: Context) -> dict[str, Any]:
    found = call(ctx.aws("ssm").get_parameter, Name=ctx.config["failover_parameter"])
    value: dict[str, Any] = json.loads(found["Parameter"]["Value"])
    return value


def _put_state(ctx: Context, state: dict[str, Any]) -> None:
    call(
        ctx.aws("ssm").put_parameter,
        Name=ctx.config["failover_parameter"],
        Value=json.dumps(state),
        Type="String",
        Overwrite=True,
    )


def aside_name(identifier: str, run: str) -> str:
    """Where an instance is renamed aside: its name, ``-aside-`` and the incident's digest
    (RDS identifiers: 63 characters, letters, digits and hyphens)."""
    digest = hashlib.sha256(run.encode()).hexdigest()[:8]
    return f"{identifier}-aside-{digest}"[:63]


def _placement(instance: dict[str, Any]) -> dict[str, Any]:
    subnets = instance.get("DBSubnetGroup") or {}  # the emulator's replicas have none
    return {
        "parameter_group": instance["DBParameterGroups"][0]["DBParameterGroupName"],
        "subnet_group": subnets.get("DBSubnetGroupName"),
        "vpc": subnets.get("VpcId", ""),
        "security_groups": [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])],
        "kms_key": instance.get("KmsKeyId", ""),
    }


def _recorded(ctx: Context, step: str) -> dict[str, Any]:
    found = ctx.results.get(step)
    if found is None:
        raise StepFailed(f"{step} of incident {ctx.run} left no record: run failback again")
    return dict(found)


# --- 1. preflight -------------------------------------------------------------------------
def preflight(ctx: Context) -> Outcome:
    """Failed over (or this failback under way), the original region healthy, the lock.

    Healthy means: the DR probes of the original region are not in ALARM (the impaired
    composite and each probe alarm), and its RDS answers. A failback into a region that
    still fails would move users back into the outage, so it is refused unless forced.
    """
    c, fb = ctx.config, _fb(ctx)
    recorded = _state(ctx)
    resuming = recorded.get("state") == FAILING_BACK and recorded.get("failback") == ctx.run
    if recorded.get("state") == FAILING_BACK and not resuming:
        raise FailbackRefused(
            f"failback {recorded.get('failback')} is under way: resume it with "
            "crm-platform failback --execute"
        )
    if recorded.get("state") != "failed-over" and not resuming:
        raise FailbackRefused(
            f"the platform is not failed over (state {recorded.get('state', 'none')!r}): "
            "there is nothing to fail back"
        )
    alarms = call(
        ctx.aws("cloudwatch").describe_alarms,
        AlarmNames=list(fb["probe_alarms"]),
        AlarmTypes=["CompositeAlarm", "MetricAlarm"],
    )
    failing = sorted(
        a["AlarmName"]
        for a in alarms.get("CompositeAlarms", []) + alarms.get("MetricAlarms", [])
        if a["StateValue"] == "ALARM"
    )
    try:
        stale = describe(ctx.client("rds", ctx.primary), fb["original"])
        reachable = "answers"
    except Exception as err:
        stale, reachable = None, f"does not answer ({type(err).__name__})"
    if (failing or reachable != "answers") and not ctx.force:
        raise FailbackRefused(
            f"the original region {ctx.primary} still fails its probes "
            f"({', '.join(failing) or 'none'}; its RDS {reachable}): failing back would move "
            "users into the outage. Run with --force only if you have confirmed it is healthy"
        )
    steps._hold_lock(ctx)
    if not resuming:
        _put_state(
            ctx,
            {**recorded, "state": FAILING_BACK, "failback": ctx.run, "failback_since": ctx.now()},
        )
    serving = describe(ctx.aws("rds"), c["replica"])
    if serving is None:
        raise StepFailed(f"the serving DR database {c['replica']} does not exist")
    detail: dict[str, Any] = {
        "failing_probes": failing,
        "original_region": reachable,
        "forced": ctx.force,
        "resuming": resuming,
        "failed_over_since": recorded.get("since"),
        "incident": recorded.get("incident"),
        "serving_arn": serving["DBInstanceArn"],
        "dr_placement": _placement(serving),
    }
    if resuming and "primary_placement" in ctx.results.get("preflight", {}):
        detail["primary_placement"] = ctx.results["preflight"]["primary_placement"]
    elif stale is not None:
        detail["primary_placement"] = _placement(stale)
    else:
        detail["primary_placement"] = fb["primary_placement"]  # from the stacks (ops)
    if not detail["primary_placement"]:
        raise StepFailed(f"no placement for {fb['original']} in {ctx.primary}: deploy first")
    return Outcome(True, detail)


# --- 2. fence the stale instance ------------------------------------------------------------
def _fence_group(ctx: Context, region: str, vpc: str) -> str:
    """A security group with no ingress rule in ``vpc``: what an instance kept aside sits
    in, so nothing reaches it whatever starts it again."""
    ec2 = ctx.client("ec2", region)
    found = call(
        ec2.describe_security_groups,
        Filters=[
            {"Name": "group-name", "Values": [FENCE_GROUP]},
            {"Name": "vpc-id", "Values": [vpc]},
        ],
    )["SecurityGroups"]
    if found:
        return str(found[0]["GroupId"])
    made = call(
        ec2.create_security_group,
        GroupName=FENCE_GROUP,
        VpcId=vpc,
        Description="crm-platform: a database kept aside by failback; no ingress",
    )
    return str(made["GroupId"])


def _vpc(ctx: Context, region: str, instance: dict[str, Any]) -> str:
    """The instance's VPC: its subnet group's, else its security group's."""
    found = (instance.get("DBSubnetGroup") or {}).get("VpcId")
    if found:
        return str(found)
    group = instance["VpcSecurityGroups"][0]["VpcSecurityGroupId"]
    described = call(ctx.client("ec2", region).describe_security_groups, GroupIds=[group])
    return str(described["SecurityGroups"][0]["VpcId"])


def _set_aside(ctx: Context, region: str, identifier: str, aside: str) -> dict[str, Any]:
    """Rename ``identifier`` to ``aside``, fenced (no-ingress group) and protected, in one
    modification. Idempotent: an instance already aside is only checked."""
    rds = ctx.client("rds", region)
    found = describe(rds, aside)
    if found is None:
        found = describe(rds, identifier)
        if found is None:
            return {"aside": None, "why": f"no {identifier} in {region}"}
        if found.get("DBInstanceStatus") == "stopped":
            # A stopped instance cannot be modified; it starts into the fence below.
            call(rds.start_db_instance, DBInstanceIdentifier=identifier)
            return {"aside": None, "status": "starting", "wait": True}
        if found.get("DBInstanceStatus") not in ("available", "storage-optimization"):
            return {"aside": None, "status": found.get("DBInstanceStatus"), "wait": True}
        group = _fence_group(ctx, region, _vpc(ctx, region, found))
        call(
            rds.modify_db_instance,
            DBInstanceIdentifier=identifier,
            NewDBInstanceIdentifier=aside,
            VpcSecurityGroupIds=[group],
            DeletionProtection=True,
            ApplyImmediately=True,
        )
        # Tagged once it answers under its new name (below): the operator role may tag
        # the copies aside, never the platform's own instances (ops/permissions.py).
        return {"aside": aside, "fence_group": group, "renamed": "now", "wait": True}
    call(
        rds.add_tags_to_resource,
        ResourceName=found["DBInstanceArn"],
        Tags=[{"Key": ASIDE_TAG, "Value": ctx.run}],
    )
    groups = [g["VpcSecurityGroupId"] for g in found.get("VpcSecurityGroups", [])]
    group = _fence_group(ctx, region, _vpc(ctx, region, found))
    if groups != [group] or not found.get("DeletionProtection"):
        call(
            rds.modify_db_instance,
            DBInstanceIdentifier=aside,
            VpcSecurityGroupIds=[group],
            DeletionProtection=True,
            ApplyImmediately=True,
        )
    return {"aside": aside, "fence_group": group, "renamed": "already"}


def fence_stale(ctx: Context) -> Outcome:
    fb = _fb(ctx)
    done = _set_aside(ctx, ctx.primary, fb["original"], aside_name(fb["original"], ctx.run))
    if done.pop("wait", False):
        return Outcome(False, done, wait=30)
    return Outcome(True, done)


# --- 3. replicate back ----------------------------------------------------------------------
def _replicate(
    ctx: Context,
    region: str,
    identifier: str,
    source_arn: str,
    where: dict[str, Any],
    kms_key: str,
) -> dict[str, Any]:
    rds = ctx.client("rds", region)
    found = describe(rds, identifier)
    if found is not None:
        return {
            "replica": identifier,
            "created": "already",
            "source": found.get("ReadReplicaSourceDBInstanceIdentifier"),
        }
    call(
        rds.create_db_instance_read_replica,
        DBInstanceIdentifier=identifier,
        SourceDBInstanceIdentifier=source_arn,
        SourceRegion=ctx.dr if region == ctx.primary else ctx.primary,
        KmsKeyId=kms_key,
        DBParameterGroupName=where["parameter_group"],
        VpcSecurityGroupIds=list(where["security_groups"]),
        DeletionProtection=True,
        CopyTagsToSnapshot=True,
        **({"DBSubnetGroupName": where["subnet_group"]} if where.get("subnet_group") else {}),
    )
    return {"replica": identifier, "created": "now", "source": source_arn, "key": kms_key}


def replicate_back(ctx: Context) -> Outcome:
    """Under the original identifier: its endpoint, which the primary's task definitions
    and secrets name, is the one the template already knows."""
    fb, pre = _fb(ctx), _recorded(ctx, "preflight")
    where = pre["primary_placement"]
    return Outcome(
        True,
        _replicate(
            ctx,
            ctx.primary,
            fb["original"],
            pre["serving_arn"],
            where,
            fb["primary_key"] or where["kms_key"],
        ),
    )


# --- 4. caught up -------------------------------------------------------------------------
def _lag(ctx: Context, region: str, identifier: str) -> float | None:
    end = ctx.now()
    stats = call(
        ctx.client("cloudwatch", region).get_metric_statistics,
        Namespace="AWS/RDS",
        MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
        StartTime=end - 600,
        EndTime=end,
        Period=60,
        Statistics=["Maximum"],
    )
    points = sorted(stats.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Maximum"]) if points else None


def wait_caught_up(ctx: Context) -> Outcome:
    """Available, replicating, and its lag within the RPO: only then is the outage window
    of the switchover short."""
    fb = _fb(ctx)
    found = describe(ctx.client("rds", ctx.primary), fb["original"])
    if found is None:
        raise StepFailed(f"{fb['original']} disappeared in {ctx.primary}")
    status = found.get("DBInstanceStatus")
    if status != "available":
        return Outcome(False, {"status": status}, wait=60)
    lag = _lag(ctx, ctx.primary, fb["original"])
    if lag is None or lag > ctx.config["rpo_seconds"]:
        return Outcome(False, {"status": status, "lag_seconds": lag}, wait=60)
    return Outcome(True, {"status": status, "lag_seconds": lag})


# --- 5. stop writes -------------------------------------------------------------------------
def _size(
    ctx: Context, region: str, cluster: str, sizes: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """Scaling bounds first (or autoscaling undoes the count), then desired counts."""
    scaling, ecs = ctx.client("application-autoscaling", region), ctx.client("ecs", region)
    for name, size in sizes.items():
        call(
            scaling.register_scalable_target,
            ServiceNamespace="ecs",
            ResourceId=f"service/{cluster}/{name}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=size["minimum"],
            MaxCapacity=size["maximum"],
        )
        call(ecs.update_service, cluster=cluster, service=name, desiredCount=size["desired"])
    found = call(ecs.describe_services, cluster=cluster, services=list(sizes))["services"]
    return {s["serviceName"]: int(s.get("runningCount", 0)) for s in found}


def stop_writes(ctx: Context) -> Outcome:
    """DR's services and their scaling to zero: the serving database takes no more writes
    from the application (the heartbeat still beats: that is the point)."""
    fb = _fb(ctx)
    zero = {name: {"minimum": 0, "maximum": 0, "desired": 0} for name in fb["dr_sizes"]}
    running = _size(ctx, ctx.dr, ctx.config["clusters"]["dr"], zero)
    earlier = ctx.results.get("stop_writes", {}).get("stopped_at")
    if any(running.values()):
        return Outcome(False, {"running": running}, wait=15)
    return Outcome(True, {"running": running, "stopped_at": earlier or ctx.now()})


# --- 6. zero lag ----------------------------------------------------------------------------
def wait_zero_lag(ctx: Context) -> Outcome:
    """Zero data loss, proven by the heartbeat: a DR beat written after the writes stopped
    (pg_cron beats every minute on the serving database, database/heartbeat.py) has
    replayed on the original region's replica. Replication applies the WAL in order, so
    every write before that beat is there too. Both reads run inside their VPC."""
    stopped = float(_recorded(ctx, "stop_writes")["stopped_at"])
    sql = _sql()
    dr = sql(ctx, "dr", "last-beat", repeat_while=lambda r: (r.get("beat_at") or 0) <= stopped)
    if not dr.done:
        return Outcome(False, {"dr": dr.detail}, wait=dr.wait or 15)
    beat = float(dr.detail["result"]["beat_at"])
    primary = sql(
        ctx, "primary", "last-beat", repeat_while=lambda r: (r.get("beat_at") or 0) < beat
    )
    if not primary.done:
        return Outcome(False, {"dr_beat": beat, "primary": primary.detail}, wait=primary.wait or 15)
    replayed = float(primary.detail["result"]["beat_at"])
    return Outcome(
        True,
        {"stopped_at": stopped, "dr_beat": beat, "replayed_beat": replayed, "lag_seconds": 0.0},
    )


# --- 7. attachments -------------------------------------------------------------------------
def _objects(s3: Any, bucket: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(
            s3.list_objects_v2, Bucket=bucket, **({"ContinuationToken": token} if token else {})
        )
        found += page.get("Contents", [])
        token = page.get("NextContinuationToken")
        if not token:
            return found


def _since(ctx: Context) -> float:
    return float(_recorded(ctx, "preflight").get("failed_over_since") or 0.0)


def copy_attachments(ctx: Context) -> Outcome:
    """Objects written in DR since the failover, copied into the primary bucket and
    verified by count and ETag; writes are stopped, so the set is final.

    A copy carries the DR object's ETag in its metadata (``SOURCE_ETAG``); verified means
    every DR object since the failover has a primary copy whose recorded ETag equals the
    DR object's ETag now, and whose size equals its size. What was deleted in DR is not
    deleted in the primary (the guide says so)."""
    fb = _fb(ctx)
    since = _since(ctx) - 60  # a minute's margin for clock skew
    src_s3, dst_s3 = ctx.client("s3", ctx.dr), ctx.client("s3", ctx.primary)
    written = [
        o for o in _objects(src_s3, fb["dr_bucket"]) if o["LastModified"].timestamp() >= since
    ]
    copied = verified = 0
    mismatched: list[str] = []
    for obj in written:
        key, etag = obj["Key"], obj["ETag"]
        head = _head(dst_s3, fb["primary_bucket"], key)
        if head is None or head.get("Metadata", {}).get(SOURCE_ETAG) != etag:
            source = call(src_s3.head_object, Bucket=fb["dr_bucket"], Key=key)
            call(
                dst_s3.copy_object,
                Bucket=fb["primary_bucket"],
                Key=key,
                CopySource={"Bucket": fb["dr_bucket"], "Key": key},
                MetadataDirective="REPLACE",
                ContentType=source.get("ContentType", "binary/octet-stream"),
                Metadata={**source.get("Metadata", {}), SOURCE_ETAG: etag},
            )
            copied += 1
            head = _head(dst_s3, fb["primary_bucket"], key)
        ok = (
            head is not None
            and head.get("Metadata", {}).get(SOURCE_ETAG) == etag
            and int(head.get("ContentLength", -1)) == int(obj["Size"])
        )
        verified += ok
        if not ok:
            mismatched.append(key)
    if mismatched:
        raise StepFailed(
            f"{len(mismatched)} attachment(s) did not verify in "
            f"{fb['primary_bucket']}: {mismatched[:5]}"
        )
    return Outcome(
        True, {"since": since, "count": len(written), "copied": copied, "verified": verified}
    )


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return dict(call(s3.head_object, Bucket=bucket, Key=key))
    except ClientError as err:
        if _code(err) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


# --- 8, 9. promote ----------------------------------------------------------------------------
def promote_primary(ctx: Context) -> Outcome:
    fb, c = _fb(ctx), ctx.config
    found = describe(ctx.client("rds", ctx.primary), fb["original"])
    if found is None:
        raise StepFailed(f"{fb['original']} disappeared in {ctx.primary}")
    if not found.get("ReadReplicaSourceDBInstanceIdentifier"):
        return Outcome(True, {"promoted": "already"})
    if found.get("DBInstanceStatus") != "available":
        return Outcome(False, {"status": found.get("DBInstanceStatus")}, wait=30)
    try:
        call(
            ctx.client("rds", ctx.primary).promote_read_replica,
            DBInstanceIdentifier=fb["original"],
            BackupRetentionPeriod=c["backup_retention_days"],
            PreferredBackupWindow=c["backup_window"],
        )
    except ClientError as err:
        if _code(err) != "InvalidDBInstanceState":
            raise
        return Outcome(False, {"status": "promotion under way"}, wait=30)
    return Outcome(True, {"promoted": "now"})


def wait_primary_writable(ctx: Context) -> Outcome:
    """RDS reports it standalone and available, then a write through the SQL task."""
    fb = _fb(ctx)
    found = describe(ctx.client("rds", ctx.primary), fb["original"]) or {}
    status = found.get("DBInstanceStatus")
    if found.get("ReadReplicaSourceDBInstanceIdentifier") or status not in steps.WRITABLE:
        return Outcome(False, {"status": status}, wait=30)
    write = _sql()(ctx, "primary", "writable", repeat_while=lambda r: bool(r.get("in_recovery")))
    if not write.done:
        return Outcome(False, {"status": status, "sql": write.detail}, wait=write.wait or 15)
    result = write.detail["result"]
    if result.get("write") != "ok":
        raise StepFailed(f"{fb['original']} refuses a write: {result.get('write')}")
    return Outcome(
        True,
        {"status": status, "endpoint": found.get("Endpoint", {}).get("Address"), "write": "ok"},
    )


# --- 10. secrets ----------------------------------------------------------------------------
def restore_secrets(ctx: Context) -> Outcome:
    """The primary's database secrets take DR's serving values (DR's rotation may have
    changed a password) with the primary's endpoint, then every secret the failover made
    standalone replicates from the primary again, overwriting DR's standalone copy.

    ``APP_SECRET`` and ``ENCRYPTION_KEY`` are never written: only their replication is
    restored (their values never changed). The release record goes the same way
    (:func:`_copy_release_record`): the primary now holds DR's schema."""
    c, fb = ctx.config, _fb(ctx)
    dr_sm, sm = ctx.aws("secretsmanager"), ctx.client("secretsmanager", ctx.primary)
    endpoint = (
        (describe(ctx.client("rds", ctx.primary), fb["original"]) or {})
        .get("Endpoint", {})
        .get("Address")
    )
    written, replicated = [], []
    for name in fb["db_secrets"]:
        serving = json.loads(call(dr_sm.get_secret_value, SecretId=name)["SecretString"])
        current = json.loads(call(sm.get_secret_value, SecretId=name)["SecretString"])
        wanted = {**serving, **({"host": endpoint} if endpoint else {})}
        if current != wanted:
            call(sm.put_secret_value, SecretId=name, SecretString=json.dumps(wanted))
            written.append(name)
    for name in c["secrets"]:
        described = call(sm.describe_secret, SecretId=name)
        regions = {r["Region"] for r in described.get("ReplicationStatus", [])}
        if ctx.dr in regions:
            continue
        dr_copy = call(dr_sm.describe_secret, SecretId=name)
        if dr_copy.get("RotationEnabled"):
            # A replica cannot rotate; the primary's rotation rotates it from now on.
            call(dr_sm.cancel_rotate_secret, SecretId=name)
        call(
            sm.replicate_secret_to_regions,
            SecretId=name,
            AddReplicaRegions=[{"Region": ctx.dr, "KmsKeyId": fb["secret_replica_key"]}],
            ForceOverwriteReplicaSecret=True,
        )
        replicated.append(name)
    release = _copy_release_record(ctx)
    return Outcome(
        True,
        {"written": written, "replicated": replicated, "host": endpoint, "release": release},
    )


RELEASE_DESCRIPTION = "The release Twenty's schema is at (crm-platform release migrate)"


def _copy_release_record(ctx: Context) -> str:
    """DR's release record repeated in the primary region (release/record.py's
    ``copy_to``: the record itself, never a new value). A ``release into-dr`` while
    failed over (docs/adr/0049) moved DR's schema and DR's record on; the primary's
    database is now a copy of DR's, so its record must say the same, or the next deploy
    synthesizes the stale image. Idempotent: an equal record is not written again."""
    name = _fb(ctx)["release_parameter"]

    def read(ssm: Any) -> str | None:
        try:
            return str(call(ssm.get_parameter, Name=name)["Parameter"]["Value"])
        except ClientError as err:
            if _code(err) == "ParameterNotFound":
                return None
            raise

    serving = read(ctx.aws("ssm"))
    if serving is None:
        return "none in DR"
    primary_ssm = ctx.client("ssm", ctx.primary)
    if read(primary_ssm) == serving:
        return "already"
    call(
        primary_ssm.put_parameter,
        Name=name,
        Value=serving,
        Type="String",
        Overwrite=True,
        Description=RELEASE_DESCRIPTION,
    )
    return "copied"


# --- 11. switch -----------------------------------------------------------------------------
def switch_to_primary(ctx: Context) -> Outcome:
    c = ctx.config
    if (
        switch.read(
            ctx.aws("ssm"), ctx.aws("kms"), c["switch_parameter"], c["switch_key"], c["environment"]
        )
        == "primary"
    ):
        return Outcome(
            True,
            {
                "to": "primary",
                "switched": "already",
                "at": ctx.results.get("switch_to_primary", {}).get("at"),
            },
        )
    previous = switch.set_state(
        ctx.aws("ssm"),
        ctx.aws("kms"),
        c["switch_parameter"],
        c["switch_key"],
        c["environment"],
        "primary",
    )
    call(ctx.aws("lambda").invoke, FunctionName=c["switch_beacon"], InvocationType="Event")
    return Outcome(True, {"from": previous, "to": "primary", "at": ctx.now()})


# --- 12. reopen -----------------------------------------------------------------------------
def reopen_primary(ctx: Context) -> Outcome:
    """Put back every rule the fence revoked (the run table's ``FENCE_RUN`` items), once no
    keeper round that still read "dr" can be running: it would revoke them again."""
    switched = ctx.results.get("switch_to_primary", {}).get("at")
    if switched is not None and ctx.now() - float(switched) < KEEPER_GRACE_SECONDS:
        return Outcome(
            False,
            {"waiting_for": "the fence keeper's last round"},
            wait=int(KEEPER_GRACE_SECONDS - (ctx.now() - float(switched))) + 1,
        )
    c = ctx.config
    if (
        switch.read(
            ctx.aws("ssm"), ctx.aws("kms"), c["switch_parameter"], c["switch_key"], c["environment"]
        )
        != "primary"
    ):
        raise StepFailed("the switch does not say 'primary': the fence keeper would re-fence")
    from crm_platform.failover.runtime import fence_keeper

    kept = fence_keeper.read(ctx.aws("dynamodb"), c["runs_table"]) or {"revoked": []}
    ec2 = ctx.client("ec2", ctx.primary)
    restored, present = [], 0
    for rule in kept["revoked"]:
        rules = call(
            ec2.describe_security_group_rules,
            Filters=[{"Name": "group-id", "Values": [rule["group"]]}],
        )["SecurityGroupRules"]
        if any(
            not r.get("IsEgress")
            and r.get("ReferencedGroupInfo", {}).get("GroupId") == rule["source"]
            for r in rules
        ):
            present += 1
            continue
        pair = {
            "GroupId": rule["source"],
            **({"Description": rule["description"]} if rule.get("description") else {}),
        }
        call(
            ec2.authorize_security_group_ingress,
            GroupId=rule["group"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": int(rule["from"]),
                    "ToPort": int(rule["to"]),
                    "UserIdGroupPairs": [pair],
                }
            ],
        )
        restored.append(f"{rule['group']} <- {rule['source']}")
    return Outcome(True, {"restored": restored, "present": present})


# --- 13, 14. queues and jobs ------------------------------------------------------------------
# The purge: Twenty's BullMQ keys (``bull:*``) in the original region's cache, removed with
# SCAN and UNLINK by node with ioredis (Twenty's own queue client: assumed, verify on
# staging), through the jobs task's image and REDIS_URL.
PURGE_SCRIPT = (
    "const R=require('ioredis');const r=new R(process.env.REDIS_URL);let n=0;"
    "(async()=>{let c='0';do{const[x,k]=await r.scan(c,'MATCH','bull:*','COUNT',500);c=x;"
    "if(k.length){n+=await r.unlink(...k);}}while(c!=='0');"
    "console.log('crm-platform: purged '+n);await r.quit();})()"
    ".catch(e=>{console.error(e);process.exit(1);});"
)


def _one_off(ctx: Context, purpose: str, overrides: dict[str, Any] | None) -> Outcome:
    """A one-off task of the primary's jobs family, found again by ``startedBy``: the
    same pattern as the failover's register_jobs, in the original region."""
    c = ctx.config
    found = steps.one_off(
        ctx, region=ctx.primary, cluster=c["clusters"]["primary"], family=c["jobs_family"],
        started_by=steps._started_by(ctx.run, purpose).replace("failover-", "failback-")[:36],
        overrides=overrides,
    )  # fmt: skip
    if found["state"] == "running":
        return Outcome(False, {"tasks": found["tasks"], "status": "running"}, wait=15)
    if found["state"] == "succeeded":
        return Outcome(True, {purpose: "done", "tasks": found["tasks"]})
    if found["state"] == "exhausted":
        raise StepFailed(
            f"the {purpose} task failed {found['tasks']} times: {found['reasons']}; the "
            "workers stay stopped (docs/emergency-recovery.md, failback)"
        )
    return Outcome(False, {"started": found["task"]}, wait=15)


def purge_queues(ctx: Context) -> Outcome:
    """Jobs queued in the original region before the outage would run against today's
    data (stale e-mails, webhooks): emptied before any worker there starts."""
    return _one_off(
        ctx,
        "purge",
        {
            "containerOverrides": [
                {
                    "name": "jobs",
                    "command": ["node", "-e", PURGE_SCRIPT],
                    "environment": [{"name": "DISABLE_CRON_JOBS_REGISTRATION", "value": "true"}],
                }
            ]
        },
    )


def register_jobs(ctx: Context) -> Outcome:
    """Twenty's scheduled jobs registered against the original region's (now empty)
    cache: the jobs task as the template defines it (``cron:register:all``)."""
    return _one_off(ctx, "jobs", None)


# --- 15. start the primary ---------------------------------------------------------------------
def start_primary(ctx: Context) -> Outcome:
    """The primary's services at their template sizes, running and healthy."""
    fb, c = _fb(ctx), ctx.config
    cluster = c["clusters"]["primary"]
    running = _size(ctx, ctx.primary, cluster, fb["primary_sizes"])
    short = {n: r for n, r in running.items() if r < fb["primary_sizes"][n]["desired"]}
    if short:
        return Outcome(False, {"running": running}, wait=15)
    return Outcome(True, {"running": running})


# --- 16. rebuild the DR replica ------------------------------------------------------------------
def rebuild_dr_replica(ctx: Context) -> Outcome:
    """The promoted DR instance renamed aside (fenced, kept: the last copy of what served),
    then a new replica of the primary under the replica identifier, DR's placement and key:
    the platform is protected again once it is available."""
    c, fb, pre = ctx.config, _fb(ctx), _recorded(ctx, "preflight")
    rds = ctx.aws("rds")
    current = describe(rds, c["replica"])
    if current is not None and not current.get("ReadReplicaSourceDBInstanceIdentifier"):
        done = _set_aside(ctx, ctx.dr, c["replica"], aside_name(c["replica"], ctx.run))
        if done.pop("wait", False):
            return Outcome(False, done, wait=30)
        return Outcome(False, done, wait=30)  # renaming: the identifier frees up
    if current is None:
        # Renamed: tagged (and its fence checked) under its aside name.
        if (
            _set_aside(ctx, ctx.dr, c["replica"], aside_name(c["replica"], ctx.run))["aside"]
            is None
        ):
            raise StepFailed(f"neither {c['replica']} nor its aside copy exists in {ctx.dr}")
        primary = describe(ctx.client("rds", ctx.primary), fb["original"]) or {}
        made = _replicate(
            ctx,
            ctx.dr,
            c["replica"],
            primary["DBInstanceArn"],
            pre["dr_placement"],
            fb["dr_key"] or pre["dr_placement"]["kms_key"],
        )
        return Outcome(False, made, wait=60)
    if current.get("DBInstanceStatus") != "available":
        return Outcome(False, {"status": current.get("DBInstanceStatus")}, wait=60)
    return Outcome(
        True,
        {
            "replica": c["replica"],
            "aside": aside_name(c["replica"], ctx.run),
            "source": current["ReadReplicaSourceDBInstanceIdentifier"],
        },
    )


# --- 17, 18. reset and finish ---------------------------------------------------------------------
def reset_dr(ctx: Context) -> Outcome:
    """What the failover changed in DR outside CloudFormation, back to the template: the
    services' sizes and scaling bounds, the replica-lag alarm's actions (a replica again),
    the backup-selection tag on the DR bucket (DR's standby plan stops taking it)."""
    c, fb = ctx.config, _fb(ctx)
    running = _size(ctx, ctx.dr, c["clusters"]["dr"], fb["dr_sizes"])
    call(ctx.aws("cloudwatch").enable_alarm_actions, AlarmNames=[c["replica_lag_alarm"]])
    s3 = ctx.aws("s3")
    key = c["backup_tag"][0]
    try:
        tags = call(s3.get_bucket_tagging, Bucket=c["dr_bucket"])["TagSet"]
    except ClientError as err:
        if _code(err) != "NoSuchTagSet":
            raise
        tags = []
    kept = [t for t in tags if t["Key"] != key]
    if kept != tags:
        if kept:
            call(s3.put_bucket_tagging, Bucket=c["dr_bucket"], Tagging={"TagSet": kept})
        else:
            call(s3.delete_bucket_tagging, Bucket=c["dr_bucket"])
    return Outcome(
        True,
        {
            "running": running,
            "alarm": c["replica_lag_alarm"],
            "bucket_tag": "removed" if kept != tags else "absent",
        },
    )


def finish(ctx: Context) -> Outcome:
    """The failed-over state "none" (deploys and releases run again), a notice to the DR
    alert topic (as the failover's notify step sends one), the lock released.

    A crash between the notice and the step's record sends it again on resume: a second
    notice, never none."""
    c = ctx.config
    state = _state(ctx)
    if state.get("state") != "none":
        _put_state(
            ctx,
            {
                "state": "none",
                "since": ctx.now(),
                "failback": ctx.run,
                "previous_incident": state.get("incident"),
            },
        )
    topic = c.get("alert_topic_arn") or ""
    if not topic:
        raise StepFailed(
            f"no alert topic for the failback notice: {c['replica_lag_alarm']} has no SNS "
            "action (deploy the DR database stack)"
        )
    call(
        ctx.aws("sns").publish,
        TopicArn=topic,
        Subject=f"{c['environment']}: failed back to {ctx.primary}"[:100],
        Message=json.dumps({"failback": ctx.run, **ctx.results}, indent=1, default=str)[:200_000],
    )
    steps._release_lock(ctx)
    return Outcome(True, {"state": "none", "notified": topic})


FAILBACK_STEPS: tuple[Step, ...] = (
    Step(
        "preflight",
        "failed over; original region healthy; lock; state failing-back",
        preflight,
        120,
        reads_results=True,
    ),
    Step(
        "fence_stale",
        "stale original renamed aside, no-ingress group, kept",
        fence_stale,
        1800,
        poll=True,
    ),
    Step(
        "replicate_back",
        "replica of DR in the original region, original name",
        replicate_back,
        300,
        reads_results=True,
    ),
    Step(
        "wait_caught_up", "replica available and within the RPO", wait_caught_up, 14400, poll=True
    ),
    Step(
        "stop_writes",
        "DR services and scaling at 0 (outage window starts)",
        stop_writes,
        600,
        poll=True,
        reads_results=True,
    ),
    Step(
        "wait_zero_lag",
        "a beat after the stop replayed in the original region",
        wait_zero_lag,
        900,
        poll=True,
        reads_results=True,
    ),
    Step(
        "copy_attachments",
        "DR attachments since failover copied back, verified",
        copy_attachments,
        3600,
        reads_results=True,
    ),
    Step(
        "promote_primary", "promote the original region's replica", promote_primary, 1800, poll=True
    ),
    Step(
        "wait_primary_writable",
        "primary standalone and takes a write",
        wait_primary_writable,
        3600,
        poll=True,
    ),
    Step(
        "restore_secrets",
        "serving passwords, release record in the primary; replication to DR",
        restore_secrets,
        300,
    ),
    Step(
        "switch_to_primary",
        "traffic switch to primary (keeper stands down)",
        switch_to_primary,
        60,
        reads_results=True,
    ),
    Step(
        "reopen_primary",
        "fence's revoked rules put back",
        reopen_primary,
        600,
        poll=True,
        reads_results=True,
    ),
    Step(
        "purge_queues",
        "stale BullMQ queues in the original region emptied",
        purge_queues,
        900,
        poll=True,
    ),
    Step(
        "register_jobs",
        "Twenty's scheduled jobs registered in the original region",
        register_jobs,
        900,
        poll=True,
    ),
    Step(
        "start_primary",
        "primary services at template sizes (outage window ends)",
        start_primary,
        900,
        poll=True,
    ),
    Step(
        "rebuild_dr_replica",
        "promoted DR instance aside; new DR replica",
        rebuild_dr_replica,
        14400,
        poll=True,
        reads_results=True,
    ),
    Step("reset_dr", "DR sizes, scaling, lag alarm actions, bucket tag", reset_dr, 300),
    Step(
        "finish",
        "failed-over state none; notice to DR alerts; lock released",
        finish,
        60,
        reads_results=True,
    ),
)
BY_NAME = {s.name: s for s in FAILBACK_STEPS}
