"""The drill's ``restore-dr`` scenario: ``restore --region dr --point latest --execute``
rehearsed end to end, the failover it starts included.

The journey the DR step list exists for (ops/restore_service.py ``DR_STEPS``): the primary
region is lost and the DR replica cannot serve either. Here the replica is *unusable*
rather than deleted: a bad write (a migration) replicated to it minutes before the
primary region stopped answering, so promoting it would serve the damage. It is still
there, so the steps that move it aside, fence it and keep it have an effect to check.

What is lost is made with the drill's own means: the primary region becomes unreachable
exactly as in ``regional-outage`` (faults.py: every call there fails to connect; the
modelled public URL no longer answers from it). DR's vault holds what AWS Backup copies
there: snapshot recovery points of the primary's database (a cross-Region copy of a
continuous backup is a snapshot, so no point in time), modelled like the primary vault's
in drill/restore.py (botocore's response shapes, reported "not emulated").

The operator runs the CLI's code as the operator role, every call authorized: the plan
in DR, the DR steps, and ``fail_over``'s StartExecution, which the drill runs through the
failover's step list as the state machine's step role (run.py ``Rehearsal.execute``),
forced. The failover's SQL task finds a standalone database once the restored instance
holds the replica's name (modelled.py ``restored_serving_at``). Each DR step's effect is
checked from the emulator and the call log (tests/test_drill_restore.py removes each).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from crm_platform.capacity import planned
from crm_platform.drill.checks import Check
from crm_platform.drill.modelled import INFINITY, Execution
from crm_platform.drill.restore import RestoreRehearsal, _calls, aside_checks, validated_check
from crm_platform.drill.run import ScenarioReport
from crm_platform.ops import restore, restore_service

NOTES = [
    "restore-dr: DR's vault is modelled like the primary's, not emulated (copies of the "
    "primary's snapshot points, in AWS Backup's response shapes); the replica is unusable "
    "(the bad "
    "write replicated to it), not deleted; the forced failover runs the failover's step "
    "list as its step role; the SQL task finds a standalone database once the restored "
    "instance holds the replica's name",
]
COPIES_EVERY = 86400  # the daily plan's copy to DR: one snapshot point a day


class DrRestoreRehearsal(RestoreRehearsal):
    """The primary region and the DR replica lost; DR restored from its vault and failed
    over onto."""

    failover_reports: list[Any]

    def run(self) -> ScenarioReport:
        wall = time.perf_counter()
        self.stand_up()
        self.original = {}
        self.failover_reports = []
        self.install_backup()
        self.place_dr()
        # The switch's beacon runs each minute, as EventBridge schedules it (the traffic
        # switch and the public URL follow what it publishes).
        self.clock.every(60, self.run_beacon, start=self.clock.now() + 2)
        return self.restore(wall)

    def place_dr(self) -> None:
        """The stand-up creates the replica without its DB subnet and parameter groups
        (not emulated types): give it the ones its template names, as CloudFormation does."""
        rds, ec2 = self.world.raw("rds", self.dr), self.world.raw("ec2", self.dr)
        subnet, group = self.up.stand_in_network(self.world.raw, self.dr)
        vpc = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["VpcId"]
        other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.2.0/24")["Subnet"]["SubnetId"]
        prefix = self.names.prefix
        subnets, parameters = f"{prefix}-replica-subnets", f"{prefix}-replica-parameters"
        rds.create_db_subnet_group(
            DBSubnetGroupName=subnets, DBSubnetGroupDescription="drill", SubnetIds=[subnet, other]
        )
        rds.create_db_parameter_group(
            DBParameterGroupName=parameters, DBParameterGroupFamily="postgres17",
            Description="drill",
        )  # fmt: skip
        rds.modify_db_instance(
            DBInstanceIdentifier=self.names.db_replica, DBSubnetGroupName=subnets,
            DBParameterGroupName=parameters, ApplyImmediately=True,
        )  # fmt: skip

    def lose(self) -> None:
        """The primary region stops answering (as in ``regional-outage``); the replica
        already holds the replicated damage, so it is no way back."""
        self.inject_outage()

    def seed_recovery_points(self) -> None:
        """DR's vault as the daily plan's copy rule fills it: a snapshot point a day (the
        newest from last night), encrypted with DR's key, of the primary's database."""
        names, now, region = self.names, self.clock.now(), self.dr
        vault = names.backup_vault(region)
        key = names.kms_alias_arn(region)
        self.point_key = str(key)
        account = names.account

        def at(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, UTC)

        snapshots = f"arn:aws:rds:{region}:{account}:snapshot:awsbackup"

        def point(n: int) -> dict[str, Any]:
            made = now - 8 * 3600 - n * COPIES_EVERY
            return {
                "BackupVaultName": vault, "ResourceArn": names.db_instance_arn,
                "ResourceType": "RDS", "Status": "COMPLETED", "EncryptionKeyArn": key,
                "IsEncrypted": True, "CreationDate": at(made), "CompletionDate": at(made + 900),
                "RecoveryPointArn": f"{snapshots}:copyjob-{n}",
            }  # fmt: skip

        self.backup.points = [point(n) for n in (2, 0, 1)]
        self.continuous = self.backup.points[1]["RecoveryPointArn"]  # the newest
        self.point_made = now - 8 * 3600
        o = self.original
        self.backup.metadata = {
            "DBInstanceIdentifier": names.db_instance, "Engine": "postgres",
            "DBInstanceClass": str(o.get("DBInstanceClass", "")), "MultiAZ": "true",
            "AvailabilityZone": f"{self.primary}a", "StorageType": "gp3", "Port": "5432",
        }  # fmt: skip

    # --- the failover the last steps start --------------------------------------------------
    def execute(self, execution: Execution) -> str:
        """The failover's execution (started by ``fail_over``), its step reports apart
        from the restore's."""
        mine, self.step_reports = self.step_reports, []
        try:
            return super().execute(execution)
        finally:
            self.failover_reports, self.step_reports = self.step_reports, mine

    def restore_report(self, status: str, failure: str, wall: float) -> ScenarioReport:
        """The restore's report, its timeline with the failover's steps (under ``fail_over``)."""
        found = super().restore_report(status, failure, wall)
        serving, t0 = self.serving_again(), self.outage_at
        for r in self.failover_reports:
            if r.started is not None and r.ended is not None:
                found.bars.append({
                    "label": f"failover: {r.name}", "start": round(r.started - t0, 1),
                    "end": round(r.ended - t0, 1), "kind": "step", "status": r.status,
                    "critical": r.ended <= serving + 1e-6, "note": r.note,
                })  # fmt: skip
        return found

    def serving_again(self) -> float:
        """Traffic on DR (Route 53 and DNS after the switch) with a healthy DR server."""
        moved = max(self.aws.traffic_moved_at(), self.aws.dr_serving_since())
        return moved if any(r.name == "fail_over" and r.status == "done"
                            for r in self.step_reports) else INFINITY  # fmt: skip

    def rpo(self) -> dict[str, Any]:
        return {
            "seconds": round(self.outage_at - self.point_made),
            "reading": "restored from DR's newest copy (last night's snapshot point): the "
            "writes since are lost with the primary region and the damaged replica (kept "
            "aside)",
        }

    def effect_checks(self) -> list[Check]:
        return dr_effect_checks(self)


