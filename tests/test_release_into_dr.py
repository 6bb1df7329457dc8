"""A release into DR while it serves: DR only, the pipeline's scan and migration rules."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from crm_platform.naming import Names
from crm_platform.release import into_dr, migration, record
from crm_platform.release.record import Release
from crm_platform.settings import Settings
from tests.test_release import (
    BUNDLE,
    CLEAN_UPGRADE,
    DIGEST,
    FakeDocker,
    FakeEcr,
    FakeEcs,
    FakeLogs,
    FakeRds,
    _scan,
    aws,  # noqa: F401 - the moto fixture, shared
    quiet,
)

DR, PRIMARY = "ap-southeast-1", "ap-northeast-1"
SEEDED = migration.Completed(task_arn="seeded by the test", image="old")


class DrEcr(FakeEcr):
    """DR's repository: no scan until one is started, then the given result."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.result, self.started = result, []  # type: ignore[var-annotated]

    def describe_image_scan_findings(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if not self.started:
            raise ClientError({"Error": {"Code": "ScanNotFoundException"}}, "Describe")
        return self.result

    def start_image_scan(self, **kwargs: Any) -> None:
        self.started.append(kwargs["imageId"]["imageDigest"])


class RollingEcs(FakeEcs):
    """Task definitions by family (the latest revision), services that roll."""

    def __init__(self) -> None:
        super().__init__()
        self.updated: list[dict[str, Any]] = []
        self.waited: list[dict[str, Any]] = []
        self.families: dict[str, dict[str, Any]] = {}

    def describe_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        family = taskDefinition.rsplit("/", 1)[-1].split(":")[0]
        base = {**self.definition, "family": family,
                "taskDefinitionArn": f"arn:td/{family}:4"}  # fmt: skip
        return {"taskDefinition": self.families.get(family, base)}

    def register_task_definition(self, **fields: Any) -> dict[str, Any]:
        self.registered.append(fields)
        arn = f"arn:td/{fields['family']}:5"
        self.families[fields["family"]] = {**fields, "taskDefinitionArn": arn}
        return {"taskDefinition": {"taskDefinitionArn": arn}}

    def update_service(self, **kwargs: Any) -> None:
        self.updated.append(kwargs)

    def get_waiter(self, name: str) -> Any:
        assert name == "services_stable"
        waited = self.waited

        class Waiter:
            def wait(self, **kwargs: Any) -> None:
                waited.append(kwargs)

        return Waiter()


class World:
    """Fakes for DR; every call is recorded with its region, and the primary region is
    out of bounds: any client asked for there fails the test."""

    def __init__(self, scan: dict[str, Any]) -> None:
        self.ecr, self.ecs, self.rds = DrEcr(scan), RollingEcs(), FakeRds()
        self.logs = FakeLogs(*CLEAN_UPGRADE)
        self.docker = FakeDocker(self.ecr, "sha256:config1")
        self.regions: set[str] = set()
        self.calls: set[tuple[str, str]] = set()

    def client(self, service: str, region: str) -> Any:
        self.regions.add(region)
        assert region == DR, f"a release into DR called {service} in {region}"
        fakes = {"ecr": self.ecr, "ecs": self.ecs, "rds": self.rds, "logs": self.logs}
        real = fakes.get(service) or boto3.client(service, region_name=region)
        calls = self.calls

        class Recorded:
            def __getattr__(self, name: str) -> Any:
                attr = getattr(real, name)
                if callable(attr) and name != "get_waiter":
                    calls.add((service, name))
                return attr

        return Recorded()

    def execute(self, settings: Settings) -> Release:
        return into_dr.execute(
            settings, Names.of(settings), self.client, docker=self.docker,
            login=lambda _e: None, fetch=lambda _u: BUNDLE, progress=quiet,
        )  # fmt: skip


@pytest.fixture(autouse=True)
def no_scan_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan that is not there at once never comes: the gate refuses at once."""
    monkeypatch.setattr(into_dr, "SCAN_TIMEOUT_S", 0)


def _state(names: Names, state: str) -> None:
    boto3.client("ssm", region_name=DR).put_parameter(
        Name=names.failover_parameter, Type="String", Overwrite=True,
        Value=json.dumps({"state": state, "incident": "i-1"}),
    )  # fmt: skip


def _seed_schema(names: Names, version: str = "v2.45.5") -> None:
    for region in (PRIMARY, DR):
        record.write(
            boto3.client("ssm", region_name=region), names.release_parameter,
            Release(version), SEEDED,
        )  # fmt: skip


CLEAN = _scan("COMPLETE", findingSeverityCounts={"LOW": 2})


@pytest.mark.parametrize("state", ["none", "failing-over"])
def test_a_release_into_dr_is_refused_unless_dr_serves(
    aws: Any,  # noqa: F811
    prod_settings: Settings,
    state: str,
) -> None:
    names = Names.of(prod_settings)
    _state(names, state)
    world = World(CLEAN)
    with pytest.raises(into_dr.NotFailedOver, match=state):
        world.execute(prod_settings)
    assert world.docker.calls == [] and world.ecs.runs == [] and world.ecs.updated == []


def test_while_dr_serves_the_release_is_published_gated_migrated_and_rolled_in_dr_only(
    aws: Any,  # noqa: F811
    prod_settings: Settings,
) -> None:
    names = Names.of(prod_settings)
    _state(names, "failed-over")
    _seed_schema(names)
    world = World(CLEAN)
    released = world.execute(prod_settings)
    assert released == Release(prod_settings.twenty.version, DIGEST)
    # Published into DR's repository, from the public registry (not the primary's cache).
    dr_uri = names.repository_uri(DR)
    assert world.docker.pushed() and all(p.startswith(dr_uri) for p in world.docker.pushed())
    assert (
        world.docker.calls[0][-1] == f"{prod_settings.twenty.image}:{prod_settings.twenty.version}"
    )
    assert world.ecr.started == [DIGEST]  # DR held no scan of it: one was started
    # The serving database is snapshotted, then migrated in DR's cluster.
    (snapshot,) = world.rds.snapshots
    assert snapshot["DBInstanceIdentifier"] == names.db_replica
    (run,) = world.ecs.runs
    assert run["cluster"] == names.ecs_cluster(DR)
    image = f"{dr_uri}@{DIGEST}"
    families = [r["family"] for r in world.ecs.registered]
    assert all(
        c["image"] == image
        for r in world.ecs.registered
        for c in r["containerDefinitions"]
        if c["name"] != "sidecar"
    )
    assert len(families) == 4  # migrate, jobs, server, worker: image-only revisions
    # DR's record moves; the primary's (the stale schema's) does not.
    dr_ssm, primary_ssm = (boto3.client("ssm", region_name=r) for r in (DR, PRIMARY))
    assert record.read(dr_ssm, names.release_parameter) == released
    assert record.read(primary_ssm, names.release_parameter) == Release("v2.45.5")
    assert {u["service"] for u in world.ecs.updated} == {names.server_service, names.worker_service}
    assert world.ecs.waited and world.regions == {DR}
    # Every call the path made is in its contract (the deploy credentials' list).
    listed = {(n.service, n.operation) for n in into_dr.needs(names)}
    made = {(svc, "".join(w.title() for w in op.split("_"))) for svc, op in world.calls}
    aliases = {("rds", "CreateDbSnapshot"): ("rds", "CreateDBSnapshot")}
    made = {aliases.get(m, m) for m in made}
    reads = {("ssm", "GetParameter"), ("ecs", "DescribeTaskDefinition"),
             ("ecs", "DescribeServices"), ("ecs", "DescribeTasks")}  # fmt: skip
    assert made - reads <= listed, sorted(made - reads - listed)


def test_findings_at_the_threshold_stop_the_release_before_the_database(
    aws: Any,  # noqa: F811
    prod_settings: Settings,
) -> None:
    names = Names.of(prod_settings)
    _state(names, "failed-over")
    _seed_schema(names)
    world = World(_scan("COMPLETE", findingSeverityCounts={"CRITICAL": 1}))
    from crm_platform.release.publish import PublishRefused

    with pytest.raises(PublishRefused, match="CRITICAL"):
        world.execute(prod_settings)
    assert world.rds.snapshots == [] and world.ecs.runs == [] and world.ecs.updated == []


def test_a_retry_publishes_and_migrates_nothing_twice(
    aws: Any,  # noqa: F811
    prod_settings: Settings,
) -> None:
    names = Names.of(prod_settings)
    _state(names, "failed-over")
    _seed_schema(names)
    world = World(CLEAN)
    world.execute(prod_settings)
    again = World(CLEAN)
    again.ecr.tagged = dict(world.ecr.tagged)
    again.ecr.started = list(world.ecr.started)
    again.execute(prod_settings)
    assert "push" not in again.docker.verbs()
    assert again.ecs.runs == [] and again.rds.snapshots == []


def test_the_dr_region_holds_a_migrate_task_and_its_services_never_migrate(
    assembly: Any,
) -> None:
    template = assembly.template("crm-prod-dr-app")
    definitions = template.find_resources("AWS::ECS::TaskDefinition")
    envs = {
        d["Properties"]["Family"]: {
            e["Name"]: e.get("Value")
            for c in d["Properties"]["ContainerDefinitions"]
            for e in c.get("Environment", [])
        }
        for d in definitions.values()
    }
    assert envs["crm-prod-migrate"]["DISABLE_DB_MIGRATIONS"] == "false"
    for family in ("crm-prod-server", "crm-prod-worker", "crm-prod-jobs"):
        assert envs[family]["DISABLE_DB_MIGRATIONS"] == "true"
