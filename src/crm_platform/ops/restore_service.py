"""``crm-platform restore --execute``: from a recovery point to a database that serves, as
one step list on the failover's machinery (failover/runtime/steps.py: ``Step``,
``Outcome``, ``Context``, and its steps where they fit).

Why a rename and not a re-pointing: the platform finds its database by identifier. An RDS
endpoint is ``<identifier>.<hash>.<region>.rds.amazonaws.com``, so the secrets' ``host``,
the tasks' ``PG_HOST`` and CloudFormation's physical id all follow the identifier. AWS
documents exactly this replacement ("Renaming to replace an existing DB instance": stop
the traffic, rename the old instance, give the restored one the old name;
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html), so no
task definition, secret or template changes, and a later ``crm-platform deploy`` finds
its instance again (docs/adr/0048-restore-into-service.md).

Primary region (a corrupted database, a bad migration, a lost instance):
restore -> validate -> protect (still under its own name) -> stop writes -> rename the
old instance aside -> fence it (the VPC's default security group, which the platform
keeps empty; deletion protection on) -> the restored instance takes the serving name ->
services back to their template sizes -> the tier names it -> healthy targets -> report.

DR region (the primary region and the replica are both lost): the same up to the name,
which is the replica's; then the logins are reset as in the primary (DR's bootstrap task
and DR's replicas of the secrets: the failover's writability check logs in as Twenty's
user, and DR's rotation as the secrets say); then the failover's own state machine runs
(ops/failover.py, forced): ``promote_replica`` finds a standalone instance ("already")
and its later steps re-point the secrets, scale, switch, register the jobs and protect
the database.

Each step reads the world first and does nothing when its effect is there, so running
``--execute`` again resumes (the restored instance is recognised by its request tag, also
under the serving name). The steps run here, from the operator's session, as the operator
role: no new Lambda, and the state machine's role gains nothing.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.capacity import planned
from crm_platform.compute.wrapper import BOOTSTRAP_SQL_VARIABLE
from crm_platform.database import app_user
from crm_platform.failover.local_runner import RunReport, StepReport
from crm_platform.failover.policy import RETRY
from crm_platform.failover.runtime import steps
from crm_platform.failover.runtime.steps import Context, Outcome, Step, StepFailed, call
from crm_platform.naming import Names
from crm_platform.ops import failover as failover_commands
from crm_platform.ops import restore
from crm_platform.settings import Settings

POLL = 30
BOOTSTRAP_CONTAINER = "bootstrap"  # compute/task.py BOOTSTRAP_ROLE: the task's one container
# What RDS reports while an instance cannot take a modification.
AVAILABLE = "available"
DEFAULT_GROUP = "default"  # the VPC's default security group: no rules (networking)


def aside_identifier(serving: str, request_id: str) -> str:
    """Where the instance being replaced goes: kept, fenced, named after the request."""
    return f"{serving}-replaced-{request_id}"


def service_config(names: Names, settings: Settings, p: restore.Plan) -> dict[str, Any]:
    """The steps' configuration, shaped like the failover's so its steps apply.

    ``dr_region`` is the region the steps act in (``Context.dr``), ``replica`` the serving
    identifier there, ``clusters["dr"]`` that region's cluster: the failover's
    ``start_services``, ``point_tier`` and ``wait_healthy`` then act on it unchanged.
    """
    primary = p.region == names.primary_region
    serving = names.db_instance if primary else names.db_replica
    sizes = planned(settings, "primary")
    return {
        "dr_region": p.region,
        "primary_region": names.primary_region,
        "serving_side": "primary" if primary else "dr",
        "replica": serving,
        "serving": serving,
        "restored": p.identifier,
        "aside": aside_identifier(serving, p.request_id),
        "request": p.request_id,
        "clusters": {"dr": names.ecs_cluster(p.region)},
        "services": {
            "server": {
                "name": names.server_service,
                "desired": sizes.server.desired,
                "max": sizes.server.maximum,
            },
            "worker": {
                "name": names.worker_service,
                "desired": sizes.worker.desired,
                "max": sizes.worker.maximum,
            },
        },
        "backup_retention_days": settings.database.backup_retention_days,
        "backup_tag": names.backup_selection_tag,
        "master_secret": names.db_secret,
        "bootstrap_family": names.task_family("bootstrap"),
        "names": names,
        "plan": p,
        "job": None,  # filled by restore_instance: the AWS Backup job it follows
    }


# --- reading ---------------------------------------------------------------------------------
def _describe(ctx: Context, identifier: str) -> dict[str, Any] | None:
    return restore.describe(ctx.aws("rds"), identifier)


def _ours(instance: Mapping[str, Any] | None, request: str) -> bool:
    tags = {t["Key"]: t["Value"] for t in (instance or {}).get("TagList", [])}
    return tags.get(restore.REQUEST_TAG) == request


def _in_service(ctx: Context) -> dict[str, Any] | None:
    """The restored instance under the serving name (a resumed run past the rename)."""
    serving = _describe(ctx, ctx.config["serving"])
    return serving if _ours(serving, ctx.config["request"]) else None


def _restored(ctx: Context) -> dict[str, Any] | None:
    return _describe(ctx, ctx.config["restored"]) or _in_service(ctx)


def _rename(ctx: Context, old: str, new: str) -> None:
    call(ctx.aws("rds").modify_db_instance, DBInstanceIdentifier=old,
         NewDBInstanceIdentifier=new, ApplyImmediately=True)  # fmt: skip


def _pending_name(instance: Mapping[str, Any]) -> str | None:
    return (instance.get("PendingModifiedValues") or {}).get("DBInstanceIdentifier")


# --- the steps ---------------------------------------------------------------------------------
def restore_instance(ctx: Context) -> Outcome:
    """Start the restore (or find the one a crashed run started) and follow it until the
    new instance is available."""
    c = ctx.config
    p: restore.Plan = c["plan"]
    if _in_service(ctx) is not None:
        return Outcome(True, {"restored": "in service already", "identifier": c["serving"]})
    instance = _describe(ctx, p.identifier)
    if instance is None:
        if c["job"] is None:
            now = datetime.fromtimestamp(ctx.now(), UTC)
            how, job = restore.start(c["names"], ctx.client, p, now=now)
            c["job"], c["how"] = job or "rds", how
            return Outcome(False, {"how": how, "job": job}, wait=POLL)
        if c["job"] != "rds":
            job = call(ctx.aws("backup").describe_restore_job, RestoreJobId=c["job"])
            if job.get("Status") in restore.FAILED_JOB:
                raise StepFailed(
                    f"AWS Backup restore job {c['job']} {job.get('Status')}: "
                    f"{job.get('StatusMessage', '')}"
                )
        return Outcome(False, {"job": c["job"], "instance": "not created yet"}, wait=POLL)
    status = instance.get("DBInstanceStatus")
    if status != AVAILABLE:
        return Outcome(False, {"status": status}, wait=POLL)
    return Outcome(True, {
        "identifier": p.identifier, "how": c.get("how", "resumed"), "job": c["job"],
        "point": p.spec.describe(), "source": p.selection.source, "kind": p.selection.how,
        "restore_time": p.selection.restore_time.isoformat()
        if p.selection.restore_time else None,
        "endpoint": (instance.get("Endpoint") or {}).get("Address"),
    })  # fmt: skip


def validate_restored(ctx: Context) -> Outcome:
    """The restore test's checks and the plan's placement; the request and the backup tag
    on it while it still has its own name (the operator role may tag only
    ``<db>-restore-*``, never the platform's instance)."""
    c = ctx.config
    p: restore.Plan = c["plan"]
    if _in_service(ctx) is not None:
        return Outcome(True, {"validated": "in service already"})
    instance = _describe(ctx, p.identifier)
    if instance is None:
        raise StepFailed(f"{p.identifier} disappeared after its restore")
    restore.tag(ctx.client, p, instance)
    key, value = c["backup_tag"]
    call(ctx.aws("rds").add_tags_to_resource, ResourceName=instance["DBInstanceArn"],
         Tags=[{"Key": key, "Value": value}])  # fmt: skip
    verdict, problems = restore.validate(ctx.client, p, instance)
    if problems:
        raise StepFailed(
            f"{p.identifier} is not valid ({'; '.join(problems)}): kept for inspection, "
            "nothing was switched"
        )
    return Outcome(True, {"verdict": verdict, "tagged": f"{key}={value}"})


def protect_restored(ctx: Context) -> Outcome:
    """Deletion protection and the backup retention, before it serves (under its own name)."""
    c = ctx.config
    instance = _restored(ctx)
    if instance is None:
        raise StepFailed(f"{c['restored']} disappeared after its restore")
    changes: dict[str, Any] = {}
    if not instance.get("DeletionProtection"):
        changes["DeletionProtection"] = True
    if int(instance.get("BackupRetentionPeriod", 0)) < c["backup_retention_days"]:
        changes["BackupRetentionPeriod"] = c["backup_retention_days"]
    if not changes:
        return Outcome(
            True,
            {
                "deletion_protection": True,
                "backup_retention": instance.get("BackupRetentionPeriod"),
            },
        )
    if instance.get("DBInstanceStatus") != AVAILABLE:
        return Outcome(False, {"status": instance.get("DBInstanceStatus")}, wait=POLL)
    call(ctx.aws("rds").modify_db_instance, DBInstanceIdentifier=instance["DBInstanceIdentifier"],
         ApplyImmediately=True, **changes)  # fmt: skip
    return Outcome(False, {"modified": changes}, wait=POLL)


def stop_writes(ctx: Context) -> Outcome:
    """The region's services to zero (scaling bounds first, or scaling starts them again),
    and wait until no task runs: nothing writes to the old instance while it is renamed.

    In DR too: at pilot light DR runs no service before the failover (nothing to do), but
    a warm standby runs its server against the replica, which would otherwise meet the
    restored instance under the replica's endpoint before the failover raises it again
    (``start_services`` sets both bounds and the count from the templates' sizes)."""
    c = ctx.config
    if _in_service(ctx) is not None:
        return Outcome(True, {"services": "in service already: not stopped again"})
    cluster = c["clusters"]["dr"]
    scaling, ecs = ctx.aws("application-autoscaling"), ctx.aws("ecs")
    names = [s["name"] for s in c["services"].values()]
    found = call(ecs.describe_services, cluster=cluster, services=names)["services"]
    for service in found:
        if service.get("desiredCount", 0) == 0:
            continue
        call(
            scaling.register_scalable_target,
            ServiceNamespace="ecs",
            ResourceId=f"service/{cluster}/{service['serviceName']}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=0,
            MaxCapacity=0,
        )
        call(ecs.update_service, cluster=cluster, service=service["serviceName"], desiredCount=0)
    found = call(ecs.describe_services, cluster=cluster, services=names)["services"]
    running = {s["serviceName"]: s.get("runningCount", 0) for s in found}
    if any(running.values()):
        return Outcome(False, {"running": running}, wait=15)
    return Outcome(True, {"stopped": running})


def rename_aside(ctx: Context) -> Outcome:
    """The instance being replaced takes ``<serving>-replaced-<request>``: kept, with its
    data and its replicas ("All read replicas associated with a DB instance remain
    associated with that instance after it is renamed")."""
    c = ctx.config
    serving, aside = c["serving"], c["aside"]
    current = _describe(ctx, serving)
    if current is None or _ours(current, c["request"]):
        moved = _describe(ctx, aside)
        if moved is not None and moved.get("DBInstanceStatus") != AVAILABLE:
            return Outcome(False, {"aside": aside, "status": moved.get("DBInstanceStatus")},
                           wait=POLL)  # fmt: skip
        return Outcome(True, {"aside": aside if moved else None,
                              "note": "" if moved else f"no {serving} to move aside"})  # fmt: skip
    if _pending_name(current) == aside or current.get("DBInstanceStatus") != AVAILABLE:
        return Outcome(False, {"renaming": serving, "status": current.get("DBInstanceStatus")},
                       wait=POLL)  # fmt: skip
    _rename(ctx, serving, aside)
    return Outcome(False, {"renaming": f"{serving} -> {aside}"}, wait=POLL)


def fence_aside(ctx: Context) -> Outcome:
    """Close the replaced instance to everything: its only security group becomes the
    VPC's default group, which the platform keeps without rules
    (``restrict_default_security_group``), and deletion protection stays on. A renamed
    instance has an endpoint no consumer knows, but a fence must not depend on that,
    and a stopped instance restarts by itself after seven days."""
    c = ctx.config
    aside = _describe(ctx, c["aside"])
    if aside is None:
        return Outcome(True, {"fenced": "no instance was replaced"})
    vpc = (aside.get("DBSubnetGroup") or {}).get("VpcId")
    found = call(ctx.aws("ec2").describe_security_groups, Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [DEFAULT_GROUP]},
    ])["SecurityGroups"]  # fmt: skip
    if not found:
        raise StepFailed(f"the VPC {vpc} of {c['aside']} has no default security group")
    default = found[0]["GroupId"]
    groups = [g["VpcSecurityGroupId"] for g in aside.get("VpcSecurityGroups", [])]
    changes: dict[str, Any] = {}
    if groups != [default]:
        changes["VpcSecurityGroupIds"] = [default]
    if not aside.get("DeletionProtection"):
        changes["DeletionProtection"] = True
    if not changes:
        return Outcome(True, {
            "aside": c["aside"], "security_groups": groups, "deletion_protection": True,
            "replicas": aside.get("ReadReplicaDBInstanceIdentifiers", []),
        })  # fmt: skip
    if aside.get("DBInstanceStatus") != AVAILABLE:
        return Outcome(False, {"status": aside.get("DBInstanceStatus")}, wait=POLL)
    call(ctx.aws("rds").modify_db_instance, DBInstanceIdentifier=c["aside"],
         ApplyImmediately=True, **changes)  # fmt: skip
    return Outcome(False, {"fencing": changes}, wait=POLL)