def dr_effect_checks(r: DrRestoreRehearsal) -> list[Check]:
    """One check per DR step's effect, from the emulator and the call log."""
    names, dr, checks = r.names, r.dr, []
    p: restore.Plan | None = getattr(r, "plan", None)

    def check(name: str, step: str, ok: bool, observed: Any, kind: str = "emulated") -> None:
        checks.append(Check(name, step, bool(ok), observed, kind))  # type: ignore[arg-type]

    replica = names.db_replica
    serving = r.describe(replica) or {}
    tags = {t["Key"]: t["Value"] for t in serving.get("TagList", [])}
    request = p.request_id if p else None
    aside_id = restore_service.aside_identifier(replica, p.request_id) if p else ""
    aside = (r.describe(aside_id) or {}) if aside_id else {}
    restored_id = p.identifier if p else ""
    jobs = list(r.backup.jobs.values())
    job = jobs[0] if jobs else None
    md = job.metadata if job else {}
    started = [c for c in r.world.calls("StartRestoreJob") if c.principal == r.operator.label]
    check(
        "one restore job from DR's newest copy, in DR, into a new instance placed like the "
        "replica, encrypted with DR's key, as the restore role",
        "restore_instance",
        len(jobs) == 1 and job is not None and job.point == r.continuous
        and [c.call.region for c in started] == [dr]
        and md.get("DBInstanceIdentifier") == restored_id != replica
        and md.get("DBSubnetGroupName") == (r.original.get("DBSubnetGroup") or {}).get(
            "DBSubnetGroupName")
        and serving.get("KmsKeyId") == r.point_key
        and job.role.endswith(f":role/{names.restore_break_glass_role}"),
        {"jobs": len(jobs), "point": job and job.point, "metadata": md,
         "regions": [c.call.region for c in started]},
        "modelled",
    )  # fmt: skip
    checks.append(validated_check(r, tags, request))
    named_at = [t for t, _p in _calls(r, "ModifyDBInstance", NewDBInstanceIdentifier=replica)]
    protected_at = [t for t, _p in _calls(r, "ModifyDBInstance", DBInstanceIdentifier=restored_id,
                                          DeletionProtection=True)]  # fmt: skip
    check(
        "deletion protection and the configured retention on the restored instance before it "
        "took the replica's name (the failover's protect_database comes after)",
        "protect_restored",
        bool(protected_at) and bool(named_at) and min(protected_at) < min(named_at)
        and serving.get("DeletionProtection") is True
        and int(serving.get("BackupRetentionPeriod", 0))
        >= r.settings.database.backup_retention_days,
        {"protected at": protected_at, "named at": named_at},
    )  # fmt: skip
    checks += aside_checks(r, dr, aside_id, aside, "the unusable replica")
    endpoint = (serving.get("Endpoint") or {}).get("Address")
    check(
        "the restored instance serves under the replica's name, at the replica's endpoint",
        "take_serving_name",
        serving.get("DBInstanceArn", "").endswith(f":db:{replica}")
        and r.describe(restored_id) is None and job is not None
        and serving.get("InstanceCreateTime") != r.original.get("InstanceCreateTime")
        and tags.get(restore.REQUEST_TAG) == request
        and endpoint == (r.original.get("Endpoint") or {}).get("Address"),
        {"serving created": serving.get("InstanceCreateTime"), "endpoint": endpoint,
         "replica's endpoint": (r.original.get("Endpoint") or {}).get("Address")},
        "modelled",
    )  # fmt: skip
    cluster = names.ecs_cluster(dr)
    master = json.loads(r.world.raw("secretsmanager", dr).get_secret_value(
        SecretId=names.db_secret)["SecretString"])["password"]  # fmt: skip
    reset = [(t, c_) for t, c_ in _calls(r, "ModifyDBInstance", DBInstanceIdentifier=replica,
                                         MasterUserPassword=master)]  # fmt: skip
    reset_at = [t for t, _p in reset]
    reset_regions = [c.call.region for c in r.world.calls("ModifyDBInstance")
                     if c.principal == r.operator.label
                     and "MasterUserPassword" in c.call.params]  # fmt: skip
    bootstrap = [(t, p_) for t, p_ in _calls(r, "RunTask", cluster=cluster)
                 if str(p_.get("taskDefinition")) == names.task_family("bootstrap")]  # fmt: skip
    ran = [task for task in r.aws.one_off.values()
           if task.definition.split("/")[-1].split(":")[0] == names.task_family("bootstrap")
           and f":{dr}:" in task.cluster]  # fmt: skip
    failover_at = [t for t, _p in _calls(r, "StartExecution")]
    check(
        "the master's password set from DR's replica of its secret on the restored instance "
        "(in DR), then DR's bootstrap task once with the password reset, to its end, after "
        "the name was taken and before the failover started",
        "reset_logins",
        len(reset_at) == 1 and reset_regions == [dr] and len(bootstrap) == 1 and len(ran) == 1
        and bool(named_at) and reset_at[0] > max(named_at)
        and bootstrap[0][0] >= reset_at[0]
        and ran[0].status(r.clock.now()) == "STOPPED"
        and bool(failover_at) and min(failover_at) > ran[0].ends
        and "ALTER ROLE" in json.dumps(bootstrap[0][1].get("overrides", {})),
        {"master reset at": reset_at, "in": reset_regions,
         "bootstrap at": [t for t, _p in bootstrap], "ended": [t.ends for t in ran],
         "failover started at": failover_at},
        "modelled",
    )  # fmt: skip
    checks += _failover_checks(r, failover_at, endpoint)
    said = next((s.detail for s in r.step_reports if s.name == "report"), {})
    check(
        "the operator is told the replica aside is kept and fenced",
        "report",
        any(aside_id in line for line in said.get("attention", [])),
        said.get("attention"),
    )
    return checks


