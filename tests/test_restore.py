"""``crm-platform restore``: point selection (pure), the dry run, a crashed ``--execute``
resumed, the CLI.

RDS runs on moto (instances, subnet and parameter groups, tags). AWS Backup's recovery
points and restore jobs are not implemented by moto, so the backup client is a botocore
``Stubber``: it checks each request against AWS's service model and each canned response
against AWS's response shapes, and fails on any call that was not queued, so a test that
queues only reads proves the command made no other call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from crm_platform import cli
from crm_platform.naming import Names
from crm_platform.ops import restore, restore_service
from crm_platform.ops.restore_points import (
    PointSpec,
    RecoveryPoint,
    RestoreRefused,
    select,
)
from crm_platform.settings import Settings
from tests.conftest import CONFIG

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
PRIMARY, DR = "ap-northeast-1", "ap-southeast-1"
ACCOUNT = "123456789012"  # config/prod.yaml
DB = f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:crm-prod-postgres"
CONTINUOUS = f"arn:aws:backup:{PRIMARY}:{ACCOUNT}:recovery-point:continuous:db-abc-1a2b3c"
SNAP = f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:snapshot:awsbackup:job-1"
COPY_OLD = f"arn:aws:rds:{DR}:{ACCOUNT}:snapshot:awsbackup:copyjob-old"
COPY_NEW = f"arn:aws:rds:{DR}:{ACCOUNT}:snapshot:awsbackup:copyjob-new"
KEY = f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


def point(arn: str, *, created: datetime, status: str = "COMPLETED", resource: str = DB) -> RecoveryPoint:  # fmt: skip
    return RecoveryPoint(arn, resource, status, created, created + timedelta(minutes=20), KEY)


PRIMARY_POINTS = [
    point(CONTINUOUS, created=NOW - timedelta(days=60)),
    point(SNAP, created=NOW - timedelta(days=1)),
]
DR_POINTS = [
    point(COPY_OLD, created=NOW - timedelta(days=2)),
    point(COPY_NEW, created=NOW - timedelta(days=1)),
    point(f"{COPY_NEW}-partial", created=NOW - timedelta(hours=2), status="PARTIAL"),
    point(f"{COPY_NEW}-other", created=NOW - timedelta(hours=1), resource=f"{DB}-other"),
]


def choose(text: str, region: str = PRIMARY, points: list[RecoveryPoint] | None = None) -> Any:
    return select(
        PointSpec.parse(text), region=region, source_region=PRIMARY,
        vault="crm-prod-backup-vault" if region == PRIMARY else "crm-prod-backup-vault-dr",
        points=PRIMARY_POINTS if points is None else points, resources=[DB],
        retention_days=35, now=NOW,
    )  # fmt: skip


# --- selection (pure) ----------------------------------------------------------------------
def test_latest_in_the_primary_is_the_continuous_backup_at_its_latest_time() -> None:
    chosen = choose("latest")
    assert (chosen.how, chosen.source, chosen.restore_time) == ("point-in-time", CONTINUOUS, None)


def test_latest_in_dr_is_the_newest_completed_copy_of_the_database() -> None:
    chosen = choose("latest", DR, DR_POINTS)
    assert (chosen.how, chosen.source) == ("recovery-point", COPY_NEW)


def test_a_time_inside_the_window_restores_the_continuous_backup_to_it() -> None:
    when = NOW - timedelta(days=3, hours=2)
    chosen = choose(when.isoformat())
    assert (chosen.how, chosen.source, chosen.restore_time) == ("point-in-time", CONTINUOUS, when)


@pytest.mark.parametrize("when", [NOW - timedelta(days=36), NOW + timedelta(hours=1)])
def test_a_time_outside_the_window_is_refused_with_the_window(when: datetime) -> None:
    with pytest.raises(RestoreRefused) as refused:
        choose(when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    message = str(refused.value)
    earliest = (NOW - timedelta(days=35)).strftime("%Y-%m-%dT%H:%M:%SZ")
    latest = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"{earliest} .. {latest}" in message and "outside the restore window" in message


def test_the_window_ends_at_the_sources_latest_restorable_time() -> None:
    latest = NOW - timedelta(minutes=1)
    spec = PointSpec.parse((NOW - timedelta(seconds=90)).isoformat())
    with pytest.raises(RestoreRefused, match="outside"):
        select(spec, region=PRIMARY, source_region=PRIMARY, vault="v", points=PRIMARY_POINTS,
               resources=[DB], retention_days=35, now=NOW,
               latest_restorable=latest - timedelta(minutes=1))  # fmt: skip
    chosen = select(spec, region=PRIMARY, source_region=PRIMARY, vault="v",
                    points=PRIMARY_POINTS, resources=[DB], retention_days=35, now=NOW,
                    latest_restorable=latest)  # fmt: skip
    assert chosen.restore_time == spec.time


def test_a_time_in_the_dr_vault_is_refused_with_the_reason() -> None:
    with pytest.raises(RestoreRefused) as refused:
        choose((NOW - timedelta(days=1)).isoformat(), DR, DR_POINTS)
    message = str(refused.value)
    assert "crm-prod-backup-vault-dr" in message and "copy of a continuous backup" in message
    assert "recov-point-create-a-copy.html" in message


def test_a_time_without_continuous_backup_is_refused() -> None:
    with pytest.raises(RestoreRefused, match="continuous_backup"):
        choose((NOW - timedelta(days=1)).isoformat(), points=PRIMARY_POINTS[1:])


def test_an_empty_vault_is_refused() -> None:
    with pytest.raises(RestoreRefused, match="no completed recovery point"):
        choose("latest", DR, DR_POINTS[2:])


def test_a_snapshot_by_name_is_a_point_in_the_primary_only() -> None:
    name = "crm-prod-postgres-pre-1-2-0-20261207T0300Z"
    chosen = choose(f"snapshot:{name}")
    assert (chosen.how, chosen.source) == ("snapshot", name)
    with pytest.raises(RestoreRefused, match="primary region"):
        choose(f"snapshot:{name}", DR, DR_POINTS)


@pytest.mark.parametrize("text", ["2026-12-07T03:00:00", "yesterday", "snapshot:"])
def test_a_point_that_means_nothing_is_refused(text: str) -> None:
    with pytest.raises(RestoreRefused):
        PointSpec.parse(text)


def test_the_request_id_is_stable_and_tells_requests_apart() -> None:
    first, again = choose("latest"), choose("latest")
    when = choose((NOW - timedelta(days=1)).isoformat())

    def rid(chosen: Any, region: str = PRIMARY, now: datetime = NOW) -> str:
        return str(chosen.request_id("crm-prod", region, now))

    assert rid(first) == rid(again) == rid(first, now=NOW + timedelta(hours=3))
    assert rid(first) != rid(when) and rid(first) != rid(first, DR)
    # "latest" next week is a new request, not last week's restore found again
    assert rid(first) != rid(first, now=NOW + timedelta(days=7))
    assert rid(when) == rid(when, now=NOW + timedelta(days=7))


# --- against moto (RDS) and a Stubber (AWS Backup) ------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
    }.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        yield


class World:
    """The primary database on moto; AWS Backup's answers queued on one stub per region."""

    def __init__(self, names: Names) -> None:
        assert names.account == ACCOUNT, "the canned recovery points name prod's account"
        self.names = names
        self.extra: dict[tuple[str, str], Any] = {}
        self.backup: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}
        for region in (PRIMARY, DR):
            client = boto3.client("backup", region_name=region)
            self.backup[region], self.stubs[region] = client, Stubber(client)
            self.stubs[region].activate()
        ec2 = boto3.client("ec2", region_name=PRIMARY)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                              AvailabilityZone=f"{PRIMARY}{az}")["Subnet"]["SubnetId"]
            for i, az in enumerate("ac")
        ]  # fmt: skip
        self.sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
        rds = boto3.client("rds", region_name=PRIMARY)
        rds.create_db_subnet_group(
            DBSubnetGroupName="crm-prod-db-subnets", DBSubnetGroupDescription="d",
            SubnetIds=subnets,
        )  # fmt: skip
        rds.create_db_parameter_group(
            DBParameterGroupName="crm-prod-db-params", DBParameterGroupFamily="postgres16",
            Description="d",
        )  # fmt: skip
        self.create(names.db_instance)

    def create(self, identifier: str) -> None:
        boto3.client("rds", region_name=PRIMARY).create_db_instance(
            DBInstanceIdentifier=identifier, Engine="postgres", DBInstanceClass="db.t3.medium",
            MasterUsername="u", MasterUserPassword="passwordpassword", AllocatedStorage=20,
            DBSubnetGroupName="crm-prod-db-subnets", DBParameterGroupName="crm-prod-db-params",
            VpcSecurityGroupIds=[self.sg], StorageEncrypted=True, KmsKeyId=KEY,
        )  # fmt: skip

    def instances(self) -> list[str]:
        rds = boto3.client("rds", region_name=PRIMARY)
        return sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"])

    def client(self, service: str, region: str) -> Any:
        if service == "backup":
            return self.backup[region]
        if (service, region) in self.extra:
            return self.extra[service, region]
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]

    def queue_plan(self, region: str = PRIMARY) -> None:
        """The reads a plan makes: the vault's points, then the chosen point's metadata."""
        vault = self.names.backup_vault(region)
        rows = [
            {"RecoveryPointArn": p.arn, "BackupVaultName": vault, "ResourceArn": p.resource_arn,
             "ResourceType": "RDS", "Status": p.status, "CreationDate": p.created,
             "CompletionDate": p.completed, "EncryptionKeyArn": p.key_arn, "IsEncrypted": True}
            for p in (PRIMARY_POINTS if region == PRIMARY else DR_POINTS)
        ]  # fmt: skip
        stub = self.stubs[region]
        stub.add_response(
            "list_recovery_points_by_backup_vault", {"RecoveryPoints": rows},
            {"BackupVaultName": vault, "ByResourceType": "RDS"},
        )  # fmt: skip
        stub.add_response(
            "get_recovery_point_restore_metadata",
            {"RecoveryPointArn": CONTINUOUS, "ResourceType": "RDS",
             "RestoreMetadata": {"DBInstanceIdentifier": "crm-prod-postgres",
                                 "AvailabilityZone": f"{PRIMARY}a", "Engine": "postgres"}},
            {"BackupVaultName": vault, "RecoveryPointArn": ANY},
        )  # fmt: skip


