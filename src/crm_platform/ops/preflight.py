"""Checks ``crm-platform deploy`` runs against the account before CloudFormation starts.

Three things fail a first deployment late, after many minutes and a rollback, that can
be read from the account in seconds:

- **Lambda concurrency.** AWS keeps a floor of unreserved concurrent executions per
  account and region (100 in AWS's documentation; accounts with a lower quota report
  their own floor), and a new account's quota is often only 10. Any
  ``ReservedConcurrentExecutions`` in a template then fails the stack at create time.
- **Leftovers of a failed deploy.** Named resources that outlived an earlier attempt
  (kept by hand, or a delete that failed, e.g. a secret whose DR replica had to be
  removed first) make the next create fail with "already exists".
- **A second AWS services anomaly monitor.** An account holds one; CloudFormation fails
  another with a bare "AlreadyExists" (docs/decisions.md, "Cost controls").

Each check reads the synthesized assembly (what this deploy will create) and the account
(what is there), and prints one line per finding that says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.assembly.reader import stack_artifacts
from crm_platform.contracts import FAILOVER_NONE, failover_state
from crm_platform.ops.drift import Drift

Client = Callable[[str, str], Any]  # (service, region) -> boto3 client

DOCUMENTED_UNRESERVED_FLOOR = 100
CONCURRENCY_QUOTA_CODE = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"
# A stack in one of these states holds none of its named resources any more: a named
# resource that still exists was left behind and blocks the next create.
_GONE = frozenset({None, "ROLLBACK_COMPLETE", "DELETE_COMPLETE"})


@dataclass(frozen=True)
class Check:
    region: str
    what: str
    ok: bool
    message: str


@dataclass(frozen=True)
class StackPlan:
    """What one stack of the assembly will create, read from its template."""

    name: str
    region: str
    resources: dict[str, Any]

    def reserved_concurrency(self) -> int:
        return sum(
            int(r.get("Properties", {}).get("ReservedConcurrentExecutions", 0))
            for r in self.resources.values()
            if r["Type"] == "AWS::Lambda::Function"
        )


def stack_plans(outdir: Path) -> list[StackPlan]:
    plans = []
    for name, artifact in stack_artifacts(outdir).items():
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        region = artifact["environment"].rsplit("/", 1)[-1]
        plans.append(StackPlan(name, region, template.get("Resources", {})))
    return plans


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def stack_status(cloudformation: Any, stack: str) -> str | None:
    """The stack's status, or None when it does not exist."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as err:
        if _code(err) == "ValidationError" and "does not exist" in str(err):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _our_current_reservations(client: Client, plan: StackPlan, status: str | None) -> int:
    """Concurrency our deployed functions already reserve (this deploy replaces it)."""
    if status in _GONE:
        return 0
    cloudformation, lambda_ = client("cloudformation", plan.region), client("lambda", plan.region)
    total = 0
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=plan.name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            if "PhysicalResourceId" not in resource:
                continue
            found = lambda_.get_function_concurrency(FunctionName=resource["PhysicalResourceId"])
            total += int(found.get("ReservedConcurrentExecutions", 0))
    return total


def check_lambda_concurrency(
    plans: list[StackPlan], client: Client, statuses: dict[str, str | None]
) -> list[Check]:
    """One line per region: does this deploy's reserved concurrency fit the account's quota?"""
    checks = []
    for region in dict.fromkeys(p.region for p in plans):
        in_region = [p for p in plans if p.region == region]
        wanted = sum(p.reserved_concurrency() for p in in_region)
        limit = client("lambda", region).get_account_settings()["AccountLimit"]
        quota = int(limit["ConcurrentExecutions"])
        unreserved = int(limit["UnreservedConcurrentExecutions"])
        ours = sum(_our_current_reservations(client, p, statuses[p.name]) for p in in_region)
        left = unreserved + ours - wanted
        if wanted == 0:
            checks.append(
                Check(region, "lambda concurrency", True, f"quota {quota}; nothing reserved")
            )
        elif left >= DOCUMENTED_UNRESERVED_FLOOR:
            checks.append(
                Check(
                    region,
                    "lambda concurrency",
                    True,
                    f"quota {quota}; reserving {wanted} leaves {left} unreserved",
                )
            )
        else:
            needed = quota - left + DOCUMENTED_UNRESERVED_FLOOR
            checks.append(
                Check(
                    region,
                    "lambda concurrency",
                    False,
                    f"quota {quota} leaves {left} unreserved after reserving {wanted} "
                    f"(AWS keeps at least {DOCUMENTED_UNRESERVED_FLOOR}): raise 'Concurrent "
                    f"executions' ({CONCURRENCY_QUOTA_CODE}) in "
                    f"Service Quotas for {region} to {needed} or more, or set "
                    "functions.reserve_concurrency: false",
                )
            )
    return checks


