"""Release steps with AWS clients: build (publish, scan, deploy files) and migrate.

``crm-platform release build`` and ``crm-platform release migrate`` run these in the
pipeline's CodeBuild projects; ``crm-platform deploy`` runs :func:`migrate` itself when
it deploys a release the database has not seen (first deploy, or a new
``twenty.version`` without the pipeline). Each step prints one line per action.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crm_platform.naming import Names
from crm_platform.release import artifacts, migration, publish, record, versions
from crm_platform.release.images import image_reference
from crm_platform.release.record import Release
from crm_platform.settings import Settings

Client = Callable[[str, str], Any]
Progress = Callable[[str], None]
SCAN_TIMEOUT_S = 30 * 60
REPLICATION_TIMEOUT_S = 30 * 60
SNAPSHOT_TIMEOUT_S = 60 * 60


def source_image(s: Settings, names: Names) -> str:
    """Where the build pulls the pinned release: Docker Hub, or its ECR pull-through cache."""
    if s.pipeline.docker_hub_credentials_arn:
        registry = names.repository_uri(s.regions.primary).split("/", 1)[0]
        return f"{registry}/{names.pull_through_prefix}/{s.twenty.image}:{s.twenty.version}"
    return f"{s.twenty.image}:{s.twenty.version}"


def docker_login(ecr: Any, docker_binary: str = "docker") -> None:
    token = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    subprocess.run(
        [docker_binary, "login", "--username", user, "--password-stdin", token["proxyEndpoint"]],
        input=password, text=True, check=True, capture_output=True,
    )  # fmt: skip


def build(
    s: Settings,
    names: Names,
    client: Client,
    out: Path,
    progress: Progress,
    docker: publish.Docker = publish.docker_cli,
    login: Callable[[Any], None] = docker_login,
) -> list[Path]:
    """Publish ``twenty.version`` once, gate it on its scan and the DR replica, write files."""
    primary, dr = s.regions.primary, s.regions.dr
    current = record.read(client("ssm", primary), names.release_parameter)
    versions.check_upgrade(
        current.version if current else None, s.twenty.version, s.twenty.required_upgrade_steps
    )
    progress(f"schema at {current.version if current else 'nothing yet'}; "
             f"releasing {s.twenty.version}")  # fmt: skip
    ecr = client("ecr", primary)
    login(ecr)
    digest = publish.publish(
        docker=docker,
        ecr=ecr,
        source=source_image(s, names),
        repository=names.repository,
        repository_uri=names.repository_uri(primary),
        tag=s.twenty.version,
        dockerfile=s.pipeline.dockerfile,
        progress=progress,
    )
    publish.scan_gate(
        ecr,
        repository=names.repository,
        digest=digest,
        threshold=s.pipeline.fail_on_severity,
        timeout_s=SCAN_TIMEOUT_S,
        progress=progress,
    )
    publish.wait_replicated(
        client("ecr", dr),
        repository=names.repository,
        digest=digest,
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
    """Migrate the schema to ``release`` unless it is there already; True if it ran."""
    primary = s.regions.primary
    ssm = client("ssm", primary)
    current = record.read(ssm, names.release_parameter)
    if current == release:
        progress(f"schema already at {release.version}: nothing to migrate")
        _record_everywhere(names, client, release)  # a retry after a lost DR copy
        return False
    versions.check_upgrade(
        current.version if current else None, release.version, s.twenty.required_upgrade_steps
    )
    where = target(names)
    minutes = s.pipeline.migration_timeout_minutes
    if current is not None:
        migration.take_snapshot(
            client("rds", primary), where, current=current.version, version=release.version,
            progress=progress, timeout_s=SNAPSHOT_TIMEOUT_S,
        )  # fmt: skip
    ecs = client("ecs", primary)
    image = image_reference(names, f"{s.twenty.image}:{s.twenty.version}", release.digest, primary)
    revision = migration.revision_with_image(ecs, where.family, image)
    migration.run_once(ecs, where, revision, progress=progress, timeout_s=minutes * 60)
    _record_everywhere(names, client, release)
    progress(f"schema at {release.version}; recorded in {names.release_parameter}")
    return True


def _record_everywhere(names: Names, client: Client, release: Release) -> None:
    """The primary's record, and its copy in DR (read there during a failover)."""
    for region in (names.primary_region, names.dr_region):
        record.write(client("ssm", region), names.release_parameter, release)
