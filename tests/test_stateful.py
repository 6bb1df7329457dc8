"""Stateful resources are never destroyed by accident: retention policies and protection."""

from __future__ import annotations

import pytest

from crm_platform.settings import Settings
from tests.conftest import Assembly
from tests.test_platform import EXPECTED

KEEP = {
    "AWS::RDS::DBInstance": {"Snapshot"},
    "AWS::S3::Bucket": {"Retain"},
    "AWS::KMS::Key": {"Retain"},
    "AWS::Backup::BackupVault": {"Retain"},
    "AWS::SecretsManager::Secret": {"Retain"},
    "AWS::ElastiCache::ReplicationGroup": {"Snapshot", "Retain"},
    "AWS::Logs::LogGroup": {"Retain"},
}


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_every_stateful_resource_is_retained_or_snapshotted(stack: str, assembly: Assembly) -> None:
    resources = assembly.raw(stack)["Resources"]
    for logical_id, resource in resources.items():
        allowed = KEEP.get(resource["Type"])
        if allowed is None:
            continue
        assert resource.get("DeletionPolicy") in allowed, (stack, logical_id)
        assert resource.get("UpdateReplacePolicy") in allowed, (stack, logical_id)


def test_stateful_resources_exist_where_expected(assembly: Assembly) -> None:
    def count(stack: str, kind: str) -> int:
        return sum(1 for r in assembly.raw(stack)["Resources"].values() if r["Type"] == kind)

    assert count("crm-prod-primary", "AWS::RDS::DBInstance") == 1
    assert count("crm-prod-dr-database", "AWS::RDS::DBInstance") == 1
    assert count("crm-prod-primary", "AWS::Backup::BackupVault") == 1
    assert count("crm-prod-dr", "AWS::Backup::BackupVault") == 1
    assert count("crm-prod-primary", "AWS::S3::Bucket") == 2  # attachments + access logs
    assert count("crm-prod-dr", "AWS::S3::Bucket") == 2
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
