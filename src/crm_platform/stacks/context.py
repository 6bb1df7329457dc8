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

    # The recorded release's image digest (release/record.py), when deploying one that the
    # pipeline published; None: the upstream image of twenty.image:twenty.version.
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
        """What Twenty's tasks in ``region`` run: the recorded digest, or the upstream tag."""
        twenty = self.settings.twenty
        return image_reference(
            self.names, f"{twenty.image}:{twenty.version}", self.release.digest, region
        )