def take_serving_name(ctx: Context) -> Outcome:
    """The restored instance takes the serving identifier, and so its endpoint."""
    c = ctx.config
    serving = _describe(ctx, c["serving"])
    if serving is not None:
        if not _ours(serving, c["request"]):
            raise StepFailed(
                f"{c['serving']} is held by an instance that is not this restore's "
                f"(request {c['request']}): it was not moved aside"
            )
        if serving.get("DBInstanceStatus") != AVAILABLE:
            return Outcome(False, {"status": serving.get("DBInstanceStatus")}, wait=POLL)
        return Outcome(
            True,
            {
                "serving": c["serving"],
                "restored": c["restored"],
                "endpoint": (serving.get("Endpoint") or {}).get("Address"),
            },
        )
    restored = _describe(ctx, c["restored"])
    if restored is None:
        raise StepFailed(f"{c['restored']} is gone and nothing serves as {c['serving']}")
    if _pending_name(restored) == c["serving"] or restored.get("DBInstanceStatus") != AVAILABLE:
        return Outcome(False, {"status": restored.get("DBInstanceStatus")}, wait=POLL)
    _rename(ctx, c["restored"], c["serving"])
    return Outcome(False, {"renaming": f"{c['restored']} -> {c['serving']}"}, wait=POLL)