def test_the_plan_names_a_new_instance_and_the_regions_placement(
    aws: None, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    world = World(names)
    world.queue_plan()
    p = restore.plan(names, world.client, point="latest", region=PRIMARY, retention_days=35,
                     multi_az=True, now=NOW)  # fmt: skip
    assert p.identifier.startswith(f"{names.db_instance}-restore-")
    assert p.identifier != names.db_instance
    assert (p.placement.parameter_group, p.placement.subnet_group) == (
        "crm-prod-db-params", "crm-prod-db-subnets")  # fmt: skip
    assert p.placement.security_groups == (world.sg,)
    assert p.metadata["DBInstanceIdentifier"] == p.identifier
    assert p.metadata["UseLatestRestorableTime"] == "true"
    assert "AvailabilityZone" not in p.metadata  # Multi-AZ picks its own zones
    assert p.role_arn.endswith(f":role/{names.restore_break_glass_role}")
    world.stubs[PRIMARY].assert_no_pending_responses()


def test_the_dry_run_changes_nothing(
    aws: None, prod_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only reads are queued on the stub: a start would fail the command."""
    names = Names.of(prod_settings)
    world = World(names)
    world.queue_plan()
    before = world.instances()
    outside = cli.Outside(clients=lambda: world.client, credentials=lambda: "env")
    code = cli.main(["restore", "--config-dir", str(CONFIG), "--point", "latest"], outside)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "dry run: nothing was changed" in printed
    assert "crm-prod-postgres-restore-" in printed and "crm-prod-db-params" in printed
    assert world.instances() == before
    world.stubs[PRIMARY].assert_no_pending_responses()


@pytest.mark.parametrize(
    ("region", "days_ago", "says"),
    [("primary", 400, "outside the restore window"), ("dr", 1, "copy of a continuous backup")],
)
def test_a_refused_point_creates_nothing_and_exits_2(
    aws: None, prod_settings: Settings, capsys: pytest.CaptureFixture[str],
    region: str, days_ago: int, says: str,
) -> None:  # fmt: skip
    """Only reads are queued: the refusal comes before any start."""
    names = Names.of(prod_settings)
    world = World(names)
    before = world.instances()
    when = (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.queue_plan(PRIMARY if region == "primary" else DR)
    if region == "dr":  # a DR database to read the placement from (moto's primary stands in)
        world.extra["rds", DR] = world.client("rds", PRIMARY)
        world.create(names.db_replica)
        before = world.instances()
    outside = cli.Outside(clients=lambda: world.client, credentials=lambda: "env")
    argv = ["restore", "--config-dir", str(CONFIG), "--point", when, "--region", region]
    code = cli.main([*argv, "--execute"], outside)
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert (
        says in captured.out + captured.err and "nothing was created" in captured.out + captured.err
    )
    assert world.instances() == before


def test_a_crashed_execute_resumes_the_same_restore(aws: None, prod_settings: Settings) -> None:
    """First run: the job starts, then the command dies while following it. Second run:
    it finds the running job (no second start); third run, after AWS Backup created the
    instance: it finds the instance, follows it, tags and validates it."""
    names = Names.of(prod_settings)
    world = World(names)
    stub = world.stubs[PRIMARY]

    def plan() -> restore.Plan:
        world.queue_plan()
        return restore.plan(names, world.client, point="latest", region=PRIMARY,
                            retention_days=35, multi_az=True, now=NOW)  # fmt: skip

    p = plan()
    stub.add_response("list_restore_jobs", {"RestoreJobs": []}, {"ByCreatedAfter": ANY, "ByResourceType": "RDS"})  # fmt: skip
    stub.add_response(
        "start_restore_job", {"RestoreJobId": "job-1"},
        {"RecoveryPointArn": CONTINUOUS, "Metadata": dict(p.metadata), "IamRoleArn": p.role_arn,
         "IdempotencyToken": p.request_id, "ResourceType": "RDS"},
    )  # fmt: skip
    stub.add_response("describe_restore_job", {"RestoreJobId": "job-1", "Status": "RUNNING"})

    class Crash(Exception):
        pass

    def crash(_seconds: float) -> None:
        raise Crash

    with pytest.raises(Crash):
        restore.execute(names, world.client, p, progress=lambda _m: None, now=NOW, sleep=crash)
    stub.assert_no_pending_responses()

    again = plan()
    assert again.identifier == p.identifier
    running = {"RestoreJobId": "job-1", "RecoveryPointArn": CONTINUOUS, "Status": "RUNNING",
               "IamRoleArn": p.role_arn, "ResourceType": "RDS"}  # fmt: skip
    stub.add_response("list_restore_jobs", {"RestoreJobs": [running]})
    stub.add_response("describe_restore_job", {"RestoreJobId": "job-1", "Status": "RUNNING"})
    seen: list[str] = []
    with pytest.raises(Crash):
        restore.execute(names, world.client, again, progress=seen.append, now=NOW, sleep=crash)
    assert seen[0] == f"resumed the restore into {p.identifier} (job job-1)"
    stub.assert_no_pending_responses()

    world.create(p.identifier)  # what AWS Backup's job creates
    third = plan()
    outcome = restore.execute(names, world.client, third, progress=lambda _m: None, now=NOW)
    assert (outcome.identifier, outcome.how, outcome.problems) == (p.identifier, "resumed", ())
    assert world.instances() == sorted([names.db_instance, p.identifier])
    rds = boto3.client("rds", region_name=PRIMARY)
    arn = rds.describe_db_instances(DBInstanceIdentifier=p.identifier)["DBInstances"][0][
        "DBInstanceArn"
    ]
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}
    assert tags[restore.REQUEST_TAG] == p.request_id
    stub.assert_no_pending_responses()


def test_a_failed_job_is_reported_not_followed_forever(aws: None, prod_settings: Settings) -> None:
    names = Names.of(prod_settings)
    world = World(names)
    world.queue_plan()
    p = restore.plan(names, world.client, point="latest", region=PRIMARY, retention_days=35,
                     multi_az=True, now=NOW)  # fmt: skip
    stub = world.stubs[PRIMARY]
    stub.add_response("list_restore_jobs", {"RestoreJobs": []})
    stub.add_response("start_restore_job", {"RestoreJobId": "job-2"})
    stub.add_response("describe_restore_job",
                      {"RestoreJobId": "job-2", "Status": "FAILED", "StatusMessage": "no subnet"})  # fmt: skip
    with pytest.raises(restore.RestoreFailed, match="no subnet"):
        restore.execute(names, world.client, p, progress=lambda _m: None, now=NOW)


def test_validation_reports_a_restore_placed_elsewhere(aws: None, prod_settings: Settings) -> None:
    names = Names.of(prod_settings)
    world = World(names)
    world.queue_plan()
    p = restore.plan(names, world.client, point="latest", region=PRIMARY, retention_days=35,
                     multi_az=True, now=NOW)  # fmt: skip
    boto3.client("rds", region_name=PRIMARY).create_db_instance(
        DBInstanceIdentifier=p.identifier,
        Engine="postgres",
        DBInstanceClass="db.t3.medium",
        MasterUsername="u",
        MasterUserPassword="passwordpassword",
        AllocatedStorage=20,
    )  # fmt: skip  (default groups, unencrypted: what a restore without metadata gives)
    instance = restore.describe(boto3.client("rds", region_name=PRIMARY), p.identifier)
    assert instance is not None
    _verdict, problems = restore.validate(world.client, p, instance)
    joined = " ".join(problems)
    assert "NOT encrypted" in joined and "parameter group" in joined
    assert "subnet group" in joined and "security groups" in joined


def test_a_pre_migration_snapshot_restores_by_name_into_a_new_instance(
    aws: None, prod_settings: Settings
) -> None:
    """RDS restores it (moto implements the snapshot calls); AWS Backup is not called, and
    a second run finds the instance instead of restoring again."""
    names = Names.of(prod_settings)
    world = World(names)
    name = f"{names.db_instance}-pre-1-2-0-20261207T0300Z"
    rds = boto3.client("rds", region_name=PRIMARY)
    rds.create_db_snapshot(DBInstanceIdentifier=names.db_instance, DBSnapshotIdentifier=name)

    def plan() -> restore.Plan:
        return restore.plan(names, world.client, point=f"snapshot:{name}", region=PRIMARY,
                            retention_days=35, multi_az=True, now=NOW)  # fmt: skip

    p = plan()
    assert (p.selection.how, p.selection.source, p.metadata) == ("snapshot", name, {})
    first = restore.execute(names, world.client, p, progress=lambda _m: None, now=NOW)
    assert (first.how, first.identifier) == ("started", p.identifier)
    assert world.instances() == sorted([names.db_instance, p.identifier])
    second = restore.execute(names, world.client, plan(), progress=lambda _m: None, now=NOW)
    assert (second.how, second.identifier) == ("resumed", p.identifier)
    assert world.instances() == sorted([names.db_instance, p.identifier])
    world.stubs[PRIMARY].assert_no_pending_responses()  # AWS Backup: nothing queued, nothing called
    with pytest.raises(RestoreRefused, match="no snapshot"):
        restore.plan(names, world.client, point="snapshot:nope", region=PRIMARY,
                     retention_days=35, multi_az=True, now=NOW)  # fmt: skip


def stack_resources(stub: Stubber, stack: str, rows: list[tuple[str, str, str]]) -> None:
    summaries = [
        {"LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": kind,
         "LastUpdatedTimestamp": NOW, "ResourceStatus": "CREATE_COMPLETE"}
        for logical, kind, physical in rows
    ]  # fmt: skip
    stub.add_response("list_stack_resources", {"StackResourceSummaries": summaries},
                      {"StackName": stack})  # fmt: skip


def test_without_a_replica_dr_placement_comes_from_the_dr_stacks(
    aws: None, prod_settings: Settings
) -> None:
    """The lost-replica case: no instance to copy the groups from, so the stacks name them."""
    names = Names.of(prod_settings)
    world = World(names)
    cfn = boto3.client("cloudformation", region_name=DR)
    stub = Stubber(cfn)
    stub.activate()
    world.extra["cloudformation", DR] = cfn
    stack_resources(stub, names.dr_stack, [
        ("SecurityGroupsTasks5A07FEEB", "AWS::EC2::SecurityGroup", "sg-tasks"),
        ("SecurityGroupsDatabase03711F2A", "AWS::EC2::SecurityGroup", "sg-db-dr"),
    ])  # fmt: skip
    stack_resources(stub, names.dr_database_stack, [
        ("ReplicaParameters6D392FA5", "AWS::RDS::DBParameterGroup", "dr-params"),
        ("ReplicaInstanceSubnetGroupF2EFC5E4", "AWS::RDS::DBSubnetGroup", "dr-subnets"),
    ])  # fmt: skip
    world.queue_plan(DR)
    p = restore.plan(names, world.client, point="latest", region=DR, retention_days=35,
                     multi_az=False, now=NOW)  # fmt: skip
    assert p.placement.found_in.startswith("stacks") and names.db_replica in p.placement.found_in
    assert (p.placement.parameter_group, p.placement.subnet_group, p.placement.security_groups) == (
        "dr-params", "dr-subnets", ("sg-db-dr",))  # fmt: skip
    assert (p.selection.source, p.metadata["MultiAZ"]) == (COPY_NEW, "false")
    assert "UseLatestRestorableTime" not in p.metadata  # a copy is a snapshot
    stub.assert_no_pending_responses()


def test_a_stack_without_the_groups_is_refused(aws: None, prod_settings: Settings) -> None:
    names = Names.of(prod_settings)
    world = World(names)
    cfn = boto3.client("cloudformation", region_name=DR)
    stub = Stubber(cfn)
    stub.activate()
    world.extra["cloudformation", DR] = cfn
    stack_resources(stub, names.dr_stack, [])
    stack_resources(stub, names.dr_database_stack, [])
    with pytest.raises(RestoreRefused, match="parameter_group, security_group, subnet_group"):
        restore.plan(names, world.client, point="latest", region=DR, retention_days=35,
                     multi_az=False, now=NOW)  # fmt: skip


def test_the_recorded_metadata_never_reaches_aws_backup_twice() -> None:
    where = restore.Placement("pg", "sub", ("sg-1",), "instance x")
    chosen = choose((NOW - timedelta(days=1)).isoformat())
    base = {"dbinstanceidentifier": "crm-prod-postgres", "multiaz": "true", "Engine": "postgres",
            "availabilityZone": "ap-northeast-1a"}  # fmt: skip
    metadata = restore.restore_metadata(base, "crm-prod-postgres-restore-x", where, chosen,
                                        multi_az=False)  # fmt: skip
    lowered = [k.lower() for k in metadata]
    assert len(lowered) == len(set(lowered))
    assert metadata["DBInstanceIdentifier"] == "crm-prod-postgres-restore-x"
    assert (metadata["MultiAZ"], metadata["Engine"]) == ("false", "postgres")
    assert metadata["RestoreTime"] == (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "availabilityzone" not in lowered


# --- the CLI -------------------------------------------------------------------------------
def test_the_cli_parses_the_restore_verb() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["restore", "--env", "staging", "--point", "latest"])
    assert (args.env, args.point, args.region, args.execute) == (
        "staging",
        "latest",
        "primary",
        False,
    )
    args = parser.parse_args(
        ["restore", "--point", "2026-12-07T03:00:00Z", "--region", "dr", "--execute"]
    )
    assert (args.region, args.execute) == ("dr", True)
    with pytest.raises(SystemExit):
        parser.parse_args(["restore", "--point", "latest", "--region", "us-east-1"])
    with pytest.raises(SystemExit):
        parser.parse_args(["restore"])


# --- into service (ops/restore_service.py) --------------------------------------------------
def _services(names: Names) -> None:
    """The primary's cluster and services, as deployed (moto runs no task)."""
    ecs = boto3.client("ecs", region_name=PRIMARY)
    cluster = names.ecs_cluster(PRIMARY)
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="t", containerDefinitions=[
        {"name": "c", "image": "i", "memory": 512}])  # fmt: skip
    for service in (names.server_service, names.worker_service):
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition="t",
                           desiredCount=0)  # fmt: skip


