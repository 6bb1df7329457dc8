"""The web ACLs as behaviour: which of Twenty's requests each rule matches, and what it does.

The rule statements of the synthesized templates are evaluated against requests by a small
model of the WAF statements they use (byte match, size constraint with oversize handling,
label match, and/or/not), so a test says "a 40 KB GraphQL import is counted, an upload is
not" instead of restating the JSON. The model follows the WAF developer guide: a body
beyond the inspection limit is seen only up to the limit, and a statement on it answers
with its oversize handling; labels are those the managed groups added earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from crm_platform.edge.waf import (
    ATTACK_LABELS,
    BODY_INSPECTION_LIMIT_BYTES,
    BODY_RULES,
    COMMON,
    SQLI,
    EdgeFirewall,
)
from crm_platform.settings.model import Edge
from tests.conftest import Assembly

REGIONAL = ("crm-prod-primary", "crm-prod-dr-app")
SLOT_A = "{{resolve:secretsmanager:crm/prod/edge/origin-verify-a:SecretString:::}}"
SLOT_B = "{{resolve:secretsmanager:crm/prod/edge/origin-verify-b:SecretString:::}}"
XSS = "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body"
SQLI_BODY = "awswaf:managed:aws:sql-database:SQLi_Body"
SIZE_8K = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"


@dataclass
class Request:
    method: str = "POST"
    path: str = "/graphql"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    body_bytes: int = 0
    labels: frozenset[str] = frozenset()


def _field(spec: dict[str, Any], request: Request) -> str | None:
    if "UriPath" in spec:
        return request.path
    if "SingleHeader" in spec:
        return request.headers.get(spec["SingleHeader"]["Name"].lower())
    raise NotImplementedError(spec)


def _transform(value: str, transformations: list[dict[str, Any]]) -> str:
    for t in sorted(transformations, key=lambda t: t["Priority"]):
        if t["Type"] == "LOWERCASE":
            value = value.lower()
        elif t["Type"] != "NONE":
            raise NotImplementedError(t)
    return value


def matches(statement: dict[str, Any], request: Request, limit: int) -> bool:
    """Whether WAF would find ``statement`` true for ``request`` (body limit ``limit``)."""
    ((kind, spec),) = statement.items()
    if kind == "AndStatement":
        return all(matches(s, request, limit) for s in spec["Statements"])
    if kind == "OrStatement":
        return any(matches(s, request, limit) for s in spec["Statements"])
    if kind == "NotStatement":
        return not matches(spec["Statement"], request, limit)
    if kind == "LabelMatchStatement":
        assert spec["Scope"] == "LABEL"
        return bool(spec["Key"] in request.labels)
    if kind == "ByteMatchStatement":
        value = _field(spec["FieldToMatch"], request)
        if value is None:  # a missing header matches nothing
            return False
        value = _transform(value, spec["TextTransformations"])
        wanted, where = spec["SearchString"], spec["PositionalConstraint"]
        return {
            "EXACTLY": bool(value == wanted),
            "STARTS_WITH": value.startswith(wanted),
            "CONTAINS": wanted in value,
        }[where]
    if kind == "SizeConstraintStatement":
        body = spec["FieldToMatch"]["Body"]
        if request.body_bytes > limit:
            handling = body.get("OversizeHandling", "CONTINUE")
            if handling != "CONTINUE":
                return bool(handling == "MATCH")
        seen = min(request.body_bytes, limit)
        return bool(
            {"GT": seen > spec["Size"], "LE": seen <= spec["Size"]}[spec["ComparisonOperator"]]
        )
    raise NotImplementedError(kind)


def acl(template: Template) -> dict[str, Any]:
    (found,) = template.find_resources("AWS::WAFv2::WebACL").values()
    return found["Properties"]  # type: ignore[no-any-return]


def rules(template: Template) -> dict[str, dict[str, Any]]:
    return {r["Name"]: r for r in acl(template)["Rules"]}


def verdict(template: Template, request: Request, limit: int) -> str:
    """What the ACL does with ``request``: the first terminating action, else the default."""
    counted = []
    for rule in sorted(acl(template)["Rules"], key=lambda r: r["Priority"]):
        if (
            "ManagedRuleGroupStatement" in rule["Statement"]
            or "RateBasedStatement" in (rule["Statement"])
        ):
            continue  # their effect on these requests is the labels the request carries
        if matches(rule["Statement"], request, limit):
            ((action, _),) = rule["Action"].items()
            if action == "Count":
                counted.append(rule["Name"])
                continue
            return f"{action}:{rule['Name']}"
    ((default, _),) = acl(template)["DefaultAction"].items()
    return ":".join([default, *counted])


# --- the CloudFront web ACL: fitted to Twenty's traffic ------------------------------------
def graphql(body_bytes: int, *labels: str) -> Request:
    return Request(body_bytes=body_bytes, labels=frozenset(labels))


def multipart_upload(path: str, body_bytes: int, *labels: str) -> Request:
    return Request(
        path=path,
        headers={"content-type": "multipart/form-data; boundary=----x"},
        body_bytes=body_bytes,
        labels=frozenset(labels),
    )


def direct_upload(body_bytes: int, *labels: str) -> Request:
    return Request(
        method="PUT",
        path="/file-upload/0d4f2f5e-6f7a-4b55-9d7e-2a1f0c3b4e5d",
        headers={"content-type": "application/pdf"},
        body_bytes=body_bytes,
        labels=frozenset(labels),
    )


@pytest.fixture(scope="module")
def edge(assembly: Assembly) -> Template:
    return assembly.template("crm-prod-edge")


def test_managed_body_rules_only_count_and_label(edge: Template) -> None:
    found = rules(edge)
    for group, body_rules in BODY_RULES.items():
        statement = found[group]["Statement"]["ManagedRuleGroupStatement"]
        overrides = {o["Name"]: o["ActionToUse"] for o in statement["RuleActionOverrides"]}
        assert overrides == {rule: {"Count": {}} for rule in body_rules}, group
        assert found[group]["OverrideAction"] == {"None": {}}  # every other rule still blocks
    assert set(BODY_RULES[COMMON]) == {
        "SizeRestrictions_BODY", "EC2MetaDataSSRF_BODY", "GenericLFI_BODY", "GenericRFI_BODY",
        "CrossSiteScripting_BODY",
    }  # fmt: skip
    assert set(BODY_RULES[SQLI]) == {"SQLi_BODY", "SQLiExtendedPatterns_BODY"}
    for untouched in (
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesKnownBadInputsRuleSet",
    ):
        assert (
            "RuleActionOverrides" not in found[untouched]["Statement"]["ManagedRuleGroupStatement"]
        )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # A record page's query: 12 KB of selected fields, over the managed 8 KB size rule.
        (graphql(12_000, SIZE_8K), "Allow"),
        # A note whose text looks like script or SQL to the managed rules: counted for now.
        (graphql(6_000, XSS), "Allow:BodyAttack"),
        (graphql(6_000, SQLI_BODY), "Allow:BodyAttack"),
        # A 100-record import batch (40 KB): beyond what WAF inspects, counted explicitly.
        (graphql(40_000, SIZE_8K), "Allow:OversizeBody"),
        # Uploads: neither rule acts, whatever their bytes look like to the managed rules.
        (multipart_upload("/graphql", 3_000_000, XSS, SIZE_8K), "Allow"),
        (multipart_upload("/metadata", 900_000, SQLI_BODY, SIZE_8K), "Allow"),
        (direct_upload(5_000_000, XSS, SIZE_8K), "Allow"),
        # Multipart elsewhere, or a PUT that only looks like the upload route, is no upload.
        (multipart_upload("/rest/people", 40_000, XSS), "Allow:BodyAttack:OversizeBody"),
        (Request(path="/file-upload", body_bytes=40_000), "Allow:OversizeBody"),
    ],
    ids=[
        "large-query", "xss-like-note", "sql-like-note", "import-batch", "graphql-upload",
        "metadata-upload", "direct-upload", "multipart-outside-graphql", "upload-lookalike",
    ],
)  # fmt: skip
def test_twentys_requests_are_counted_not_blocked(
    edge: Template, request_: Request, expected: str
) -> None:
    assert verdict(edge, request_, BODY_INSPECTION_LIMIT_BYTES) == expected


def test_the_size_rule_alone_never_acts(edge: Template) -> None:
    labels = {
        s["LabelMatchStatement"]["Key"]
        for s in rules(edge)["BodyAttack"]["Statement"]["AndStatement"]["Statements"][0][
            "OrStatement"
        ]["Statements"]
    }
    assert labels == set(ATTACK_LABELS)
    assert SIZE_8K not in labels and len(labels) == 6


def test_the_documented_path_to_block() -> None:
    """``body_action="block"``: the same two rules block; uploads and the managed
    rules' own actions are unchanged."""
    app = cdk.App()
    stack = cdk.Stack(app, "Edge", env=cdk.Environment(account="123456789012", region="us-east-1"))
    EdgeFirewall(
        stack, "Firewall", name="t", rate_limit=10_000, key=kms.Key(stack, "K"), body_action="block"
    )
    template = Template.from_stack(stack)
    limit = BODY_INSPECTION_LIMIT_BYTES
    assert verdict(template, graphql(6_000, XSS), limit) == "Block:BodyAttack"
    assert verdict(template, graphql(40_000), limit) == "Block:OversizeBody"
    assert verdict(template, graphql(12_000, SIZE_8K), limit) == "Allow"
    assert verdict(template, multipart_upload("/graphql", 3_000_000, XSS), limit) == "Allow"
    assert verdict(template, direct_upload(5_000_000, SQLI_BODY), limit) == "Allow"
    overrides = rules(template)[COMMON]["Statement"]["ManagedRuleGroupStatement"]
    assert {o["ActionToUse"]["Count"] == {} for o in overrides["RuleActionOverrides"]} == {True}


