"""What every stack is built from: the settings, the names, and the release being deployed.

Stacks read sizes and switches from ``settings``, names and cross-region ARNs from
``names``, and which image runs (and whether the services are held at zero) from
``release``. Constructs below the stacks never see this object: they take narrow typed
arguments, so a construct's inputs are visible in its signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_platform.naming import Names
from crm_platform.release.images import image_reference
from crm_platform.settings import Settings


@dataclass(frozen=True)
class ReleaseInputs:
    """The release a synthesis is for (``crm-platform deploy`` sets it; offline: defaults)."""

    # The release's image digest in the platform's repository: the recorded one, or what
    # the deploy's publish build just pushed (release/record.py, ops/deploy.py); None:
    # the same repository's image under the twenty.version tag (offline synthesis).
    digest: str | None = None
    # First deploy only: services at zero tasks until the migration created the schema.
    hold_services: bool = False


@dataclass(frozen=True)
class StackContext:
    settings: Settings
    names: Names
    release: ReleaseInputs = field(default_factory=ReleaseInputs)

    @classmethod
    def of(cls, settings: Settings, release: ReleaseInputs | None = None) -> StackContext:
        return cls(settings, Names.of(settings), release or ReleaseInputs())

    def image(self, region: str) -> str:
        """What Twenty's tasks in ``region`` run: always the platform repository's image
        (its DR replica in DR), by digest when one is known."""
        return image_reference(
            self.names, self.settings.twenty.version, self.release.digest, region
        )
