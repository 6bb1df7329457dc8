"""Build the application tier of one region from its foundation (used by primary and DR)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from crm_platform.capacity import Side, planned
from crm_platform.compute.application import (
    AppNames,
    AppSecrets,
    AppSecurityGroups,
    Backends,
    Role,
    TwentyApplication,
)
from crm_platform.compute.load_balancer import OriginNames
from crm_platform.contracts import ADOT_COLLECTOR_IMAGE, SQL_TASK_ROLE
from crm_platform.edge.waf import OriginGuard
from crm_platform.monitoring.dashboards import RegionDashboard
from crm_platform.monitoring.resource_alarms import (
    ROLLBACK_RESOURCE_ALARMS,
    ResourceAlarms,
    Watched,
)
from crm_platform.release.images import mirror_reference
from crm_platform.security.secrets import ORIGIN_SLOTS
from crm_platform.stacks.context import StackContext
from crm_platform.stacks.regional import RegionalStack


def role_for(context: StackContext, side: Side) -> Role:
    """Both regions hold a migrate task (DR's runs only in ``release into-dr`` while DR
    serves, release/into_dr.py) and a jobs task (DR's run by the failover, the primary's
    by failback: its purge and job registration before the primary's workers start,
    docs/adr/0046-failback.md); the primary beats; DR starts at its posture
    (capacity.py: the task counts, shared with the drift check).

    ``context.release.hold_services`` (first deploy, before the schema exists): zero tasks.
    """
    plan = planned(context.settings, side, hold=context.release.hold_services)
    if context.release.hold_services:
        return Role(migrations=True, heartbeat=side == "primary",
                    server=plan.server, worker=plan.worker, jobs_task=True)  # fmt: skip
    if side == "primary":
        return Role(
            migrations=True, heartbeat=True, jobs_task=True, server=plan.server, worker=plan.worker
        )
    return Role(
        migrations=True, heartbeat=False, jobs_task=True, server=plan.server, worker=plan.worker
    )


def origin_header_values(context: StackContext) -> list[str]:
    """Both slots, as dynamic references (a version id pins a rotated value)."""
    names = context.names
    versions = context.settings.edge.origin_header.versions
    return [
        cdk.SecretValue.secrets_manager(
            names.origin_secret(slot), version_id=getattr(versions, slot)
        ).unsafe_unwrap()
        for slot in ORIGIN_SLOTS
    ]


def application_tier(
    scope: Construct,
    *,
    context: StackContext,
    side: Side,
    foundation: RegionalStack,
    secrets: AppSecrets,
    database_host: str,
) -> TwentyApplication:
    s, names = context.settings, context.names
    region = foundation.region
    zone = route53.HostedZone.from_hosted_zone_id(scope, "Zone", s.domain.hosted_zone_id)
    groups = foundation.security_groups
    app = TwentyApplication(
        scope,
        "Twenty",
        names=AppNames(
            cluster=names.ecs_cluster(region),
            server_service=names.server_service,
            worker_service=names.worker_service,
            server_family=names.task_family("server"),
            worker_family=names.task_family("worker"),
            migrate_family=names.task_family("migrate"),
            jobs_family=names.task_family("jobs"),
            sql_family=names.task_family(SQL_TASK_ROLE),
            sql_roles=names.sql_task_roles(region),
            jobs_roles=names.jobs_task_roles(region),
            alarm_prefix=names.alarm_prefix(region),
            telemetry_log_group=names.telemetry_log_group,
            environment=names.prefix,
            collector_image=mirror_reference(names, ADOT_COLLECTOR_IMAGE, region),
        ),
        config=s.compute,
        image=ecs.ContainerImage.from_registry(context.image(region)),
        role=role_for(context, side),
        pull_from=names.repository_arn(region),
        vpc=foundation.network.vpc,
        public_subnets=foundation.network.public_subnets,
        private_subnets=foundation.network.private_subnets,
        groups=AppSecurityGroups(
            load_balancer=groups.load_balancer,
            cloudfront_https=groups.cloudfront_https,
            tasks=groups.tasks,
        ),
        key=foundation.key,
        alerts=foundation.alerts,
        zone=zone,
        origin_names=OriginNames(
            origin=names.origin_domain,
            public=names.domain,
            direct=names.direct_origin_domain(region),
        ),
        origin_header_values=origin_header_values(context),
        access_logs=foundation.access_logs,
        secrets=secrets,
        backends=Backends(
            database_host=database_host,
            database_name=names.db_name,
            cache_host=foundation.cache.endpoint_address,
            bucket_name=names.attachments_bucket_in(region),
            bucket_arn=f"arn:aws:s3:::{names.attachments_bucket_in(region)}",
        ),
        public_url=names.public_url,
        # The region's own SES sender (email/), when e-mail is on.
        email=foundation.email.smtp if foundation.email is not None else None,
        # Twenty's metrics through a collector sidecar, in both regions (telemetry.enabled).
        telemetry=s.telemetry,
    )
    # Twenty's tasks start after the first SMTP rotation began (email/runtime: the
    # placeholder it replaces is never rolled).
    if foundation.email is not None:
        for task in (
            app.server_task,
            app.worker_task,
            app.migrate_task,
            app.jobs_task,
            app.sql_task.task,
        ):
            if task is not None:
                task.definition.node.add_dependency(foundation.email.rotation_schedule)
    # The origin-verify check, off the listener rule ECS manages (edge/waf.py). The rule
    # follows the guard, so it never forwards a header-less request, even while the first
    # deploy of this layout replaces the old header condition.
    guard = OriginGuard(
        scope,
        "OriginGuard",
        name=f"{names.prefix}-origin",
        load_balancer_arn=app.origin.load_balancer.load_balancer_arn,
        header_values=app.origin.origin_header_values,
        key=foundation.key,
    )
    app.origin.production_rule.node.add_dependency(guard.association)
    # The guard resolves the origin-verify secrets by name: where this stack creates them
    # (the primary; DR reads replicas an earlier stack made), it waits for them.
    origin_secrets = {names.origin_secret(slot) for slot in ORIGIN_SLOTS}
    for found in scope.node.find_all():
        if isinstance(found, sm.CfnSecret) and found.name in origin_secrets:
            guard.web_acl.node.add_dependency(found)
    return app


def observe(
    scope: Construct,
    *,
    context: StackContext,
    foundation: RegionalStack,
    app: TwentyApplication,
    database: str,
    database_class: str,
    cache_nodes: int,
) -> ResourceAlarms:
    """The region's resource alarms and dashboard."""
    names = context.names
    region = foundation.region
    group = names.cache_group(region)
    watched = Watched(
        load_balancer=app.origin.load_balancer.load_balancer_full_name,
        target_groups=(app.origin.blue.target_group_full_name,
                       app.origin.green.target_group_full_name),
        cluster=names.ecs_cluster(region),
        services=(names.server_service, names.worker_service),
        database=database,
        database_class=database_class,
        cache_nodes=tuple(f"{group}-{i:03d}" for i in range(1, cache_nodes + 1)),
        nat_gateways=tuple(
            n.ref for n in foundation.network.node.find_all() if isinstance(n, ec2.CfnNatGateway)
        ),
    )  # fmt: skip
    alarms = ResourceAlarms(
        scope, "ResourceAlarms", watched=watched, alarm_prefix=names.alarm_prefix(region),
        topic=foundation.alerts,
    )  # fmt: skip
    # ECS reads the deployment alarms by name: they exist before the service changes.
    for what in ROLLBACK_RESOURCE_ALARMS:
        app.server.service.node.add_dependency(alarms.alarms[what])
    RegionDashboard(
        scope,
        "Dashboard",
        name=f"{names.alarm_prefix(region)}{region}",
        watched=watched,
        alarms=[*app.rollback_alarms, *alarms.alarms.values()],
    )
    return alarms