def test_rate_limit_default_leaves_room_for_an_office_behind_one_nat() -> None:
    # ~750 requests per busy user per 5 minutes (docs/adr/0029): 13 of them behind one IP.
    assert Edge().waf_rate_limit == 10_000
    assert Edge().waf_rate_limit // 750 >= 13


def test_edge_logs_every_request_counted_matches_included(edge: Template) -> None:
    (logging,) = edge.find_resources("AWS::WAFv2::LoggingConfiguration").values()
    assert "LoggingFilter" not in logging["Properties"]


# --- the origin guard: the origin-verify check, in front of each regional balancer ---------
@pytest.mark.parametrize("stack", REGIONAL)
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (SLOT_A, "Allow"),
        (SLOT_B, "Allow"),
        (None, "Block:RequireOriginHeader"),
        ("", "Block:RequireOriginHeader"),
        ("a-guess", "Block:RequireOriginHeader"),
        (SLOT_A + "x", "Block:RequireOriginHeader"),
    ],
    ids=["slot-a", "slot-b", "missing", "empty", "guess", "prefix-of-a-longer-value"],
)
def test_only_requests_with_the_origin_header_pass_the_guard(
    assembly: Assembly, stack: str, header: str | None, expected: str
) -> None:
    template = assembly.template(stack)
    assert acl(template)["Scope"] == "REGIONAL"
    request = Request(headers={} if header is None else {"x-origin-verify": header})
    assert verdict(template, request, 8 * 1024) == expected


