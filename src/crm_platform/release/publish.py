"""Publish Twenty's image into the platform's ECR repository, idempotently, and gate it.

The build step of the pipeline (CodeBuild) calls :func:`publish` and :func:`scan_gate`.
The tag is immutable: a retried build that finds the tag already holding the *same*
image (same config digest as the image just pulled or built) succeeds without pushing;
a tag holding a different image is an error, never overwritten.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

Docker = Callable[[Sequence[str]], str]  # runs `docker ARGS...`, returns its stdout
Progress = Callable[[str], None]
SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


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
                f"repository {repository} not found: deploy the pipeline stack first"
            ) from err
        raise
    if not answer["images"]:
        return None
    image = answer["images"][0]
    manifest = json.loads(image["imageManifest"])
    return Published(
        digest=image["imageId"]["imageDigest"], config_digest=manifest["config"]["digest"]
    )


def publish(
    *,
    docker: Docker,
    ecr: Any,
    source: str,
    repository: str,
    repository_uri: str,
    tag: str,
    dockerfile: str | None,
    progress: Progress,
) -> str:
    """Pull (or build) the release, push it under ``tag`` once; return its digest."""
    local = f"{repository_uri}:{tag}"
    if dockerfile:
        progress(f"building {local} from {dockerfile} (FROM {source})")
        docker(
            [
                "build",
                "--pull",
                "--file",
                dockerfile,
                "--build-arg",
                f"TWENTY_IMAGE={source}",
                "--tag",
                local,
                ".",
            ]
        )
    else:
        progress(f"pulling {source}")
        docker(["pull", "--platform", "linux/amd64", source])
        docker(["tag", source, local])
    image_id = docker(["image", "inspect", "--format", "{{.Id}}", local])
    existing = published(ecr, repository, tag)
    if existing is not None:
        if existing.config_digest != image_id:
            raise PublishRefused(
                f"{repository}:{tag} already holds a different image ({existing.config_digest}, "
                f"this build made {image_id}); tags are immutable: release under a new tag"
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
