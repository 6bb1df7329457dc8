"""Release steps: upgrade path, idempotent publish, scan gate, deploy files, migration."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from crm_platform.naming import Names
from crm_platform.ops.deploy_plan import plan
from crm_platform.release import artifacts, migration, publish, record, versions
from crm_platform.release import operations as release_ops
from crm_platform.release.record import Release
from crm_platform.settings import Settings

DIGEST = "sha256:" + "c" * 64


def quiet(_line: str) -> None:
    pass


# --- versions ---------------------------------------------------------------------------
def test_an_empty_schema_takes_any_release_and_equal_or_newer_is_fine() -> None:
    versions.check_upgrade(None, "v2.45.6", ["v1.0.0"])
    versions.check_upgrade("v2.45.6", "v2.45.6", [])
    versions.check_upgrade("v2.45.6", "v2.46.0", ["v2.45.6", "v3.0.0"])


def test_a_downgrade_is_refused() -> None:
    with pytest.raises(versions.UpgradeRefused, match="cannot be undone"):
        versions.check_upgrade("v2.45.6", "v2.45.5", [])


def test_jumping_over_a_required_upgrade_step_is_refused_naming_it() -> None:
    with pytest.raises(versions.UpgradeRefused, match=r"v2\.10\.0, v2\.20\.0.*release v2\.10\.0"):
        versions.check_upgrade("v2.5.0", "v2.30.1", ["v2.20.0", "v2.10.0", "v3.0.0"])
    versions.check_upgrade("v2.10.0", "v2.19.9", ["v2.10.0", "v2.20.0"])  # stops at neither


def test_versions_compare_numerically_not_as_text() -> None:
    assert versions.parse("v2.10.0") > versions.parse("v2.9.9")
    with pytest.raises(ValueError, match="full release tag"):
        versions.parse("latest")


# --- deploy files -----------------------------------------------------------------------
def test_deploy_files_list_every_container_that_runs_the_image(tmp_path: Path) -> None:
    images = artifacts.DeployImages(
        version="v2.45.6",
        digest=DIGEST,
        primary_repository_uri="1.dkr.ecr.ap-northeast-1.amazonaws.com/crm-prod/twenty",
        dr_repository_uri="1.dkr.ecr.ap-southeast-1.amazonaws.com/crm-prod/twenty",
    )
    written = artifacts.write(tmp_path, images, init_container=True)
    assert sorted(p.name for p in written) == [
        "dr-server.json", "dr-worker.json", "release.json", "server.json", "worker.json",
    ]  # fmt: skip
    server = json.loads((tmp_path / "server.json").read_text())
    assert server == [
        {"name": "server", "imageUri": f"{images.primary_repository_uri}@{DIGEST}"},
        {"name": "prepare-tmp", "imageUri": f"{images.primary_repository_uri}@{DIGEST}"},
    ]
    dr_worker = json.loads((tmp_path / "dr-worker.json").read_text())
    assert {d["imageUri"] for d in dr_worker} == {f"{images.dr_repository_uri}@{DIGEST}"}
    assert Release.from_json((tmp_path / "release.json").read_text()) == Release("v2.45.6", DIGEST)
    artifacts.write(tmp_path, images, init_container=False)
    assert [d["name"] for d in json.loads((tmp_path / "worker.json").read_text())] == ["worker"]


# --- publish ----------------------------------------------------------------------------
BASE = "twentycrm/twenty@sha256:" + "a" * 64
BUNDLE = b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
URI = "1.dkr.ecr.ap-northeast-1.amazonaws.com/crm-prod/twenty"


class FakeEcr:
    """BatchGetImage/DescribeImageScanFindings as ECR answers them."""

    def __init__(self, tagged: dict[str, str] | None = None) -> None:
        self.tagged = dict(tagged or {})  # tag -> config digest
        self.scans: list[dict[str, Any]] = []

    def batch_get_image(self, repositoryName: str, imageIds: list[dict[str, str]],
                        acceptedMediaTypes: list[str]) -> dict[str, Any]:  # fmt: skip
        tag = imageIds[0]["imageTag"]
        if tag not in self.tagged:
            return {"images": [], "failures": [{"failureCode": "ImageNotFound"}]}
        manifest = {"config": {"digest": self.tagged[tag]}}
        return {"images": [{"imageId": {"imageDigest": DIGEST, "imageTag": tag},
                            "imageManifest": json.dumps(manifest)}]}  # fmt: skip

    def describe_image_scan_findings(self, **_kwargs: Any) -> dict[str, Any]:
        return self.scans.pop(0)


class FakeDocker:
    """The docker CLI: pull, inspect, build (the context is read while it exists), push."""

    def __init__(self, ecr: FakeEcr, image_id: str, base: str = BASE) -> None:
        self.ecr, self.image_id, self.base = ecr, image_id, base
        self.calls: list[list[str]] = []
        self.contexts: list[dict[str, bytes]] = []

    def __call__(self, args: Sequence[str]) -> str:
        self.calls.append(list(args))
        if args[0] == "push":
            self.ecr.tagged[args[1].rsplit(":", 1)[1]] = self.image_id
        if args[0] == "build" and args[-1] != ".":  # the derived image's own context
            self.contexts.append({f.name: f.read_bytes() for f in Path(args[-1]).iterdir()})
        if args[:2] == ["image", "inspect"]:
            return self.base if "RepoDigests" in args[3] else self.image_id
        return ""

    def verbs(self) -> list[str]:
        return [c[0] for c in self.calls]

    def pushed(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] == "push"]


def _release(
    ecr: FakeEcr,
    docker: FakeDocker,
    bundle: bytes = BUNDLE,
    custom: tuple[str, bytes] | None = None,
) -> publish.Release:
    return publish.publish_release(
        docker=docker, ecr=ecr, source="twentycrm/twenty:v2.45.6", repository="crm-prod/twenty",
        repository_uri=URI, version="v2.45.6", bundle=bundle, custom_dockerfile=custom,
        progress=quiet,
    )  # fmt: skip


def test_a_new_release_is_derived_from_the_pinned_digest_with_the_bundle_and_pushed_once() -> None:
    ecr = FakeEcr()
    docker = FakeDocker(ecr, "sha256:config1")
    released = _release(ecr, docker)
    assert released.digest == DIGEST
    assert released.tag == f"v2.45.6-{publish.fingerprint(BASE, BUNDLE, None)}"
    (build,) = [c for c in docker.calls if c[0] == "build"]
    assert f"BASE={BASE}" in build  # FROM the pulled release by digest, not by tag
    (context,) = docker.contexts
    assert context[publish.BUNDLE_FILE] == BUNDLE
    assert context["Dockerfile"].decode() == publish.DERIVED_DOCKERFILE
    # The derived tag, then the release's plain tag once (what a digest-less synth names).
    assert docker.pushed() == [f"{URI}:{released.tag}", f"{URI}:v2.45.6"]


def test_a_retry_with_the_same_inputs_builds_and_pushes_nothing() -> None:
    ecr = FakeEcr()
    first = _release(ecr, FakeDocker(ecr, "sha256:config1"))
    docker = FakeDocker(ecr, "sha256:config2")  # a rebuild would never have the same id
    assert _release(ecr, docker) == first
    assert "build" not in docker.verbs() and "push" not in docker.verbs()


def test_a_new_bundle_makes_a_new_tag_so_each_publish_carries_the_current_one() -> None:
    ecr = FakeEcr()
    first = _release(ecr, FakeDocker(ecr, "sha256:config1"))
    docker = FakeDocker(ecr, "sha256:config2")
    rotated = BUNDLE + b"-----BEGIN CERTIFICATE-----\ny\n-----END CERTIFICATE-----\n"
    second = _release(ecr, docker, bundle=rotated)
    assert second.tag != first.tag and docker.contexts[0][publish.BUNDLE_FILE] == rotated
    assert docker.pushed() == [f"{URI}:{second.tag}"]  # the plain tag keeps the first image


def test_a_re_pointed_upstream_tag_makes_a_new_tag_too() -> None:
    ecr = FakeEcr()
    first = _release(ecr, FakeDocker(ecr, "sha256:config1"))
    second = _release(ecr, FakeDocker(ecr, "sha256:c2", base=BASE.replace("a" * 64, "b" * 64)))
    assert second.tag != first.tag


def test_a_bundle_without_certificates_is_never_baked() -> None:
    ecr = FakeEcr()
    docker = FakeDocker(ecr, "sha256:config1")
    with pytest.raises(publish.PublishRefused, match="no PEM certificate"):
        _release(ecr, docker, bundle=b"<html>503</html>")
    assert docker.calls == []


def test_a_custom_dockerfile_builds_from_the_pinned_digest_then_gets_the_bundle() -> None:
    ecr = FakeEcr()
    docker = FakeDocker(ecr, "sha256:config1")
    released = _release(ecr, docker, custom=("docker/Dockerfile", b"FROM x"))
    custom, derived = [c for c in docker.calls if c[0] == "build"]
    assert "docker/Dockerfile" in custom and f"TWENTY_IMAGE={BASE}" in custom
    parent = custom[custom.index("--tag") + 1]
    assert f"BASE={parent}" in derived
    assert released.tag != f"v2.45.6-{publish.fingerprint(BASE, BUNDLE, None)}"


def _mirror(ecr: FakeEcr, docker: FakeDocker) -> str:
    return publish.mirror(
        docker=docker, ecr=ecr, source="public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1",
        repository="crm-prod/twenty", repository_uri=URI, tag="mirror-x", progress=quiet,
    )  # fmt: skip


def test_a_mirrored_image_is_pulled_tagged_and_pushed() -> None:
    ecr = FakeEcr()
    docker = FakeDocker(ecr, "sha256:config1")
    assert _mirror(ecr, docker) == DIGEST
    assert docker.verbs() == ["pull", "tag", "image", "push"]


def test_a_retried_mirror_finding_the_same_image_succeeds_without_pushing() -> None:
    ecr = FakeEcr({"mirror-x": "sha256:config1"})
    docker = FakeDocker(ecr, "sha256:config1")
    assert _mirror(ecr, docker) == DIGEST
    assert "push" not in docker.verbs()


def test_a_mirror_tag_holding_a_different_image_is_refused_never_overwritten() -> None:
    ecr = FakeEcr({"mirror-x": "sha256:other"})
    docker = FakeDocker(ecr, "sha256:config1")
    with pytest.raises(publish.PublishRefused, match="already holds a different image"):
        _mirror(ecr, docker)


def test_mirror_tags_are_valid_ecr_tags_named_by_their_source() -> None:
    import re

    from crm_platform.release.images import mirror_tag

    a = mirror_tag("public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1")
    b = mirror_tag("public.ecr.aws/aws-observability/aws-otel-collector:v0.43.2")
    assert a != b and re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", a) and a.startswith("mirror-")


def _scan(status: str, **findings: Any) -> dict[str, Any]:
    return {"imageScanStatus": {"status": status}, "imageScanFindings": findings}


def _gate(ecr: FakeEcr, threshold: str) -> dict[str, int]:
    return publish.scan_gate(
        ecr, repository="r", digest=DIGEST, threshold=threshold, timeout_s=60, progress=quiet,
        poll_s=0,
    )  # fmt: skip


def test_scan_gate_waits_then_blocks_findings_at_or_above_the_threshold() -> None:
    ecr = FakeEcr()
    ecr.scans = [_scan("IN_PROGRESS"), _scan("COMPLETE", findingSeverityCounts={"HIGH": 2})]
    assert _gate(ecr, "CRITICAL") == {"HIGH": 2}
    ecr.scans = [_scan("COMPLETE", findingSeverityCounts={"HIGH": 2, "LOW": 5})]
    with pytest.raises(publish.PublishRefused, match="at or above HIGH"):
        _gate(ecr, "HIGH")


def test_enhanced_scanning_counts_each_finding_and_active_means_done() -> None:
    ecr = FakeEcr()
    ecr.scans = [_scan("ACTIVE", enhancedFindings=[{"severity": "CRITICAL"}])]
    with pytest.raises(publish.PublishRefused, match="CRITICAL 1"):
        _gate(ecr, "CRITICAL")


def test_a_failed_scan_blocks_the_release() -> None:
    ecr = FakeEcr()
    ecr.scans = [{"imageScanStatus": {"status": "FAILED", "description": "unsupported"}}]
    with pytest.raises(publish.PublishRefused, match="ended FAILED"):
        _gate(ecr, "CRITICAL")


# --- migration --------------------------------------------------------------------------
OLD = "twentycrm/twenty:v2.45.5"
NEW = f"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/crm-prod/twenty@{DIGEST}"
LOG_GROUP = "/ecs/crm-prod-migrate"
TASK = "arn:aws:ecs:ap-northeast-1:123456789012:task/crm-prod-cluster/abc"
COMPLETED = "crm-platform: migration verdict: completed"


def _container(name: str, image: str, essential: bool) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "essential": essential,
        "entryPoint": ["/bin/sh", "-c", "WRAPPER", "crm-wrapper"],
        "command": ["true"],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": LOG_GROUP, "awslogs-stream-prefix": name},
        },
    }


class FakeEcs:
    def __init__(self, exit_code: int | None = 0, image: str = OLD) -> None:
        self.exit_code, self.registered, self.runs = exit_code, [], []  # type: ignore[var-annotated]
        self.definition = {
            "taskDefinitionArn": "arn:td/crm-prod-migrate:4",
            "family": "crm-prod-migrate",
            "status": "ACTIVE",
            "revision": 4,
            "containerDefinitions": [
                _container("prepare-tmp", image, False),
                _container("migrate", image, True),
                {"name": "sidecar", "image": "amazon/other", "essential": False},
            ],
            "cpu": "1024",
            "memory": "2048",
        }
        self.polls = 0

    def describe_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        return {"taskDefinition": self.definition}

    def register_task_definition(self, **fields: Any) -> dict[str, Any]:
        self.registered.append(fields)
        return {"taskDefinition": {"taskDefinitionArn": "arn:td/crm-prod-migrate:5"}}

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        return {"services": [{"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s"]}}}]}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.runs.append(kwargs)
        return {"tasks": [{"taskArn": TASK}], "failures": []}

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        self.polls += 1
        if self.polls == 1:
            return {"tasks": [{"lastStatus": "RUNNING", "containers": []}]}
        containers = [{"name": "migrate", "exitCode": self.exit_code, "reason": "Essential exit"}]
        return {"tasks": [{"lastStatus": "STOPPED", "containers": containers}]}

    def stop_task(self, **_kwargs: Any) -> None:
        pass


class FakeLogs:
    """FilterLogEvents over one task's stream, in pages; the first page is empty but
    carries a token, as AWS may answer while more events remain."""

    def __init__(self, *lines: str, page: int = 2) -> None:
        self.lines, self.page, self.requests = list(lines), page, []  # type: ignore[var-annotated]

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        token = request.get("nextToken")
        if token is None:
            return {"events": [], **({"nextToken": "0"} if self.lines else {})}
        start = int(token)
        events = [{"message": m} for m in self.lines[start : start + self.page]]
        more = start + self.page < len(self.lines)
        return {"events": events, **({"nextToken": str(start + self.page)} if more else {})}


class FakeImages:
    """ECR DescribeImages: the repository holds ``digests``."""

    def __init__(self, *digests: str) -> None:
        self.digests = set(digests)

    def describe_images(self, repositoryName: str, imageIds: list[dict[str, str]]) -> Any:
        if imageIds[0]["imageDigest"] not in self.digests:
            raise ClientError({"Error": {"Code": "ImageNotFoundException"}}, "DescribeImages")
        return {"imageDetails": [{"imageDigest": imageIds[0]["imageDigest"]}]}


TARGET = migration.Target("crm-prod-cluster", "crm-prod-migrate", "crm-prod-server", "db")
CLEAN_UPGRADE = (
    "Running database upgrade",
    "Upgrade summary: 3 workspace(s) succeeded, 0 workspace(s) failed",
    COMPLETED,
)


def test_a_release_registers_a_revision_replacing_only_twentys_images() -> None:
    ecs = FakeEcs()
    assert (
        migration.revision_with_image(ecs, "crm-prod-migrate", NEW) == "arn:td/crm-prod-migrate:5"
    )
    (fields,) = ecs.registered
    assert [c["image"] for c in fields["containerDefinitions"]] == [NEW, NEW, "amazon/other"]
    # Only the image: the command, entry point and log configuration are the template's.
    before = ecs.definition["containerDefinitions"]
    for old, new in zip(before, fields["containerDefinitions"], strict=True):
        assert {k: v for k, v in new.items() if k != "image"} == {
            k: v for k, v in old.items() if k != "image"
        }
    assert fields["family"] == "crm-prod-migrate"
    assert "taskDefinitionArn" not in fields and "revision" not in fields  # not registerable
    same = FakeEcs(image=NEW)
    assert (
        migration.revision_with_image(same, "crm-prod-migrate", NEW) == "arn:td/crm-prod-migrate:4"
    )
    assert same.registered == []


def test_the_migration_runs_in_the_servers_network_with_no_overrides() -> None:
    """RunTask's overrides could replace the command, environment or roles (no IAM
    condition key covers them): the migrate step never sends any."""
    ecs = FakeEcs(exit_code=0)
    assert migration.run_once(ecs, TARGET, "arn:td:5", progress=quiet, timeout_s=60, poll_s=0) == (
        TASK
    )
    (run,) = ecs.runs
    assert run["networkConfiguration"] == {"awsvpcConfiguration": {"subnets": ["s"]}}
    assert run["taskDefinition"] == "arn:td:5" and run["launchType"] == "FARGATE"
    assert "overrides" not in run


@pytest.mark.parametrize("code", [1, None])
def test_a_non_zero_or_missing_exit_code_fails_the_migration(code: int | None) -> None:
    with pytest.raises(migration.MigrationFailed, match=f"exited with {code}"):
        migration.run_once(FakeEcs(exit_code=code), TARGET, "arn:td:5", progress=quiet,
                           timeout_s=60, poll_s=0)  # fmt: skip


def _judge(*lines: str) -> None:
    stream = migration.log_stream(FakeEcs(), "arn:td:5", "migrate", TASK)
    migration.judge_log(FakeLogs(*lines), stream, progress=quiet, wait_s=0, poll_s=0)


def test_the_task_log_is_read_from_its_own_stream_to_the_last_page() -> None:
    stream = migration.log_stream(FakeEcs(), "arn:td:5", "migrate", TASK)
    assert stream == migration.LogStream(LOG_GROUP, "migrate/migrate/abc")
    logs = FakeLogs(*[f"line {i}" for i in range(7)], page=2)
    assert migration.read_log(logs, stream) == [f"line {i}" for i in range(7)]
    assert len(logs.requests) == 5  # an empty first page, then four
    assert all(r["logStreamNames"] == ["migrate/migrate/abc"] for r in logs.requests)


@pytest.mark.parametrize(
    "reported",
    [
        "Warning: Upgrade completed with errors. Some workspaces may not be fully migrated.",
        "[upgrade] Upgrade failed: Query read timeout",
        "[upgrade] event=aborted",
        "Upgrade summary: 4 workspace(s) succeeded, 2 workspace(s) failed",
    ],
)
def test_an_upgrade_reported_as_failed_is_refused_whatever_the_exit_code(reported: str) -> None:
    with pytest.raises(migration.UpgradeIncomplete, match="did not complete"):
        _judge("Running database upgrade", reported, COMPLETED)


def test_a_clean_upgrade_with_its_verdict_line_is_confirmed() -> None:
    _judge(*CLEAN_UPGRADE)


@pytest.mark.parametrize(
    "lines",
    [
        ("Running database upgrade",),  # no verdict: the log cannot confirm anything
        ("crm-platform: migration verdict: failed (Twenty's entrypoint exited with 1)",),
    ],
)
def test_without_a_completed_verdict_the_upgrade_is_not_confirmed(lines: tuple[str, ...]) -> None:
    with pytest.raises(migration.UpgradeIncomplete):
        _judge(*lines)


def test_a_missing_log_configuration_is_a_failure_not_a_pass() -> None:
    ecs = FakeEcs()
    for c in ecs.definition["containerDefinitions"]:
        c.pop("logConfiguration", None)
    with pytest.raises(migration.UpgradeIncomplete, match="no awslogs configuration"):
        migration.log_stream(ecs, "arn:td:5", "migrate", TASK)


def test_the_wrapper_and_the_migrate_step_look_for_the_same_messages() -> None:
    from crm_platform.compute import application, wrapper

    assert migration.UPGRADE_FAILED_PATTERNS == wrapper.UPGRADE_FAILED_PATTERNS
    assert migration.VERDICT_COMPLETED == wrapper.VERDICT_COMPLETED
    # The upgrade-failed alarm's patterns are covered by the verdict.
    assert all(
        any(p in alarm for p in migration.UPGRADE_FAILED_PATTERNS)
        for alarm in application.UPGRADE_FAILED_PATTERNS
    )


class FakeRds:
    def __init__(self) -> None:
        self.snapshots: list[dict[str, Any]] = []

    def create_db_snapshot(self, **kwargs: Any) -> None:
        self.snapshots.append(kwargs)

    def get_waiter(self, _name: str) -> Any:
        class Waiter:
            def wait(self, **_kwargs: Any) -> None:
                pass

        return Waiter()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setattr(migration.time, "sleep", lambda _s: None)
    monkeypatch.setattr(migration, "LOG_WAIT_S", 0)
    with mock_aws():
        yield


def _clients(
    ecs: FakeEcs, rds: FakeRds, logs: FakeLogs | None = None, ecr: FakeImages | None = None
) -> Any:
    fakes = {
        "ecs": ecs,
        "rds": rds,
        "logs": logs or FakeLogs(*CLEAN_UPGRADE),
        "ecr": ecr or FakeImages(DIGEST),
    }

    def client(service: str, region: str) -> Any:
        return fakes.get(service) or boto3.client(service, region_name=region)

    return client


SEEDED = migration.Completed(task_arn="seeded by the test", image=OLD)


def _recorded(names: Names, region: str = "ap-northeast-1") -> Release | None:
    return record.read(boto3.client("ssm", region_name=region), names.release_parameter)


def test_migrate_snapshots_a_schema_with_data_then_records_in_both_regions(
    aws: Any, prod_settings: Settings
) -> None:
    names = Names.of(prod_settings)
    ssm = boto3.client("ssm", region_name="ap-northeast-1")
    record.write(ssm, names.release_parameter, Release("v2.45.5"), SEEDED)
    ecs, rds = FakeEcs(), FakeRds()
    target = Release(prod_settings.twenty.version, DIGEST)
    assert release_ops.migrate(prod_settings, names, _clients(ecs, rds), target, quiet) is True
    (snapshot,) = rds.snapshots
    assert snapshot["DBInstanceIdentifier"] == "crm-prod-postgres"
    assert {"Key": "crm-platform:before-release", "Value": target.version} in snapshot["Tags"]
    assert ecs.registered[0]["containerDefinitions"][1]["image"] == NEW
    for region in ("ap-northeast-1", "ap-southeast-1"):
        assert _recorded(names, region) == target
    # A retry of the same release does no work twice.
    again = FakeEcs()
    assert release_ops.migrate(prod_settings, names, _clients(again, rds), target, quiet) is False
    assert again.runs == [] and len(rds.snapshots) == 1


def test_a_failed_migration_records_nothing(aws: Any, prod_settings: Settings) -> None:
    names = Names.of(prod_settings)
    with pytest.raises(migration.MigrationFailed):
        release_ops.migrate(
            prod_settings, names, _clients(FakeEcs(exit_code=3), FakeRds()), Release("v2.45.6"),
            quiet,
        )  # fmt: skip
    assert _recorded(names) is None


@pytest.mark.parametrize(
    "log",
    [
        # An older entrypoint: the upgrade failed, it warned and exited 0.
        ("Warning: Upgrade completed with errors. Check logs for details.",),
        ("[upgrade] Upgrade failed: timeout", "[upgrade] event=aborted", COMPLETED),
        ("Upgrade summary: 1 workspace(s) succeeded, 1 workspace(s) failed", COMPLETED),
        (),  # nothing in the log: the upgrade cannot be confirmed
    ],
)
def test_a_migration_that_logs_a_failed_upgrade_with_exit_0_is_not_recorded(
    aws: Any, prod_settings: Settings, log: tuple[str, ...]
) -> None:
    """Was recorded on main: the exit code was the only verdict (issue 18, item 6)."""
    names = Names.of(prod_settings)
    ssm = boto3.client("ssm", region_name="ap-northeast-1")
    record.write(ssm, names.release_parameter, Release("v2.45.5"), SEEDED)
    ecs = FakeEcs(exit_code=0)
    target = Release(prod_settings.twenty.version, DIGEST)
    with pytest.raises(migration.UpgradeIncomplete):
        release_ops.migrate(
            prod_settings, names, _clients(ecs, FakeRds(), FakeLogs(*log)), target, quiet
        )
    assert ecs.runs, "the migration ran and exited 0"
    assert _recorded(names) == Release("v2.45.5")
    assert _recorded(names, "ap-southeast-1") is None


@pytest.mark.parametrize("digest", ["latest", "sha256:" + "C" * 64, "sha256:abc", ""])
def test_a_release_that_is_not_a_digest_never_reaches_a_task_definition(
    aws: Any, prod_settings: Settings, digest: str
) -> None:
    ecs = FakeEcs()
    with pytest.raises(migration.MigrationFailed, match="not an image digest"):
        release_ops.migrate(
            prod_settings, Names.of(prod_settings), _clients(ecs, FakeRds()),
            Release(prod_settings.twenty.version, digest), quiet,
        )  # fmt: skip
    assert ecs.registered == [] and ecs.runs == []


def test_an_image_missing_from_our_repository_is_not_migrated(
    aws: Any, prod_settings: Settings
) -> None:
    ecs = FakeEcs()
    with pytest.raises(migration.MigrationFailed, match="not in the platform's repository"):
        release_ops.migrate(
            prod_settings, Names.of(prod_settings), _clients(ecs, FakeRds(), ecr=FakeImages()),
            Release(prod_settings.twenty.version, DIGEST), quiet,
        )  # fmt: skip
    assert ecs.registered == [] and ecs.runs == []


def test_the_record_is_written_only_with_a_completed_migration(aws: Any) -> None:
    ssm = boto3.client("ssm", region_name="ap-northeast-1")
    with pytest.raises(TypeError, match="completed migration"):
        record.write(ssm, "/crm/prod/release", Release("v2.45.6"), None)  # type: ignore[arg-type]
    assert record.read(ssm, "/crm/prod/release") is None
    record.write(ssm, "/crm/prod/release", Release("v2.45.6", DIGEST), SEEDED)
    dr = boto3.client("ssm", region_name="ap-southeast-1")
    assert record.copy_to(ssm, dr, "/crm/prod/release") == Release("v2.45.6", DIGEST)
    assert record.read(dr, "/crm/prod/release") == Release("v2.45.6", DIGEST)


def test_the_first_migration_takes_no_snapshot(aws: Any, prod_settings: Settings) -> None:
    rds = FakeRds()
    release_ops.migrate(
        prod_settings, Names.of(prod_settings), _clients(FakeEcs(), rds), Release("v2.45.6"), quiet
    )
    assert rds.snapshots == []


def test_record_read_passes_through_errors_other_than_missing() -> None:
    class Denied:
        def get_parameter(self, Name: str) -> None:
            raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetParameter")

    with pytest.raises(ClientError):
        record.read(Denied(), "/crm/prod/release")


# --- the deploy's plan ------------------------------------------------------------------
def test_deploy_plan_covers_first_deploy_upgrade_pipeline_and_refusal(
    prod_settings: Settings,
) -> None:
    version = prod_settings.twenty.version
    first = plan(prod_settings, None)
    assert first.first_deploy and not first.migrate_before and first.release.digest is None
    kept = plan(prod_settings, Release("v2.40.0", DIGEST))  # pipeline enabled in prod
    assert kept.release == Release("v2.40.0", DIGEST) and not kept.migrate_before
    assert "released by the pipeline" in kept.note
    manual = prod_settings.model_copy(
        update={"pipeline": prod_settings.pipeline.model_copy(update={"enabled": False})}
    )
    upgrade = plan(manual, Release("v2.40.0"))
    assert upgrade.migrate_before and upgrade.release == Release(version)
    assert not plan(manual, Release(version)).migrate_before
    with pytest.raises(versions.UpgradeRefused):
        plan(manual, Release("v9.0.0"))


def test_the_build_step_refuses_before_pulling_when_the_upgrade_skips_a_stop(
    aws: Any, prod_settings: Settings, tmp_path: Path
) -> None:
    settings = prod_settings.model_copy(
        update={"twenty": prod_settings.twenty.model_copy(
            update={"required_upgrade_steps": ["v2.42.0"]})}
    )  # fmt: skip
    names = Names.of(settings)
    record.write(boto3.client("ssm", region_name="ap-northeast-1"), names.release_parameter,
                 Release("v2.41.0"), SEEDED)  # fmt: skip
    pulled: list[Sequence[str]] = []
    with pytest.raises(versions.UpgradeRefused, match=r"v2\.42\.0"):
        release_ops.build(
            settings,
            names,
            _clients(FakeEcs(), FakeRds()),
            tmp_path,
            quiet,
            docker=pulled.append,
            login=lambda _e: None,
        )  # type: ignore[arg-type]
    assert pulled == []


# --- no release while failed over (issue 17, item 9) --------------------------------------------
@pytest.mark.parametrize("state", ["failing-over", "failed-over"])
def test_no_build_or_migration_while_dr_serves(
    aws: Any, prod_settings: Settings, tmp_path: Path, state: str
) -> None:
    """While DR serves, the primary's database is stale: the pipeline's first act in both
    steps reads the failed-over state in DR and refuses, before pulling or migrating."""
    names = Names.of(prod_settings)
    boto3.client("ssm", region_name="ap-southeast-1").put_parameter(
        Name=names.failover_parameter, Type="String", Value=f'{{"state": "{state}"}}'
    )
    ecs, rds, pulled = FakeEcs(), FakeRds(), []
    with pytest.raises(release_ops.FailedOver, match=state):
        release_ops.migrate(
            prod_settings, names, _clients(ecs, rds), Release("v2.45.6", DIGEST), quiet
        )
    with pytest.raises(release_ops.FailedOver, match=state):
        release_ops.build(
            prod_settings, names, _clients(ecs, rds), tmp_path, quiet,
            docker=pulled.append, login=lambda _e: None,
        )  # type: ignore[arg-type]  # fmt: skip
    assert ecs.runs == [] and rds.snapshots == [] and pulled == [] and _recorded(names) is None


def test_an_unreadable_failed_over_state_refuses_a_release(
    aws: Any, prod_settings: Settings
) -> None:
    """The DR region may be the one in trouble: not knowing is not "none"."""
    from botocore.exceptions import EndpointConnectionError

    names = Names.of(prod_settings)
    real = _clients(FakeEcs(), FakeRds())

    def client(service: str, region: str) -> Any:
        if service == "ssm" and region == "ap-southeast-1":

            class Down:
                def get_parameter(self, **_kwargs: Any) -> Any:
                    raise EndpointConnectionError(endpoint_url="https://ssm.ap-southeast-1")

            return Down()
        return real(service, region)

    with pytest.raises(release_ops.FailedOver, match="cannot reach ap-southeast-1"):
        release_ops.migrate(prod_settings, names, client, Release("v2.45.6", DIGEST), quiet)
    assert _recorded(names) is None


# --- the publish build: Twenty's derived image and every mirror, each gated ---------------------
class GatedEcr(FakeEcr):
    """ECR for the whole build step: tags, a clean scan for any image, the DR replica."""

    def __init__(self) -> None:
        super().__init__()
        self.scanned: list[str] = []
        self.replicated: list[str] = []

    def describe_image_scan_findings(self, **kwargs: Any) -> dict[str, Any]:
        self.scanned.append(kwargs["imageId"]["imageDigest"])
        return _scan("COMPLETE", findingSeverityCounts={"LOW": 1})

    def describe_images(self, **kwargs: Any) -> dict[str, Any]:
        self.replicated.append(kwargs["imageIds"][0]["imageDigest"])
        return {"imageDetails": []}


def test_the_build_step_bakes_the_current_bundle_and_gates_every_mirror(
    aws: Any, prod_settings: Settings, tmp_path: Path
) -> None:
    from crm_platform.contracts import RDS_CA_BUNDLE_URL

    sidecar = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1"
    settings = prod_settings.model_copy(
        update={"pipeline": prod_settings.pipeline.model_copy(update={"mirror_images": [sidecar]})}
    )
    names, ecr = Names.of(settings), GatedEcr()
    docker, fetched = FakeDocker(ecr, "sha256:config1"), []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return BUNDLE

    def client(service: str, region: str) -> Any:
        return ecr if service == "ecr" else boto3.client(service, region_name=region)

    written = release_ops.build(
        settings, names, client, tmp_path, quiet, docker=docker, login=lambda _e: None,
        fetch=fetch,
    )  # fmt: skip
    assert fetched == [RDS_CA_BUNDLE_URL]
    assert docker.contexts[0][publish.BUNDLE_FILE] == BUNDLE
    from crm_platform.release.images import mirror_tag

    assert f"{names.repository_uri('ap-northeast-1')}:{mirror_tag(sidecar)}" in docker.pushed()
    # Twenty's image and the mirror: each scanned and waited for in DR.
    assert len(ecr.scanned) == len(ecr.replicated) == 2
    assert json.loads((tmp_path / "release.json").read_text())["digest"] == DIGEST
    assert {p.name for p in written} >= {"server.json", "release.json"}
