"""Our registry from day one (issue 18, item 2): the repository, its DR replica's rules and
the deploy's publish build, in every environment, before any application stack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm_platform.naming import Names
from crm_platform.release.images import mirror_reference, mirror_sources
from crm_platform.settings import Settings
from tests.conftest import Assembly

APPLICATION_STACKS = ("primary", "dr-app")


def _env(assembly: Assembly) -> str:
    return "prod" if (assembly.outdir / "crm-prod-registry.template.json").exists() else "staging"


@pytest.fixture(params=["prod", "staging"])
def both(request: pytest.FixtureRequest) -> tuple[Assembly, Settings]:
    """Each environment's assembly, synthesized with no release digest recorded: what a
    first deploy (and every offline synthesis) produces."""
    if request.param == "prod":
        return request.getfixturevalue("assembly"), request.getfixturevalue("prod_settings")
    return (
        request.getfixturevalue("staging_assembly"),
        request.getfixturevalue("staging_settings"),
    )


def _of(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_every_environment_has_the_registry_before_its_application_stacks(
    both: tuple[Assembly, Settings],
) -> None:
    """On main the repository lived in the pipeline stack, deployed last and not at all
    in staging (pipeline off)."""
    assembly, settings = both
    names = Names.of(settings)
    manifest = assembly.manifest()["artifacts"]
    registry = assembly.raw(names.registry_stack)
    (repository,) = _of(registry, "AWS::ECR::Repository")
    assert repository["Properties"]["RepositoryName"] == names.repository
    assert repository["DeletionPolicy"] != "Delete"  # retained, whatever happens to the stack
    assert manifest[names.registry_stack]["environment"].endswith(f"/{settings.regions.primary}")
    assert names.dr_stack in manifest[names.registry_stack]["dependencies"]
    assert names.registry_stack in manifest[names.primary_stack]["dependencies"]
    # The DR replica's creation template, in every environment, deployed before the push.
    (template,) = _of(assembly.raw(names.dr_stack), "AWS::ECR::RepositoryCreationTemplate")
    assert template["Properties"]["Prefix"] == names.repository
    # Nothing else holds a repository (the pipeline stack no longer does).
    for stack, artifact in manifest.items():
        if artifact.get("type") == "aws:cloudformation:stack" and stack != names.registry_stack:
            assert not _of(assembly.raw(stack), "AWS::ECR::Repository"), stack


def test_the_first_deploy_assembly_runs_every_task_from_our_registry(
    both: tuple[Assembly, Settings],
) -> None:
    """No digest recorded: every container of every task definition (server, worker,
    migrate, jobs, bootstrap, the init containers) names the region's own repository,
    and that region's execution role may pull from it. On main: twentycrm/twenty from
    Docker Hub, anonymously, in both regions."""
    assembly, settings = both
    names = Names.of(settings)
    for stack, region in (
        (names.primary_stack, settings.regions.primary),
        (names.dr_app_stack, settings.regions.dr),
    ):
        template = assembly.raw(stack)
        images = {
            c["Image"]
            for d in _of(template, "AWS::ECS::TaskDefinition")
            for c in d["Properties"]["ContainerDefinitions"]
        }
        # Twenty's image, and the mirrors of what runs beside it (the telemetry
        # collector's where telemetry is on): all from the region's own repository.
        twenty = f"{names.repository_uri(region)}:{settings.twenty.version}"
        mirrors = {mirror_reference(names, m, region) for m in mirror_sources(settings)}
        assert twenty in images and images <= {twenty, *mirrors}, stack
        pulls = [
            s
            for policy in _of(template, "AWS::IAM::ManagedPolicy")
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s.get("Sid") == "PullTwentyFromThePlatformRepository"
        ]
        assert pulls and all(s["Resource"] == names.repository_arn(region) for s in pulls)


def _projects(assembly: Assembly, stack: str) -> dict[str, dict[str, Any]]:
    return {
        p["Properties"]["Name"]: p["Properties"]
        for p in _of(assembly.raw(stack), "AWS::CodeBuild::Project")
    }


def _role_statements(assembly: Assembly, stack: str, fragment: str) -> dict[str, Any]:
    return {
        s["Sid"]: (s["Action"], s["Resource"])
        for logical, policy in assembly.raw(stack)["Resources"].items()
        if policy["Type"] == "AWS::IAM::Policy" and fragment in logical
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Sid" in s
    }


def test_the_deploys_publish_build_is_the_pipelines_build_step(assembly: Assembly) -> None:
    """One definition: the same buildspec (``crm-platform release build``) and the same
    grants; the deploy's runs the deployed copy of this project (an S3 source), never a
    commit, in a privileged build (Docker), with its own key."""
    (publish,) = _projects(assembly, "crm-prod-registry").values()
    build = _projects(assembly, "crm-prod-pipeline")["crm-prod-build"]
    assert publish["Name"] == "crm-prod-publish"
    assert json.loads(publish["Source"]["BuildSpec"]) == json.loads(build["Source"]["BuildSpec"])
    assert publish["Source"]["Type"] == "S3"
    assert publish["Environment"]["PrivilegedMode"] is True
    assert "EncryptionKey" in publish
    shared = {"PushTheRelease", "SeeTheDrReplica", "LogInToTheRegistry",
              "ReadTheReleaseRecord", "ReadTheFailedOverState"}  # fmt: skip
    ours = _role_statements(assembly, "crm-prod-registry", "PublishProjectRole")
    theirs = _role_statements(assembly, "crm-prod-pipeline", "ReleaseBuildRole")
    assert shared <= set(ours) and {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}


def test_the_registry_key_lets_ecr_and_the_build_logs_use_it(assembly: Assembly) -> None:
    (key,) = _of(assembly.raw("crm-prod-registry"), "AWS::KMS::Key")
    statements = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    via = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]
    assert "ecr.ap-northeast-1.amazonaws.com" in via["kms:ViaService"]
    assert "CloudWatchLogsEncryptsLogGroups" in statements