def _journey(names: Names) -> tuple[Any, ...]:
    by = {s.name: s for s in restore_service.PRIMARY_STEPS}
    return tuple(by[n] for n in ("restore_instance", "validate_restored", "protect_restored",
                                 "stop_writes", "rename_aside", "fence_aside",
                                 "take_serving_name", "report"))  # fmt: skip


def test_execute_puts_the_restored_instance_under_the_serving_name_and_resumes(
    aws: None, prod_settings: Settings
) -> None:
    """A pre-migration snapshot (moto restores it): the run dies after the old instance
    moved aside; the second run resumes (nothing restored or renamed twice), fences the
    old instance, and the restored one serves under the platform's name and endpoint."""
    names = Names.of(prod_settings)
    world = World(names)
    _services(names)
    rds = boto3.client("rds", region_name=PRIMARY)
    name = f"{names.db_instance}-pre-1-2-0-20261207T0300Z"
    rds.create_db_snapshot(DBInstanceIdentifier=names.db_instance, DBSnapshotIdentifier=name)
    original = rds.describe_db_instances(DBInstanceIdentifier=names.db_instance)["DBInstances"][0]

    def plan() -> restore.Plan:
        return restore.plan(names, world.client, point=f"snapshot:{name}", region=PRIMARY,
                            retention_days=35, multi_az=True, now=NOW)  # fmt: skip

    p = plan()
    journey = _journey(names)
    crash_after = [s.name for s in journey].index("rename_aside") + 1
    first = restore_service.execute(names, prod_settings, world.client, p, sleep=lambda _s: None,
                                    chosen=journey[:crash_after])  # fmt: skip
    assert first.ok
    aside = restore_service.aside_identifier(names.db_instance, p.request_id)
    assert world.instances() == sorted([aside, p.identifier])
    # The platform's instance is gone from its name: the resumed plan reads the placement
    # from the primary stack, as for a lost instance.
    cfn = boto3.client("cloudformation", region_name=PRIMARY)
    stub = Stubber(cfn)
    stub.activate()
    world.extra["cloudformation", PRIMARY] = cfn
    stack_resources(stub, names.primary_stack, [
        ("DatabaseParameters1A2B", "AWS::RDS::DBParameterGroup", "crm-prod-db-params"),
        ("DatabaseSubnetGroup3C4D", "AWS::RDS::DBSubnetGroup", "crm-prod-db-subnets"),
        ("SecurityGroupsDatabase5E6F", "AWS::EC2::SecurityGroup", world.sg),
    ])  # fmt: skip
    second = restore_service.execute(names, prod_settings, world.client, plan(),
                                     sleep=lambda _s: None, chosen=journey)  # fmt: skip
    assert second.ok, second.failed_step
    assert world.instances() == sorted([aside, names.db_instance])
    serving = rds.describe_db_instances(DBInstanceIdentifier=names.db_instance)["DBInstances"][0]
    tags = {t["Key"]: t["Value"] for t in serving["TagList"]}
    assert tags[restore.REQUEST_TAG] == p.request_id
    assert serving["Endpoint"]["Address"] == original["Endpoint"]["Address"]
    assert serving["DeletionProtection"] and serving["BackupRetentionPeriod"] >= 7
    kept = rds.describe_db_instances(DBInstanceIdentifier=aside)["DBInstances"][0]
    default = boto3.client("ec2", region_name=PRIMARY).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]},
                 {"Name": "vpc-id", "Values": [kept["DBSubnetGroup"]["VpcId"]]}]
    )["SecurityGroups"][0]["GroupId"]  # fmt: skip
    assert [g["VpcSecurityGroupId"] for g in kept["VpcSecurityGroups"]] == [default]
    assert kept["DeletionProtection"]
    report = {s.name: s for s in second.steps}["report"].detail
    assert any(aside in line for line in report["attention"])
    stub.assert_no_pending_responses()
    # a third run changes nothing: every step finds its effect in place
    third = restore_service.execute(names, prod_settings, world.client, plan(),
                                    sleep=lambda _s: None, chosen=journey)  # fmt: skip
    assert third.ok and world.instances() == sorted([aside, names.db_instance])


