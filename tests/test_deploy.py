"""The deploy sequence (ops/deploy.py) with plain fakes: what runs, in which order, and where it stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crm_platform.naming import Names
from crm_platform.ops.deploy import DeployWorld, deploy
from crm_platform.ops.deploy_plan import plan
from crm_platform.ops.publish_build import PublishFailed
from crm_platform.release.migration import MigrationFailed
from crm_platform.release.record import Release
from crm_platform.settings import Settings

DIGEST = "sha256:" + "a" * 64
PUBLISHED = "sha256:" + "e" * 64  # what the publish build pushed
APPROVAL = ["--require-approval", "broadening"]


@dataclass
class Fakes:
    """Records every call in one list, in order; each collaborator can be told to fail."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    synth_ok: bool = True
    preflight_ok: bool = True
    migration_fails: bool = False
    publish_fails: bool = False
    published: str = PUBLISHED
    cdk_code: int = 0

    def world(self, *, preflight: bool = True) -> DeployWorld:
        def synthesize(digest: str | None, hold: bool) -> Path | None:
            self.calls.append(("synth", digest, hold))
            return Path(f"/assembly/{len(self.calls)}") if self.synth_ok else None

        def check(outdir: Path) -> bool:
            self.calls.append(("preflight", str(outdir)))
            return self.preflight_ok

        def migrate(release: Release) -> None:
            self.calls.append(("migrate", release))
            if self.migration_fails:
                raise MigrationFailed("the migrate task stopped with exit code 3")

        def cdk(arguments: list[str]) -> int:
            self.calls.append(("cdk", *arguments))
            return self.cdk_code

        def publish(release: Release) -> Release:
            self.calls.append(("publish", release))
            if self.publish_fails:
                raise PublishFailed("the publish build ended FAILED")
            return Release(release.version, self.published)

        return DeployWorld(
            synthesize=synthesize,
            preflight=check if preflight else None,
            publish=publish,
            migrate=migrate,
            cdk=cdk,
            progress=lambda _m: None,
        )


@pytest.fixture
def names(prod_settings: Settings) -> Names:
    return Names.of(prod_settings)


def without_pipeline(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"enabled": False})}
    )


def test_the_recorded_release_is_deployed_by_digest_after_preflight(
    prod_settings: Settings, names: Names
) -> None:
    fakes = Fakes()
    recorded = Release(prod_settings.twenty.version, DIGEST)
    outcome = deploy(plan(prod_settings, recorded), names, fakes.world())
    assert outcome.stage == "done"
    assert fakes.calls == [
        ("synth", DIGEST, False),
        ("preflight", "/assembly/1"),
        ("cdk", "deploy", "--app", "/assembly/1", "--all", *APPROVAL),
    ]


def test_a_first_deploy_holds_the_services_until_the_schema_exists(
    prod_settings: Settings, names: Names
) -> None:
    fakes = Fakes()
    outcome = deploy(plan(prod_settings, None), names, fakes.world())
    assert outcome.stage == "done"
    wanted = Release(prod_settings.twenty.version)
    published = Release(prod_settings.twenty.version, PUBLISHED)
    assert fakes.calls == [
        ("synth", None, True),  # services held at zero
        ("preflight", "/assembly/1"),
        # The registry first (and the DR foundation, whose template shapes the replica),
        # then the release is published into it, then everything runs it by digest.
        ("cdk", "deploy", "--app", "/assembly/1", "crm-prod-dr", "crm-prod-registry",
         "--exclusively", *APPROVAL),
        ("publish", wanted),
        ("synth", PUBLISHED, True),
        ("cdk", "deploy", "--app", "/assembly/5", "--all", *APPROVAL),
        ("migrate", published),  # after the stacks exist, before the services start
        ("synth", PUBLISHED, False),
        ("cdk", "deploy", "--app", "/assembly/8", "crm-prod-primary", "crm-prod-dr-app",
         "--exclusively", *APPROVAL),
    ]  # fmt: skip


