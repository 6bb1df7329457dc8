"""Roll every ECS service of a cluster after the database password rotated.

Twenty reads ``PG_DATABASE_URL`` once at start, so after a single-user rotation the
running tasks keep their open connections but cannot open new ones. A forced new
deployment starts tasks that read the new secret value, then drains the old ones.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3

log = logging.getLogger()
log.setLevel(logging.INFO)


def roll(cluster: str, ecs: Any) -> list[str]:
    """Force a new deployment of each service in ``cluster``; return the rolled ARNs."""
    rolled: list[str] = []
    paginator = ecs.get_paginator("list_services")
    try:
        pages = list(paginator.paginate(cluster=cluster))
    except ecs.exceptions.ClusterNotFoundException:
        log.warning("cluster %s does not exist yet; nothing to roll", cluster)
        return rolled
    for page in pages:
        for arn in page["serviceArns"]:
            ecs.update_service(cluster=cluster, service=arn, forceNewDeployment=True)
            rolled.append(arn)
    return rolled


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    cluster = os.environ["CLUSTER_NAME"]
    log.info("secret label moved: %s", json.dumps(event.get("detail", {})))
    rolled = roll(cluster, boto3.client("ecs"))
    log.info("rolled %d service(s) in %s", len(rolled), cluster)
    return {"cluster": cluster, "rolled": rolled}
