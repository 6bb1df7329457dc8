"""What a load test refuses and what it warns about before it starts.

A load test against production degrades real users and writes (then deletes) records
in the real workspace: production's host names are refused unless the operator says
``--i-know-this-is-production``. Through CloudFront every request passes the WAF's
per-IP rate rule (edge/waf.py, ``edge.waf_rate_limit`` requests per five minutes); one
load generator is one IP, so a test faster than the rule is blocked with 403s that
would read as Twenty's errors -- the run says so before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from crm_platform.naming import Names

WAF_WINDOW_SECONDS = 300  # the rate rule's evaluation window (edge/waf.py)


class Refused(Exception):
    """The run must not start (bad URL, production without the acknowledgement)."""


def production_hosts(prod: Names) -> frozenset[str]:
    """Every name that reaches production: its public name, the failover origin and
    each region's direct origin."""
    return frozenset(
        {
            prod.domain,
            prod.origin_domain,
            prod.direct_origin_domain(prod.primary_region),
            prod.direct_origin_domain(prod.dr_region),
        }
    )


def host_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"{url!r} is not an http(s) URL")
    return parts.hostname.lower().rstrip(".")


def check_target(url: str, prod: Names, *, production_acknowledged: bool) -> bool:
    """Raise Refused for production without the acknowledgement; True if it is production."""
    is_production = host_of(url) in production_hosts(prod)
    if is_production and not production_acknowledged:
        raise Refused(
            f"{host_of(url)} is production ({prod.prefix}): a load test degrades real users "
            "and writes records in the real workspace; test staging, or add "
            "--i-know-this-is-production"
        )
    return is_production


@dataclass(frozen=True)
class WafEstimate:
    """How many requests the run sends from its one source per WAF window."""

    requests_per_window: float
    limit: int

    @property
    def blocked(self) -> bool:
        return self.requests_per_window > self.limit


def waf_estimate(users: int, wait_seconds: tuple[float, float], rate_limit: int) -> WafEstimate:
    """Each user sends about one request (two for a create-and-update or an upload) per
    mean think time; response time is left out, so this is an upper bound."""
    mean_wait = max(sum(wait_seconds) / 2, 0.1)
    return WafEstimate(users * WAF_WINDOW_SECONDS / mean_wait, rate_limit)


def waf_warning(url: str, env: Names, estimate: WafEstimate) -> str | None:
    """A warning when ``url`` goes through CloudFront (the environment's public name)."""
    if host_of(url) != env.domain:
        return None
    verdict = (
        "the WAF will block this run part-way"
        if estimate.blocked
        else "within the rule, but any other traffic from this address counts too"
    )
    return (
        f"{env.domain} is served through CloudFront and its WAF: the rate rule blocks a "
        f"source IP above {estimate.limit} requests per 5 minutes (edge.waf_rate_limit); "
        f"this run sends about {estimate.requests_per_window:.0f} from one IP: {verdict}. "
        "No source is exempt from the rule today: raise edge.waf_rate_limit for the test "
        "on staging (and deploy), or spread the load over several sources"
    )
