"""Roll the Twenty services of both regions after the database password rotated.

Twenty reads ``PG_DATABASE_URL`` once at start (composed from the secret by the task's
wrapper), so after a single-user rotation running tasks keep their open connections but
cannot open new ones. A forced new deployment starts tasks that read the new value, then
drains the old ones.

The DR tasks read the DR *replica* of the secret, which Secrets Manager updates moments
after the primary. Rolling DR before the replica holds the new version would start
tasks with the old password, so DR is rolled only once the replica's ``AWSCURRENT``
version is the primary's. A DR region that cannot be reached fails the invocation after
the primary was rolled: Lambda retries, and the last failure lands on the alert topic.

Runs on the Lambda runtime's own boto3; nothing else is packaged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

log = logging.getLogger()
log.setLevel(logging.INFO)

# Errors that mean "nothing to roll here yet" (the compute tier is not deployed, or a
# service was removed): skipped, not failed.
_ABSENT = frozenset(
    {"ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException"}
)
REPLICA_WAIT_SECONDS = 120
POLL_SECONDS = 5


def current_version(secrets: Any, secret_id: str) -> str | None:
    """The version id that carries ``AWSCURRENT`` for ``secret_id``."""
    stages = secrets.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    return next((v for v, labels in stages.items() if "AWSCURRENT" in labels), None)


def wait_for_version(
    secrets: Any,
    secret_id: str,
    version: str,
    *,
    timeout_seconds: float = REPLICA_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Whether the replica reached ``version`` as AWSCURRENT within the timeout."""
    waited = 0.0
    while True:
        if current_version(secrets, secret_id) == version:
            return True
        if waited >= timeout_seconds:
            return False
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS


def roll(ecs: Any, cluster: str, services: list[str]) -> list[str]:
    """Force a new deployment of each named service; return those rolled."""
    rolled: list[str] = []
    for service in services:
        try:
            ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in _ABSENT:
                log.warning("%s/%s: %s; nothing to roll", cluster, service, code)
                continue
            raise
        rolled.append(f"{cluster}/{service}")
    return rolled


def run(
    targets: dict[str, Any],
    client: Callable[[str, str], Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Roll the primary's services, then DR's once its secret replica caught up."""
    primary, dr = targets["primary"], targets["dr"]
    result: dict[str, Any] = {
        "primary": roll(client("ecs", primary["region"]), primary["cluster"], primary["services"])
    }
    version = current_version(client("secretsmanager", primary["region"]), targets["secret"])
    if version is None:
        raise RuntimeError(f"{targets['secret']} has no AWSCURRENT version")
    replica = client("secretsmanager", dr["region"])
    if not wait_for_version(replica, targets["secret"], version, sleep=sleep):
        raise RuntimeError(
            f"the DR replica of {targets['secret']} did not reach version {version} within "
            f"{REPLICA_WAIT_SECONDS}s; DR services were not rolled (this invocation is retried)"
        )
    result["dr"] = roll(client("ecs", dr["region"]), dr["cluster"], dr["services"])
    return result


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    log.info("secret label moved: %s", json.dumps(event.get("detail", {})))
    targets = json.loads(os.environ["TARGETS"])
    result = run(targets, lambda service, region: boto3.client(service, region_name=region))  # type: ignore[call-overload]
    log.info("rolled: %s", json.dumps(result))
    return result


def run_own(
    target: dict[str, Any], secret: str, client: Callable[[str, str], Any]
) -> dict[str, Any]:
    """After a failover, DR's own rotation: roll DR's services when the secret there is
    standalone. While it is still a replica, the primary's roll (``run``) rolls DR once
    the replica caught up; rolling here too would start tasks twice."""
    found = client("secretsmanager", target["region"]).describe_secret(SecretId=secret)
    primary = found.get("PrimaryRegion")
    if primary and primary != target["region"]:
        return {"dr": [], "skipped": f"a replica of {primary}: the primary's roll rolls DR"}
    return {"dr": roll(client("ecs", target["region"]), target["cluster"], target["services"])}


def own_handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    log.info("secret label moved: %s", json.dumps(event.get("detail", {})))
    target = json.loads(os.environ["TARGET"])
    result = run_own(
        target,
        os.environ["SECRET"],
        lambda service, region: boto3.client(service, region_name=region),  # type: ignore[call-overload]
    )
    log.info("rolled: %s", json.dumps(result))
    return result