def test_an_invalid_restore_is_kept_and_nothing_is_switched(
    aws: None, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    world = World(names)
    world.queue_plan()
    p = restore.plan(names, world.client, point="latest", region=PRIMARY, retention_days=35,
                     multi_az=True, now=NOW)  # fmt: skip
    boto3.client("rds", region_name=PRIMARY).create_db_instance(
        DBInstanceIdentifier=p.identifier,
        Engine="postgres",
        DBInstanceClass="db.t3.medium",
        MasterUsername="u",
        MasterUserPassword="passwordpassword",
        AllocatedStorage=20,
    )  # fmt: skip  (default groups, unencrypted)
    result = restore_service.execute(names, prod_settings, world.client, p,
                                     sleep=lambda _s: None, chosen=_journey(names))  # fmt: skip
    assert result.failed_step is not None and result.failed_step.name == "validate_restored"
    assert "nothing was switched" in result.failed_step.detail["message"]
    assert world.instances() == sorted([names.db_instance, p.identifier])


def test_in_dr_the_restored_instance_becomes_the_dr_database_and_the_failover_runs(
    aws: None, prod_settings: Settings
) -> None:
    """The lost-replica case: after the rename, the failover's state machine is started
    (forced) and followed; its start is the incident command's (ops/failover.py)."""
    names = Names.of(prod_settings)
    assert [s.name for s in restore_service.DR_STEPS][-3:] == ["reset_logins", "fail_over",
                                                             "report"]  # fmt: skip
    started: list[bool] = []

    class Sfn:
        def describe_execution(self, executionArn: str) -> dict[str, str]:
            return {"status": "SUCCEEDED"}

    from crm_platform.ops import failover as failover_commands

    def start(_names: Names, _client: Any, *, force: bool, now: float) -> Any:
        started.append(force)
        return failover_commands.Started("failover-1", "failover-1", "started")

    ctx = restore_service.Context(
        config={"names": names, "dr_region": DR},
        client=lambda service, region: Sfn(),
        now=lambda: 0.0,
    )
    original = failover_commands.start
    failover_commands.start = start  # type: ignore[assignment]
    try:
        outcome = restore_service.fail_over(ctx)
    finally:
        failover_commands.start = original  # type: ignore[assignment]
    assert outcome.done and started == [True]
    assert outcome.detail["status"] == "SUCCEEDED"


def test_in_dr_a_warm_standby_server_is_stopped_before_the_rename(
    aws: None, prod_settings: Settings
) -> None:
    """A warm standby's DR server runs against the replica: the DR restore stops it (bounds
    first) before the replica's name moves to the restored instance; at pilot light there
    is nothing to stop and the step changes nothing."""
    names = Names.of(prod_settings)
    ecs = boto3.client("ecs", region_name=DR)
    scaling = boto3.client("application-autoscaling", region_name=DR)
    cluster = names.ecs_cluster(DR)
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="t", containerDefinitions=[
        {"name": "c", "image": "i", "memory": 512}])  # fmt: skip
    for service, desired in ((names.server_service, 1), (names.worker_service, 0)):
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition="t",
                           desiredCount=desired)  # fmt: skip
    config = {
        "serving_side": "dr", "serving": names.db_replica, "request": "r-1",
        "clusters": {"dr": cluster}, "dr_region": DR,
        "services": {"server": {"name": names.server_service},
                     "worker": {"name": names.worker_service}},
    }  # fmt: skip
    ctx = restore_service.Context(
        config=config,
        client=lambda service, region: boto3.client(service, region_name=region),  # type: ignore[call-overload]
        now=lambda: 0.0,
    )
    restore_service.stop_writes(ctx)
    found = ecs.describe_services(cluster=cluster, services=[names.server_service])["services"]
    assert found[0]["desiredCount"] == 0
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == f"service/{cluster}/{names.server_service}"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 0)