# --- leftovers of a failed deploy --------------------------------------------------------
def _secret_left(client: Client, region: str, name: str) -> str | None:
    try:
        found = client("secretsmanager", region).describe_secret(SecretId=name)
    except ClientError as err:
        if _code(err) == "ResourceNotFoundException":
            return None
        raise
    replicas = [r["Region"] for r in found.get("ReplicationStatus", [])]
    steps = (
        f"aws secretsmanager remove-regions-from-replication --region {region} --secret-id "
        f"{name} --remove-replica-regions {' '.join(replicas)} && "
        if replicas
        else ""
    )
    return (
        f"{steps}aws secretsmanager delete-secret --region {region} --secret-id {name} "
        "--force-delete-without-recovery (only if it holds nothing you need)"
    )


def _bucket_left(client: Client, region: str, name: str) -> str | None:
    try:
        client("s3", region).head_bucket(Bucket=name)
    except ClientError as err:
        code = _code(err)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return None
        if code in ("403", "AccessDenied"):
            return "the name is taken by another account: set storage.attachments_bucket"
        raise
    return f"empty and delete it (aws s3 rb s3://{name}) if it holds nothing you need"


def _log_group_left(client: Client, region: str, name: str) -> str | None:
    found = client("logs", region).describe_log_groups(logGroupNamePrefix=name)
    if not any(g["logGroupName"] == name for g in found.get("logGroups", [])):
        return None
    return f"aws logs delete-log-group --region {region} --log-group-name {name}"


def _vault_left(client: Client, region: str, name: str) -> str | None:
    try:
        client("backup", region).describe_backup_vault(BackupVaultName=name)
    except ClientError as err:
        if _code(err) in ("ResourceNotFoundException", "AccessDeniedException"):
            return None
        raise
    return (
        f"a vault named {name} exists in {region}; if it is empty delete it "
        f"(aws backup delete-backup-vault --region {region} --backup-vault-name {name})"
    )


_NAMED: dict[str, tuple[str, Callable[[Client, str, str], str | None]]] = {
    "AWS::SecretsManager::Secret": ("Name", _secret_left),
    "AWS::S3::Bucket": ("BucketName", _bucket_left),
    "AWS::Logs::LogGroup": ("LogGroupName", _log_group_left),
    "AWS::Backup::BackupVault": ("BackupVaultName", _vault_left),
}


def _named_resources(plan: StackPlan) -> Iterator[tuple[str, str]]:
    for resource in plan.resources.values():
        known = _NAMED.get(resource["Type"])
        if known is None:
            continue
        name = resource.get("Properties", {}).get(known[0])
        if isinstance(name, str):  # a literal name; generated names cannot collide
            yield resource["Type"], name


def check_leftovers(
    plans: list[StackPlan], client: Client, statuses: dict[str, str | None]
) -> list[Check]:
    """Named resources a stack is about to create that already exist without it."""
    checks = []
    for plan in plans:
        if statuses[plan.name] not in _GONE:
            continue  # the stack exists and owns its resources
        for kind, name in _named_resources(plan):
            remedy = _NAMED[kind][1](client, plan.region, name)
            if remedy is not None:
                checks.append(
                    Check(
                        plan.region,
                        "left from an earlier attempt",
                        False,
                        f"{kind} {name} exists but {plan.name} does not own it "
                        f"(creating it again would fail with 'already exists'): {remedy}",
                    )
                )
    return checks


