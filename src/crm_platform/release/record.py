"""The release record: which release the database schema is at, and its image by digest.

One SSM parameter in the primary region, written right after a migration completed and
copied to the DR region (a failover reads it there while the primary is down). Deploys
synthesize the recorded image so CloudFormation and the pipeline agree on what runs.

Only the migration operation writes it (``crm-platform release migrate`` in the
pipeline's trusted migrate step, or ``crm-platform deploy``): :func:`write` takes the
:class:`~crm_platform.release.migration.Completed` proof a judged migration returns, so no
code path can record a release whose upgrade was not confirmed; :func:`copy_to` only
repeats in another region what the primary already holds. In IAM, the pipeline's migrate
role is the only role of the assembly allowed ``ssm:PutParameter`` on it
(tests/test_authorization.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.release.migration import Completed


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


def write(ssm: Any, parameter: str, release: Release, completed: Completed) -> None:
    """Record ``release`` after the migration ``completed`` (exit 0 and a confirmed log)."""
    if not isinstance(completed, Completed):  # a typed proof, checked at run time as well
        raise TypeError("a release is recorded only after a completed migration")
    _put(ssm, parameter, release.to_json())


def copy_to(source: Any, target: Any, parameter: str) -> Release | None:
    """Repeat ``source``'s record in ``target`` (the DR copy after a lost write); the
    record itself, never a new value."""
    found = read(source, parameter)
    if found is not None:
        _put(target, parameter, found.to_json())
    return found


def _put(ssm: Any, parameter: str, value: str) -> None:
    ssm.put_parameter(
        Name=parameter,
        Value=value,
        Type="String",
        Overwrite=True,
        Description="The release Twenty's schema is at (crm-platform release migrate)",
    )
