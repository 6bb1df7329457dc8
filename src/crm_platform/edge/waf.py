"""The platform's two kinds of web ACL, and their logs.

**The CloudFront web ACL** (CLOUDFRONT scope, so it lives in us-east-1): AWS managed rule
groups (IP reputation, common rules, known bad inputs, SQL injection) plus a per-IP rate
limit from configuration. It is fitted to Twenty's traffic (docs/decisions.md, "a WAF that
fits Twenty's traffic"):

- The managed rules that inspect the request *body* see Twenty's GraphQL documents (a
  query may select up to 2000 fields, a mutation carry up to 100 records of an import,
  a note its rich-text JSON) and its uploads; their XSS, LFI/RFI, SSRF and SQL patterns
  match ordinary CRM text often enough that blocking on them would break Twenty. So in
  the managed groups they only count and label; one rule of ours (``BodyAttack``) acts on
  those labels, except on upload routes, with ``body_action``: ``count`` until the logs
  show what they catch, then ``block`` (the documented path). ``SizeRestrictions_BODY``
  (over 8 KB) is size, not an attack, and only ever counts.
- The managed rules inspect only the first 16 KB of a body and pass the rest unseen
  (their oversize handling is "continue"). ``OversizeBody`` makes that explicit: a body
  beyond the inspection limit *matches*, except on upload routes, and takes the same
  ``body_action``.
- Uploads are recognised by route: Twenty's direct-upload stream ``PUT /file-upload/<id>``
  and GraphQL multipart requests (``multipart/form-data``) to ``/graphql`` or ``/metadata``.

**The origin guard** (REGIONAL scope, one per origin balancer): the origin-verify check.
It used to be the condition of the listener rule that ECS built-in blue/green moves between
the two target groups; a CloudFormation update of that rule (a rotated origin secret)
re-applied "forward to blue" and could send every request to an empty target group
(aws/aws-cdk#36649). In a web ACL the values can change at every rotation while the
ECS-managed rule never changes (docs/decisions.md, "The origin check in WAF").

Each ACL logs to a KMS-encrypted log group whose name starts with ``aws-waf-logs-`` (WAF
requires it), with the origin-verify header redacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as waf
from constructs import Construct

from crm_platform.compliance.static_checks import skip_checkov
from crm_platform.contracts import ORIGIN_HEADER
from crm_platform.retention import KEEP, log_retention

WAF_LOG_RETENTION_DAYS = 90
COMMON = "AWSManagedRulesCommonRuleSet"
SQLI = "AWSManagedRulesSQLiRuleSet"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    COMMON,
    "AWSManagedRulesKnownBadInputsRuleSet",
    SQLI,
)
# The rules of those groups that inspect the request body, with the label each adds
# (AWS managed rule groups: baseline and use-case pages of the WAF developer guide).
BODY_RULES: dict[str, dict[str, str]] = {
    COMMON: {
        "SizeRestrictions_BODY": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body",
        "EC2MetaDataSSRF_BODY": "awswaf:managed:aws:core-rule-set:EC2MetaDataSSRF_Body",
        "GenericLFI_BODY": "awswaf:managed:aws:core-rule-set:GenericLFI_Body",
        "GenericRFI_BODY": "awswaf:managed:aws:core-rule-set:GenericRFI_Body",
        "CrossSiteScripting_BODY": "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body",
    },
    SQLI: {
        "SQLi_BODY": "awswaf:managed:aws:sql-database:SQLi_Body",
        "SQLiExtendedPatterns_BODY": "awswaf:managed:aws:sql-database:SQLiExtendedPatterns_Body",
    },
}
# Size is not an attack: Twenty's own queries and imports exceed 8 KB. Counted, never acted on.
SIZE_ONLY = frozenset({"SizeRestrictions_BODY"})
ATTACK_LABELS = tuple(
    label for rules in BODY_RULES.values() for rule, label in rules.items() if rule not in SIZE_ONLY
)
# A CloudFront web ACL inspects the first 16 KB of a body by default; more costs extra
# per request (web-acl-setting-body-inspection-limit), so the default stays.
BODY_INSPECTION_LIMIT_BYTES = 16 * 1024
# Twenty's upload routes (twentyhq/twenty): file-upload.controller.ts serves
# `PUT ${ApiPath.FileUpload}/:id`; main.ts mounts graphql-upload's multipart handling for
# every route, and the front posts GraphQL to /graphql and /metadata.
DIRECT_UPLOAD_PREFIX = "/file-upload/"
GRAPHQL_PATHS = ("/graphql", "/metadata")
MULTIPART = "multipart/form-data"

BodyAction = Literal["count", "block"]


def _visibility(name: str) -> waf.CfnWebACL.VisibilityConfigProperty:
    return waf.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _byte_match(
    field: waf.CfnWebACL.FieldToMatchProperty, text: str, where: str, transform: str = "NONE"
) -> waf.CfnWebACL.StatementProperty:
    return waf.CfnWebACL.StatementProperty(
        byte_match_statement=waf.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=field,
            positional_constraint=where,
            search_string=text,
            text_transformations=[
                waf.CfnWebACL.TextTransformationProperty(priority=0, type=transform)
            ],
        )
    )


def _any(statements: Sequence[waf.CfnWebACL.StatementProperty]) -> waf.CfnWebACL.StatementProperty:
    """OR of ``statements`` (WAF wants at least two in an OR: one stands alone)."""
    if len(statements) == 1:
        return statements[0]
    return waf.CfnWebACL.StatementProperty(
        or_statement=waf.CfnWebACL.OrStatementProperty(statements=list(statements))
    )


def _all(*statements: waf.CfnWebACL.StatementProperty) -> waf.CfnWebACL.StatementProperty:
    return waf.CfnWebACL.StatementProperty(
        and_statement=waf.CfnWebACL.AndStatementProperty(statements=list(statements))
    )


def _not(statement: waf.CfnWebACL.StatementProperty) -> waf.CfnWebACL.StatementProperty:
    return waf.CfnWebACL.StatementProperty(
        not_statement=waf.CfnWebACL.NotStatementProperty(statement=statement)
    )


def _path() -> waf.CfnWebACL.FieldToMatchProperty:
    return waf.CfnWebACL.FieldToMatchProperty(uri_path={})


def _header(name: str) -> waf.CfnWebACL.FieldToMatchProperty:
    return waf.CfnWebACL.FieldToMatchProperty(single_header={"Name": name})


def upload_request() -> waf.CfnWebACL.StatementProperty:
    """Twenty's uploads: the direct-upload stream, or a multipart GraphQL request."""
    return _any(
        [
            _byte_match(_path(), DIRECT_UPLOAD_PREFIX, "STARTS_WITH"),
            _all(
                _any([_byte_match(_path(), p, "EXACTLY") for p in GRAPHQL_PATHS]),
                _byte_match(_header("content-type"), MULTIPART, "STARTS_WITH", "LOWERCASE"),
            ),
        ]
    )


