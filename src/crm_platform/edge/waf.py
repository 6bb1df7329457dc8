"""The CloudFront web ACL (CLOUDFRONT scope, so it lives in us-east-1) and its log.

AWS managed rule groups (IP reputation, common rules, known bad inputs, SQL injection)
plus a per-IP rate limit from configuration. The common rule set's
``SizeRestrictions_BODY`` blocks request bodies over 8 KB, which would block every
attachment upload (multipart GraphQL to the server), so that one rule only counts.
The log goes to a log group whose name starts with ``aws-waf-logs-`` (WAF requires it),
with the origin-verify header redacted.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as waf
from constructs import Construct

from crm_platform.contracts import ORIGIN_HEADER
from crm_platform.retention import KEEP, log_retention

WAF_LOG_RETENTION_DAYS = 90
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
)
COUNT_ONLY = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}


def _visibility(name: str) -> waf.CfnWebACL.VisibilityConfigProperty:
    return waf.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


class EdgeFirewall(Construct):
    """``web_acl_arn`` is what the distribution attaches."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        rate_limit: int,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        rules = [
            waf.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=waf.CfnWebACL.OverrideActionProperty(none={}),
                statement=waf.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=waf.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=group,
                        rule_action_overrides=[
                            waf.CfnWebACL.RuleActionOverrideProperty(
                                name=rule,
                                action_to_use=waf.CfnWebACL.RuleActionProperty(count={}),
                            )
                            for rule in COUNT_ONLY.get(group, ())
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(group),
            )
            for priority, group in enumerate(MANAGED_RULE_GROUPS)
        ]
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
        log_group_name = f"aws-waf-logs-{name}"
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=log_group_name,
            encryption_key=key,
            retention=log_retention(WAF_LOG_RETENTION_DAYS),
            removal_policy=KEEP,
        )
        stack = cdk.Stack.of(self)
        logging = waf.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl_arn,
            # WAF wants the group's ARN without the ":*" CloudFormation's attribute carries.
            log_destination_configs=[
                stack.format_arn(
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
        )
        logging.node.add_dependency(self.log_group)
