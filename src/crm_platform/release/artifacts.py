"""The files the pipeline's deploy actions read, written by the build step.

CodePipeline's ECS deploy action reads an ``imagedefinitions.json``: a list of
``{"name": <container>, "imageUri": <image>}``; it registers a copy of the service's
current task definition with those containers' images replaced and updates the service
(containers not listed keep their image). Twenty's task has two containers running the
image (the main one and the ``prepare-tmp`` init container), so both are listed; the
services run by digest, the DR files name the DR registry's replica. The seed wrote a
CodeDeploy ``imageDetail.json`` for an ECS action, which that action cannot read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from crm_platform.release.record import Release

INIT_CONTAINER = "prepare-tmp"
ROLES = ("server", "worker")


@dataclass(frozen=True)
class DeployImages:
    version: str
    digest: str
    primary_repository_uri: str
    dr_repository_uri: str  # the replica in the DR registry (same digest)


def image_definitions(role: str, image: str, init_container: bool) -> list[dict[str, str]]:
    names = [role, INIT_CONTAINER] if init_container else [role]
    return [{"name": name, "imageUri": image} for name in names]


def write(outdir: Path, images: DeployImages, *, init_container: bool) -> list[Path]:
    """``server.json``/``worker.json`` (primary), ``dr-server.json``/``dr-worker.json``,
    and ``release.json`` (what the migrate step records)."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for prefix, uri in (("", images.primary_repository_uri), ("dr-", images.dr_repository_uri)):
        image = f"{uri}@{images.digest}"
        for role in ROLES:
            path = outdir / f"{prefix}{role}.json"
            path.write_text(json.dumps(image_definitions(role, image, init_container), indent=2))
            written.append(path)
    release = outdir / "release.json"
    release.write_text(Release(version=images.version, digest=images.digest).to_json())
    written.append(release)
    return written