def _action(action: BodyAction) -> waf.CfnWebACL.RuleActionProperty:
    if action == "block":
        return waf.CfnWebACL.RuleActionProperty(block={})
    return waf.CfnWebACL.RuleActionProperty(count={})


def _managed_group(group: str, priority: int) -> waf.CfnWebACL.RuleProperty:
    """One AWS managed group; its body rules only count and label (``BodyAttack`` acts)."""
    return waf.CfnWebACL.RuleProperty(
        name=group,
        priority=priority,
        override_action=waf.CfnWebACL.OverrideActionProperty(none={}),
        statement=waf.CfnWebACL.StatementProperty(
            managed_rule_group_statement=waf.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    waf.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=waf.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in BODY_RULES.get(group, {})
                ]
                or None,
            )
        ),
        visibility_config=_visibility(group),
    )


def _log_to_cloudwatch(
    scope: Construct,
    *,
    web_acl_arn: str,
    name: str,
    key: kms.IKey,
    logging_filter: dict[str, Any] | None = None,
) -> logs.LogGroup:
    """A KMS-encrypted ``aws-waf-logs-<name>`` group and the ACL's logging into it."""
    log_group_name = f"aws-waf-logs-{name}"
    group = logs.LogGroup(
        scope,
        "Logs",
        log_group_name=log_group_name,
        encryption_key=key,
        retention=log_retention(WAF_LOG_RETENTION_DAYS),
        removal_policy=KEEP,
    )
    logging = waf.CfnLoggingConfiguration(
        scope,
        "Logging",
        resource_arn=web_acl_arn,
        # WAF wants the group's ARN without the ":*" CloudFormation's attribute carries.
        log_destination_configs=[
            cdk.Stack.of(scope).format_arn(
                service="logs",
                resource="log-group",
                resource_name=log_group_name,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
        ],
        redacted_fields=[
            waf.CfnLoggingConfiguration.FieldToMatchProperty(
                single_header={"Name": ORIGIN_HEADER.lower()}
            )
        ],
        logging_filter=logging_filter,
    )
    logging.node.add_dependency(group)
    return group


class EdgeFirewall(Construct):
    """The CloudFront web ACL; ``web_acl_arn`` is what the distribution attaches.

    ``body_action`` is what ``BodyAttack`` and ``OversizeBody`` do: ``count`` (the default)
    while their matches are read in the log, ``block`` once only attacks show up there.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        rate_limit: int,
        key: kms.IKey,
        body_action: BodyAction = "count",
    ) -> None:
        super().__init__(scope, construct_id)
        rules = [
            _managed_group(group, priority) for priority, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        rules.append(
            waf.CfnWebACL.RuleProperty(
                name="BodyAttack",
                priority=len(rules),
                action=_action(body_action),
                statement=_all(
                    _any(
                        [
                            waf.CfnWebACL.StatementProperty(
                                label_match_statement=waf.CfnWebACL.LabelMatchStatementProperty(
                                    key=label, scope="LABEL"
                                )
                            )
                            for label in ATTACK_LABELS
                        ]
                    ),
                    _not(upload_request()),
                ),
                visibility_config=_visibility("BodyAttack"),
            )
        )
        rules.append(
            waf.CfnWebACL.RuleProperty(
                name="OversizeBody",
                priority=len(rules),
                action=_action(body_action),
                statement=_all(
                    waf.CfnWebACL.StatementProperty(
                        size_constraint_statement=waf.CfnWebACL.SizeConstraintStatementProperty(
                            # Only the first 16 KB reach WAF: a larger body can only match
                            # through its oversize handling, which is MATCH.
                            field_to_match=waf.CfnWebACL.FieldToMatchProperty(
                                body=waf.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                            ),
                            comparison_operator="GT",
                            size=BODY_INSPECTION_LIMIT_BYTES,
                            text_transformations=[
                                waf.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                            ],
                        )
                    ),
                    _not(upload_request()),
                ),
                visibility_config=_visibility("OversizeBody"),
            )
        )
        rules.append(
            waf.CfnWebACL.RuleProperty(
                name="RatePerIp",
                priority=len(rules),
                action=waf.CfnWebACL.RuleActionProperty(block={}),
                statement=waf.CfnWebACL.StatementProperty(
                    rate_based_statement=waf.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=300
                    )
                ),
                visibility_config=_visibility("RatePerIp"),
            )
        )
        self.web_acl = waf.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="CLOUDFRONT",
            default_action=waf.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=_visibility(name),
        )
        self.web_acl_arn = self.web_acl.attr_arn
        # Every request is logged, counted matches included: the evidence for ``block``.
        self.log_group = _log_to_cloudwatch(self, web_acl_arn=self.web_acl_arn, name=name, key=key)


class OriginGuard(Construct):
    """A regional web ACL on one origin balancer: without a current origin-verify value, 403.

    ``header_values`` are the accepted values (both slots, as dynamic references); they
    change at every rotation, and only this ACL changes with them. Its log keeps only the
    requests it blocks: what it allows is already logged by the CloudFront ACL and the
    balancer's access logs, and every request through CloudFront carries the header.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        load_balancer_arn: str,
        header_values: Sequence[str],
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        if not header_values:
            raise ValueError("the origin guard needs at least one accepted header value")
        header = _header(ORIGIN_HEADER.lower())
        self.web_acl = waf.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            default_action=waf.CfnWebACL.DefaultActionProperty(allow={}),
            rules=[
                waf.CfnWebACL.RuleProperty(
                    name="RequireOriginHeader",
                    priority=0,
                    action=waf.CfnWebACL.RuleActionProperty(block={}),
                    statement=_not(
                        _any([_byte_match(header, v, "EXACTLY") for v in header_values])
                    ),
                    visibility_config=_visibility("RequireOriginHeader"),
                )
            ],
            visibility_config=_visibility(name),
        )
        skip_checkov(
            self.web_acl,
            "CKV_AWS_192",
            "Only CloudFront reaches this balancer, after the CloudFront web ACL whose Known Bad "
            "Inputs group (Log4j lookups) inspects every request; this ACL checks the header",
        )
        self.association = waf.CfnWebACLAssociation(
            self, "Association", resource_arn=load_balancer_arn, web_acl_arn=self.web_acl.attr_arn
        )
        # LoggingFilter is untyped JSON in the resource schema: CloudFormation's own keys.
        keep_blocked = {
            "DefaultBehavior": "DROP",
            "Filters": [
                {
                    "Behavior": "KEEP",
                    "Requirement": "MEETS_ANY",
                    "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}],
                }
            ],
        }
        self.log_group = _log_to_cloudwatch(
            self, web_acl_arn=self.web_acl.attr_arn, name=name, key=key, logging_filter=keep_blocked
        )
