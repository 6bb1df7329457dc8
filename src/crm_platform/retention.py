"""How long things are kept: CloudWatch Logs retention and the removal policy of stateful data.

``KEEP`` is the removal policy of every named stateful resource (secrets, buckets, vaults,
keys, log groups, repositories). CloudFormation's ``RetainExceptOnCreate`` keeps the
resource when the stack is deleted or the resource is replaced, but deletes it when the
create that made it rolls back: a failed first deploy then leaves nothing behind that a
retry would trip over with "already exists" (plain ``Retain`` would). Databases and caches
keep ``SNAPSHOT`` (a final snapshot on delete) plus deletion protection where AWS offers it.
See docs/decisions.md, "A failed first deploy can be retried".
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

KEEP = cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE

_BY_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def log_retention(days: int) -> logs.RetentionDays:
    """The enum member for ``days`` (settings already restrict days to these values)."""
    return logs.RetentionDays[_BY_DAYS[days]]
