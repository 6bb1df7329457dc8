"""Attach the cdk-nag rule packs (v3 policy-validation plugins) to an app."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

PACKS = ("AwsSolutions", "NIST.800.53.R5")


def add_nag_packs(app: cdk.App) -> None:
    """Run AwsSolutions and NIST 800-53 rev 5 on every stack at synthesis."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
