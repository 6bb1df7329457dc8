"""A release into the DR region while it serves: ``crm-platform release into-dr``.

While failed over the pipeline refuses (operations.refuse_while_failed_over): it lives
in the primary region, its build publishes there and its migrate step would migrate the
stale database. A fix still has to ship during a long outage, so this path releases into
DR only, with the pipeline's own rules and nothing of the primary region:

1. it runs only while the failed-over state in DR is ``failed-over`` (a failover still
   running, or no failover at all, is refused: the pipeline is the way then);
2. it publishes ``twenty.version`` into DR's repository with the same derivation (the
   RDS certificate bundle baked in, release/publish.py), pulling the pinned release from
   its public registry (the primary's pull-through cache may be the region that is down),
   and gates it on DR's scan with ``pipeline.fail_on_severity`` (a manual basic scan is
   started when DR holds none: scan on push is a setting DR's repository may lack);
3. it migrates the serving (promoted) database with the migrate family DR holds, after a
   manual snapshot named by the release, judged by the same verdict, and records the
   release in DR's record only (the primary's record belongs to the stale schema);
4. it rolls the DR services, and the jobs family, to image-only revisions naming the
   release by digest (migration.revision_with_image: a release chooses the image, never
   what it runs), and waits until they are stable.

Every step is idempotent (the publish finds its tag, the migration its record, the
revision its image), so a retry after a failure continues. It runs with the operator's
deploy credentials, as ``crm-platform deploy`` does; the calls are listed in
:func:`needs` and the tests hold the fakes to that list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crm_platform.contracts import RDS_CA_BUNDLE_URL, failover_state
from crm_platform.naming import Names
from crm_platform.needs import Need, Who
from crm_platform.release import migration, operations, publish, record, versions
from crm_platform.release.images import image_reference
from crm_platform.release.record import Release
from crm_platform.settings import Settings

Client = Callable[[str, str], Any]
Progress = Callable[[str], None]
FAILED_OVER = "failed-over"
# The roles released into DR: the services roll, the jobs family is what the failover's
# register_jobs and a later registration run.
SERVICE_ROLES = ("server", "worker")
TASK_ONLY_ROLES = ("jobs",)
SCAN_TIMEOUT_S = 30 * 60
STABLE_TIMEOUT_S = 30 * 60


class NotFailedOver(migration.MigrationFailed):
    """Not (or not yet) serving from DR: a release into DR is refused."""


@dataclass(frozen=True)
class Plan:
    """What ``into-dr`` would do, read without changing anything."""

    region: str
    state: str
    incident: str
    current: str | None  # the schema's release recorded in DR
    version: str
    source: str
    repository_uri: str
    database: str
    cluster: str
    families: tuple[str, ...]
    services: tuple[str, ...]

    def lines(self) -> list[str]:
        return [
            f"failed-over state in {self.region}: {self.state} (incident {self.incident})",
            f"schema recorded in DR: {self.current or 'nothing'}; releasing {self.version}",
            f"1. publish {self.source} + the RDS bundle into {self.repository_uri}; scan gate",
            f"2. snapshot {self.database}, migrate it with {self.families[0]} in {self.cluster}, "
            "record the release in DR only",
            f"3. image-only revisions of {', '.join(self.families[1:])}; roll "
            f"{', '.join(self.services)}; wait until stable",
        ]


def source_image(s: Settings) -> str:
    """The pinned release from its public registry: the primary's pull-through cache is
    in the primary region, which may be the one that is down."""
    return f"{s.twenty.image}:{s.twenty.version}"


def require_failed_over(names: Names, client: Client) -> dict[str, Any]:
    """The failed-over state, which must say DR serves (the failover has finished)."""
    dr = names.dr_region
    try:
        value = client("ssm", dr).get_parameter(Name=names.failover_parameter)["Parameter"]
    except (ClientError, BotoCoreError) as err:
        raise NotFailedOver(
            f"cannot read the failed-over state {names.failover_parameter} in {dr} ({err}): "
            "a release into DR needs DR to be serving"
        ) from err
    state = failover_state(value["Value"])
    if state != FAILED_OVER:
        raise NotFailedOver(
            f"the failed-over state is {state}, not {FAILED_OVER}: "
            + (
                "the failover is still running; let it finish (crm-platform failover --execute)"
                if state == "failing-over"
                else "the primary serves, so releases go through the pipeline"
            )
        )
    found: dict[str, Any] = json.loads(value["Value"])
    return found


def plan(s: Settings, names: Names, client: Client) -> Plan:
    """Read the state and the DR record; refuse a release the upgrade path forbids."""
    state = require_failed_over(names, client)
    dr = names.dr_region
    current = record.read(client("ssm", dr), names.release_parameter)
    versions.check_upgrade(
        current.version if current else None, s.twenty.version, s.twenty.required_upgrade_steps
    )
    return Plan(
        region=dr,
        state=str(state.get("state")),
        incident=str(state.get("incident", "unknown")),
        current=current.version if current else None,
        version=s.twenty.version,
        source=source_image(s),
        repository_uri=names.repository_uri(dr),
        database=names.db_replica,
        cluster=names.ecs_cluster(dr),
        families=tuple(names.task_family(r) for r in ("migrate", *SERVICE_ROLES, *TASK_ONLY_ROLES)),
        services=(names.server_service, names.worker_service),
    )


def target(names: Names) -> migration.Target:
    """The migration in DR: its cluster and migrate family, the promoted database."""
    dr = names.dr_region
    return migration.Target(
        cluster=names.ecs_cluster(dr),
        family=names.task_family("migrate"),
        network_from_service=names.server_service,
        db_instance=names.db_replica,
    )


def ensure_scan(ecr: Any, repository: str, digest: str, progress: Progress) -> None:
    """Start a basic scan of ``digest`` when it has none (a repository without scan on
    push scans only when asked; a basic scan may start once per 24 hours per image:
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/manual-scan.html). With
    enhanced scanning the registry scans by itself and StartImageScan is refused."""
    try:
        ecr.describe_image_scan_findings(repositoryName=repository, imageId={"imageDigest": digest})
        return
    except ClientError as err:
        if err.response["Error"]["Code"] != "ScanNotFoundException":
            raise
    try:
        ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        progress(f"started a scan of {repository}@{digest}")
    except ClientError as err:
        # Enhanced scanning (ValidationException) or a scan already run today
        # (LimitExceededException): the gate below waits for the result either way.
        if err.response["Error"]["Code"] not in ("ValidationException", "LimitExceededException"):
            raise


def publish_into_dr(
    s: Settings,
    names: Names,
    client: Client,
    *,
    docker: publish.Docker,
    login: Callable[[Any], None],
    fetch: Callable[[str], bytes],
    progress: Progress,
) -> str:
    """Publish the release into DR's repository and gate it on DR's scan: its digest."""
    dr = names.dr_region
    ecr = client("ecr", dr)
    login(ecr)
    dockerfile = s.pipeline.dockerfile
    release = publish.publish_release(
        docker=docker,
        ecr=ecr,
        source=source_image(s),
        repository=names.repository,
        repository_uri=names.repository_uri(dr),
        version=s.twenty.version,
        bundle=fetch(RDS_CA_BUNDLE_URL),
        custom_dockerfile=(dockerfile, Path(dockerfile).read_bytes()) if dockerfile else None,
        progress=progress,
    )
    ensure_scan(ecr, names.repository, release.digest, progress)
    publish.scan_gate(
        ecr,
        repository=names.repository,
        digest=release.digest,
        threshold=s.pipeline.fail_on_severity,
        timeout_s=SCAN_TIMEOUT_S,
        progress=progress,
    )
    return release.digest


def migrate_in_dr(
    s: Settings, names: Names, client: Client, release: Release, progress: Progress
) -> bool:
    """The pipeline's migrate step, against the serving database in DR; True if it ran."""
    require_failed_over(names, client)
    migration.check_digest(release.digest)
    dr = names.dr_region
    ssm = client("ssm", dr)
    current = record.read(ssm, names.release_parameter)
    if current == release:
        progress(f"the DR schema is at {release.version} already: nothing to migrate")
        return False
    versions.check_upgrade(
        current.version if current else None, release.version, s.twenty.required_upgrade_steps
    )
    completed = operations.run_migration(
        s, names, client, dr, target(names), release, current, progress
    )
    record.write(ssm, names.release_parameter, release, completed)
    progress(f"DR schema at {release.version}; recorded in {dr} only")
    return True


