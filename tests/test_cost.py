"""Cost controls in us-east-1: budget in USD, cost topic, anomaly detection, usage report."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from crm_platform.app import new_app
from crm_platform.settings import Settings, load_settings
from crm_platform.stacks.context import StackContext
from crm_platform.stacks.global_ import GlobalStack
from tests.conftest import CONFIG, Assembly

ACCOUNT = "123456789012"
GLOBAL = "crm-prod-global"


@pytest.fixture(scope="module")
def global_(assembly: Assembly) -> Template:
    return assembly.template(GLOBAL)


def only(template: Template, kind: str) -> dict[str, Any]:
    (props,) = [r["Properties"] for r in template.find_resources(kind).values()]
    return props


def global_template(settings: Settings) -> Template:
    stack = GlobalStack(new_app(), "G", context=StackContext.of(settings))
    return Template.from_stack(stack)


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"] if "Sid" in s}


def test_budget_is_the_configured_yen_limit_converted_to_usd(global_: Template) -> None:
    budget = only(global_, "AWS::Budgets::Budget")
    data = budget["Budget"]
    assert data["BudgetLimit"] == {"Amount": 6666.67, "Unit": "USD"}  # 1,000,000 JPY at 150
    assert (data["BudgetType"], data["TimeUnit"], data["BudgetName"]) == (
        "COST",
        "MONTHLY",
        "crm-prod-monthly",
    )
    assert "CostFilters" not in data  # prod's budget watches the whole account
    kinds = {
        n["Notification"]["NotificationType"]: n["Notification"]["Threshold"]
        for n in budget["NotificationsWithSubscribers"]
    }
    assert kinds == {"ACTUAL": 80, "FORECASTED": 100}


def test_budget_alerts_reach_the_cost_topic_and_the_mail_directly(global_: Template) -> None:
    budget = only(global_, "AWS::Budgets::Budget")
    topic = next(iter(global_.find_resources("AWS::SNS::Topic", {"Properties": {
        "DisplayName": "crm-platform cost alerts"}})))  # fmt: skip
    for notification in budget["NotificationsWithSubscribers"]:
        subscribers = {s["SubscriptionType"]: s["Address"] for s in notification["Subscribers"]}
        assert subscribers == {"SNS": {"Ref": topic}, "EMAIL": "alerts@example.com"}


def test_the_conversion_is_stated_in_the_output(assembly: Assembly) -> None:
    outputs = assembly.raw(GLOBAL)["Outputs"]
    (limit,) = [o["Value"] for k, o in outputs.items() if k.startswith("BudgetLimit")]
    assert limit == ("1,000,000 JPY at 150 JPY/USD = 6,666.67 USD (AWS Budgets takes USD only)")


def test_cost_topic_is_encrypted_and_only_this_accounts_billing_publishes(
    global_: Template,
) -> None:
    topics = global_.find_resources("AWS::SNS::Topic")
    (logical,) = [k for k, t in topics.items() if k.startswith("CostTopic")]
    assert "KmsMasterKeyId" in topics[logical]["Properties"]
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in global_.find_resources("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": logical}]
    ]
    by_sid = statements(policy)
    budgets = by_sid["BudgetsOfThisAccountPublish"]
    assert budgets["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert budgets["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{ACCOUNT}:*"},
    }
    anomalies = by_sid["AnomalyDetectionOfThisAccountPublishes"]
    assert anomalies["Principal"] == {"Service": "costalerts.amazonaws.com"}
    assert anomalies["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_key_lets_billing_publish_and_write_reports_only_for_this_account(
    global_: Template,
) -> None:
    by_sid = statements(only(global_, "AWS::KMS::Key")["KeyPolicy"])
    publish = by_sid["CostAlertsPublishToEncryptedTopics"]
    assert sorted(publish["Principal"]["Service"]) == [
        "budgets.amazonaws.com",
        "costalerts.amazonaws.com",
    ]
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    reports = by_sid["BillingWritesEncryptedUsageReports"]
    bucket = f"arn:aws:s3:::crm-prod-cost-reports-{ACCOUNT}"
    assert reports["Condition"]["StringEquals"]["kms:EncryptionContext:aws:s3:arn"] == [
        bucket,
        f"{bucket}/*",
    ]


def test_anomalies_go_to_the_topic_at_once_and_by_mail_daily(global_: Template) -> None:
    monitor = only(global_, "AWS::CE::AnomalyMonitor")
    assert (monitor["MonitorType"], monitor["MonitorDimension"]) == ("DIMENSIONAL", "SERVICE")
    subs = {
        s["Properties"]["Frequency"]: s["Properties"]
        for s in global_.find_resources("AWS::CE::AnomalySubscription").values()
    }
    assert set(subs) == {"IMMEDIATE", "DAILY"}  # an SNS subscriber needs IMMEDIATE
    assert [s["Type"] for s in subs["IMMEDIATE"]["Subscribers"]] == ["SNS"]
    assert subs["DAILY"]["Subscribers"] == [{"Type": "EMAIL", "Address": "alerts@example.com"}]
    for sub in subs.values():
        expression = json.loads(sub["ThresholdExpression"])["Dimensions"]
        assert expression["Key"] == "ANOMALY_TOTAL_IMPACT_ABSOLUTE"
        assert expression["Values"] == ["50"]


def test_usage_report_bucket_is_writable_only_by_billing_of_this_account(
    global_: Template,
) -> None:
    buckets = global_.find_resources(
        "AWS::S3::Bucket", {"Properties": {"BucketName": f"crm-prod-cost-reports-{ACCOUNT}"}}
    )
    (logical,) = buckets
    encryption = buckets[logical]["Properties"]["BucketEncryption"]
    rule = encryption["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert buckets[logical]["UpdateReplacePolicy"] == "Retain"
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in global_.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical}
    ]
    by_sid = statements(policy)
    allow = by_sid["BillingDeliversReportsOfThisAccount"]
    assert sorted(allow["Principal"]["Service"]) == [
        "bcm-data-exports.amazonaws.com",
        "billingreports.amazonaws.com",
    ]
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == [
        f"arn:aws:cur:us-east-1:{ACCOUNT}:definition/*",
        f"arn:aws:bcm-data-exports:us-east-1:{ACCOUNT}:export/*",
    ]
    deny = by_sid["OnlyBillingWritesReports"]
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", "s3:PutObject", {
        "AWS": "*"})  # fmt: skip
    assert sorted(deny["Condition"]["StringNotEquals"]["aws:PrincipalServiceName"]) == [
        "bcm-data-exports.amazonaws.com",
        "billingreports.amazonaws.com",
    ]


def test_cur2_export_writes_parquet_into_the_bucket_after_its_policy(assembly: Assembly) -> None:
    resources = assembly.raw(GLOBAL)["Resources"]
    (export,) = [r for r in resources.values() if r["Type"] == "AWS::BCMDataExports::Export"]
    spec = export["Properties"]["Export"]
    s3 = spec["DestinationConfigurations"]["S3Destination"]
    assert s3["S3Region"] == "us-east-1" and s3["S3OutputConfigurations"]["Format"] == "PARQUET"
    assert "FROM COST_AND_USAGE_REPORT" in spec["DataQuery"]["QueryStatement"]
    (policy,) = [k for k, r in resources.items() if r["Type"] == "AWS::S3::BucketPolicy"
                 and k.startswith("UsageReport")]  # fmt: skip
    assert policy in export["DependsOn"]


def test_staging_filters_by_its_tag_and_adds_no_second_monitor_or_report() -> None:
    staging = global_template(load_settings(CONFIG / "staging.yaml"))
    data = only(staging, "AWS::Budgets::Budget")["Budget"]
    assert data["CostFilters"] == {"TagKeyValue": ["user:environment$staging"]}
    assert data["BudgetLimit"] == {"Amount": 1000.0, "Unit": "USD"}
    staging.resource_count_is("AWS::CE::AnomalyMonitor", 0)
    staging.resource_count_is("AWS::CE::AnomalySubscription", 0)
    staging.resource_count_is("AWS::BCMDataExports::Export", 0)
    staging.resource_count_is("AWS::S3::Bucket", 0)


def test_an_existing_monitor_is_subscribed_to_not_created(prod_settings: Settings) -> None:
    arn = f"arn:aws:ce::{ACCOUNT}:anomalymonitor/0a1b2c3d-0000"
    budget = prod_settings.budget.model_copy(
        update={"anomaly_monitor_arn": arn, "usage_report": "legacy"}
    )
    template = global_template(prod_settings.model_copy(update={"budget": budget}))
    template.resource_count_is("AWS::CE::AnomalyMonitor", 0)
    for sub in template.find_resources("AWS::CE::AnomalySubscription").values():
        assert sub["Properties"]["MonitorArnList"] == [arn]
    report = only(template, "AWS::CUR::ReportDefinition")
    assert (report["S3Region"], report["ReportVersioning"]) == ("us-east-1", "OVERWRITE_REPORT")
    template.resource_count_is("AWS::BCMDataExports::Export", 0)