def _bootstrap_started_by(ctx: Context) -> str:
    return steps._started_by(ctx.run, "logins").replace("failover-", "restore-")[:36]


def _bootstrap_tasks(ctx: Context) -> list[str]:
    """The bootstrap tasks this run started (by ``startedBy``): once one exists, the
    master password was reset before it (the step's order), so a resumed run does not
    reset it again."""
    ecs, cluster = ctx.aws("ecs"), ctx.config["clusters"]["dr"]
    found: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        found += call(ecs.list_tasks, cluster=cluster, startedBy=_bootstrap_started_by(ctx),
                      desiredStatus=status)["taskArns"]  # fmt: skip
    return found


def reset_logins(ctx: Context) -> Outcome:
    """The database logins the secrets hold, on the restored instance, in the region it
    serves from (``ctx.dr``: the primary, or DR after a restore from DR's vault).

    A restored instance keeps the passwords of its recovery point; a rotation since then
    left newer ones in the secrets, so Twenty could not log in. First the master's: RDS
    sets it through ModifyDBInstance (``MasterUserPassword``: "a way to regain access to a
    primary instance user if the password is lost", "asynchronously applied as soon as
    possible", and until then it "exists in the PendingModifiedValues element";
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html),
    from the master secret's current value; the step waits until the instance is available
    with nothing pending. Then the deploy's bootstrap task, once, as the master: its SQL,
    which never resets an existing user's password, with ``RESET_PASSWORD_SQL`` appended in an
    environment override, so Twenty's own user takes its secret's current password
    (the task reads both secrets; compute/application.py ``add_bootstrap``). The override
    carries SQL, no password, and fits RunTask's "total of 8192 characters" for overrides
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html).

    In DR the secrets are the primary's replicas, readable there with DR's key and holding
    the newest rotation's values ("the new secret value propagates to all of the
    associated replica secrets";
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html),
    and the task is DR's own bootstrap definition (the DR
    application stack's, ``PG_HOST`` the replica's endpoint, which the restored instance
    now holds). It runs before ``fail_over``: the failover's writability check logs in as
    Twenty's user (the SQL task, docs/adr/0045), and DR's rotation, attached once traffic
    has moved, logs in with the secrets' passwords.
    """
    c = ctx.config
    serving = _describe(ctx, c["serving"])
    if serving is None:
        raise StepFailed(f"nothing serves as {c['serving']}")
    status = serving.get("DBInstanceStatus")
    pending = "MasterUserPassword" in (serving.get("PendingModifiedValues") or {})
    if not c.get("master_reset") and not _bootstrap_tasks(ctx):
        if status != AVAILABLE:
            return Outcome(False, {"status": status}, wait=POLL)
        secret = call(ctx.aws("secretsmanager").get_secret_value, SecretId=c["master_secret"])
        password = json.loads(secret["SecretString"])["password"]
        call(ctx.aws("rds").modify_db_instance, DBInstanceIdentifier=c["serving"],
             MasterUserPassword=password, ApplyImmediately=True)  # fmt: skip
        c["master_reset"] = True
        return Outcome(False, {"master": "resetting from its secret"}, wait=POLL)
    if status != AVAILABLE or pending:
        return Outcome(False, {"master": "resetting", "status": status}, wait=POLL)
    c["master_reset"] = True
    sql = app_user.BOOTSTRAP_SQL + app_user.RESET_PASSWORD_SQL
    found = steps.one_off(
        ctx, region=ctx.dr, cluster=c["clusters"]["dr"], family=c["bootstrap_family"],
        started_by=_bootstrap_started_by(ctx),
        overrides={"containerOverrides": [{
            "name": BOOTSTRAP_CONTAINER,
            "environment": [{"name": BOOTSTRAP_SQL_VARIABLE, "value": sql}],
        }]},
    )  # fmt: skip
    if found["state"] == "running":
        return Outcome(False, {"bootstrap": "running", "tasks": found["tasks"]}, wait=15)
    if found["state"] == "started":
        return Outcome(False, {"bootstrap": found["task"]}, wait=15)
    if found["state"] == "exhausted":
        raise StepFailed(
            f"the bootstrap task failed {found['tasks']} times: {found['reasons']}; the "
            "services stay stopped (docs/emergency-recovery.md, section 5)"
        )
    return Outcome(True, {"master": "reset from its secret", "bootstrap": found["task"],
                          "app_user": "password set from its secret"})  # fmt: skip


