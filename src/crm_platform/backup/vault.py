"""One region's backup vault: the region's key, kept with the stack's data, optionally locked."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.retention import KEEP
from crm_platform.settings.model import VaultLock


class BackupVault(Construct):
    """``vault`` is where recovery points land; it outlives the stack (``KEEP``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vault_name: str,
        key: kms.IKey,
        lock: VaultLock,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=vault_name,
            encryption_key=key,
            lock_configuration=_lock_configuration(lock),
            # Recovery points outlive the stack: deleting it must never delete backups.
            removal_policy=KEEP,
        )


def _lock_configuration(lock: VaultLock) -> backup.LockConfiguration | None:
    """Governance locks stay removable by privileged users; compliance locks set after
    ``changeable_for_days`` and can then never be removed, so that mode is opt-in."""
    if lock.mode == "none":
        return None
    return backup.LockConfiguration(
        min_retention=cdk.Duration.days(lock.min_retention_days),
        max_retention=cdk.Duration.days(lock.max_retention_days),
        changeable_for=(
            cdk.Duration.days(lock.changeable_for_days) if lock.mode == "compliance" else None
        ),
    )
