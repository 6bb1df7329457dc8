"""The release pipeline as synthesized: ECR, replication, CodeBuild, CodePipeline V2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from crm_platform.settings import Settings, load_settings
from crm_platform.toolchain.synth import synthesize
from tests.conftest import Assembly

DIGEST = "sha256:" + "b" * 64


@pytest.fixture(scope="module")
def pipeline(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-pipeline")


def only(template: Template, kind: str) -> dict[str, Any]:
    (found,) = template.find_resources(kind).values()
    return found


def test_stages_run_in_release_order_with_approval_before_any_change(
    pipeline: Template,
) -> None:
    props = only(pipeline, "AWS::CodePipeline::Pipeline")["Properties"]
    assert props["PipelineType"] == "V2" and props["ExecutionMode"] == "QUEUED"
    stages = [s["Name"] for s in props["Stages"]]
    assert stages == ["Source", "Build", "Approve", "Migrate", "DeployPrimary", "DeployDR"]
    providers = {s["Name"]: [a["ActionTypeId"]["Provider"] for a in s["Actions"]]
                 for s in props["Stages"]}  # fmt: skip
    assert providers["Source"] == ["CodeStarSourceConnection"]
    assert providers["Approve"] == ["Manual"]
    assert providers["Migrate"] == ["CodeBuild"]
    assert providers["DeployPrimary"] == providers["DeployDR"] == ["ECS", "ECS"]
    approval = props["Stages"][2]["Actions"][0]["Configuration"]
    # The primary's alert topic (a same-region reference to the primary stack).
    assert "crm-prod-primary" in json.dumps(approval["NotificationArn"])
    assert "AlertsTopic" in json.dumps(approval["NotificationArn"])


def test_deploy_actions_name_each_regions_services_and_files(
    pipeline: Template, prod_settings: Settings
) -> None:
    props = only(pipeline, "AWS::CodePipeline::Pipeline")["Properties"]
    by_stage = {s["Name"]: s["Actions"] for s in props["Stages"]}
    for stage, region, cluster, prefix in (
        ("DeployPrimary", None, "crm-prod-cluster", ""),
        ("DeployDR", "ap-southeast-1", "crm-prod-cluster-dr", "dr-"),
    ):
        seen = {
            (a.get("Region"), a["Configuration"]["ClusterName"],
             a["Configuration"]["ServiceName"], a["Configuration"]["FileName"],
             a["Configuration"]["DeploymentTimeout"])
            for a in by_stage[stage]
        }  # fmt: skip
        timeout = prod_settings.pipeline.deploy_timeout_minutes
        assert seen == {
            (region, cluster, "crm-prod-server", f"{prefix}server.json", timeout),
            (region, cluster, "crm-prod-worker", f"{prefix}worker.json", timeout),
        }


def test_every_region_with_actions_has_a_kms_artifact_store(pipeline: Template) -> None:
    props = only(pipeline, "AWS::CodePipeline::Pipeline")["Properties"]
    stores = {s["Region"]: s["ArtifactStore"] for s in props["ArtifactStores"]}
    assert set(stores) == {"ap-northeast-1", "ap-southeast-1"}
    assert all(s["EncryptionKey"]["Type"] == "KMS" for s in stores.values())
    assert stores["ap-southeast-1"]["Location"] == "crm-prod-pipeline-123456789012-ap-southeast-1"
    assert stores["ap-southeast-1"]["EncryptionKey"]["Id"].endswith(":alias/crm-prod")


@pytest.mark.parametrize("stack", ["crm-prod-pipeline", "crm-prod-dr"])
def test_artifact_buckets_are_private_encrypted_versioned_and_tls_only(
    assembly: Assembly, stack: str
) -> None:
    template = assembly.template(stack)
    buckets = template.find_resources(
        "AWS::S3::Bucket", {"Properties": {"BucketName": Match.string_like_regexp("pipeline")}}
    )
    ((logical, bucket),) = buckets.items()
    props = bucket["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate"
    policies = template.find_resources("AWS::S3::BucketPolicy")
    (policy,) = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": logical}]
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Deny"]  # fmt: skip
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def _projects(pipeline: Template) -> dict[str, dict[str, Any]]:
    return {
        p["Properties"]["Name"]: p["Properties"]
        for p in pipeline.find_resources("AWS::CodeBuild::Project").values()
    }


def test_build_is_privileged_cached_encrypted_and_calls_the_release_cli(
    pipeline: Template,
) -> None:
    projects = _projects(pipeline)
    build, migrate = projects["crm-prod-build"], projects["crm-prod-migrate"]
    assert build["Environment"]["PrivilegedMode"] is True
    assert migrate["Environment"]["PrivilegedMode"] is False
    for p in (build, migrate):
        assert p["Environment"]["Image"] == "aws/codebuild/standard:8.0"
        assert p["Cache"]["Type"] == "LOCAL"
        assert set(p["Cache"]["Modes"]) == {
            "LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE", "LOCAL_CUSTOM_CACHE",
        }  # fmt: skip
        assert "EncryptionKey" in p
        assert p["LogsConfig"]["CloudWatchLogs"]["Status"] == "ENABLED"
    spec = json.loads(build["Source"]["BuildSpec"])
    assert any("crm-platform release build --env prod" in c
               for c in spec["phases"]["build"]["commands"])  # fmt: skip
    spec = json.loads(migrate["Source"]["BuildSpec"])
    assert any("crm-platform release migrate --env prod --release" in c
               for c in spec["phases"]["build"]["commands"])  # fmt: skip


def _statements(template: Template, role_fragment: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for logical, policy in template.find_resources("AWS::IAM::Policy").items():
        if role_fragment in logical:
            for s in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "Sid" in s:
                    found[s["Sid"]] = s
    return found


def test_the_migrate_step_can_run_only_the_migrate_family_in_the_primary_cluster(
    pipeline: Template,
) -> None:
    s = _statements(pipeline, "ReleaseMigrateRole")
    family = ":task-definition/crm-prod-migrate:*"
    run = s["RunTheMigrationInThePrimaryCluster"]
    assert run["Resource"].endswith(family)
    assert run["Condition"]["ArnEquals"]["ecs:cluster"].endswith(":cluster/crm-prod-cluster")
    # On main the migrate role could register any task definition (Resource "*").
    assert s["RegisterTheReleasesMigrateRevision"]["Resource"].endswith(family)
    assert s["ReadTheMigrateRevision"]["Action"] == "ecs:DescribeTaskDefinition"
    passed = s["PassTheMigrateTaskItsRoles"]
    assert passed["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    assert "*" not in json.dumps(passed["Resource"])
    record = s["RecordTheSchemaRelease"]["Resource"]
    assert {r.split(":")[3] for r in record} == {"ap-northeast-1", "ap-southeast-1"}


def _stages(pipeline: Template) -> dict[str, list[dict[str, Any]]]:
    props = only(pipeline, "AWS::CodePipeline::Pipeline")["Properties"]
    return {s["Name"]: s["Actions"] for s in props["Stages"]}


def test_the_approval_notice_carries_the_commit_and_the_digest_of_this_execution(
    pipeline: Template,
) -> None:
    """On main the notice was a text fixed at synthesis ("Release v2.45.6 ...")."""
    stages = _stages(pipeline)
    assert stages["Source"][0]["Namespace"] == "Source"
    assert stages["Build"][0]["Namespace"] == "Build"
    text = stages["Approve"][0]["Configuration"]["CustomData"]
    assert "#{Source.CommitId}" in text
    assert "crm-prod/twenty@#{Build.RELEASE_DIGEST}" in text
    assert "#{Build.RELEASE_VERSION}" in text
    assert len(text) <= 1000  # CodePipeline's limit for a configuration field
    build = json.loads(_projects(pipeline)["crm-prod-build"]["Source"]["BuildSpec"])
    assert build["env"]["exported-variables"] == ["RELEASE_VERSION", "RELEASE_DIGEST"]
    commands = build["phases"]["build"]["commands"]
    assert any(c.startswith("export RELEASE_DIGEST=") for c in commands)


def test_the_migrate_step_never_runs_the_commits_code(
    pipeline: Template, assembly: Assembly
) -> None:
    """It installs the operator's deployed copy (an asset), takes the release from the
    variables the approver saw, and gets only the build's files, not the source."""
    (migrate,) = _stages(pipeline)["Migrate"]
    assert [a["Name"] for a in migrate["InputArtifacts"]] == ["Release"]
    variables = {
        v["name"]: v["value"] for v in json.loads(migrate["Configuration"]["EnvironmentVariables"])
    }
    assert variables == {
        "RELEASE_VERSION": "#{Build.RELEASE_VERSION}",
        "RELEASE_DIGEST": "#{Build.RELEASE_DIGEST}",
        "SOURCE_COMMIT": "#{Source.CommitId}",
    }
    project = _projects(pipeline)["crm-prod-migrate"]
    (trusted,) = project["Environment"]["EnvironmentVariables"]
    assert trusted["Name"] == "TRUSTED_SOURCE"
    assert trusted["Value"].startswith("s3://cdk-hnb659fds-assets-123456789012-ap-northeast-1/")
    spec = json.loads(project["Source"]["BuildSpec"])
    commands = [*spec["phases"]["install"]["commands"], *spec["phases"]["build"]["commands"]]
    assert commands[0].startswith('aws s3 cp "$TRUSTED_SOURCE"')
    assert not any("pip install" in c and c.rstrip().endswith(" .") for c in commands)
    assert commands[-1].startswith("cd /tmp/trusted-source && ")
    assert "--release /tmp/approved-release.json" in commands[-1]
    # The role reads exactly that object, which the assembly ships as a file asset.
    key = trusted["Value"].rsplit("/", 1)[1]
    grant = _statements(pipeline, "ReleaseMigrateRole")["InstallTheDeployedMigrateStep"]
    assert grant["Action"] == "s3:GetObject" and grant["Resource"].endswith(f"/{key}")
    assets = json.loads((assembly.outdir / "crm-prod-pipeline.assets.json").read_text())
    shipped = [
        a["source"]["path"]
        for a in assets["files"].values()
        if any(d["objectKey"] == key for d in a["destinations"].values())
    ]
    assert len(shipped) == 1