def fail_over(ctx: Context) -> Outcome:
    """DR only: the failover's state machine, forced, onto the restored instance (which
    it finds promoted already); followed until it ends."""
    c = ctx.config
    names: Names = c["names"]
    started = c.get("failover")
    if started is None:
        started = failover_commands.start(names, ctx.client, force=True, now=ctx.now())
        c["failover"] = started
    arn = failover_commands.execution_arn(names, started.execution)
    status = str(call(ctx.aws("stepfunctions").describe_execution, executionArn=arn)["status"])
    detail = {"execution": started.execution, "incident": started.incident, "status": status}
    if status == "RUNNING":
        return Outcome(False, detail, wait=POLL)
    if status != "SUCCEEDED":
        raise StepFailed(f"the failover onto the restored instance ended {status}: {detail}")
    return Outcome(True, detail)


def report(ctx: Context) -> Outcome:
    """What the operator still owns, from what the steps recorded (no AWS call)."""
    c = ctx.config
    fenced = ctx.results.get("fence_aside", {})
    attention = []
    if fenced.get("aside"):
        attention.append(
            f"{c['aside']} is kept and fenced (default security group, deletion protection): "
            "delete it once the restored data is confirmed"
        )
    if fenced.get("replicas"):
        attention.append(
            f"the DR replica {fenced['replicas']} still follows {c['aside']}, not the serving "
            "database: rebuild it (crm-platform failback rebuilds the DR replica; "
            "docs/emergency-recovery.md)"
        )
    if "reset_logins" not in ctx.results:  # a step list without it (a sabotaged drill)
        attention.append(
            "the database users' passwords are those of the recovery point: if a rotation "
            "ran since, rotate the secrets now (assumed, verify on staging)"
        )
    return Outcome(True, {"attention": attention})


