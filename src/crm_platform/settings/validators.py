"""Reusable value checks for the settings model (AWS formats pydantic does not know)."""

from __future__ import annotations

import re

# Regions this platform is written for; adding one is a configuration change plus this list.
KNOWN_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2",
        "ca-central-1", "sa-east-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1",
        "eu-south-1", "eu-south-2",
        "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
        "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
        "ap-south-1", "ap-south-2", "ap-east-1",
        "me-south-1", "me-central-1", "af-south-1", "il-central-1",
    }
)  # fmt: skip

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
     1096, 1827, 2192, 2557, 2922, 3288, 3653}
)  # fmt: skip

# ISO 4217 alphabetic codes are three upper-case letters; AWS Budgets' accepted set is
# narrower and account-dependent (see docs/decisions.md), so only the form is checked here.
CURRENCY = re.compile(r"^[A-Z]{3}$")

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

# S3 bucket naming rules (general purpose buckets), minus the dotted form which breaks TLS.
BUCKET = re.compile(r"^(?!xn--)(?!sthree-)(?!.*-s3alias$)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")

HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
# Docker Hub "owner/name" or an ECR repository URI.
IMAGE_REPOSITORY = re.compile(r"^[a-z0-9][a-z0-9._/-]*[a-z0-9](\.amazonaws\.com/[a-z0-9._/-]+)?$")
# A full release tag: vMAJOR.MINOR.PATCH; no latest, no v2, no v2.45.
RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")

# Fargate task sizes: CPU units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: frozenset(range(1024, 4097, 1024)),
    1024: frozenset(range(2048, 8193, 1024)),
    2048: frozenset(range(4096, 16385, 1024)),
    4096: frozenset(range(8192, 30721, 1024)),
    8192: frozenset(range(16384, 61441, 4096)),
    16384: frozenset(range(32768, 122881, 8192)),
}

_CRON_FIELD = {
    "minutes": r"(\*|[0-5]?\d(-[0-5]?\d)?(/\d+)?(,[0-5]?\d)*)",
    "hours": r"(\*|(1?\d|2[0-3])(-(1?\d|2[0-3]))?(/\d+)?(,(1?\d|2[0-3]))*)",
    "day-of-month": r"(\*|\?|L|W|([1-9]|[12]\d|3[01])W?(-([1-9]|[12]\d|3[01]))?(/\d+)?(,([1-9]|[12]\d|3[01]))*)",  # noqa: E501
    "month": r"(\*|(1[0-2]|[1-9]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)([-,/][A-Z0-9]+)*)",  # noqa: E501
    "day-of-week": r"(\*|\?|L|[1-7](#[1-5]|L)?([-,/][1-7])*|(SUN|MON|TUE|WED|THU|FRI|SAT)([-,][A-Z]{3})*)",  # noqa: E501
    "year": r"(\*|(19[7-9]\d|2\d{3})([-,/]\d+)*)",
}


def cron_problem(expression: str) -> str | None:
    """Why an AWS ``cron(...)`` expression is invalid, or None when it is valid.

    AWS cron has six fields and exactly one of day-of-month / day-of-week must be ``?``.
    """
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match:
        return "must look like cron(minutes hours day-of-month month day-of-week year)"
    fields = match.group(1).split()
    if len(fields) != 6:
        return f"an AWS cron expression has 6 fields, this one has {len(fields)}"
    for (name, pattern), value in zip(_CRON_FIELD.items(), fields, strict=True):
        if not re.fullmatch(pattern, value.upper()):
            return f"the {name} field {value!r} is not valid"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    return None


def cron_hour_minute(expression: str) -> tuple[int, int] | None:
    """The fixed (hour, minute) a daily cron fires at, or None if it is not a fixed time."""
    fields = expression.strip()[5:-1].split()
    if fields[0].isdigit() and fields[1].isdigit():
        return int(fields[1]), int(fields[0])
    return None