def test_the_shipped_copy_runs_with_the_settings_it_was_synthesized_from(
    pipeline: Template, assembly: Assembly, prod_settings: Settings
) -> None:
    project = _projects(pipeline)["crm-prod-migrate"]
    key = project["Environment"]["EnvironmentVariables"][0]["Value"].rsplit("/", 1)[1]
    assets = json.loads((assembly.outdir / "crm-prod-pipeline.assets.json").read_text())
    (path,) = [
        a["source"]["path"]
        for a in assets["files"].values()
        if any(d["objectKey"] == key for d in a["destinations"].values())
    ]
    folder = assembly.outdir / path
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "config", "pyproject.toml", "src"]
    assert not list(folder.rglob("__pycache__")) and not list(folder.rglob("*.pyc"))
    assert load_settings(folder / "config" / "prod.yaml") == prod_settings
    # The copy is complete: its own CLI (not the checkout's) loads its own settings.
    program = (
        "import sys, crm_platform; assert crm_platform.__file__.startswith(sys.argv[1]); "
        "from crm_platform.cli import main; raise SystemExit(main(sys.argv[2:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(folder), "config", "validate", "config/prod.yaml"],
        cwd=folder, env={**os.environ, "PYTHONPATH": str(folder / "src")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _deploy_checks(pipeline: Template) -> list[str]:
    spec = json.loads(_projects(pipeline)["crm-prod-migrate"]["Source"]["BuildSpec"])
    return [c for c in spec["phases"]["build"]["commands"] if c.startswith("jq ")]


@pytest.mark.parametrize(
    ("tamper", "refused"),
    [
        (None, False),
        ("server.json", True),  # another image for the primary's server
        ("dr-worker.json", True),
    ],
)
def test_deploy_files_naming_another_image_stop_the_release_before_it_migrates(
    pipeline: Template, tmp_path: Path, tamper: str | None, refused: bool
) -> None:
    """The build runs the commit's code and writes the deploy files; the migrate step
    checks them against the approved digest with the shell the buildspec runs."""
    images = {
        "server.json": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/crm-prod/twenty",
        "worker.json": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/crm-prod/twenty",
        "dr-server.json": "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/crm-prod/twenty",
        "dr-worker.json": "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/crm-prod/twenty",
    }
    for name, uri in images.items():
        image = "docker.io/evil/twenty:latest" if name == tamper else f"{uri}@{DIGEST}"
        (tmp_path / name).write_text(json.dumps([{"name": "server", "imageUri": image}]))
    checks = _deploy_checks(pipeline)
    assert len(checks) == 4
    done = subprocess.run(
        ["/bin/sh", "-c", "set -e\n" + "\n".join(checks)],
        env={"PATH": os.environ["PATH"], "CODEBUILD_SRC_DIR": str(tmp_path),
             "RELEASE_DIGEST": DIGEST},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode != 0) == refused, done.stdout + done.stderr
    if refused:
        assert f"{tamper} does not deploy" in done.stdout


def test_the_verdict_is_read_from_the_migrate_tasks_own_log_group(
    pipeline: Template, assembly: Assembly
) -> None:
    primary = assembly.template("crm-prod-primary")
    (task,) = primary.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": "crm-prod-migrate"}}
    ).values()
    container = next(
        c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "migrate"
    )
    group = container["LogConfiguration"]["Options"]["awslogs-group"]
    (logical,) = [k for k, v in primary.find_resources("AWS::Logs::LogGroup").items()
                  if {"Ref": k} == group]  # fmt: skip
    name = primary.find_resources("AWS::Logs::LogGroup")[logical]["Properties"]["LogGroupName"]
    assert name == "/ecs/crm-prod-migrate"
    verdict = _statements(pipeline, "ReleaseMigrateRole")["ReadTheMigrationsVerdict"]
    assert verdict["Action"] == "logs:FilterLogEvents"
    assert verdict["Resource"] == (f"arn:aws:logs:ap-northeast-1:123456789012:log-group:{name}:*")
    # The migration task's wrapper judges what Twenty reported; the server's hands over.
    switch = {"Name": "CRM_MIGRATION_VERDICT", "Value": "1"}
    assert switch in container["Environment"]
    (server,) = primary.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": "crm-prod-server"}}
    ).values()
    assert all(
        switch not in c.get("Environment", []) for c in server["Properties"]["ContainerDefinitions"]
    )