@pytest.mark.parametrize("stack", REGIONAL)
def test_the_guard_is_on_the_balancer_fails_closed_and_logs_what_it_blocks(
    assembly: Assembly, stack: str
) -> None:
    template = assembly.template(stack)
    (web_acl,) = template.find_resources("AWS::WAFv2::WebACL")
    (association,) = template.find_resources("AWS::WAFv2::WebACLAssociation").values()
    (lb_id, lb) = next(
        iter(template.find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer").items())
    )
    assert association["Properties"] == {
        "ResourceArn": {"Ref": lb_id},
        "WebACLArn": {"Fn::GetAtt": [web_acl, "Arn"]},
    }
    attributes = {a["Key"]: a["Value"] for a in lb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["waf.fail_open.enabled"] == "false"
    (logging,) = template.find_resources("AWS::WAFv2::LoggingConfiguration").values()
    props = logging["Properties"]
    assert props["RedactedFields"] == [{"SingleHeader": {"Name": "x-origin-verify"}}]
    assert props["LoggingFilter"] == {
        "DefaultBehavior": "DROP",
        "Filters": [
            {
                "Behavior": "KEEP",
                "Requirement": "MEETS_ANY",
                "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}],
            }
        ],
    }
    (group,) = [
        g["Properties"]
        for g in template.find_resources("AWS::Logs::LogGroup").values()
        if g["Properties"].get("LogGroupName") == "aws-waf-logs-crm-prod-origin"
    ]
    assert "KmsKeyId" in group and group["RetentionInDays"] == 90
