"""Price rules for compute: Fargate services and one-off tasks, Container Insights, functions."""

from __future__ import annotations

from typing import Any

from crm_platform.cost.estimate.context import Context, Resource, Rule, of_type, refs
from crm_platform.cost.estimate.lines import Line


def _arch(task: dict[str, Any]) -> str:
    arch = task.get("Properties", {}).get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64")
    return "arm64" if str(arch).upper() == "ARM64" else "x86_64"


def _fargate_lines(
    ctx: Context, r: Resource, task_id: str, count: float, label: str, *tags: str
) -> list[Line]:
    task = r.stack.resources[task_id]
    tp = task.get("Properties", {})
    vcpu, gb = int(tp.get("Cpu", 256)) / 1024, int(tp.get("Memory", 512)) / 1024
    arch = _arch(task)
    family = str(tp.get("Family", task_id))
    shape = f"{vcpu:g} vCPU / {gb:g} GB {arch}"
    return [
        Line(
            r.stack.name,
            r.stack.region,
            r.logical,
            r.kind,
            f"{label} {family} vCPU ({shape})",
            f"fargate.vcpu_hour.{arch}",
            count,
            vcpu * ctx.hours,
            frozenset(tags),
        ),
        Line(
            r.stack.name,
            r.stack.region,
            r.logical,
            r.kind,
            f"{label} {family} memory ({shape})",
            f"fargate.gb_hour.{arch}",
            count,
            gb * ctx.hours,
            frozenset(tags),
        ),
    ]


def _role_of_family(family: str) -> str:
    for part in ("server", "worker"):
        if part in family:
            return part
    return family


def _service(ctx: Context, r: Resource) -> list[Line]:
    task_id = next(iter(refs(r.props.get("TaskDefinition"))), None)
    if task_id is None or task_id not in r.stack.resources:
        return []
    family = str(r.stack.resources[task_id].get("Properties", {}).get("Family", task_id))
    role = ctx.role(r.stack.region)
    count = float(r.props.get("DesiredCount", 1))
    kind = _role_of_family(family)
    tags = ("fargate", f"fargate:{role}", kind, f"service:{role}:{kind}")
    return _fargate_lines(ctx, r, task_id, count, "tasks x", *tags)


def _task_definition(ctx: Context, r: Resource) -> list[Line]:
    """A task definition no service runs (migrate, bootstrap, scheduled jobs): one-off hours."""
    for s in of_type(r.stack, "AWS::ECS::Service").values():
        if r.logical in refs(s.get("Properties", {}).get("TaskDefinition")):
            return []
    hours = ctx.volumes.one_off_task_hours
    role = ctx.role(r.stack.region)
    lines = _fargate_lines(
        ctx,
        r,
        r.logical,
        hours / ctx.hours,
        "one-off hours of",
        "fargate",
        "one-off",
        f"fargate:{role}",
    )
    return lines


def _cluster_insights(ctx: Context, r: Resource) -> list[Line]:
    mode = next(
        (
            s.get("Value")
            for s in r.props.get("ClusterSettings", [])
            if s.get("Name") == "containerInsights"
        ),
        "disabled",
    )
    if mode not in ("enabled", "enhanced"):
        return []
    services = of_type(r.stack, "AWS::ECS::Service").values()
    running = sum(float(s.get("Properties", {}).get("DesiredCount", 1)) for s in services)
    v = ctx.volumes
    metrics = (
        (v.insights_metrics_per_cluster + v.insights_metrics_per_service * len(services))
        if running
        else 0
    )
    observations = running * v.insights_observations_per_task_hour * ctx.hours / 1e6
    return [
        r.line(
            "Container Insights metrics (standard)",
            "cloudwatch.metric_month",
            1 if mode == "enabled" else 0,
            metrics,
            "insights",
            "insights:standard",
        ),
        r.line(
            "Container Insights observations (enhanced, million)",
            "cloudwatch.insights_million_observations",
            1 if mode == "enhanced" else 0,
            observations,
            "insights",
            "insights:enhanced",
        ),
    ]


def _function(ctx: Context, r: Resource) -> list[Line]:
    n = ctx.volumes.lambda_invocations_per_function
    gb = int(r.props.get("MemorySize", 128)) / 1024
    seconds = n * ctx.volumes.lambda_seconds_per_invocation
    return [
        r.line("invocations (million)", "lambda.million_requests", n / 1e6, 1, "lambda"),
        r.line("compute (GB-seconds)", "lambda.gb_second", seconds, gb, "lambda"),
    ]


RULES: dict[str, Rule] = {
    "AWS::ECS::Service": _service,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::ECS::Cluster": _cluster_insights,
    "AWS::Lambda::Function": _function,
}
