"""What ``crm-platform deploy`` does about the release, decided before CloudFormation runs.

The database schema's release is recorded (release/record.py). A deploy must never
start services on a schema that is not there yet, nor an image older than the schema:

- **first deploy** (no record): every stack goes up with the services held at zero
  tasks, the release's migration runs once (it creates Twenty's schema), then the
  primary and DR application stacks are deployed again at their real sizes;
- **upgrade without the pipeline** (``twenty.version`` newer than the record): the
  migration runs first (after a snapshot), then the stacks deploy the new image;
- **with the pipeline**: the deploy keeps the recorded release (by digest) — releases
  go through the pipeline — and says so if ``twenty.version`` differs;
- otherwise the stacks are deployed as they are.

Whatever the case, the services run the platform's repository's image (docs/adr/0039):
a release with no digest yet (a first deploy, an upgrade without the pipeline, a record
from before the registry) is published first (:attr:`DeployPlan.publish_first`).
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_platform.release import versions
from crm_platform.release.record import Release
from crm_platform.settings import Settings


@dataclass(frozen=True)
class DeployPlan:
    release: Release  # what the services run after this deploy
    migrate_before: bool  # run the migration before the stacks deploy
    first_deploy: bool  # hold the services, migrate, deploy the application stacks again
    note: str  # one line for the operator

    @property
    def publish_first(self) -> bool:
        """Publish the release into the registry before the application stacks: it is
        not there by digest yet (once published, the deploy runs it by digest)."""
        return self.release.digest is None


def plan(settings: Settings, recorded: Release | None, republish: bool = False) -> DeployPlan:
    """``republish``: publish the recorded release again (a fresh RDS certificate bundle in
    its image, docs/adr/0039) and migrate to that digest (a no-op migration that records
    it), without the pipeline; with it, a pipeline run does the same."""
    wanted = Release(version=settings.twenty.version)
    if republish and recorded is not None:
        if settings.pipeline.enabled:
            raise versions.UpgradeRefused(
                "releases go through the pipeline: start a run to re-publish "
                f"{recorded.version} (README, deploy step 11), not --republish"
            )
        if recorded.version == wanted.version:
            return DeployPlan(
                wanted, True, False,
                f"re-publish {wanted.version} with the current RDS certificate bundle, then "
                "record its new digest (a snapshot and a no-op migration first)",
            )  # fmt: skip
    if recorded is None:
        return DeployPlan(
            wanted, False, True,
            f"first deploy: services held at zero until {wanted.version} has created the "
            "schema, then started",
        )  # fmt: skip
    if settings.pipeline.enabled and recorded.digest:
        note = f"running the recorded release {recorded.version} (pipeline-published)"
        if recorded.version != wanted.version:
            note += f"; twenty.version {wanted.version} is released by the pipeline, not here"
        return DeployPlan(recorded, False, False, note)
    if recorded.version == wanted.version:
        return DeployPlan(recorded, False, False, f"schema at {wanted.version}: no migration")
    versions.check_upgrade(recorded.version, wanted.version, settings.twenty.required_upgrade_steps)
    return DeployPlan(
        wanted, True, False,
        f"upgrade {recorded.version} -> {wanted.version}: snapshot and migration first",
    )  # fmt: skip
