"""Which image Twenty's tasks run: the platform repository's by digest, or the upstream tag."""

from __future__ import annotations

from crm_platform.naming import Names


def image_reference(names: Names, upstream: str, digest: str | None, region: str) -> str:
    """The platform repository's image by ``digest`` in ``region``; ``upstream`` without one.

    The digest is the same in both regions (registry replication copies the manifest).
    """
    if digest:
        return f"{names.repository_uri(region)}@{digest}"
    return upstream
