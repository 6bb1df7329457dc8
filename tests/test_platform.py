"""The assembly as a whole: stacks, regions, order, tags, no lookups, clean gates."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from crm_platform.toolchain.synth import acknowledgements
from tests.conftest import Assembly

EXPECTED = {
    "crm-prod-global": "us-east-1",
    "crm-prod-dr": "ap-southeast-1",
    "crm-prod-registry": "ap-northeast-1",  # every environment, before the application
    "crm-prod-primary": "ap-northeast-1",
    "crm-prod-dr-database": "ap-southeast-1",
    "crm-prod-dr-app": "ap-southeast-1",
    "crm-prod-edge": "us-east-1",
    "crm-prod-pipeline": "ap-northeast-1",  # prod enables the release pipeline
}


def test_stacks_live_in_their_regions_with_an_explicit_account(assembly: Assembly) -> None:
    artifacts = assembly.manifest()["artifacts"]
    found = {
        name: a["environment"]
        for name, a in artifacts.items()
        if a["type"] == "aws:cloudformation:stack"
    }
    assert found == {name: f"aws://123456789012/{region}" for name, region in EXPECTED.items()}


def test_deployment_order_dr_foundation_then_primary_then_replica(assembly: Assembly) -> None:
    artifacts = assembly.manifest()["artifacts"]
    assert {"crm-prod-dr", "crm-prod-global", "crm-prod-registry"} <= set(
        artifacts["crm-prod-primary"]["dependencies"]
    )
    assert "crm-prod-dr" in artifacts["crm-prod-registry"]["dependencies"]
    assert "crm-prod-primary" in artifacts["crm-prod-dr-database"]["dependencies"]
    assert "crm-prod-dr-database" in artifacts["crm-prod-dr-app"]["dependencies"]
    assert {"crm-prod-primary", "crm-prod-dr-app"} <= set(
        artifacts["crm-prod-edge"]["dependencies"]
    )
    # The pipeline deploys into both regions' services: it comes after them.
    assert {"crm-prod-primary", "crm-prod-dr-app"} <= set(
        artifacts["crm-prod-pipeline"]["dependencies"]
    )


def test_no_context_lookups_were_needed(assembly: Assembly) -> None:
    manifest = assembly.manifest()
    assert manifest.get("missing", []) == []


def test_nag_gate_has_zero_unacknowledged_findings(assembly: Assembly) -> None:
    assert assembly.result.findings == []
    report = assembly.outdir / "validation-report.json"
    if report.exists():
        plugins = json.loads(report.read_text())["pluginReports"]
        assert [p["conclusion"] for p in plugins] == ["success"] * len(plugins)


def test_every_acknowledgement_names_a_finding_and_a_reason(assembly: Assembly) -> None:
    entries = [entry for stack in EXPECTED for entry in acknowledgements(assembly.outdir, stack)]
    assert entries, "expected some reviewed acknowledgements"
    for entry in entries:
        assert entry["finding"].startswith(
            ("AwsSolutions-", "NIST.800.53.R5-", "CloudFormation-Validate::", "Annotation::")
        ), entry
        assert len(entry["reason"]) >= 25, entry


def test_standard_tags_on_taggable_resources(assembly: Assembly) -> None:
    for stack in EXPECTED:
        template = assembly.template(stack)
        for resource_type in (
            {
                "crm-prod-dr-database": "AWS::RDS::DBInstance",
                "crm-prod-dr-app": "AWS::ECS::Cluster",
                "crm-prod-edge": "AWS::CloudFront::Distribution",
                "crm-prod-pipeline": "AWS::CodePipeline::Pipeline",
            }.get(stack, "AWS::KMS::Key"),
        ):
            template.has_resource_properties(
                resource_type,
                {
                    "Tags": Match.array_with(
                        [
                            {"Key": "cost-centre", "Value": "crm-platform"},
                            {"Key": "environment", "Value": "prod"},
                            {"Key": "project", "Value": "crm"},
                        ]
                    )
                },
            )


def test_production_stacks_have_termination_protection(assembly: Assembly) -> None:
    artifacts = assembly.manifest()["artifacts"]
    for stack in EXPECTED:
        assert artifacts[stack]["properties"].get("terminationProtection") is True


def test_templates_hold_no_secret_material(assembly: Assembly) -> None:
    for stack in EXPECTED:
        text = (assembly.outdir / f"{stack}.template.json").read_text().lower()
        for needle in ('"secretstring"', 'masteruserpassword": "', "-----begin", 'authtoken": "'):
            assert needle not in text, (stack, needle)


def test_staging_is_a_configuration_change_only(staging_assembly: Assembly) -> None:
    """The second environment synthesizes through the same code with a clean gate."""
    result = staging_assembly.result
    assert result.findings == []
    assert {s.name for s in result.stacks} == {
        "crm-staging-global",
        "crm-staging-dr",
        "crm-staging-registry",
        "crm-staging-primary",
        "crm-staging-dr-database",
        "crm-staging-dr-app",
        "crm-staging-edge",
    }
    staging = staging_assembly.template("crm-staging-primary")
    staging.has_resource_properties(
        "AWS::RDS::DBInstance", {"MultiAZ": False, "DBInstanceClass": "db.t4g.medium"}
    )


def test_every_tagged_resource_carries_the_standard_tags(assembly: Assembly) -> None:
    """Tags are applied app-wide; any resource that takes tags must carry all three."""
    standard = {"project": "crm", "environment": "prod", "cost-centre": "crm-platform"}
    checked = 0
    for stack in EXPECTED:
        for logical_id, resource in assembly.raw(stack)["Resources"].items():
            tags = resource.get("Properties", {}).get("Tags")
            if isinstance(tags, list):
                found = {t["Key"]: t["Value"] for t in tags}
            elif isinstance(tags, dict):  # e.g. SSM-style maps
                found = tags
            else:
                continue
            checked += 1
            assert standard.items() <= found.items(), (stack, logical_id, found)
    assert checked > 50