# --- reset_logins: the secrets' passwords on the restored instance ---------------------------
class _Logins:
    """RDS, Secrets Manager and ECS as reset_logins sees them: a master-password reset
    pending for one describe, a bootstrap task that runs for one poll and exits 0."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.modified: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.polls = 0
        self.pending = False

    # rds
    def describe_db_instances(self, DBInstanceIdentifier: str) -> dict[str, Any]:
        pending = {"MasterUserPassword": "****"} if self.pending else {}
        self.pending = False  # applied by the next describe
        return {"DBInstances": [{
            "DBInstanceIdentifier": DBInstanceIdentifier, "DBInstanceStatus": "available",
            "PendingModifiedValues": pending, "TagList": [],
        }]}  # fmt: skip

    def modify_db_instance(self, **kwargs: Any) -> dict[str, Any]:
        self.modified.append(kwargs)
        self.pending = True
        return {}

    # secretsmanager
    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        assert SecretId == self.names.db_secret
        return {"SecretString": '{"username": "twenty_admin", "password": "rotated-since"}'}

    # ecs
    def list_tasks(self, cluster: str, startedBy: str, desiredStatus: str) -> dict[str, Any]:
        return {"taskArns": [t["taskArn"] for t in self.tasks
                             if t["startedBy"] == startedBy and desiredStatus == "STOPPED"]}  # fmt: skip

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        self.polls += 1
        for t in self.tasks:
            t["lastStatus"] = "STOPPED" if self.polls > 1 else "RUNNING"
        return {"tasks": [t for t in self.tasks if t["taskArn"] in tasks]}

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        return {"services": [{"serviceName": services[0], "networkConfiguration": {"n": 1}}]}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        task = {"taskArn": f"task-{len(self.tasks)}", "startedBy": kwargs["startedBy"],
                "lastStatus": "PENDING", "containers": [{"exitCode": 0}], "run": kwargs}  # fmt: skip
        self.tasks.append(task)
        return {"tasks": [task], "failures": []}


def _logins_context(names: Names, aws: _Logins) -> restore_service.Context:
    config = {
        "dr_region": PRIMARY, "primary_region": PRIMARY, "serving_side": "primary",
        "serving": names.db_instance, "request": "0123456789",
        "clusters": {"dr": names.ecs_cluster(PRIMARY)},
        "services": {"server": {"name": names.server_service}},
        "master_secret": names.db_secret, "bootstrap_family": names.task_family("bootstrap"),
    }  # fmt: skip
    return restore_service.Context(config=config, client=lambda _s, _r: aws,
                                   now=lambda: 0.0, run="restore-0123456789")  # fmt: skip


def test_reset_logins_sets_the_master_password_then_runs_the_bootstrap_once(
    prod_settings: Settings,
) -> None:
    """The master's password from its secret (waiting while the reset is pending), then
    one bootstrap task whose SQL also sets Twenty's user's password from its secret; a
    resumed run (a fresh process) neither resets again nor starts a second task. It runs
    after the rename and before the services start."""
    from crm_platform.compute.wrapper import BOOTSTRAP_SQL_VARIABLE
    from crm_platform.database import app_user

    names = Names.of(prod_settings)
    order = [s.name for s in restore_service.PRIMARY_STEPS]
    assert order.index("take_serving_name") < order.index("reset_logins")
    assert order.index("reset_logins") < order.index("start_services")
    aws = _Logins(names)
    ctx = _logins_context(names, aws)
    outcomes = []
    for _ in range(8):
        outcome = restore_service.reset_logins(ctx)
        outcomes.append(outcome)
        if outcome.done:
            break
    assert outcomes[-1].done, outcomes
    assert aws.modified == [{"DBInstanceIdentifier": names.db_instance,
                             "MasterUserPassword": "rotated-since", "ApplyImmediately": True}]  # fmt: skip
    assert outcomes[1].detail["master"] == "resetting"  # waited for the pending reset
    assert len(aws.tasks) == 1
    run = aws.tasks[0]["run"]
    assert run["taskDefinition"] == names.task_family("bootstrap")
    assert run["cluster"] == names.ecs_cluster(PRIMARY)
    (override,) = run["overrides"]["containerOverrides"]
    assert override["name"] == "bootstrap"
    (env,) = override["environment"]
    assert env["name"] == BOOTSTRAP_SQL_VARIABLE
    assert env["value"].startswith(app_user.BOOTSTRAP_SQL)
    assert "ALTER ROLE %I PASSWORD" in env["value"] and "rotated-since" not in env["value"]
    assert len(json.dumps(run["overrides"])) < 8192  # RunTask's limit for overrides
    # a resumed run: a fresh context finds the task, resets nothing, starts nothing
    again = restore_service.reset_logins(_logins_context(names, aws))
    assert again.done and len(aws.modified) == 1 and len(aws.tasks) == 1


class _Regional:
    """Every client reset_logins asks for, with the region it asked for it in."""

    def __init__(self, aws: _Logins) -> None:
        self.aws, self.regions = aws, []  # type: list[tuple[str, str]]

    def __call__(self, service: str, region: str) -> _Logins:
        self.regions.append((service, region))
        return self.aws


def _dr_logins_context(
    names: Names, settings: Settings, client: _Regional
) -> restore_service.Context:
    """The configuration ``execute`` builds for a restore from DR's vault."""
    from types import SimpleNamespace

    plan: Any = SimpleNamespace(region=DR, identifier=f"{names.db_instance}-restore-0123456789",
                                request_id="0123456789")  # fmt: skip
    config = restore_service.service_config(names, settings, plan)
    return restore_service.Context(config=config, client=client, now=lambda: 0.0,
                                   run="restore-0123456789")  # fmt: skip


