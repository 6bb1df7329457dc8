"""Price rules for monitoring, security, edge and delivery."""

from __future__ import annotations

from crm_platform.cost.estimate.context import Context, Resource, Rule, of_type
from crm_platform.cost.estimate.lines import Line
from crm_platform.naming import TELEMETRY_LOG_SUFFIX


def _alarm(ctx: Context, r: Resource) -> list[Line]:
    metrics = [m for m in r.props.get("Metrics", []) if "MetricStat" in m]
    return [
        r.line("alarm metrics", "cloudwatch.alarm_metric_month", 1, max(len(metrics), 1), "alarm")
    ]


def telemetry_lines(ctx: Context, r: Resource) -> list[Line]:
    """What the collector adds where it runs: Twenty's metrics as custom metrics, and
    their EMF logs (``cost.telemetry_*``, assumptions until measured)."""
    role = ctx.role(r.stack.region)
    metrics = ctx.volumes.telemetry_metrics.of(role)
    emf = ctx.volumes.telemetry_emf_gb.of(role)
    return [
        r.line("Twenty's metrics (custom)", "cloudwatch.metric_month", metrics, 1, "telemetry"),
        r.line("EMF logs ingested (GB)", "logs.ingest_gb", emf, 1, "telemetry"),
        r.line("EMF logs kept (GB)", "logs.store_gb_month", emf, 1, "telemetry"),
    ]


def _log_group(ctx: Context, r: Resource) -> list[Line]:
    if str(r.props.get("LogGroupName", "")).endswith(TELEMETRY_LOG_SUFFIX):
        return telemetry_lines(ctx, r)
    role = ctx.role(r.stack.region)
    groups = len(of_type(r.stack, "AWS::Logs::LogGroup"))
    region_groups = groups or 1
    ingest = ctx.volumes.log_ingest_gb.of(role) / region_groups
    kept_months = min(int(r.props.get("RetentionInDays", 365)), 365) / 30
    return [
        r.line("logs ingested (GB)", "logs.ingest_gb", ingest, 1, "logs"),
        r.line(
            f"logs kept ({kept_months:.0f} months of ingest, GB)",
            "logs.store_gb_month",
            ingest,
            kept_months,
            "logs",
        ),
    ]


def _web_acl(ctx: Context, r: Resource) -> list[Line]:
    rules = len(r.props.get("Rules", []))
    role = ctx.role(r.stack.region)
    edge = r.props.get("Scope") == "CLOUDFRONT"
    requests = ctx.volumes.requests_million if edge or role == "primary" else 0
    return [
        r.line("web ACL", "waf.acl_month", 1, 1, "waf"),
        r.line(f"rules ({rules}; a managed group counts one)", "waf.rule_month", rules, 1, "waf"),
        r.line("requests inspected (million)", "waf.million_requests", requests, 1, "waf"),
    ]


_FEATURES = {"HTTPS", "HTTPS_STR_MATCH", "HTTP_STR_MATCH"}


def _health_check(ctx: Context, r: Resource) -> list[Line]:
    config = r.props.get("HealthCheckConfig", {})
    kind = config.get("Type")
    if kind in ("CLOUDWATCH_METRIC", "CALCULATED", "RECOVERY_CONTROL"):
        return [r.line(f"health check ({kind})", "route53.health_check_aws_month", 1, 1, "route53")]
    features = (
        (kind in _FEATURES)
        + (kind == "HTTPS_STR_MATCH")
        + (config.get("RequestInterval") == 10)
        + bool(config.get("MeasureLatency"))
    )
    lines = [
        r.line(
            f"health check ({kind}, endpoint outside AWS: CloudFront name)",
            "route53.health_check_other_month",
            1,
            1,
            "route53",
        ),
    ]
    if features:
        lines.append(
            r.line(
                "health check optional features",
                "route53.health_check_feature_other_month",
                features,
                1,
                "route53",
            )
        )
    return lines


def _distribution(ctx: Context, r: Resource) -> list[Line]:
    config = r.props.get("DistributionConfig", {})
    zone = "us_eu" if config.get("PriceClass") == "PriceClass_100" else "japan"
    v = ctx.volumes
    return [
        r.line(
            "data to viewers (GB)", f"cloudfront.gb_out_{zone}", v.cloudfront_egress_gb, 1, "cdn"
        ),
        r.line(
            "HTTPS requests (10,000)",
            f"cloudfront.10k_https_{zone}",
            v.requests_million * 100,
            1,
            "cdn",
        ),
    ]


def _cdn_function(ctx: Context, r: Resource) -> list[Line]:
    million = ctx.volumes.probe_requests_million
    what = "function invocations (million, probe path)"
    return [r.line(what, "cloudfront.function_million", million, 1, "cdn")]


def _pipeline(ctx: Context, r: Resource) -> list[Line]:
    if r.props.get("PipelineType") == "V2":
        minutes = ctx.volumes.pipeline_action_minutes
        return [
            r.line("action minutes (V2)", "codepipeline.v2_action_minute", minutes, 1, "pipeline")
        ]
    return [r.line("active pipeline (V1)", "codepipeline.v1_pipeline_month", 1, 1, "pipeline")]


def _build_project(ctx: Context, r: Resource) -> list[Line]:
    compute = r.props.get("Environment", {}).get("ComputeType", "BUILD_GENERAL1_SMALL")
    minutes = ctx.volumes.build_minutes_per_project
    return [
        r.line(f"build minutes ({compute})", f"codebuild.minute.{compute}", minutes, 1, "pipeline")
    ]


def _email_identity(ctx: Context, r: Resource) -> list[Line]:
    sent = ctx.volumes.emails / 1000 if ctx.role(r.stack.region) == "primary" else 0
    return [r.line("e-mails sent (thousand)", "ses.thousand_emails", sent, 1, "ses")]


def _simple(what: str, key: str, tag: str) -> Rule:
    return lambda ctx, r: [r.line(what, key, 1, 1, tag)]


def _transitions(ctx: Context, r: Resource) -> list[Line]:
    thousands = ctx.volumes.state_transitions / 1000
    what = "state transitions (thousand)"
    return [r.line(what, "stepfunctions.thousand_transitions", thousands, 1, "stepfunctions")]


RULES: dict[str, Rule] = {
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::CompositeAlarm": _simple(
        "composite alarm", "cloudwatch.composite_alarm_month", "alarm"
    ),
    "AWS::CloudWatch::Dashboard": _simple("dashboard", "cloudwatch.dashboard_month", "dashboard"),
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::MetricFilter": _simple(
        "metric from a log filter", "cloudwatch.metric_month", "metric"
    ),
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::Route53::HealthCheck": _health_check,
    "AWS::Route53::HostedZone": _simple("hosted zone", "route53.zone_month", "route53"),
    "AWS::CloudFront::Distribution": _distribution,
    "AWS::CloudFront::Function": _cdn_function,
    "AWS::CodePipeline::Pipeline": _pipeline,
    "AWS::CodeBuild::Project": _build_project,
    "AWS::SES::EmailIdentity": _email_identity,
    "AWS::StepFunctions::StateMachine": _transitions,
}