def check_not_failed_over(client: Client, region: str, parameter: str) -> Check:
    """A deploy while failed over would put DR back to pilot light and re-point nothing."""
    try:
        raw = client("ssm", region).get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as err:
        if _code(err) == "ParameterNotFound":
            return Check(region, "failed-over state", True, "not deployed yet")
        raise
    state = failover_state(raw)
    if state == FAILOVER_NONE:
        return Check(region, "failed-over state", True, "serving from the primary")
    return Check(
        region,
        "failed-over state",
        False,
        f"the platform is {state} to the DR region ({parameter}): a deploy would scale DR back "
        "to its standby size and point nothing at the promoted database. Follow "
        "docs/emergency-recovery.md, 'Failing back', which ends by resetting this state",
    )


# --- the account's one AWS services anomaly monitor --------------------------------------
def _planned_services_monitor(plans: list[StackPlan]) -> str | None:
    for plan in plans:
        for resource in plan.resources.values():
            props = resource.get("Properties", {})
            if (
                resource["Type"] == "AWS::CE::AnomalyMonitor"
                and props.get("MonitorDimension") == "SERVICE"
            ):
                return str(props["MonitorName"])
    return None


def check_anomaly_monitor(plans: list[StackPlan], client: Client) -> list[Check]:
    """Refuse to create a services monitor when the account already has another one."""
    planned = _planned_services_monitor(plans)
    if planned is None:
        return []
    ce = client("ce", "us-east-1")
    existing = []
    token = None
    while True:
        page = ce.get_anomaly_monitors(**({"NextPageToken": token} if token else {}))
        existing += [
            m
            for m in page.get("AnomalyMonitors", [])
            if m.get("MonitorType") == "DIMENSIONAL" and m.get("MonitorDimension") == "SERVICE"
        ]
        token = page.get("NextPageToken")
        if not token:
            break
    others = [m for m in existing if m["MonitorName"] != planned]
    if not others:
        return [Check("us-east-1", "anomaly monitor", True, f"{planned} will be the account's")]
    found = others[0]
    return [
        Check(
            "us-east-1",
            "anomaly monitor",
            False,
            f"the account already has an AWS services monitor ({found['MonitorName']}) and "
            "may hold only one: set budget.anomaly_monitor_arn: "
            f"{found['MonitorArn']} to subscribe to it, or budget.anomaly_detection: false",
        )
    ]


def check_no_drift(found: list[Drift] | str) -> Check:
    """What a failover (or its fence) changed outside CloudFormation and nobody put back:
    a deploy would not undo it (a change set compares templates, not resources), so the
    deploy stops and names each difference with its command (ops/drift.py)."""
    if isinstance(found, str):  # nothing to compare with yet (a first deploy), or unreadable
        return Check("all", "drift from the templates", True, f"not compared: {found}")
    if not found:
        return Check("all", "drift from the templates", True, "none")
    listed = "; ".join(f"{d.what}: {d.found}, template {d.expected} ({d.reconcile})" for d in found)
    return Check(
        "all",
        "drift from the templates",
        False,
        f"{len(found)} setting(s) a failover changed still differ: {listed}. Reconcile them "
        "(crm-platform dr status lists them), then deploy",
    )


def run_preflight(
    outdir: Path,
    client: Client,
    failover_state: tuple[str, str] | None = None,
    drift: Callable[[], list[Drift] | str] | None = None,
) -> list[Check]:
    """Every check, for every stack of the assembly at ``outdir``.

    ``failover_state`` is (DR region, parameter name) of the failed-over state; ``drift``
    reads what differs from the templates (ops/drift.py ``safely``).
    """
    plans = stack_plans(outdir)
    checks = [] if failover_state is None else [check_not_failed_over(client, *failover_state)]
    if checks and not checks[0].ok:
        return checks  # nothing else matters until the platform is back on the primary
    if drift is not None:
        checks.append(check_no_drift(drift()))
    statuses = {p.name: stack_status(client("cloudformation", p.region), p.name) for p in plans}
    checks += check_lambda_concurrency(plans, client, statuses)
    checks += check_anomaly_monitor(plans, client)
    leftovers = check_leftovers(plans, client, statuses)
    if not leftovers:
        checks.append(Check("all", "left from an earlier attempt", True, "none"))
    return checks + leftovers
