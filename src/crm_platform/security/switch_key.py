"""The traffic switch's HMAC key: only the switch's writers can make a "serve from DR".

The switch's state is an SSM parameter, and ``ssm:PutParameter`` is granted on ``*`` by
common managed policies, so a value counts only with a MAC from this key
(failover/runtime/switch.py). The key policy does not delegate its use to IAM: the
account root *administers* it (no MAC operations), ``kms:GenerateMac`` is allowed only to
the principals named in ``writers`` and ``kms:VerifyMac`` to ``writers`` and
``readers``, each matched by ``aws:PrincipalArn``. An administrator whose IAM policy
says ``kms:*`` still cannot sign a switch value: "Unless the key policy explicitly
allows it, you cannot use IAM policies to allow access to a KMS key"
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html). Who can
change that: any principal allowed ``kms:PutKeyPolicy`` through the account-root
statement (the account's administrators); every change is a CloudTrail event, and the
deploy rewrites the policy to these statements. HMAC keys cannot rotate automatically
(https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.retention import KEEP
from crm_platform.security.key import ADMIN_ACTIONS, PolicyOwnedKey


class SwitchKey(Construct):
    """``key`` (HMAC_256): ``writers`` may sign, ``writers`` and ``readers`` may verify."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alias: str,
        writers: Sequence[str],
        readers: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        root = iam.AccountRootPrincipal()
        self.key = PolicyOwnedKey(
            self,
            "Key",
            alias=alias,
            description=f"{alias}: signs the traffic switch's state (HMAC)",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            pending_window=cdk.Duration.days(30),
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="AccountAdministersKey",
                        principals=[root],
                        actions=ADMIN_ACTIONS,
                        resources=["*"],
                    ),
                    iam.PolicyStatement(
                        sid="OnlyTheWritersSign",
                        principals=[root],
                        actions=["kms:GenerateMac"],
                        resources=["*"],
                        conditions={"ArnEquals": {"aws:PrincipalArn": list(writers)}},
                    ),
                    iam.PolicyStatement(
                        sid="WritersAndReadersVerify",
                        principals=[root],
                        actions=["kms:VerifyMac"],
                        resources=["*"],
                        conditions={"ArnEquals": {"aws:PrincipalArn": [*writers, *readers]}},
                    ),
                ]
            ),
            # A lost key makes every recorded "dr" unverifiable (traffic to the primary).
            removal_policy=KEEP,
        )
        no_rotation = (
            "An HMAC key: AWS KMS rotates symmetric encryption keys only; a new key would "
            "be a deploy that re-signs the switch's state"
        )
        skip_checkov(self.key, "CKV_AWS_7", no_rotation)
