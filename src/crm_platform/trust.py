"""An AWS service trusted only on behalf of this account's own resources.

A role or resource policy that names a service principal alone trusts that service acting
for *any* customer: the cross-service confused deputy. Where the service documents
``aws:SourceAccount`` and ``aws:SourceArn`` for its calls, every trust of it in the
platform carries both (docs/adr/0038-key-and-trust-hygiene.md lists each service with its
AWS source). Where a service does not document them, its trust stays as it is and the
ADR says why (a condition the service never sends refuses every call).

``CONFINED_SERVICES`` is what tests/test_trust_conditions.py holds every synthesized
template to; ``UNCONFINED`` the exceptions, each with its reason.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

# Services that document the two keys for the calls the platform lets them make.
CONFINED_SERVICES = frozenset(
    {
        "ecs-tasks.amazonaws.com",  # task roles (not execution roles: see UNCONFINED)
        "states.amazonaws.com",
        "codebuild.amazonaws.com",  # assumed for the trust, verify at the first pipeline run
        "vpc-flow-logs.amazonaws.com",
        "monitoring.rds.amazonaws.com",
        "logging.s3.amazonaws.com",
        "delivery.logs.amazonaws.com",
        "events.amazonaws.com",
    }
)

# (service, where) -> why a trust of it carries no source condition. ``where`` is a part
# of the role's construct path, or a resource-policy statement's Sid. Entries for services
# outside CONFINED_SERVICES record trusts left whole (the walk does not look at them).
UNCONFINED: dict[tuple[str, str], str] = {
    ("ecs-tasks.amazonaws.com", "ExecutionRole"): (
        "ECS documents the source keys for the task role only; its task execution role "
        "page shows the trust without them, and a key Fargate does not send when it "
        "assumes the execution role would stop every task from starting"
    ),
    ("codepipeline.amazonaws.com", "Release/Role"): (
        "no CodePipeline page available offline documents the source keys for the "
        "pipeline's service role; a key CodePipeline does not send would stop every "
        "release (ADR 0038: verify and confine later)"
    ),
    ("events.amazonaws.com", "EventBridgePublishesToEncryptedTopics"): (
        "SNS documents aws:SourceAccount/aws:SourceArn as unsupported for EventBridge "
        "delivery to an encrypted topic (security/key.py)"
    ),
}


def source_conditions(account: str, source_arn: str) -> dict[str, dict[str, str]]:
    """The two keys: the calling resource's account, and its ARN (a pattern)."""
    return {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": source_arn},
    }


def confined_service(scope: Construct, service: str, source_arn: str) -> iam.IPrincipal:
    """``service`` as a role's trusted principal, only for ``source_arn`` of this account."""
    account = cdk.Stack.of(scope).account
    return iam.ServicePrincipal(service).with_conditions(source_conditions(account, source_arn))


def arn_in_stack(scope: Construct, service: str, resource: str) -> str:
    """arn:aws:<service>:<region>:<account>:<resource> for the stack of ``scope``."""
    stack = cdk.Stack.of(scope)
    return f"arn:aws:{service}:{stack.region}:{stack.account}:{resource}"


def confine_role_trust(role: iam.IRole, service: str, source_arn: str) -> None:
    """Add both source keys to the trust of a role a CDK construct made for ``service``.

    CodeBuild projects and RDS Enhanced Monitoring make their roles themselves; replacing
    them would replace the roles (new logical ids). The trust statement is rewritten in
    place instead, after checking that it is the one statement trusting ``service``.
    """
    stack = cdk.Stack.of(role)
    assert isinstance(role, iam.Role) and role.assume_role_policy is not None, role
    document = stack.resolve(role.assume_role_policy)
    statements = document["Statement"]
    assert len(statements) == 1 and statements[0]["Principal"] == {"Service": service}, (
        role.node.path,
        statements,
    )
    cfn = role.node.default_child
    assert isinstance(cfn, iam.CfnRole)
    cfn.add_property_override(
        "AssumeRolePolicyDocument.Statement.0.Condition",
        source_conditions(stack.account, source_arn),
    )