_BEFORE_NAME: tuple[Step, ...] = (
    Step("restore_instance", "restore the point into a new instance", restore_instance,
         6 * 3600, poll=True),
    Step("validate_restored", "restore-test checks and placement; tag it", validate_restored, 300),
    Step("protect_restored", "deletion protection and backup retention", protect_restored,
         1800, poll=True),
    Step("stop_writes", "the region's services to zero, until none runs", stop_writes, 900,
         poll=True),
    Step("rename_aside", "the replaced instance to <serving>-replaced-<request>",
         rename_aside, 1800, poll=True),
    Step("fence_aside", "the replaced instance closed (default group), kept", fence_aside,
         1800, poll=True),
    Step("take_serving_name", "the restored instance takes the serving identifier",
         take_serving_name, 1800, poll=True),
)  # fmt: skip
PRIMARY_STEPS: tuple[Step, ...] = (
    *_BEFORE_NAME,
    Step(
        "reset_logins",
        "the master's and Twenty's passwords from their secrets",
        reset_logins,
        1800,
        poll=True,
    ),
    Step("start_services", "services back to their template sizes", steps.start_services, 120),
    Step("point_tier", "the tier names the serving endpoint", steps.point_tier, 60),
    Step("wait_healthy", "running tasks and healthy targets", steps.wait_healthy, 900, poll=True),
    Step("report", "what is kept, fenced and still to do", report, 60, reads_results=True),
)
DR_STEPS: tuple[Step, ...] = (
    *_BEFORE_NAME,
    Step("reset_logins", "the master's and Twenty's passwords from DR's secret replicas",
         reset_logins, 1800, poll=True),
    Step("fail_over", "the failover's state machine onto it (forced)", fail_over,
         3 * 3600, poll=True),
    Step("report", "what is kept, fenced and still to do", report, 60, reads_results=True),
)  # fmt: skip


