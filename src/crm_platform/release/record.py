"""The release record: which release the database schema is at, and its image by digest.

One SSM parameter in the primary region, written right after a migration succeeded and
copied to the DR region (a failover reads it there while the primary is down). Deploys
synthesize the recorded image so CloudFormation and the pipeline agree on what runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Release:
    version: str  # Twenty's release tag, e.g. v2.45.6
    # The image in the platform's ECR repository (same digest in both regions), or None
    # when the tasks run the upstream image (no pipeline).
    digest: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Release:
        data = json.loads(text)
        digest = data.get("digest")
        return cls(version=str(data["version"]), digest=None if digest is None else str(digest))


def read(ssm: Any, parameter: str) -> Release | None:
    """The recorded release, or ``None`` before the first migration."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as err:
        if err.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise
    return Release.from_json(value)


def write(ssm: Any, parameter: str, release: Release) -> None:
    ssm.put_parameter(
        Name=parameter,
        Value=release.to_json(),
        Type="String",
        Overwrite=True,
        Description="The release Twenty's schema is at (crm-platform release migrate)",
    )