def test_a_restore_from_the_dr_vault_resets_the_logins_in_dr_before_the_failover(
    prod_settings: Settings,
) -> None:
    """The lost-replica case: the restored instance keeps the recovery point's passwords;
    DR's replicas of the secrets hold the current ones. reset_logins runs between the
    rename and the failover (whose writability check logs in as Twenty's user), every
    call in DR: the master secret's replica, the instance under the replica's name, DR's
    bootstrap task in DR's cluster. A resumed run resets nothing and starts nothing."""
    names = Names.of(prod_settings)
    order = [s.name for s in restore_service.DR_STEPS]
    assert order.index("take_serving_name") < order.index("reset_logins") < order.index("fail_over")
    assert restore_service.step_list(names, DR) is restore_service.DR_STEPS
    aws = _Logins(names)
    client = _Regional(aws)
    ctx = _dr_logins_context(names, prod_settings, client)
    assert (ctx.config["master_secret"], ctx.config["bootstrap_family"]) == (
        names.db_secret, names.task_family("bootstrap"))  # fmt: skip
    outcomes = [restore_service.reset_logins(ctx) for _ in range(8)]
    done = next(o for o in outcomes if o.done)
    assert done.detail["app_user"] == "password set from its secret"
    assert {region for _service, region in client.regions} == {DR}
    assert {service for service, _region in client.regions} == {"rds", "secretsmanager", "ecs"}
    assert aws.modified == [{"DBInstanceIdentifier": names.db_replica,
                             "MasterUserPassword": "rotated-since", "ApplyImmediately": True}]  # fmt: skip
    (task,) = aws.tasks
    assert task["run"]["cluster"] == names.ecs_cluster(DR)
    assert task["run"]["taskDefinition"] == names.task_family("bootstrap")
    assert "ALTER ROLE %I PASSWORD" in json.dumps(task["run"]["overrides"])
    # a crash after the task ended: a fresh process resets nothing and starts nothing
    again = restore_service.reset_logins(_dr_logins_context(names, prod_settings, client))
    assert again.done and len(aws.modified) == 1 and len(aws.tasks) == 1
    # a crash after the reset, before the task: the task starts, the reset is not repeated
    aws2 = _Logins(names)
    first = _dr_logins_context(names, prod_settings, _Regional(aws2))
    restore_service.reset_logins(first)  # the master reset requested
    assert len(aws2.modified) == 1 and not aws2.tasks
    resumed = _dr_logins_context(names, prod_settings, _Regional(aws2))
    assert any(restore_service.reset_logins(resumed).done for _ in range(6))
    # without a record of the reset a fresh process sets the same secret's value once
    # more (harmless), then runs exactly one task
    assert [m["MasterUserPassword"] for m in aws2.modified] == ["rotated-since"] * 2
    assert len(aws2.tasks) == 1


def test_the_report_no_longer_asks_to_rotate_once_the_logins_are_reset() -> None:
    ctx = restore_service.Context(config={"aside": "x"}, client=lambda _s, _r: None)
    asked = restore_service.report(ctx).detail["attention"]
    assert any("rotate the secrets" in line for line in asked)
    ctx.results["reset_logins"] = {"master": "reset from its secret"}
    assert not any("rotate" in line for line in restore_service.report(ctx).detail["attention"])


def test_the_emergency_guide_lists_every_primary_restore_step_in_order() -> None:
    """Section 5's table is the operator's fallback: it names the steps the command runs."""
    from pathlib import Path

    guide = (Path(__file__).parent.parent / "docs" / "emergency-recovery.md").read_text()
    section = guide.split("\n## 5.", 1)[1].split("\n## 6.", 1)[0]
    cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("   | `")]
    named = [cell.split("`")[1] for cell in cells]
    primary = [s.name for s in restore_service.PRIMARY_STEPS]
    assert [n for n in named if n in primary] == primary
    dr = [s.name for s in restore_service.DR_STEPS]
    assert [n for n in named if n in dr] == dr  # reset_logins before fail_over
