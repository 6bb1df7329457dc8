"""Publish Twenty's image into the platform's ECR repository, idempotently, and gate it.

The publish build (the pipeline's build step, and the CodeBuild project ``crm-platform
deploy`` starts: registry/publish_project.py; one buildspec) calls :func:`publish_release`,
:func:`mirror` and :func:`scan_gate`.

Twenty's image is *derived*: a two-line Dockerfile (:data:`DERIVED_DOCKERFILE`) ``FROM``
the pinned release by digest adds AWS's RDS certificate bundle at a fixed path
(contracts.RDS_CA_BUNDLE_PATH), fetched by the build from AWS's documented URL, so no
task needs the internet to start (docs/adr/0039). A rebuilt image never has the same id
twice (build timestamps), so idempotence rests on the *inputs*: the tag is
``<version>-<fingerprint>``, the fingerprint a hash of the base image's digest, the
bundle and the Dockerfile(s). Same inputs, same tag: a retried build finds it and pushes
nothing. A new bundle (AWS rotates CAs) or a re-pointed upstream tag makes a new tag, so
each publish carries the current bundle without overwriting an immutable tag. The plain
``<version>`` tag is pushed once, with the first image of that release: what an offline
synthesis (no digest) names; deploys name the digest.

A mirrored image (a sidecar's) is re-published as it is, under a tag derived from its
source reference (release/images.py); the tag holding a *different* image is an error,
never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.contracts import RDS_CA_BUNDLE_PATH

Docker = Callable[[Sequence[str]], str]  # runs `docker ARGS...`, returns its stdout
Progress = Callable[[str], None]
SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
BUNDLE_FILE = "rds-ca-bundle.pem"
# The derived image: the pinned release plus the RDS bundle, readable by Twenty's user.
DERIVED_DOCKERFILE = f"""\
ARG BASE
FROM ${{BASE}}
COPY {BUNDLE_FILE} {RDS_CA_BUNDLE_PATH}
"""
FINGERPRINT_LENGTH = 12
LABEL_BASE = "org.crm-platform.base"
LABEL_BUNDLE = "org.crm-platform.rds-ca-bundle-sha256"


class PublishRefused(Exception):
    """The image was not published or must not be deployed; the message says why."""


def docker_cli(args: Sequence[str]) -> str:
    done = subprocess.run(["docker", *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


@dataclass(frozen=True)
class Published:
    digest: str  # the manifest digest the services run by
    config_digest: str  # the image id: identical for identical content


def published(ecr: Any, repository: str, tag: str) -> Published | None:
    """The image under ``tag``, or None (BatchGetImage lists a missing tag as a failure)."""
    try:
        answer = ecr.batch_get_image(
            repositoryName=repository,
            imageIds=[{"imageTag": tag}],
            acceptedMediaTypes=[
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.manifest.v1+json",
            ],
        )
    except ClientError as err:
        if err.response["Error"]["Code"] == "RepositoryNotFoundException":
            raise PublishRefused(
                f"repository {repository} not found: deploy the registry stack first"
            ) from err
        raise
    if not answer["images"]:
        return None
    image = answer["images"][0]
    manifest = json.loads(image["imageManifest"])
    return Published(
        digest=image["imageId"]["imageDigest"], config_digest=manifest["config"]["digest"]
    )


def check_bundle(bundle: bytes) -> None:
    """A bundle that is not PEM certificates is never baked into an image."""
    if b"-----BEGIN CERTIFICATE-----" not in bundle:
        raise PublishRefused("the RDS certificate bundle holds no PEM certificate")


def fingerprint(base: str, bundle: bytes, custom_dockerfile: bytes | None) -> str:
    """What identifies a derived image's inputs (the base by digest, the bundle, the
    Dockerfiles): same inputs, same tag."""
    digest = hashlib.sha256()
    for part in (base.encode(), bundle, DERIVED_DOCKERFILE.encode(), custom_dockerfile or b""):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


@dataclass(frozen=True)
class Release:
    tag: str  # <version>-<fingerprint>
    digest: str


def publish_release(
    *,
    docker: Docker,
    ecr: Any,
    source: str,
    repository: str,
    repository_uri: str,
    version: str,
    bundle: bytes,
    custom_dockerfile: tuple[str, bytes] | None,
    progress: Progress,
) -> Release:
    """Pull the pinned release, derive the image with ``bundle``, push it once."""
    check_bundle(bundle)
    progress(f"pulling {source}")
    docker(["pull", "--platform", "linux/amd64", source])
    base = docker(["image", "inspect", "--format", "{{index .RepoDigests 0}}", source])
    if "@sha256:" not in base:
        raise PublishRefused(f"{source} has no registry digest after the pull ({base!r})")
    custom = custom_dockerfile[1] if custom_dockerfile else None
    tag = f"{version}-{fingerprint(base, bundle, custom)}"
    local = f"{repository_uri}:{tag}"
    existing = published(ecr, repository, tag)
    if existing is not None:
        progress(f"{repository}:{tag} already holds the image of these inputs "
                 f"({existing.digest}): not building")  # fmt: skip
        digest = existing.digest
    else:
        parent = base
        if custom_dockerfile:
            parent = f"{repository_uri}:{tag}-custom"
            progress(f"building {parent} from {custom_dockerfile[0]} (FROM {base})")
            docker(["build", "--file", custom_dockerfile[0], "--build-arg",
                    f"TWENTY_IMAGE={base}", "--tag", parent, "."])  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="crm-derived-") as context:
            (Path(context) / "Dockerfile").write_text(DERIVED_DOCKERFILE)
            (Path(context) / BUNDLE_FILE).write_bytes(bundle)
            (Path(context) / BUNDLE_FILE).chmod(0o444)  # COPY keeps the mode: readable
            progress(f"building {local}: {base} + the RDS certificate bundle")
            docker(["build", "--build-arg", f"BASE={parent}",
                    "--label", f"{LABEL_BASE}={base}",
                    "--label", f"{LABEL_BUNDLE}={hashlib.sha256(bundle).hexdigest()}",
                    "--tag", local, context])  # fmt: skip
        progress(f"pushing {local}")
        docker(["push", local])
        pushed = published(ecr, repository, tag)
        if pushed is None:
            raise PublishRefused(f"{repository}:{tag} is missing right after the push")
        digest = pushed.digest
        progress(f"pushed {repository}@{digest}")
    if published(ecr, repository, version) is None:
        # The release's plain tag, once: what a synthesis without a digest names.
        if existing is not None:
            docker(["pull", local])  # not built here: fetched to be tagged
        docker(["tag", local, f"{repository_uri}:{version}"])
        docker(["push", f"{repository_uri}:{version}"])
        progress(f"tagged {repository}:{version} (the first image of {version})")
    return Release(tag=tag, digest=digest)


def mirror(
    *,
    docker: Docker,
    ecr: Any,
    source: str,
    repository: str,
    repository_uri: str,
    tag: str,
    progress: Progress,
) -> str:
    """Re-publish ``source`` as it is under ``tag`` once; return its digest."""
    local = f"{repository_uri}:{tag}"
    progress(f"pulling {source}")
    docker(["pull", "--platform", "linux/amd64", source])
    docker(["tag", source, local])
    image_id = docker(["image", "inspect", "--format", "{{.Id}}", local])
    existing = published(ecr, repository, tag)
    if existing is not None:
        if existing.config_digest != image_id:
            raise PublishRefused(
                f"{repository}:{tag} already holds a different image ({existing.config_digest}, "
                f"this build made {image_id}); tags are immutable: mirror under a new tag"
            )
        progress(f"{repository}:{tag} already holds this image ({existing.digest}): not pushing")
        return existing.digest
    progress(f"pushing {local}")
    docker(["push", local])
    pushed = published(ecr, repository, tag)
    if pushed is None:
        raise PublishRefused(f"{repository}:{tag} is missing right after the push")
    progress(f"pushed {repository}@{pushed.digest}")
    return pushed.digest


def blocking_findings(counts: dict[str, int], threshold: str) -> dict[str, int]:
    """Findings at or above ``threshold`` (e.g. HIGH: HIGH and CRITICAL)."""
    floor = SEVERITIES.index(threshold)
    return {s: n for s, n in counts.items() if s in SEVERITIES[floor:] and n > 0}


def severity_counts(findings: dict[str, Any]) -> dict[str, int]:
    """Counts by severity from basic findings or, for enhanced scanning, each finding."""
    counts: dict[str, int] = dict(findings.get("findingSeverityCounts") or {})
    if not counts:
        for finding in findings.get("enhancedFindings", []):
            severity = finding.get("severity", "UNTRIAGED")
            counts[severity] = counts.get(severity, 0) + 1
    return counts


def scan_gate(
    ecr: Any,
    *,
    repository: str,
    digest: str,
    threshold: str,
    timeout_s: int,
    progress: Progress,
    poll_s: float = 15,
) -> dict[str, int]:
    """Wait for the image's scan; refuse the release on findings at or above ``threshold``.

    Basic scans end COMPLETE; an enhanced (Inspector) continuous scan reports ACTIVE once
    its first results are in and stays so, which boto3's ``image_scan_complete`` waiter
    would wait out, so the status is polled here.
    """
    import time

    image = {"imageDigest": digest}
    progress(f"waiting for the scan of {repository}@{digest}")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = ecr.describe_image_scan_findings(repositoryName=repository, imageId=image)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ScanNotFoundException":
                raise
            result = {"imageScanStatus": {"status": "PENDING"}}
        status = result["imageScanStatus"]["status"]
        if status in ("COMPLETE", "ACTIVE"):
            break
        if status not in ("PENDING", "IN_PROGRESS"):
            detail = result["imageScanStatus"].get("description", "")
            raise PublishRefused(f"scan of {repository}@{digest} ended {status}: {detail}")
        if time.monotonic() > deadline:
            raise PublishRefused(
                f"no scan result for {repository}@{digest} after {timeout_s // 60} minutes"
            )
        time.sleep(poll_s)
    counts = severity_counts(result.get("imageScanFindings", {}))
    blocked = blocking_findings(counts, threshold)
    summary = ", ".join(f"{s} {n}" for s, n in sorted(counts.items())) or "no findings"
    if blocked:
        raise PublishRefused(
            f"scan of {repository}@{digest}: {summary}; findings at or above {threshold} "
            "(pipeline.fail_on_severity) block this release"
        )
    progress(f"scan passed: {summary}")
    return counts


def wait_replicated(
    ecr_dr: Any,
    *,
    repository: str,
    digest: str,
    timeout_s: int,
    progress: Progress,
    poll_s: float = 15,
) -> None:
    """Registry replication is asynchronous: the DR deploy needs the image there first."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            ecr_dr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
            progress(f"replicated to the DR registry: {repository}@{digest}")
            return
        except ClientError as err:
            if err.response["Error"]["Code"] not in (
                "ImageNotFoundException",
                "RepositoryNotFoundException",
            ):
                raise
        if time.monotonic() > deadline:
            raise PublishRefused(
                f"{repository}@{digest} did not reach the DR registry in "
                f"{timeout_s // 60} minutes: check the replication rule"
            )
        time.sleep(poll_s)
