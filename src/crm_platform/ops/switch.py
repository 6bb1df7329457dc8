"""``crm-platform switch``: read or flip the traffic switch, in the DR region only.

Flipping is refused when it could split the database: traffic goes to DR only once the
DR database is no longer a replica (it takes writes), and back to the primary only while
it still is one (after a promotion the primary's data is behind; failing back means
rebuilding the primary from DR first, docs/emergency-recovery.md). ``force`` overrides
both, for drills and for an operator who has checked by other means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from crm_platform.failover.runtime import switch
from crm_platform.naming import Names
from crm_platform.ops.dr_facts import traffic_switch

Client = Callable[[str, str], Any]


class SwitchRefused(Exception):
    """Flipping now could send writes to a read-only database or split it."""


@dataclass(frozen=True)
class SwitchPlan:
    current: str
    wanted: str
    dr_database_is_replica: bool | None  # None: the DR database does not exist (yet)

    @property
    def changes(self) -> bool:
        return self.current != self.wanted


def dr_database_is_replica(rds: Any, identifier: str) -> bool | None:
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            return None
        raise
    return bool(found and found[0].get("ReadReplicaSourceDBInstanceIdentifier"))


def plan(names: Names, wanted: str, client: Client) -> SwitchPlan:
    if wanted not in switch.STATES:
        raise ValueError(f"--to must be one of {', '.join(switch.STATES)}")
    dr = names.dr_region
    current = traffic_switch(names, client)
    replica = dr_database_is_replica(client("rds", dr), names.db_replica)
    return SwitchPlan(current, wanted, replica)


def check(p: SwitchPlan, names: Names) -> None:
    """Raise SwitchRefused when the flip could put writes where they must not go."""
    if not p.changes:
        return
    if p.wanted == "dr" and p.dr_database_is_replica is not False:
        raise SwitchRefused(
            f"{names.db_replica} is still a read replica (or missing): DR cannot take writes. "
            "Run the failover (crm-platform failover --execute), which promotes it first, or "
            "pass --force if you know better"
        )
    if p.wanted == "primary" and p.dr_database_is_replica is False:
        raise SwitchRefused(
            f"{names.db_replica} was promoted: the primary's database is behind it. Rebuild "
            "the primary from DR first (docs/emergency-recovery.md, failback), or pass --force"
        )


def execute(names: Names, p: SwitchPlan, client: Client, *, force: bool) -> str:
    """Sign and record the wanted state, then wake the beacon; returns the previous state.

    Only the switch's writers can sign (the operator role, the failover): anyone else's
    write is ignored by the beacon and raises an alarm."""
    if not force:
        check(p, names)
    dr = names.dr_region
    previous = switch.set_state(
        client("ssm", dr), client("kms", dr), names.switch_parameter, names.switch_key_alias,
        names.prefix, p.wanted,
    )  # fmt: skip
    client("lambda", dr).invoke(FunctionName=names.switch_beacon_function, InvocationType="Event")
    return previous