def step_list(names: Names, region: str) -> tuple[Step, ...]:
    return PRIMARY_STEPS if region == names.primary_region else DR_STEPS


def plan_lines(names: Names, region: str) -> list[tuple[str, str]]:
    return [(s.name, s.summary) for s in step_list(names, region)]


def run_steps(
    ctx: Context,
    step_list: tuple[Step, ...],
    *,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[StepReport], None] = lambda _r: None,
) -> RunReport:
    """Each step in order, as the failover's local runner runs them (the same retry
    policy, a polling step called again after its wait, a timeout counted from the step's
    first start), without the DR run table: the world is the record, so a second run
    resumes by finding each effect in place."""
    reports = [StepReport(s.name, "not reached") for s in step_list]
    jitter = random.Random(ctx.run)  # noqa: S311 - a wait, not a secret
    for report_, step in zip(reports, step_list, strict=True):
        report_.started = ctx.now()
        retries = 0
        while True:
            report_.attempts += 1
            try:
                outcome = step.run(ctx)
            except steps.Retryable as err:
                retries += 1
                if retries > RETRY.max_retries:
                    report_.status, report_.detail = "failed", {"error": "Retryable",
                                                                "message": str(err)}  # fmt: skip
                    break
                sleep(RETRY.delay(retries, jitter))
                continue
            except (StepFailed, ClientError, restore.RestoreFailed) as err:
                report_.status = "failed"
                report_.detail = {"error": type(err).__name__, "message": str(err)}
                break
            report_.detail = outcome.detail
            if outcome.done:
                report_.status = "done"
                break
            if ctx.now() - report_.started + outcome.wait > step.timeout_seconds:
                report_.status = "failed"
                report_.detail = {
                    "error": "StepTimedOut",
                    "message": (
                        f"{step.name} did not finish within {step.timeout_seconds}s: "
                        f"{outcome.detail}; run restore --execute again to keep following it"
                    ),
                }
                break
            sleep(max(outcome.wait, 1))
        report_.ended = ctx.now()
        if report_.status == "done":
            ctx.results[step.name] = report_.detail
        progress(report_)
        if report_.status == "failed":
            break
    return RunReport(ctx.run, reports)


def execute(
    names: Names,
    settings: Settings,
    client: restore.Client,
    p: restore.Plan,
    *,
    progress: Callable[[StepReport], None] = lambda _r: None,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    chosen: tuple[Step, ...] | None = None,
) -> RunReport:
    """Restore, validate and put into service: the whole journey, resumable."""
    ctx = Context(config=service_config(names, settings, p), client=client, now=now,
                  run=f"restore-{p.request_id}")  # fmt: skip
    return run_steps(ctx, chosen or step_list(names, p.region), sleep=sleep, progress=progress)
