"""Which images Twenty's tasks run: always from the platform's repository (docs/adr/0039).

Twenty's image by digest once one is known (the release record, or the publish that a
deploy has just run), otherwise under the release's tag; a mirrored image (a sidecar's)
under a tag derived from its source reference. Nothing runs from Docker Hub or another
public registry: a task start (a failover's above all) needs only the region's own ECR.
"""

from __future__ import annotations

import re

from crm_platform.contracts import ADOT_COLLECTOR_IMAGE
from crm_platform.naming import Names
from crm_platform.settings import Settings

MIRROR_TAG_PREFIX = "mirror-"
_NOT_IN_A_TAG = re.compile(r"[^A-Za-z0-9_.-]+")


def image_reference(names: Names, version: str, digest: str | None, region: str) -> str:
    """The platform repository's image in ``region``: by ``digest``, else under ``version``.

    The digest is the same in both regions (registry replication copies the manifest).
    ``version`` is a tag every publish of that release keeps pointing at its first image
    (release/publish.py); a deploy always synthesizes the application stacks by digest.
    """
    if digest:
        return f"{names.repository_uri(region)}@{digest}"
    return f"{names.repository_uri(region)}:{version}"


def mirror_tag(source: str) -> str:
    """The tag a mirrored image gets in the platform's repository (immutable tags: the
    source reference, tag included, names it; ECR tags allow [A-Za-z0-9_.-], 128 long)."""
    tag = MIRROR_TAG_PREFIX + _NOT_IN_A_TAG.sub("_", source.replace(":", "--"))
    if len(tag) > 128:
        raise ValueError(f"{source!r} makes a tag longer than ECR's 128 characters")
    return tag


def mirror_reference(names: Names, source: str, region: str) -> str:
    """Where a task in ``region`` pulls the mirror of ``source`` (e.g. a sidecar image)."""
    return f"{names.repository_uri(region)}:{mirror_tag(source)}"


def mirror_sources(settings: Settings) -> list[str]:
    """What the publish step mirrors: ``pipeline.mirror_images``, and the telemetry
    collector's image while ``telemetry.enabled`` (its tasks pull only the mirror)."""
    sources = list(settings.pipeline.mirror_images)
    if settings.telemetry.enabled:
        sources.append(ADOT_COLLECTOR_IMAGE)
    return list(dict.fromkeys(sources))