def roll_services(names: Names, client: Client, release: Release, progress: Progress) -> None:
    """Image-only revisions of the DR families; the services roll to theirs."""
    dr = names.dr_region
    ecs = client("ecs", dr)
    cluster = names.ecs_cluster(dr)
    image = image_reference(names, release.version, release.digest, dr)
    for role in TASK_ONLY_ROLES:
        revision = migration.revision_with_image(ecs, names.task_family(role), image)
        progress(f"{role}: {revision.rsplit('/', 1)[-1]}")
    services = {"server": names.server_service, "worker": names.worker_service}
    for role in SERVICE_ROLES:
        revision = migration.revision_with_image(ecs, names.task_family(role), image)
        ecs.update_service(cluster=cluster, service=services[role], taskDefinition=revision)
        progress(f"{services[role]}: rolling to {revision.rsplit('/', 1)[-1]}")
    delay = 15
    ecs.get_waiter("services_stable").wait(
        cluster=cluster,
        services=list(services.values()),
        WaiterConfig={"Delay": delay, "MaxAttempts": STABLE_TIMEOUT_S // delay},
    )
    progress("the DR services are stable on the release")


def execute(
    s: Settings,
    names: Names,
    client: Client,
    *,
    docker: publish.Docker = publish.docker_cli,
    login: Callable[[Any], None] | None = None,
    fetch: Callable[[str], bytes] | None = None,
    progress: Progress,
) -> Release:
    """Publish, gate, migrate and roll out ``twenty.version`` in DR (see the module)."""
    plan(s, names, client)  # refuses first: not failed over, or a forbidden upgrade
    digest = publish_into_dr(
        s, names, client, docker=docker, login=login or operations.docker_login,
        fetch=fetch or operations.fetch_url, progress=progress,
    )  # fmt: skip
    release = Release(s.twenty.version, digest)
    migrate_in_dr(s, names, client, release, progress)
    roll_services(names, client, release, progress)
    return release


DEPLOYER = Who(role_name="the operator's deploy credentials")


def needs(names: Names) -> list[Need]:
    """Every AWS call of ``into-dr``, all in the DR region: the contract the tests hold
    the fakes to (the deploy credentials are no role of the assembly)."""
    dr = names.dr_region
    account = names.account
    repo = names.repository
    cluster = names.ecs_cluster(dr)
    family = f"arn:aws:ecs:{dr}:{account}:task-definition/{names.task_family('migrate')}:*"
    return [
        Need.call(DEPLOYER, "read the failed-over state", "ssm", dr, "GetParameter",
                  Name=names.failover_parameter),
        Need.call(DEPLOYER, "read and write DR's release record", "ssm", dr, "PutParameter",
                  Name=names.release_parameter),
        Need.call(DEPLOYER, "push to DR's repository", "ecr", dr, "GetAuthorizationToken"),
        Need.call(DEPLOYER, "find a published tag", "ecr", dr, "BatchGetImage",
                  repositoryName=repo),
        Need.call(DEPLOYER, "scan in DR", "ecr", dr, "StartImageScan", repositoryName=repo),
        Need.call(DEPLOYER, "read the scan", "ecr", dr, "DescribeImageScanFindings",
                  repositoryName=repo),
        Need.call(DEPLOYER, "snapshot the serving database", "rds", dr, "CreateDBSnapshot",
                  DBInstanceIdentifier=names.db_replica),
        Need.call(DEPLOYER, "image-only revisions", "ecs", dr, "RegisterTaskDefinition",
                  family=names.task_family("migrate")),
        Need.call(DEPLOYER, "run the migration", "ecs", dr, "RunTask", cluster=cluster,
                  taskDefinition=family),
        Need.call(DEPLOYER, "read the migration's verdict", "logs", dr, "FilterLogEvents"),
        Need.call(DEPLOYER, "roll the DR services", "ecs", dr, "UpdateService",
                  cluster=cluster, service=names.server_service),
    ]  # fmt: skip