def test_no_pass_role_in_the_pipeline_stack_names_every_role(pipeline: Template) -> None:
    """On main the pipeline role passed any role ("*", to ec2 or ecs-tasks)."""
    for logical, policy in pipeline.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            if "iam:PassRole" not in (actions if isinstance(actions, list) else [actions]):
                continue
            assert statement["Resource"] != "*" and "*" not in statement["Resource"], logical
            assert statement["Condition"] == {
                "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
            }, logical


def test_the_pipeline_role_passes_the_roles_of_the_services_it_deploys(
    pipeline: Template, assembly: Assembly
) -> None:
    (passed,) = [
        s
        for p in pipeline.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "iam:PassRole" and "Sid" not in s
    ]
    resources = passed["Resource"]
    assert len(resources) == 4
    primary_outputs = {r["Fn::GetStackOutput"]["OutputName"] for r in resources[:2]}
    assert all("TwentyTaskRole" in o or "TwentyExecutionRole" in o for o in primary_outputs)
    dr = assembly.template("crm-prod-dr-app")
    (server,) = dr.find_resources(
        "AWS::ECS::TaskDefinition", {"Properties": {"Family": "crm-prod-server"}}
    ).values()
    logicals = [
        server["Properties"][k]["Fn::GetAtt"][0] for k in ("TaskRoleArn", "ExecutionRoleArn")
    ]
    assert resources[2:] == [
        f"arn:aws:iam::123456789012:role/crm-prod-dr-app-{logical}-*" for logical in logicals
    ]


