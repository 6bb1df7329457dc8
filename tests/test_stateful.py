"""Stateful resources are never destroyed by accident: retention policies and protection."""

from __future__ import annotations

import pytest

from crm_platform.settings import Settings
from tests.conftest import Assembly
from tests.test_platform import EXPECTED

# (DeletionPolicy, UpdateReplacePolicy) per stateful type. Named data is kept on stack
# delete and replacement but removed when its own create rolls back, so a failed first
# deploy can be retried (RetainExceptOnCreate); databases and caches keep a snapshot.
KEEP = {
    "AWS::RDS::DBInstance": ("Snapshot", "Snapshot"),
    "AWS::S3::Bucket": ("RetainExceptOnCreate", "Retain"),
    "AWS::KMS::Key": ("RetainExceptOnCreate", "Retain"),
    "AWS::Backup::BackupVault": ("RetainExceptOnCreate", "Retain"),
    "AWS::SecretsManager::Secret": ("RetainExceptOnCreate", "Retain"),
    "AWS::ElastiCache::ReplicationGroup": ("Snapshot", "Snapshot"),
    "AWS::Logs::LogGroup": ("RetainExceptOnCreate", "Retain"),
}


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_every_stateful_resource_is_retained_or_snapshotted(stack: str, assembly: Assembly) -> None:
    resources = assembly.raw(stack)["Resources"]
    checked = 0
    for logical_id, resource in resources.items():
        expected = KEEP.get(resource["Type"])
        if expected is None:
            continue
        checked += 1
        found = (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
        assert found == expected, (stack, logical_id, found)
    assert checked, f"{stack} holds no stateful resource to check"


def test_stateful_resources_exist_where_expected(assembly: Assembly) -> None:
    def count(stack: str, kind: str) -> int:
        return sum(1 for r in assembly.raw(stack)["Resources"].values() if r["Type"] == kind)

    assert count("crm-prod-primary", "AWS::RDS::DBInstance") == 1
    assert count("crm-prod-dr-database", "AWS::RDS::DBInstance") == 1
    assert count("crm-prod-primary", "AWS::Backup::BackupVault") == 1
    assert count("crm-prod-dr", "AWS::Backup::BackupVault") == 1
    assert count("crm-prod-primary", "AWS::S3::Bucket") == 2  # attachments + access logs
    assert count("crm-prod-dr", "AWS::S3::Bucket") == 3  # + the pipeline's DR artifact store
    for stack in ("crm-prod-primary", "crm-prod-dr"):
        assert count(stack, "AWS::ElastiCache::ReplicationGroup") == 1


def test_databases_have_deletion_protection(assembly: Assembly) -> None:
    for stack in ("crm-prod-primary", "crm-prod-dr-database"):
        for resource in assembly.raw(stack)["Resources"].values():
            if resource["Type"] == "AWS::RDS::DBInstance":
                assert resource["Properties"]["DeletionProtection"] is True


def test_no_bucket_is_emptied_on_delete(assembly: Assembly) -> None:
    for stack in EXPECTED:
        types = {r["Type"] for r in assembly.raw(stack)["Resources"].values()}
        assert "Custom::S3AutoDeleteObjects" not in types


def test_vault_lock_from_configuration(assembly: Assembly, prod_settings: Settings) -> None:
    lock_config = prod_settings.backup.vault_lock
    assert lock_config.mode == "governance"
    for stack in ("crm-prod-primary", "crm-prod-dr"):
        vaults = [
            r
            for r in assembly.raw(stack)["Resources"].values()
            if r["Type"] == "AWS::Backup::BackupVault"
        ]
        lock = vaults[0]["Properties"]["LockConfiguration"]
        assert lock["MinRetentionDays"] == lock_config.min_retention_days
        assert lock["MaxRetentionDays"] == lock_config.max_retention_days
        assert "ChangeableForDays" not in lock  # governance mode: no cooling-off period
