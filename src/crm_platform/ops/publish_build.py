"""``crm-platform deploy``'s publish step: run the registry's publish build, read its digest.

The deploy never runs Docker itself: it starts the registry stack's CodeBuild project
(registry/publish_project.py), which runs the pipeline's own build step (``crm-platform
release build``: the derived image with the RDS certificate bundle, the idempotent push,
the scan gate, the DR replica; release/operations.py), waits for it, takes the digest the
build exported (``RELEASE_DIGEST``, as it does for the pipeline's approval) and checks the
repository holds it before any application stack names it. Every call here is in
ops/permissions.py ``deploy_needs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.naming import Names
from crm_platform.release.record import Release

Progress = Callable[[str], None]
BUILD_TIMEOUT_S = 120 * 60  # the project's own timeout (90 min) plus time in the queue
DONE_OK = "SUCCEEDED"
RUNNING = "IN_PROGRESS"


class PublishFailed(Exception):
    """The publish build did not publish the release; the message says why and where."""


def publish_release(
    codebuild: Any,
    ecr: Any,
    names: Names,
    release: Release,
    progress: Progress,
    *,
    poll_s: float = 20,
    timeout_s: float = BUILD_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Release:
    """Publish ``release`` through the publish build; the same release, with its digest."""
    started = codebuild.start_build(projectName=names.publish_project)["build"]
    build_id = started["id"]
    progress(f"publishing {release.version} in CodeBuild ({build_id})...")
    deadline = clock() + timeout_s
    while True:
        (build,) = codebuild.batch_get_builds(ids=[build_id])["builds"]
        status = build["buildStatus"]
        if status != RUNNING:
            break
        if clock() > deadline:
            raise PublishFailed(
                f"the publish build {build_id} is still running after "
                f"{int(timeout_s // 60)} minutes; nothing was deployed"
            )
        sleep(poll_s)
    link = (build.get("logs") or {}).get("deepLink", "its CloudWatch log")
    if status != DONE_OK:
        raise PublishFailed(f"the publish build {build_id} ended {status} (see {link})")
    variables = build.get("exportedEnvironmentVariables", [])
    exported = {v["name"]: v.get("value", "") for v in variables}
    version, digest = exported.get("RELEASE_VERSION"), exported.get("RELEASE_DIGEST")
    if version != release.version or not digest:
        raise PublishFailed(
            f"the publish build {build_id} exported release {version!r} digest {digest!r}, "
            f"not {release.version} (the deployed registry stack may be older than these "
            "settings: it publishes what it was deployed with)"
        )
    try:
        ecr.describe_images(repositoryName=names.repository, imageIds=[{"imageDigest": digest}])
    except ClientError as err:
        raise PublishFailed(
            f"{names.repository}@{digest} is not in the repository after the publish build "
            f"({err.response['Error']['Code']})"
        ) from err
    progress(f"published {release.version}: {names.repository}@{digest}")
    return Release(version=release.version, digest=digest)