def test_an_upgrade_without_the_pipeline_migrates_before_the_stacks_move(
    prod_settings: Settings, names: Names
) -> None:
    fakes = Fakes()
    settings = without_pipeline(prod_settings)
    outcome = deploy(plan(settings, Release("v2.44.0")), names, fakes.world())
    assert outcome.stage == "done"
    kinds = [c[0] for c in fakes.calls]
    assert kinds == ["synth", "preflight", "cdk", "publish", "synth", "migrate", "cdk"]
    assert fakes.calls[5] == ("migrate", Release(settings.twenty.version, PUBLISHED))
    assert fakes.calls[-1][:4] == ("cdk", "deploy", "--app", "/assembly/5")


def test_a_failed_preflight_deploys_nothing_and_skipping_it_runs_none(
    prod_settings: Settings, names: Names
) -> None:
    steps = plan(prod_settings, Release(prod_settings.twenty.version, DIGEST))
    refused = Fakes(preflight_ok=False)
    assert deploy(steps, names, refused.world()).stage == "preflight"
    assert [c[0] for c in refused.calls] == ["synth", "preflight"]
    skipped = Fakes(preflight_ok=False)
    assert deploy(steps, names, skipped.world(preflight=False)).stage == "done"
    assert [c[0] for c in skipped.calls] == ["synth", "cdk"]


def test_a_refused_synthesis_stops_before_the_account_is_touched(
    prod_settings: Settings, names: Names
) -> None:
    fakes = Fakes(synth_ok=False)
    assert deploy(plan(prod_settings, None), names, fakes.world()).stage == "synthesis"
    assert [c[0] for c in fakes.calls] == ["synth"]


def test_a_failed_first_migration_leaves_the_services_held(
    prod_settings: Settings, names: Names
) -> None:
    fakes = Fakes(migration_fails=True)
    outcome = deploy(plan(prod_settings, None), names, fakes.world())
    assert outcome.stage == "migration" and "exit code 3" in outcome.detail
    kinds = [c[0] for c in fakes.calls]
    assert kinds == ["synth", "preflight", "cdk", "publish", "synth", "cdk", "migrate"]


def test_a_failed_cdk_deploy_is_passed_on_and_nothing_migrates_after_it(
    prod_settings: Settings, names: Names
) -> None:
    fakes = Fakes(cdk_code=1)
    outcome = deploy(plan(prod_settings, None), names, fakes.world())
    assert (outcome.stage, outcome.cdk_exit_code) == ("cdk", 1)
    assert [c[0] for c in fakes.calls] == ["synth", "preflight", "cdk"]


