"""The DR probe of the primary (issue 17, item 11): what it asks, and what it refuses to
conclude when DR itself is cut off."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from crm_platform._node import node_binary
from crm_platform.contracts import HEALTH_PATHS, PRIMARY_PROBE_PATH
from crm_platform.edge.cdn import probe_function_code
from crm_platform.failover.runtime import probe


def test_the_lambda_copy_of_the_probe_paths_matches_the_contracts() -> None:
    assert probe.HEALTH_PATHS == HEALTH_PATHS
    assert probe.PRIMARY_PROBE_PATH == PRIMARY_PROBE_PATH


def run_function(method: str, uri: str) -> dict[str, Any]:
    """The CloudFront function, run by Node as CloudFront would call it."""
    script = (
        probe_function_code()
        + f"console.log(JSON.stringify(handler({{request: {{method: {json.dumps(method)}, "
        f"uri: {json.dumps(uri)}, querystring: {{a: {{value: '1'}}}}, headers: {{}}}}}})));"
    )
    done = subprocess.run(
        [str(node_binary()), "-e", script], capture_output=True, text=True, check=True
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.mark.parametrize("path", ["/healthz", *HEALTH_PATHS])
def test_only_twentys_health_reaches_the_primary_through_the_probe_path(path: str) -> None:
    forwarded = run_function("GET", f"{PRIMARY_PROBE_PATH}{path}")
    assert forwarded["uri"] == path and forwarded["querystring"] == {}


@pytest.mark.parametrize(
    ("method", "uri"),
    [
        ("POST", f"{PRIMARY_PROBE_PATH}/graphql"),
        ("GET", f"{PRIMARY_PROBE_PATH}/graphql"),
        ("POST", f"{PRIMARY_PROBE_PATH}/healthz/database"),
        ("GET", f"{PRIMARY_PROBE_PATH}/healthz/../graphql"),
        ("GET", f"{PRIMARY_PROBE_PATH}/"),
    ],
)
def test_nothing_else_reaches_the_primary_that_way(method: str, uri: str) -> None:
    """After a failover the primary's database is stale: no application request may reach
    it through the probe's path."""
    assert run_function(method, uri)["statusCode"] == 404


def test_a_database_only_outage_counts_as_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """/healthz is liveness only: the probe asks Twenty's database and cache checks."""
    asked: list[str] = []

    def up(url: str) -> bool:
        asked.append(url)
        return not url.endswith("/healthz/database")

    monkeypatch.setattr(probe, "up", up)
    monkeypatch.setattr(probe, "reachable", lambda _url: True)
    assert probe.probe("https://crm.example.com") == {"PublicUp": False, "PrimaryOriginUp": False}
    assert "https://crm.example.com/_probe/primary/healthz/database" in asked


def test_cut_off_from_the_internet_dr_concludes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every probe would fail from a DR region that lost its network: it publishes nothing,
    which never breaches the alarms (the silence alarm pages a person instead)."""
    monkeypatch.setattr(probe, "up", lambda _url: False)
    monkeypatch.setattr(probe, "reachable", lambda _url: False)
    assert probe.probe("https://crm.example.com") is None
    monkeypatch.setattr(probe, "reachable", lambda url: "eu-west-1" in url)  # one answers
    assert probe.probe("https://crm.example.com") == {"PublicUp": False, "PrimaryOriginUp": False}
