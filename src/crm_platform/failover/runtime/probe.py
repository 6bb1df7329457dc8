"""The DR region's view of the primary: HTTPS probes every minute, published as metrics.

- ``PublicUp``: Twenty's deep health (database and cache) at ``https://<domain>`` through
  CloudFront, as users reach it.
- ``PrimaryOriginUp``: the same health of the *primary* load balancer, through
  CloudFront's ``/_probe/primary`` path (edge/cdn.py), which goes to the primary origin
  whatever the switch says. The primary's load balancer admits only CloudFront and the
  origin-verify header, so a probe that went to it directly never got in.

Both answer 200 only when Twenty reaches its database and its cache: ``/healthz`` alone is
liveness (it checks neither), so a database-only outage would have looked healthy.

A DR-side network problem must never look like a primary outage: before probing, the
probe checks that it can reach the internet at all (AWS's STS endpoints in two other
Regions; any HTTP answer counts). When it cannot, it publishes nothing, so the alarms
see no data (never a reason to fail over) and the silence alarm tells a person.

Both run from the DR region, so they can be evaluated while the primary region (and its
CloudWatch) is down; the "primary impaired" composite alarm needs both to fail.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import Any

NAMESPACE = "crm-platform/Probe"
TIMEOUT_SECONDS = 10
HEALTH_PATHS = ("/healthz/database", "/healthz/redis")
PRIMARY_PROBE_PATH = "/_probe/primary"
CONTROLS = ("https://sts.us-east-1.amazonaws.com/", "https://sts.eu-west-1.amazonaws.com/")


def up(url: str) -> bool:
    """200 from ``url``; anything else (an error, a timeout) is down."""
    request = urllib.request.Request(url)  # noqa: S310 - https from configuration
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def reachable(url: str) -> bool:
    """Any HTTP answer from ``url``: the network path works, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS):  # noqa: S310 - fixed https
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def healthy(base: str) -> bool:
    return all(up(f"{base}{path}") for path in HEALTH_PATHS)


def probe(public_base: str) -> dict[str, bool] | None:
    """The two results, or None when DR cannot reach the internet (publish nothing)."""
    if not any(reachable(url) for url in CONTROLS):
        return None
    return {
        "PublicUp": healthy(public_base),
        "PrimaryOriginUp": healthy(f"{public_base}{PRIMARY_PROBE_PATH}"),
    }


def publish(cloudwatch: Any, environment: str, results: dict[str, bool]) -> None:
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "Environment", "Value": environment}],
                "Value": 1.0 if ok else 0.0,
                "Unit": "Count",
            }
            for name, ok in results.items()
        ],
    )


def handler(_event: dict[str, Any], _context: object) -> dict[str, Any]:
    import boto3

    results = probe(os.environ["PUBLIC_BASE_URL"])
    if results is None:
        print("probe: the internet is unreachable from DR; nothing published")
        return {"published": False}
    publish(boto3.client("cloudwatch"), os.environ["ENVIRONMENT"], results)
    return {"published": True, **results}