def test_a_migration_that_logs_a_failed_upgrade_with_exit_0_is_not_recorded_by_deploy(
    prod_settings: Settings, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy's migrate step is the release's own, with its verdict: an older Twenty
    entrypoint that warns "Upgrade completed with errors" and exits 0 does not get its
    release recorded, and the services stay held (on main the exit code was the verdict)."""
    import boto3
    from moto import mock_aws

    from crm_platform.release import migration, record
    from crm_platform.release import operations as release_ops
    from tests.test_release import DIGEST as RELEASE_DIGEST
    from tests.test_release import FakeEcs, FakeLogs, FakeRds, _clients

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setattr(migration.time, "sleep", lambda _s: None)
    monkeypatch.setattr(migration, "LOG_WAIT_S", 0)
    with mock_aws():
        ecs = FakeEcs(exit_code=0)
        logs = FakeLogs("Warning: Upgrade completed with errors. Check logs for details.")
        clients = _clients(ecs, FakeRds(), logs)
        fakes = Fakes(published=RELEASE_DIGEST)  # the digest FakeImages holds
        world = fakes.world()

        def migrate(release: Release) -> object:
            fakes.calls.append(("migrate", release))
            return release_ops.migrate(prod_settings, names, clients, release, lambda _m: None)

        outcome = deploy(
            plan(prod_settings, None), names, DeployWorld(**{**vars(world), "migrate": migrate})
        )
        ssm = boto3.client("ssm", region_name=names.primary_region)
        assert record.read(ssm, names.release_parameter) is None
    assert ecs.runs, "the migration ran and exited 0"
    assert outcome.stage == "migration"
    assert "did not complete" in outcome.detail and "held at zero tasks" in outcome.detail
    kinds = [c[0] for c in fakes.calls]
    assert kinds == ["synth", "preflight", "cdk", "publish", "synth", "cdk", "migrate"]


# --- publishing into our registry before the application stacks (issue 18, item 2) -------------
APPLICATION_STACKS = ("crm-prod-primary", "crm-prod-dr-app")


def test_the_publish_build_runs_before_any_application_stack_deploys(
    prod_settings: Settings, names: Names
) -> None:
    """On main the deploy published nothing: every task pulled twentycrm/twenty from
    Docker Hub. Now a release with no digest is published first, and only the registry
    (and the DR foundation its replica's template lives in) is deployed before it."""
    for settings, recorded in (
        (prod_settings, None),  # first deploy
        (without_pipeline(prod_settings), Release("v2.44.0")),  # upgrade, no pipeline
        (prod_settings, Release(prod_settings.twenty.version)),  # a record from Docker Hub days
    ):
        fakes = Fakes()
        assert deploy(plan(settings, recorded), names, fakes.world()).stage == "done"
        kinds = [c[0] for c in fakes.calls]
        published = kinds.index("publish")
        before = [c for c in fakes.calls[:published] if c[0] == "cdk"]
        assert before == [("cdk", "deploy", "--app", "/assembly/1", "crm-prod-dr",
                           "crm-prod-registry", "--exclusively", *APPROVAL)]  # fmt: skip
        for call in fakes.calls[published:]:
            if call[0] in ("synth", "migrate"):
                digest = call[1] if call[0] == "synth" else call[1].digest
                assert digest == PUBLISHED, call  # everything after runs it by digest


def test_a_failed_publish_deploys_no_application_stack(
    prod_settings: Settings, names: Names
) -> None:
    fakes = Fakes(publish_fails=True)
    outcome = deploy(plan(prod_settings, None), names, fakes.world())
    assert outcome.stage == "publish" and "FAILED" in outcome.detail
    assert [c[0] for c in fakes.calls] == ["synth", "preflight", "cdk", "publish"]
    assert not any(s in c for c in fakes.calls for s in APPLICATION_STACKS)
    assert not any("--all" in c for c in fakes.calls)


def test_a_release_already_published_by_digest_is_not_published_again(
    prod_settings: Settings, names: Names
) -> None:
    for settings in (prod_settings, without_pipeline(prod_settings)):
        fakes = Fakes()
        recorded = Release(settings.twenty.version, DIGEST)
        deploy(plan(settings, recorded), names, fakes.world())
        assert "publish" not in [c[0] for c in fakes.calls]


# --- the publish build, as ops/publish_build.py drives it ----------------------------------
class FakeCodeBuild:
    def __init__(self, statuses: list[str], exported: dict[str, str]) -> None:
        self.statuses, self.exported = statuses, exported
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def start_build(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("StartBuild", kwargs))
        return {"build": {"id": f"{kwargs['projectName']}:build-1"}}

    def batch_get_builds(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("BatchGetBuilds", kwargs))
        status = self.statuses.pop(0)
        variables = [{"name": k, "value": v} for k, v in self.exported.items()]
        return {"builds": [{"id": kwargs["ids"][0], "buildStatus": status,
                            "logs": {"deepLink": "https://console/log"},
                            "exportedEnvironmentVariables": variables}]}  # fmt: skip


class FakeRepository:
    def __init__(self, digests: set[str]) -> None:
        self.digests = digests
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_images(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls.append(("DescribeImages", kwargs))
        if kwargs["imageIds"][0]["imageDigest"] not in self.digests:
            raise ClientError({"Error": {"Code": "ImageNotFoundException"}}, "DescribeImages")
        return {"imageDetails": [{}]}


def _run_publish(
    names: Names, codebuild: FakeCodeBuild, ecr: FakeRepository, version: str = "v2.45.6"
) -> Release:
    from crm_platform.ops.publish_build import publish_release

    return publish_release(
        codebuild, ecr, names, Release(version), lambda _m: None, sleep=lambda _s: None
    )


def test_the_deploy_publishes_through_codebuild_and_takes_the_exported_digest(
    names: Names,
) -> None:
    from crm_platform.ops.permissions import deploy_needs

    codebuild = FakeCodeBuild(
        ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"],
        {"RELEASE_VERSION": "v2.45.6", "RELEASE_DIGEST": PUBLISHED},
    )
    ecr = FakeRepository({PUBLISHED})
    assert _run_publish(names, codebuild, ecr) == Release("v2.45.6", PUBLISHED)
    # Every call is in the deploy's permission contract, with the names it grants on.
    contract = {(n.service, n.operation): n.params for n in deploy_needs(names)}
    for service, (operation, params) in [
        *(("codebuild", c) for c in codebuild.calls), *(("ecr", c) for c in ecr.calls),
    ]:  # fmt: skip
        assert (service, operation) in contract, operation
        for key in ("projectName", "repositoryName"):
            if key in params:
                assert params[key] == contract[(service, operation)][key]


@pytest.mark.parametrize(
    ("statuses", "exported", "in_repository", "message"),
    [
        (["FAILED"], {}, True, "ended FAILED"),
        (["SUCCEEDED"], {"RELEASE_VERSION": "v2.44.0", "RELEASE_DIGEST": PUBLISHED}, True,
         "not v2.45.6"),
        (["SUCCEEDED"], {"RELEASE_VERSION": "v2.45.6"}, True, "digest None"),
        (["SUCCEEDED"], {"RELEASE_VERSION": "v2.45.6", "RELEASE_DIGEST": PUBLISHED}, False,
         "not in the repository"),
    ],
)  # fmt: skip
def test_a_publish_that_did_not_put_the_release_in_the_registry_fails(
    names: Names, statuses: list[str], exported: dict[str, str], in_repository: bool, message: str
) -> None:
    ecr = FakeRepository({PUBLISHED} if in_repository else set())
    with pytest.raises(PublishFailed, match=message):
        _run_publish(names, FakeCodeBuild(statuses, exported), ecr)


def test_republish_refreshes_the_bundle_of_the_recorded_release_without_the_pipeline(
    prod_settings: Settings, names: Names
) -> None:
    """A release recorded by digest is otherwise never published again: ``--republish``
    publishes it (a new bundle makes a new digest) and migrates to that digest, which
    records it, so later deploys keep the fresh image (docs/adr/0039)."""
    from crm_platform.release.versions import UpgradeRefused

    settings = without_pipeline(prod_settings)
    recorded = Release(settings.twenty.version, DIGEST)
    fakes = Fakes()
    assert deploy(plan(settings, recorded, republish=True), names, fakes.world()).stage == "done"
    kinds = [c[0] for c in fakes.calls]
    assert kinds == ["synth", "preflight", "cdk", "publish", "synth", "migrate", "cdk"]
    assert fakes.calls[5] == ("migrate", Release(settings.twenty.version, PUBLISHED))
    assert "publish" not in [c[0] for c in _deployed(settings, recorded, names)]
    with pytest.raises(UpgradeRefused, match="through the pipeline"):
        plan(prod_settings, recorded, republish=True)


def _deployed(settings: Settings, recorded: Release, names: Names) -> list[tuple[Any, ...]]:
    fakes = Fakes()
    deploy(plan(settings, recorded), names, fakes.world())
    return fakes.calls
