"""What a failover changed outside CloudFormation, found by comparing AWS with the templates.

A failover (and the fence keeper) change settings CloudFormation owns: task counts and
scaling bounds in both regions, the replica-lag alarm's actions, the switch, the
failed-over state, the primary database's security-group rules, and the replica itself
(promoted). A later ``crm-platform deploy`` does not undo any of it: a change set compares
the new template with the old template, not with the resources
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-stack-drift.html:
"CloudFormation detects drift on those resources that support drift detection"; it does
not correct it). So ``dr status`` and the deploy's preflight list each difference with
the command that reconciles it.

The expected values come from the same code the templates are built from
(capacity.py for task counts); nothing here parses a template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crm_platform.capacity import Capacity, Side, planned
from crm_platform.failover.runtime import fence_keeper
from crm_platform.naming import Names
from crm_platform.ops.dr_facts import failed_over_state, traffic_switch
from crm_platform.settings import Settings

Client = Callable[[str, str], Any]


@dataclass(frozen=True)
class Drift:
    what: str
    expected: str
    found: str
    reconcile: str  # the command that puts it back


def _services(
    names: Names, client: Client, side: Side, region: str, plan: dict[str, Capacity]
) -> list[Drift]:
    cluster = names.ecs_cluster(region)
    found: list[Drift] = []
    services = client("ecs", region).describe_services(cluster=cluster, services=list(plan))[
        "services"
    ]
    targets = {
        t["ResourceId"].rsplit("/", 1)[-1]: t
        for t in client("application-autoscaling", region).describe_scalable_targets(
            ServiceNamespace="ecs",
            ResourceIds=[f"service/{cluster}/{name}" for name in plan],
        )["ScalableTargets"]
    }
    for service in services:
        name = service["serviceName"]
        want = plan[name]
        target = targets.get(name)
        bounds = (target["MinCapacity"], target["MaxCapacity"]) if target else None
        if bounds != (want.minimum, want.maximum):
            found.append(
                Drift(
                    f"{side} {name} scaling bounds",
                    f"{want.minimum}..{want.maximum}",
                    "none" if bounds is None else f"{bounds[0]}..{bounds[1]}",
                    f"aws application-autoscaling register-scalable-target --region {region} "
                    f"--service-namespace ecs --resource-id service/{cluster}/{name} "
                    "--scalable-dimension ecs:service:DesiredCount "
                    f"--min-capacity {want.minimum} --max-capacity {want.maximum}",
                )
            )
        desired = int(service["desiredCount"])
        if not want.minimum <= desired <= want.maximum:  # scaling moves it within the bounds
            found.append(
                Drift(
                    f"{side} {name} desired count",
                    f"{want.desired} (within {want.minimum}..{want.maximum})",
                    str(desired),
                    f"aws ecs update-service --region {region} --cluster {cluster} "
                    f"--service {name} --desired-count {want.desired}",
                )
            )
    return found


def _fence(names: Names, client: Client) -> list[Drift]:
    """Rules the fence revoked from the primary database's groups and that are still gone."""
    kept = fence_keeper.read(client("dynamodb", names.dr_region), names.failover_runs_table)
    if not kept or not kept["revoked"]:
        return []
    primary = names.primary_region
    ec2 = client("ec2", primary)
    found = []
    for rule in kept["revoked"]:
        present = ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [rule["group"]]}]
        )["SecurityGroupRules"]
        if any(r.get("ReferencedGroupInfo", {}).get("GroupId") == rule["source"] for r in present):
            continue
        permission = (
            f"IpProtocol=tcp,FromPort={rule['from']},ToPort={rule['to']},"
            f"UserIdGroupPairs=[{{GroupId={rule['source']},Description='{rule['description']}'}}]"
        )
        found.append(
            Drift(
                f"primary database ingress from {rule['source']} ({rule['description']})",
                "allowed (template)",
                "revoked by the fence",
                f"aws ec2 authorize-security-group-ingress --region {primary} "
                f'--group-id {rule["group"]} --ip-permissions "{permission}"',
            )
        )
    return found


def drift(names: Names, settings: Settings, client: Client) -> list[Drift]:
    """Every difference between the running platform and its templates that a failover
    (or the fence keeper) leaves behind. Raises what AWS raises; callers decide."""
    dr, primary = names.dr_region, names.primary_region
    found: list[Drift] = []
    for side, region in (("primary", primary), ("dr", dr)):
        plan = planned(settings, side)  # type: ignore[arg-type]
        found += _services(
            names, client, side, region,  # type: ignore[arg-type]
            {names.server_service: plan.server, names.worker_service: plan.worker},
        )  # fmt: skip
    alarm = client("cloudwatch", dr).describe_alarms(AlarmNames=[names.replica_lag_alarm])
    for a in alarm.get("MetricAlarms", []):
        if not a.get("ActionsEnabled", True):
            found.append(
                Drift(
                    "replica-lag alarm actions",
                    "enabled",
                    "disabled (the failover retired it)",
                    f"aws cloudwatch enable-alarm-actions --region {dr} "
                    f"--alarm-names {names.replica_lag_alarm}",
                )
            )
    served = traffic_switch(names, client)
    if served != "primary":
        found.append(
            Drift(
                "traffic switch (verified)",
                "primary",
                served,
                f"crm-platform switch --env {settings.environment} --to primary --execute",
            )
        )
    state = failed_over_state(names, client)
    if state.get("state", "none") != "none":
        found.append(
            Drift(
                "failed-over state",
                "none",
                str(state.get("state")),
                f"aws ssm put-parameter --region {dr} --name {names.failover_parameter} "
                '--type String --overwrite --value \'{"state": "none"}\' (after failback)',
            )
        )
    replica = client("rds", dr).describe_db_instances(DBInstanceIdentifier=names.db_replica)
    if not replica["DBInstances"][0].get("ReadReplicaSourceDBInstanceIdentifier"):
        found.append(
            Drift(
                f"DR database {names.db_replica}",
                "a read replica of the primary",
                "promoted (serving)",
                "failback: replicate back, switch over, rebuild the replica "
                "(docs/emergency-recovery.md, 'Failback')",
            )
        )
    found += _fence(names, client)
    return found


def safely(names: Names, settings: Settings, client: Client) -> list[Drift] | str:
    """``drift``, or why it could not be read (a region unreachable, a permission)."""
    try:
        return drift(names, settings, client)
    except (ClientError, BotoCoreError, KeyError, IndexError) as err:
        return f"unreadable ({type(err).__name__}: {err})"
