"""The deploy sequence (ops/deploy.py) with plain fakes: what runs, in which order, and where it stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crm_platform.naming import Names
from crm_platform.ops.deploy import DeployWorld, deploy
from crm_platform.ops.deploy_plan import plan
from crm_platform.release.migration import MigrationFailed
from crm_platform.release.record import Release
from crm_platform.settings import Settings

DIGEST = "sha256:" + "a" * 64
APPROVAL = ["--require-approval", "broadening"]


@dataclass
class Fakes:
    """Records every call in one list, in order; each collaborator can be told to fail."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    synth_ok: bool = True
    preflight_ok: bool = True
    migration_fails: bool = False
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

        return DeployWorld(
            synthesize=synthesize,
            preflight=check if preflight else None,
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
    assert fakes.calls == [
        ("synth", None, True),  # services held at zero
        ("preflight", "/assembly/1"),
        ("cdk", "deploy", "--app", "/assembly/1", "--all", *APPROVAL),
        ("migrate", wanted),  # after the stacks exist, before the services start
        ("synth", None, False),
        ("cdk", "deploy", "--app", "/assembly/5", "crm-prod-primary", "crm-prod-dr-app",
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
    assert kinds == ["synth", "preflight", "migrate", "cdk"]
    assert fakes.calls[2] == ("migrate", Release(settings.twenty.version))


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
    assert [c[0] for c in fakes.calls] == ["synth", "preflight", "cdk", "migrate"]


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
    from tests.test_release import FakeEcs, FakeLogs, FakeRds, _clients

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setattr(migration.time, "sleep", lambda _s: None)
    monkeypatch.setattr(migration, "LOG_WAIT_S", 0)
    with mock_aws():
        ecs = FakeEcs(exit_code=0)
        logs = FakeLogs("Warning: Upgrade completed with errors. Check logs for details.")
        clients = _clients(ecs, FakeRds(), logs)
        fakes = Fakes()
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
    assert [c[0] for c in fakes.calls] == ["synth", "preflight", "cdk", "migrate"]
