"""The DR region's view of the primary: two HTTPS probes a minute, published as metrics.

- ``PublicUp``: ``https://<domain>/healthz`` through CloudFront, as users reach it.
- ``PrimaryOriginUp``: ``https://primary.origin.<domain>/healthz`` straight to the
  primary's load balancer, with the origin-verify header (read from the DR replica of
  the secret), so it tests the tasks behind the balancer, not only the balancer.

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


def up(url: str, headers: dict[str, str] | None = None) -> bool:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - https from config
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


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


def handler(_event: dict[str, Any], _context: object) -> dict[str, bool]:
    import boto3

    header = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["ORIGIN_SECRET"])
    results = {
        "PublicUp": up(os.environ["PUBLIC_URL"]),
        "PrimaryOriginUp": up(
            os.environ["PRIMARY_ORIGIN_URL"],
            {os.environ["ORIGIN_HEADER"]: header["SecretString"]},
        ),
    }
    publish(boto3.client("cloudwatch"), os.environ["ENVIRONMENT"], results)
    return results