def _failover_checks(r: DrRestoreRehearsal, started_at: list[float], endpoint: Any) -> list[Check]:
    """``fail_over``: the failover's state machine, forced, run to its end onto the
    restored instance; what it leaves behind."""
    names, dr, config = r.names, r.dr, r.config
    starts = [c for c in r.world.calls("StartExecution") if c.principal == r.operator.label]
    given = [json.loads(str(c.call.params.get("input") or "{}")) for c in starts]
    executions = list(r.aws.executions.values())
    done = [s.name for s in r.failover_reports if s.status == "done"]
    state = json.loads(r.world.raw("ssm", dr).get_parameter(
        Name=config["failover_parameter"])["Parameter"]["Value"])  # fmt: skip
    sizes = planned(r.settings, "primary")
    want = {names.server_service: sizes.server.desired, names.worker_service: sizes.worker.desired}
    cluster = names.ecs_cluster(dr)
    found = r.world.raw("ecs", dr).describe_services(cluster=cluster, services=list(want))
    desired = {s["serviceName"]: s["desiredCount"] for s in found["services"]}
    sm = r.world.raw("secretsmanager", dr)
    standalone = {n: not sm.describe_secret(SecretId=n).get("PrimaryRegion")
                  or sm.describe_secret(SecretId=n)["PrimaryRegion"] == dr
                  for n in config["secrets"]}  # fmt: skip
    host = json.loads(sm.get_secret_value(SecretId=config["db_secret"])["SecretString"]).get("host")
    healthy = r.serving_again()
    ok = (
        len(starts) == 1 and given[0].get("force") is True and [e.status for e in executions]
        == ["SUCCEEDED"] and done == [s.name for s in r.setup.step_list]
        and state.get("state") == "failed-over"
        and str(state.get("fence")).startswith("unfenced")
        and r.aws.traffic_to_dr() and desired == want and all(standalone.values())
        and host == endpoint and healthy < INFINITY
    )  # fmt: skip
    return [
        Check(
            "the failover's state machine started once (forced) after the logins, run to its "
            "end onto the restored instance: failed over (primary unfenced: unreachable), "
            "traffic on DR, DR's services at the primary's sizes and healthy, DR's secrets "
            "standalone naming the restored endpoint",
            "fail_over",
            ok,
            {
                "starts": len(starts),
                "input": given,
                "executions": [e.status for e in executions],
                "failover steps done": done,
                "state": state,
                "traffic to dr": r.aws.traffic_to_dr(),
                "desired": desired,
                "wanted": want,
                "standalone": standalone,
                "host": host,
                "serving at": None if healthy == INFINITY else round(healthy - r.outage_at, 1),
                "started at": started_at,
            },
            "modelled",
        )
    ]
