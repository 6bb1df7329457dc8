"""Per-resource acknowledgements for the template scanners (checkov, cfn-lint).

Both read CloudFormation metadata on the resource itself, so the reason sits next to
the construct it covers and travels with the template.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def _resource(construct: IConstruct) -> cdk.CfnResource:
    cfn = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(cfn, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    return cfn


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Skip one checkov check on one resource, with its reason (checkov reads ``comment``)."""
    cfn = _resource(construct)
    current = cfn.get_metadata("checkov") or {"skip": []}
    current["skip"].append({"id": check_id, "comment": reason})
    cfn.add_metadata("checkov", current)
