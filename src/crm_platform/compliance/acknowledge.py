"""Acknowledge one cdk-nag finding on one construct, with a reason that reviewers can audit.

Every acknowledgement is also written as construct metadata (``crm-platform:acknowledged``)
so the synthesized assembly carries the list, and the synth summary can count it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aws_cdk as cdk
from constructs import IConstruct

from crm_platform.compliance import METADATA_KEY

_VAGUE = ("todo", "fixme", "later", "n/a", "not needed")
_apply = True


@contextmanager
def recording_only() -> Iterator[None]:
    """Record acknowledgements without applying them, so a test can prove each is needed."""
    global _apply
    _apply = False
    try:
        yield
    finally:
        _apply = True


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge ``finding`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``construct`` only.

    Refuses vague reasons so an acknowledgement always explains itself.
    """
    text = reason.strip()
    if len(text) < 25 or any(text.lower().startswith(v) for v in _VAGUE):
        raise ValueError(f"acknowledgement of {finding} needs a specific reason, got {reason!r}")
    if _apply:
        cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=finding, reason=text))
    construct.node.add_metadata(METADATA_KEY, {"finding": finding, "reason": text})


def nag_arn(arn: str, stack: cdk.Stack) -> str:
    """How cdk-nag spells ``arn`` in a finding id (pseudo parameters as ``<AWS::Name>``)."""
    resolved = stack.resolve(arn)
    if isinstance(resolved, str):
        return resolved
    parts = resolved["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in parts)