def test_staging_without_a_pipeline_has_no_pipeline_resources(
    staging_assembly: Assembly, staging_settings: Settings
) -> None:
    assert not staging_settings.pipeline.enabled
    assert not (staging_assembly.outdir / "crm-staging-pipeline.template.json").exists()
    dr = staging_assembly.raw("crm-staging-dr")
    kinds = {r["Type"] for r in dr["Resources"].values()}
    assert "AWS::S3::Bucket" in kinds  # the DR foundation's own buckets ...
    assert not any("PipelineArtifacts" in logical for logical in dr["Resources"])  # ... only


@pytest.fixture(scope="module")
def released(prod_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The assembly a deploy synthesizes for a pipeline-published release."""
    out = tmp_path_factory.mktemp("released") / "cdk.out"
    result = synthesize(prod_settings, out, release_digest=DIGEST)
    assert result.ok, result.findings
    return out


@pytest.mark.parametrize(
    ("stack", "region"),
    [("crm-prod-primary", "ap-northeast-1"), ("crm-prod-dr-app", "ap-southeast-1")],
)
def test_a_released_digest_runs_from_the_regions_own_registry(
    released: Path, stack: str, region: str
) -> None:
    template = json.loads((released / f"{stack}.template.json").read_text())
    uri = f"123456789012.dkr.ecr.{region}.amazonaws.com/crm-prod/twenty@{DIGEST}"
    images = {
        c["Image"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
        for c in r["Properties"]["ContainerDefinitions"]
    }
    assert images == {uri}
    pulls = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "PullTwentyFromThePlatformRepository"
    ]
    assert pulls and all(
        s["Resource"] == f"arn:aws:ecr:{region}:123456789012:repository/crm-prod/twenty"
        for s in pulls
    )


def test_held_services_start_at_zero_tasks(prod_settings: Settings, tmp_path: Path) -> None:
    result = synthesize(prod_settings, tmp_path / "cdk.out", hold_services=True)
    assert result.ok
    for stack in ("crm-prod-primary", "crm-prod-dr-app"):
        template = json.loads((tmp_path / "cdk.out" / f"{stack}.template.json").read_text())
        counts = [
            r["Properties"]["DesiredCount"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::ECS::Service"
        ]
        assert counts == [0, 0], stack
        minimums = [
            r["Properties"]["MinCapacity"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        ]
        assert set(minimums) == {0}, stack
