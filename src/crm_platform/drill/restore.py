"""The drill's restore scenarios: ``crm-platform restore --execute`` rehearsed end to end.

A bad write (a migration, an operator's mistake) corrupts the primary database; the
operator restores it from AWS Backup, to the latest restorable time or to a point in time
before the damage, and puts the restored instance into service through the same code the
CLI runs (ops/restore.py plans, ops/restore_service.py runs the steps), as the operator
role, every call authorized by the model like the failover's.

moto has no AWS Backup. What the restore reads and starts there (the vault's recovery
points, a point's restore metadata, restore jobs) is modelled here: each answer is built
in AWS's response shape and checked against botocore's service model before it is
returned, as botocore's Stubber checks canned responses. A restore job creates the
instance in moto (the placement its metadata names, the point's key) and reports
``RUNNING`` until ``backup.restore`` (plus ``backup.pitr_replay`` for a point in time) has
passed. RDS renames are moto's; the modelled RDS keeps a renamed instance ``renaming``
for ``rds.rename``. These are reported as "not emulated" in the drill's notes.

The checks read every step's effect back from the emulator and the call log, so removing
any step's effect turns the verdict to FAIL (tests/test_drill_restore.py does that).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import ParamValidator

from crm_platform.authz.requests import Call
from crm_platform.capacity import planned
from crm_platform.drill.checks import Check
from crm_platform.drill.modelled import INFINITY, Event
from crm_platform.drill.run import Rehearsal, ScenarioReport
from crm_platform.drill.scenarios import Scenario
from crm_platform.drill.world import _botocore_session
from crm_platform.failover.local_runner import StepReport
from crm_platform.ops import restore, restore_service
from crm_platform.ops.restore_points import RestoreRefused

NOTES = [
    "restore: moto has no AWS Backup; recovery points, restore metadata and restore jobs "
    "are modelled (answers in AWS's response shapes, validated against botocore's service "
    "model); a job creates the instance in moto after backup.restore (+ backup.pitr_replay "
    "for a point in time)",
    "restore: point-in-time restore is not emulated; the modelled job records the time it "
    "restores to and the check compares it with the chosen point",
    "restore: RDS renames are moto's (the endpoint follows the identifier); the modelled "
    "RDS keeps a renamed instance 'renaming' for rds.rename",
]
MODELLED = frozenset(
    {"restore_instance", "rename_aside", "take_serving_name", "reset_logins", "wait_healthy",
     "fail_over"}
)  # fmt: skip
DAMAGE_BEFORE_DETECTION = 1200  # the bad write happened 20 minutes before anyone saw it


def shaped(service: str, operation: str, response: dict[str, Any]) -> dict[str, Any]:
    """``response`` if it has the shape AWS answers ``operation`` with (botocore's model)."""
    model = _botocore_session().get_service_model(service).operation_model(operation)
    assert model.output_shape is not None, f"{service}.{operation} answers nothing"
    report = ParamValidator().validate(response, model.output_shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())
    return response


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class Job:
    job_id: str
    point: str
    role: str
    metadata: dict[str, str]
    started: float
    done: float
    identifier: str
    arn: str = ""


@dataclass
class ModelledBackup:
    """AWS Backup (and the rename delay of RDS) in front of moto, for one scenario."""

    rehearsal: RestoreRehearsal
    points: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    renames: dict[str, float] = field(default_factory=dict)  # new identifier -> done at

    def now(self) -> float:
        return self.rehearsal.clock.now()

    def before(self, call: Call, _principal: Any) -> dict[str, Any] | None:
        op = f"{call.service}.{call.operation}"
        if op == "backup.ListRecoveryPointsByBackupVault":
            vault = str(call.params["BackupVaultName"])
            rows = [p for p in self.points if p["BackupVaultName"] == vault]
            return shaped("backup", call.operation, {"RecoveryPoints": rows})
        if op == "backup.GetRecoveryPointRestoreMetadata":
            return shaped("backup", call.operation, {
                "BackupVaultArn": f"arn:aws:backup:{call.region}:{self.rehearsal.names.account}:"
                                  f"backup-vault:{call.params['BackupVaultName']}",
                "RecoveryPointArn": call.params["RecoveryPointArn"],
                "RestoreMetadata": dict(self.metadata), "ResourceType": "RDS",
            })  # fmt: skip
        if op == "backup.ListRestoreJobs":
            return shaped("backup", call.operation, {"RestoreJobs": [
                self._job(j) for j in self.jobs.values()]})  # fmt: skip
        if op == "backup.StartRestoreJob":
            return self._start(call)
        if op == "backup.DescribeRestoreJob":
            job = self.jobs.get(str(call.params["RestoreJobId"]))
            if job is None:
                raise _error("ResourceNotFoundException", "no such job", call.operation)
            return shaped("backup", call.operation, self._job(job))
        if op == "rds.ModifyDBInstance":
            self._modify(call)
        return None

    def after(self, call: Call, parsed: dict[str, Any]) -> None:
        if f"{call.service}.{call.operation}" != "rds.DescribeDBInstances":
            return
        for db in parsed.get("DBInstances", []):
            name = db["DBInstanceIdentifier"]
            # moto's is the wall clock's; RDS's trails now by up to five minutes (USER_PIT).
            db["LatestRestorableTime"] = datetime.fromtimestamp(self.now() - 120, UTC)
            if self.now() < self.renames.get(name, -INFINITY):
                db["DBInstanceStatus"] = "renaming"
            job = next((j for j in self.jobs.values() if j.identifier == name), None)
            if job is not None and self.now() < job.done:
                db["DBInstanceStatus"] = "creating"

    # --- restore jobs -----------------------------------------------------------------------
    def _job(self, job: Job) -> dict[str, Any]:
        running = self.now() < job.done
        answer: dict[str, Any] = {
            "RestoreJobId": job.job_id, "RecoveryPointArn": job.point, "IamRoleArn": job.role,
            "Status": "RUNNING" if running else "COMPLETED", "ResourceType": "RDS",
            "CreationDate": datetime.fromtimestamp(job.started, UTC),
        }  # fmt: skip
        if not running:
            answer["CreatedResourceArn"] = job.arn
            answer["CompletionDate"] = datetime.fromtimestamp(job.done, UTC)
        return answer

    def _start(self, call: Call) -> dict[str, Any]:
        r = self.rehearsal
        metadata = {str(k): str(v) for k, v in dict(call.params["Metadata"]).items()}
        identifier = metadata["DBInstanceIdentifier"]
        point = str(call.params["RecoveryPointArn"])
        source = next((p for p in self.points if p["RecoveryPointArn"] == point), None)
        if source is None:
            raise _error("ResourceNotFoundException", f"{point} not found", call.operation)
        reference = (
            r.world.raw("rds", call.region).describe_db_instances(
                DBInstanceIdentifier=restore.reference_instance(r.names, call.region)
            )["DBInstances"][0]
            if r.original
            else {}
        )
        # The instance as AWS Backup creates it: the placement its metadata names.
        r.world.raw("rds", call.region).create_db_instance(
            DBInstanceIdentifier=identifier, Engine="postgres",
            EngineVersion=str(reference.get("EngineVersion", "16.4")),
            DBInstanceClass=str(reference.get("DBInstanceClass", "db.t4g.medium")),
            AllocatedStorage=int(reference.get("AllocatedStorage", 20)),
            MasterUsername="twenty_admin", MasterUserPassword="restored-from-the-point",
            DBSubnetGroupName=metadata["DBSubnetGroupName"],
            VpcSecurityGroupIds=json.loads(metadata["VpcSecurityGroupIds"]),
            DBParameterGroupName=metadata["DBParameterGroupName"],
            MultiAZ=metadata.get("MultiAZ") == "true", StorageEncrypted=True,
            KmsKeyId=str(source["EncryptionKeyArn"]),
        )  # fmt: skip
        created = r.world.raw("rds", call.region).describe_db_instances(
            DBInstanceIdentifier=identifier
        )["DBInstances"][0]
        now = self.now()
        took = r.seconds("backup.restore") + (
            r.seconds("backup.pitr_replay") if ":continuous:" in point else 0.0
        )
        job = Job(f"job-{len(self.jobs) + 1}", point, str(call.params["IamRoleArn"]), metadata,
                  now, now + took, identifier, created["DBInstanceArn"])  # fmt: skip
        self.jobs[job.job_id] = job
        r.aws.events.append(
            Event(
                "AWS Backup restore job",
                now,
                job.done,
                "modelled: creating the instance from the recovery point",
            )
        )
        return shaped("backup", call.operation, {"RestoreJobId": job.job_id})

    def _modify(self, call: Call) -> None:
        db = str(call.params["DBInstanceIdentifier"])
        if self.now() < self.renames.get(db, -INFINITY):
            raise _error("InvalidDBInstanceState", f"{db} is renaming", call.operation)
        new = call.params.get("NewDBInstanceIdentifier")
        if new:
            done = self.now() + self.rehearsal.seconds("rds.rename")
            self.renames[str(new)] = done
            aws = self.rehearsal.aws
            if str(new) == aws.replica and call.region == aws.dr_region:
                # A restored instance takes the replica's name (drill/restore_dr.py): from
                # then DR's endpoint answers with a standalone database.
                aws.restored_serving_at = done
            self.rehearsal.aws.events.append(
                Event(f"rename {db} -> {new}", self.now(), done, "modelled: the new name's DNS")
            )


class RestoreRehearsal(Rehearsal):
    """One restore scenario at one quantile: the primary database restored and in service."""

    original: dict[str, Any]
    point_key: str = ""

    since: float = -INFINITY  # calls before this belong to earlier parts of a sequence

    def run(self) -> ScenarioReport:
        wall = time.perf_counter()
        self.stand_up()
        self.original = {}
        self.install_backup()
        self.place_primary()
        return self.restore(wall)

    @classmethod
    def following(cls, before: Rehearsal, scenario: Scenario) -> RestoreRehearsal:
        """A restore on the world ``before`` left behind (the drill's failover -> failback
        -> restore sequence): the same emulator, clock, modelled AWS and stood-up platform;
        its checks read only what happened from now on."""
        r = cls.__new__(cls)
        r.__dict__.update(before.__dict__)
        r.scenario = scenario
        r.starts, r.step_reports, r.step_wall = [], [], {}
        r.original = {}
        r.since = before.clock.now()
        r.install_backup()
        return r

    def install_backup(self) -> None:
        """AWS Backup (modelled) in front of whatever the world already models."""
        self.backup = ModelledBackup(self)
        failover_before, failover_after = self.world.hooks.before, self.world.hooks.after

        def before(call: Call, principal: Any) -> dict[str, Any] | None:
            return self.backup.before(call, principal) or failover_before(call, principal)

        def after(call: Call, parsed: dict[str, Any]) -> None:
            failover_after(call, parsed)
            self.backup.after(call, parsed)

        self.world.hooks.before, self.world.hooks.after = before, after

    @property
    def region(self) -> str:
        """The region the restore runs in (its vault, its database)."""
        return str(self.dr if self.scenario.restore_region == "dr" else self.primary)

    def lose(self) -> None:
        """What is lost when the damage is seen, besides the data (drill/restore_dr.py)."""

    def restore(self, wall: float) -> ScenarioReport:
        """The damage is seen; the operator restores and puts the restored instance into
        service with the CLI's code."""
        names = self.names
        self.original = self.describe(restore.reference_instance(names, self.region)) or {}
        self.clock.sleep(60)
        self.outage_at = self.clock.now()  # the damage is seen
        self.lose()
        damaged_at = self.outage_at - DAMAGE_BEFORE_DETECTION
        self.seed_recovery_points()
        self.clock.sleep(self.seconds("operator.decision"))
        self.decided_at = self.clock.now()
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        point = self.scenario.restore_point
        chosen = (datetime.fromtimestamp(damaged_at - 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                  if point == "time" else "latest")  # fmt: skip
        self.chosen = chosen
        client = self.world.clients(self.operator)
        status, failure = "FAILED", ""
        try:
            plan = restore.plan(names, client, point=chosen, region=self.region,
                                retention_days=self.settings.backup.retention_days,
                                multi_az=self.settings.database.multi_az, now=now)  # fmt: skip
            self.plan = plan
            mark = [time.perf_counter()]

            def progress(report: StepReport) -> None:
                t = time.perf_counter()
                self.step_wall[report.name] = t - mark[0]
                mark[0] = t
                self.step_reports.append(report)
                self.setup.on_step(report)

            result = restore_service.execute(
                names, self.settings, client, plan, now=self.clock.now, sleep=self.clock.sleep,
                progress=progress, chosen=self.setup.restore_steps,
            )  # fmt: skip
            failed = result.failed_step
            status = "SUCCEEDED" if failed is None else "FAILED"
            failure = "" if failed is None else f"{failed.name}: {failed.detail}"
        except (ClientError, RestoreRefused) as err:
            failure = f"plan: {err}"
        self.starts.append(f"restore --point {chosen} --execute: {status}")
        return self.restore_report(status, failure, time.perf_counter() - wall)

    # --- the platform as AWS has it --------------------------------------------------------
    def describe(self, identifier: str) -> dict[str, Any] | None:
        return restore.describe(self.world.raw("rds", self.region), identifier)

    def place_primary(self) -> None:
        place_primary(self)

    def seed_recovery_points(self) -> None:
        """The primary vault as AWS Backup keeps it: the continuous point of the database
        (30 days old) and last night's snapshot point."""
        names, now = self.names, self.clock.now()
        vault = names.backup_vault(self.primary)
        # The stand-up creates the instance without its key (moto's default): the point
        # names the platform's key, which the restored instance must be encrypted with.
        key = self.original.get("KmsKeyId") or names.kms_alias_arn(self.primary)
        self.point_key = str(key)
        base = {"BackupVaultName": vault, "ResourceArn": names.db_instance_arn,
                "ResourceType": "RDS", "Status": "COMPLETED", "EncryptionKeyArn": key,
                "IsEncrypted": True}  # fmt: skip
        account, region = names.account, self.primary

        def at(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, UTC)

        self.continuous = f"arn:aws:backup:{region}:{account}:recovery-point:continuous:db-drill"
        self.backup.points = [
            {**base, "RecoveryPointArn": self.continuous, "CreationDate": at(now - 30 * 86400),
             "CompletionDate": at(now - 30 * 86400 + 1200)},
            {**base, "RecoveryPointArn": f"arn:aws:rds:{region}:{account}:snapshot:awsbackup:job-1",
             "CreationDate": at(now - 8 * 3600), "CompletionDate": at(now - 8 * 3600 + 900)},
        ]  # fmt: skip
        o = self.original
        self.backup.metadata = {
            "DBInstanceIdentifier": names.db_instance, "Engine": "postgres",
            "DBInstanceClass": str(o.get("DBInstanceClass", "")), "MultiAZ": "true",
            "AvailabilityZone": f"{region}a", "StorageType": "gp3", "Port": "5432",
        }  # fmt: skip

    # --- the verdict ----------------------------------------------------------------------------
    def restore_report(self, status: str, failure: str, wall: float) -> ScenarioReport:
        checks = self.outcome(status, failure)
        if status == "SUCCEEDED" or self.step_reports:
            checks += self.effect_checks()
        denied = [
            {"at": round(r.at - self.outage_at, 1), "principal": r.principal,
             "call": r.call.describe(), "missing": r.denied}
            for r in self.world.log if r.outcome == "denied" and r.at >= self.since
        ]  # fmt: skip
        serving = self.serving_again()
        t0 = self.outage_at
        steps_out = [
            {"name": r.name, "status": r.status, "attempts": r.attempts, "note": r.note,
             "modelled": r.name in MODELLED,
             "start": None if r.started is None else round(r.started - t0, 1),
             "end": None if r.ended is None else round(r.ended - t0, 1),
             "wall_seconds": round(self.step_wall.get(r.name, 0.0), 3), "detail": r.detail}
            for r in self.step_reports
        ]  # fmt: skip
        bars = [{"label": "operator decides", "start": 0.0,
                 "end": round(self.decided_at - t0, 1), "kind": "decision",
                 "status": "modelled", "critical": True, "note": ""}]  # fmt: skip
        for r in self.step_reports:
            if r.started is not None and r.ended is not None:
                bars.append({"label": r.name, "start": round(r.started - t0, 1),
                             "end": round(r.ended - t0, 1),
                             "kind": "modelled" if r.name in MODELLED else "step",
                             "status": r.status, "critical": r.ended <= serving + 1e-6,
                             "note": r.note})  # fmt: skip
        for event in (e for e in self.aws.events if e.end >= self.since):
            bars.append({"label": event.name, "start": round(event.start - t0, 1),
                         "end": round(event.end - t0, 1), "kind": "background",
                         "status": "modelled", "critical": False, "note": event.note})  # fmt: skip
        minutes = None if serving == INFINITY else round((serving - t0) / 60, 1)
        checks.append(Check(
            "serving again from the restored database (modelled time from the damage seen)",
            "-", minutes is not None, f"{minutes} min" if minutes is not None else "never",
            "outcome"))  # fmt: skip
        return ScenarioReport(
            scenario=self.scenario.name, summary=self.scenario.summary,
            expected=self.scenario.describe_expected(), quantile=self.quantile,
            passed=all(c.ok for c in checks) and not denied, seconds=round(wall, 2),
            steps=steps_out, bars=bars, checks=[asdict(c) for c in checks], denied=denied,
            rto=None, rpo=self.rpo(),
            starts=self.starts, failure=failure, permissions=self._permissions(),
        )  # fmt: skip

    def effect_checks(self) -> list[Check]:
        return effect_checks(self)

    def rpo(self) -> dict[str, Any]:
        return {"seconds": None if self.chosen == "latest" else DAMAGE_BEFORE_DETECTION + 60,
                "reading": f"restored to {self.chosen}: the writes after that point are not "
                           "in the restored database (kept in the replaced instance)"}  # fmt: skip

    def serving_again(self) -> float:
        healthy = next((r for r in self.step_reports
                        if r.name == "wait_healthy" and r.status == "done"), None)  # fmt: skip
        return healthy.ended if healthy is not None and healthy.ended is not None else INFINITY

    def outcome(self, status: str, failure: str) -> list[Check]:
        return [Check("the restore reached service", "-", status == "SUCCEEDED",
                      "completed" if status == "SUCCEEDED" else failure, "outcome")]  # fmt: skip


def _calls(r: RestoreRehearsal, operation: str, **where: Any) -> list[tuple[float, dict[str, Any]]]:
    return [
        (c.at, dict(c.call.params)) for c in r.world.calls(operation)
        if c.at >= r.since and c.principal == r.operator.label
        and all(c.call.params.get(k) == v for k, v in where.items())
    ]  # fmt: skip


def validated_check(r: RestoreRehearsal, tags: dict[str, str], request: str | None) -> Check:
    """validate_restored's effect, in either region: the restore test's verdict, and the
    request's and the backup plan's tags on the restored instance."""
    key, value = r.names.backup_selection_tag
    validated = next((s.detail for s in r.step_reports if s.name == "validate_restored"), {})
    return Check(
        "validated (available, encrypted, placement) and tagged with the request and the "
        "backup plan's tag",
        "validate_restored",
        "available and encrypted" in str(validated.get("verdict", ""))
        and tags.get(restore.REQUEST_TAG) == request
        and tags.get(key) == value,
        {"verdict": validated.get("verdict"), "tags": tags},
        "emulated",
    )


def aside_checks(
    r: RestoreRehearsal, region: str, aside_id: str, aside: dict[str, Any], what: str
) -> list[Check]:
    """rename_aside's and fence_aside's effects, in either region: ``what`` (the replaced
    instance) kept under its request's name, and closed in its VPC's default group with
    deletion protection on.

    moto derives DbiResourceId from the identifier: the instances are told apart by their
    creation time and the request's tag (only the restored one carries it).
    """
    aside_tags = {t["Key"]: t["Value"] for t in aside.get("TagList", [])}
    ec2 = r.world.raw("ec2", region)
    groups = [g["VpcSecurityGroupId"] for g in aside.get("VpcSecurityGroups", [])]
    found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"] if groups else []
    return [
        Check(
            f"{what} kept aside under its request's name (same instance, not deleted, not "
            "this restore's)",
            "rename_aside",
            bool(aside)
            and aside.get("InstanceCreateTime") == r.original.get("InstanceCreateTime")
            and restore.REQUEST_TAG not in aside_tags,
            {"aside": aside_id, "created": aside.get("InstanceCreateTime"),
             "original created": r.original.get("InstanceCreateTime")},
            "modelled",
        ),
        Check(
            f"{what} fenced: only its VPC's default group (no rules from other groups), "
            "deletion protection on",
            "fence_aside",
            len(found) == 1 and found[0]["GroupName"] == "default"
            and not any(pair for perm in found[0].get("IpPermissions", [])
                        for pair in perm.get("UserIdGroupPairs", [])
                        if pair.get("GroupId") != found[0]["GroupId"])
            and aside.get("DeletionProtection") is True,
            {"groups": [(g["GroupId"], g["GroupName"]) for g in found],
             "deletion protection": aside.get("DeletionProtection")},
        ),
    ]  # fmt: skip


def effect_checks(r: RestoreRehearsal) -> list[Check]:
    """One check per step's effect, read back from the emulator and the call log."""
    names, checks = r.names, []
    p: restore.Plan | None = getattr(r, "plan", None)

    def check(name: str, step: str, ok: bool, observed: Any, kind: str = "emulated") -> None:
        checks.append(Check(name, step, bool(ok), observed, kind))  # type: ignore[arg-type]

    serving = r.describe(names.db_instance) or {}
    aside_id = restore_service.aside_identifier(names.db_instance, p.request_id) if p else ""
    aside = r.describe(aside_id) or {} if aside_id else {}
    restored_id = p.identifier if p else ""
    jobs = list(r.backup.jobs.values())
    job = jobs[0] if jobs else None
    wanted_time = None if r.chosen == "latest" else r.chosen
    md = job.metadata if job else {}
    check(
        f"one restore job from the chosen point ({r.chosen}) into a new instance, placed "
        "like the primary, encrypted with the point's key, as the restore role",
        "restore_instance",
        len(jobs) == 1 and job is not None and job.point == r.continuous
        and md.get("DBInstanceIdentifier") == restored_id != names.db_instance
        and (md.get("RestoreTime") == wanted_time if wanted_time
             else md.get("UseLatestRestorableTime") == "true")
        and md.get("DBSubnetGroupName") == (r.original.get("DBSubnetGroup") or {}).get(
            "DBSubnetGroupName")
        and serving.get("KmsKeyId") == r.point_key
        and job.role.endswith(f":role/{names.restore_break_glass_role}"),
        {"jobs": len(jobs), "point": job and job.point, "metadata": md},
        "modelled",
    )  # fmt: skip
    tags = {t["Key"]: t["Value"] for t in serving.get("TagList", [])}
    checks.append(validated_check(r, tags, p.request_id if p else None))
    check(
        "the serving database has deletion protection and the configured backup retention",
        "protect_restored",
        serving.get("DeletionProtection") is True
        and int(serving.get("BackupRetentionPeriod", 0))
        >= r.settings.database.backup_retention_days,
        {k: serving.get(k) for k in ("DeletionProtection", "BackupRetentionPeriod")},
    )
    cluster = names.ecs_cluster(r.primary)
    stopped = [t for t, _p in _calls(r, "UpdateService", cluster=cluster, desiredCount=0)]
    renamed_aside = [t for t, _p in _calls(r, "ModifyDBInstance",
                                           NewDBInstanceIdentifier=aside_id)]  # fmt: skip
    check(
        "the primary's services stopped (both, scaling to 0) before the old instance moved",
        "stop_writes",
        len(stopped) == 2 and bool(renamed_aside) and max(stopped) < min(renamed_aside),
        {"stopped at": stopped, "renamed at": renamed_aside},
        "modelled",
    )
    checks += aside_checks(r, r.primary, aside_id, aside, "the old instance")
    restored_arn = job.arn if job else ""
    check(
        "the restored instance serves under the platform's identifier, at the same endpoint",
        "take_serving_name",
        serving.get("DBInstanceArn", "").endswith(f":db:{names.db_instance}")
        and r.describe(restored_id) is None
        and bool(restored_arn)
        and serving.get("InstanceCreateTime") != r.original.get("InstanceCreateTime")
        and tags.get(restore.REQUEST_TAG) == (p.request_id if p else None)
        and (serving.get("Endpoint") or {}).get("Address")
        == (r.original.get("Endpoint") or {}).get("Address"),
        {"serving created": serving.get("InstanceCreateTime"),
         "endpoint": (serving.get("Endpoint") or {}).get("Address"),
         "original endpoint": (r.original.get("Endpoint") or {}).get("Address")},
        "modelled",
    )  # fmt: skip
    sizes = planned(r.settings, "primary")
    want = {names.server_service: sizes.server.desired, names.worker_service: sizes.worker.desired}
    found_services = r.world.raw("ecs", r.primary).describe_services(
        cluster=cluster, services=list(want))["services"]  # fmt: skip
    desired = {s["serviceName"]: s["desiredCount"] for s in found_services}
    named_at = [
        t for t, _p in _calls(r, "ModifyDBInstance", NewDBInstanceIdentifier=names.db_instance)
    ]
    raised = [t for t, p_ in _calls(r, "UpdateService", cluster=cluster)
              if int(p_.get("desiredCount", 0)) > 0]  # fmt: skip
    master = json.loads(r.world.raw("secretsmanager", r.primary).get_secret_value(
        SecretId=names.db_secret)["SecretString"])["password"]  # fmt: skip
    reset_at = [t for t, _p in _calls(r, "ModifyDBInstance", DBInstanceIdentifier=names.db_instance,
                                      MasterUserPassword=master)]  # fmt: skip
    bootstrap = [
        (t, p_) for t, p_ in _calls(r, "RunTask", cluster=cluster)
        if str(p_.get("taskDefinition")) == names.task_family("bootstrap")
    ]  # fmt: skip
    ran = [
        task for task in r.aws.one_off.values()
        if task.started >= r.since and task.definition.split("/")[-1].split(":")[0]
        == names.task_family("bootstrap")
    ]  # fmt: skip
    check(
        "the master's password set from its secret on the serving instance, then the "
        "bootstrap task once (Twenty's user's password from its secret), to its end, "
        "after the name was taken and before the services started",
        "reset_logins",
        len(reset_at) == 1 and len(bootstrap) == 1 and len(ran) == 1
        and bool(named_at) and min(reset_at) > max(named_at)
        and bootstrap[0][0] >= reset_at[0]
        and ran[0].status(r.clock.now()) == "STOPPED"
        and bool(raised) and min(raised) > ran[0].ends
        and "ALTER ROLE" in json.dumps(bootstrap[0][1].get("overrides", {})),
        {"master reset at": reset_at, "bootstrap at": [t for t, _p in bootstrap],
         "ended": [t.ends for t in ran], "raised at": raised},
        "modelled",
    )  # fmt: skip
    check(
        "the primary's services back at their template sizes, after the restored instance "
        "took the name",
        "start_services",
        desired == want and bool(named_at) and bool(raised) and min(raised) > max(named_at),
        {"desired": desired, "wanted": want, "named at": named_at, "raised at": raised},
    )
    tier = next((s.detail for s in r.step_reports if s.name == "point_tier"), {})
    endpoint = (serving.get("Endpoint") or {}).get("Address")
    check(
        "the tasks name the serving endpoint (unchanged: the endpoint follows the identifier)",
        "point_tier",
        bool(tier.get("pg_host")) and set(tier["pg_host"].values()) == {endpoint},
        tier,
    )
    healthy = next((s.detail for s in r.step_reports if s.name == "wait_healthy"), {})
    check(
        "the primary serves again: running tasks and healthy targets",
        "wait_healthy",
        int(healthy.get("healthy_targets", 0)) > 0 and r.serving_again() < INFINITY,
        healthy,
        "modelled",
    )
    said = next((s.detail for s in r.step_reports if s.name == "report"), {})
    check(
        "the operator is told what is kept and fenced, and what is left to do",
        "report",
        any(aside_id in line for line in said.get("attention", [])),
        said.get("attention"),
    )
    return checks


def place_primary(r: Rehearsal) -> None:
    """The stand-up creates no DB subnet or parameter group (not emulated types): give
    the primary instance the ones its template names, as CloudFormation does."""
    rds, ec2 = r.world.raw("rds", r.primary), r.world.raw("ec2", r.primary)
    subnet, group = r.up.stand_in_network(r.world.raw, r.primary)
    vpc = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["VpcId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.2.0/24")["Subnet"]["SubnetId"]
    prefix = r.names.prefix
    rds.create_db_subnet_group(
        DBSubnetGroupName=f"{prefix}-database-subnets",
        DBSubnetGroupDescription="drill",
        SubnetIds=[subnet, other],
    )
    rds.create_db_parameter_group(
        DBParameterGroupName=f"{prefix}-database-parameters",
        DBParameterGroupFamily="postgres16",
        Description="drill",
    )
    rds.modify_db_instance(DBInstanceIdentifier=r.names.db_instance,
                           DBSubnetGroupName=f"{prefix}-database-subnets",
                           DBParameterGroupName=f"{prefix}-database-parameters",
                           ApplyImmediately=True)  # fmt: skip
