"""Release steps with AWS clients: build (publish, scan, deploy files) and migrate.

``crm-platform release build`` and ``crm-platform release migrate`` run these in the
pipeline's CodeBuild projects; ``crm-platform deploy`` runs :func:`migrate` itself when
it deploys a release the database has not seen (first deploy, or a new
``twenty.version`` without the pipeline). Each step prints one line per action.

The build runs the commit's code; the migrate step runs the code the operator last
deployed (the pipeline's trusted copy, pipeline/construct.py), so what :func:`migrate`
checks is what a commit cannot change: the digest's form and that our repository holds
it, the upgrade path, the migrate family's image-only revision, the verdict, the record.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crm_platform.contracts import FAILOVER_NONE, RDS_CA_BUNDLE_URL, failover_state
from crm_platform.naming import Names
from crm_platform.release import artifacts, migration, publish, record, versions
from crm_platform.release.images import image_reference, mirror_sources, mirror_tag
from crm_platform.release.record import Release
from crm_platform.settings import Settings

Client = Callable[[str, str], Any]
Progress = Callable[[str], None]
SCAN_TIMEOUT_S = 30 * 60
REPLICATION_TIMEOUT_S = 30 * 60
SNAPSHOT_TIMEOUT_S = 60 * 60


def source_image(s: Settings, names: Names) -> str:
    """Where the build pulls the pinned release: Docker Hub through its ECR pull-through
    cache (authenticated with the configured Docker Hub credentials) when one is
    configured, else Docker Hub itself, anonymously (its anonymous pull limit applies to
    the build's address; docs/adr/0039)."""
    if s.pipeline.docker_hub_credentials_arn:
        registry = names.repository_uri(s.regions.primary).split("/", 1)[0]
        return f"{registry}/{names.pull_through_prefix}/{s.twenty.image}:{s.twenty.version}"
    return f"{s.twenty.image}:{s.twenty.version}"


def fetch_url(url: str) -> bytes:
    """GET ``url`` over HTTPS (the RDS certificate bundle), failing on any error."""
    import urllib.request

    if not url.startswith("https://"):
        raise ValueError(f"{url} is not an HTTPS URL")
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - https only
        body: bytes = answer.read()
    return body


def docker_login(ecr: Any, docker_binary: str = "docker") -> None:
    token = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    subprocess.run(
        [docker_binary, "login", "--username", user, "--password-stdin", token["proxyEndpoint"]],
        input=password, text=True, check=True, capture_output=True,
    )  # fmt: skip


class FailedOver(migration.MigrationFailed):
    """The platform serves from DR (or its state cannot be read): no release now."""


def refuse_while_failed_over(names: Names, client: Client) -> None:
    """Read the failed-over state in the DR region first: while DR serves, the primary's
    database is stale, and migrating it or shipping its release to DR would overwrite
    what serves. A state that cannot be read refuses too (the DR region may be the one
    in trouble); a release to DR while failed over follows docs/emergency-recovery.md."""
    dr = names.dr_region
    try:
        found = client("ssm", dr).get_parameter(Name=names.failover_parameter)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            return  # the DR stacks are not deployed yet: nothing can be failed over
        raise FailedOver(
            f"cannot read the failed-over state {names.failover_parameter} in {dr} ({code}): "
            "refusing to release until it can be read"
        ) from err
    except BotoCoreError as err:
        raise FailedOver(
            f"cannot reach {dr} to read the failed-over state ({type(err).__name__}): "
            "refusing to release until it can be read"
        ) from err
    state = failover_state(found["Parameter"]["Value"])
    if state != FAILOVER_NONE:
        raise FailedOver(
            f"the platform is {state} to {dr}: the primary's database is stale. No release "
            "runs until failback (docs/emergency-recovery.md, 'A fix while failed over')"
        )


def build(
    s: Settings,
    names: Names,
    client: Client,
    out: Path,
    progress: Progress,
    docker: publish.Docker = publish.docker_cli,
    login: Callable[[Any], None] = docker_login,
    fetch: Callable[[str], bytes] = fetch_url,
) -> list[Path]:
    """Publish ``twenty.version`` once (derived with the current RDS certificate bundle)
    and every ``pipeline.mirror_images``, gate each on its scan and the DR replica, write
    the deploy files.

    Refuses first while failed over (``refuse_while_failed_over``)."""
    refuse_while_failed_over(names, client)
    primary, dr = s.regions.primary, s.regions.dr
    current = record.read(client("ssm", primary), names.release_parameter)
    versions.check_upgrade(
        current.version if current else None, s.twenty.version, s.twenty.required_upgrade_steps
    )
    progress(f"schema at {current.version if current else 'nothing yet'}; "
             f"releasing {s.twenty.version}")  # fmt: skip
    ecr, ecr_dr = client("ecr", primary), client("ecr", dr)
    login(ecr)
    dockerfile = s.pipeline.dockerfile
    release = publish.publish_release(
        docker=docker,
        ecr=ecr,
        source=source_image(s, names),
        repository=names.repository,
        repository_uri=names.repository_uri(primary),
        version=s.twenty.version,
        bundle=fetch(RDS_CA_BUNDLE_URL),
        custom_dockerfile=(dockerfile, Path(dockerfile).read_bytes()) if dockerfile else None,
        progress=progress,
    )
    digest = release.digest
    mirrored = [
        publish.mirror(
            docker=docker,
            ecr=ecr,
            source=source,
            repository=names.repository,
            repository_uri=names.repository_uri(primary),
            tag=mirror_tag(source),
            progress=progress,
        )
        for source in mirror_sources(s)
    ]
    for image in (digest, *mirrored):
        publish.scan_gate(
            ecr,
            repository=names.repository,
            digest=image,
            threshold=s.pipeline.fail_on_severity,
            timeout_s=SCAN_TIMEOUT_S,
            progress=progress,
        )
        publish.wait_replicated(
            ecr_dr,
            repository=names.repository,
            digest=image,
            timeout_s=REPLICATION_TIMEOUT_S,
            progress=progress,
        )
    written = artifacts.write(
        out,
        artifacts.DeployImages(
            version=s.twenty.version,
            digest=digest,
            primary_repository_uri=names.repository_uri(primary),
            dr_repository_uri=names.repository_uri(dr),
        ),
        init_container=s.compute.read_only_root_filesystem,
    )
    progress("wrote " + ", ".join(p.name for p in written))
    return written


def target(names: Names) -> migration.Target:
    return migration.Target(
        cluster=names.ecs_cluster(names.primary_region),
        family=names.task_family("migrate"),
        network_from_service=names.server_service,
        db_instance=names.db_instance,
    )


def migrate(
    s: Settings, names: Names, client: Client, release: Release, progress: Progress
) -> bool:
    """Migrate the schema to ``release`` unless it is there already; True if it ran.

    Raises ``MigrationFailed`` (``FailedOver`` while DR serves; ``UpgradeIncomplete`` when
    the task exited 0 but did not report a completed upgrade) or ``UpgradeRefused``; the
    release is recorded only after a migration the verdict calls completed.
    """
    refuse_while_failed_over(names, client)
    try:
        versions.parse(release.version)
    except ValueError as err:
        raise migration.MigrationFailed(f"release version: {err}") from err
    migration.check_digest(release.digest)
    primary = s.regions.primary
    ssm = client("ssm", primary)
    current = record.read(ssm, names.release_parameter)
    if current == release:
        progress(f"schema already at {release.version}: nothing to migrate")
        # A retry after a lost DR copy: repeat the primary's record, nothing new.
        record.copy_to(ssm, client("ssm", names.dr_region), names.release_parameter)
        return False
    versions.check_upgrade(
        current.version if current else None, release.version, s.twenty.required_upgrade_steps
    )
    if release.digest is not None:
        _in_our_repository(client("ecr", primary), names.repository, release.digest)
    completed = run_migration(
        s, names, client, primary, target(names), release, current, progress
    )  # fmt: skip
    for region in (names.primary_region, names.dr_region):
        # The primary first, then its copy in DR (read there during a failover).
        record.write(client("ssm", region), names.release_parameter, release, completed)
    progress(f"schema at {release.version}; recorded in {names.release_parameter}")
    return True


def run_migration(
    s: Settings,
    names: Names,
    client: Client,
    region: str,
    where: migration.Target,
    release: Release,
    current: Release | None,
    progress: Progress,
) -> migration.Completed:
    """What every release migrates with, in either region (the pipeline's step here, a
    release into DR in release/into_dr.py): a snapshot when the schema holds data, an
    image-only revision of the migrate family, the one-off task judged by its verdict."""
    if current is not None:
        migration.take_snapshot(
            client("rds", region), where, current=current.version, version=release.version,
            progress=progress, timeout_s=SNAPSHOT_TIMEOUT_S,
        )  # fmt: skip
    ecs = client("ecs", region)
    image = image_reference(names, release.version, release.digest, region)
    revision = migration.revision_with_image(ecs, where.family, image)
    return migration.migrate_once(
        ecs, client("logs", region), where, revision, image=image, progress=progress,
        timeout_s=s.pipeline.migration_timeout_minutes * 60,
    )  # fmt: skip


def _in_our_repository(ecr: Any, repository: str, digest: str) -> None:
    """The release's image must be in the platform's repository: the task definition
    names it there by digest, and nothing else may be migrated."""
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    except ClientError as err:
        if err.response["Error"]["Code"] in (
            "ImageNotFoundException",
            "RepositoryNotFoundException",
        ):
            raise migration.MigrationFailed(
                f"{repository}@{digest} is not in the platform's repository: only an image "
                "the build published there is migrated"
            ) from err
        raise
