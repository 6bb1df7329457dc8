"""The faults a scenario injects, at the client, before authorization and the emulator.

Three shapes of a regional impairment, as AWS shows them to a caller:

- **unreachable**: the endpoint does not answer (connection errors; what the drill has
  always modelled);
- **errors**: the endpoint answers with server errors (``ServiceUnavailable``,
  ``InternalFailure``, HTTP 5xx) or refuses (``AccessDeniedException`` while IAM in the
  region is impaired): the usual shape of a regional impairment;
- **throttling**: a healthy region answers ``ThrottlingException`` the first few times a
  principal calls an operation, as it does under a burst of recovery traffic.

Throttling is first met by the AWS SDK's own retries (botocore's default "legacy" mode
makes up to five attempts, backing off between them), as it is in the Lambda functions
and the CLI; only a call throttled on every attempt reaches the failover's code, whose
``Retryable`` the state machine retries. Each attempt takes modelled time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from crm_platform.authz.requests import Call


def client_error(code: str, status: int, operation: str, message: str = "injected") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@dataclass
class Faults:
    """Which calls fail, and how; called for every call before it is authorized."""

    unreachable: set[str] = field(default_factory=set)  # regions
    # (region, service) -> (error code, HTTP status), for every call
    errors: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    throttle_region: str | None = None
    throttle_first: int = 0  # the first N attempts of each operation in throttle_region ...
    throttle_principal: str = ""  # ... made by principals whose label contains this
    throttle_more: dict[str, int] = field(default_factory=dict)  # operation -> N, instead
    sdk_attempts: int = 5  # botocore's legacy retry mode
    backoff: Callable[[float], None] = lambda _s: None  # how an SDK retry waits (modelled)
    _seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)  # what was injected, by kind

    def __call__(self, call: Call, principal: str) -> None:
        if call.region in self.unreachable:
            self.injected["unreachable"] += 1
            raise EndpointConnectionError(
                endpoint_url=f"https://{call.service}.{call.region}.amazonaws.com"
            )
        found = self.errors.get((call.region, call.service))
        if found is not None:
            code, status = found
            self.injected[code] += 1
            raise client_error(code, status, call.operation)
        if call.region == self.throttle_region and self.throttle_principal in principal:
            key = (call.service, call.operation)
            limit = self.throttle_more.get(call.operation, self.throttle_first)
            for attempt in range(self.sdk_attempts):
                self._seen[key] += 1
                if self._seen[key] > limit:
                    return
                self.injected["ThrottlingException"] += 1
                if attempt + 1 < self.sdk_attempts:
                    self.backoff(min(0.05 * 2**attempt, 20.0))
            raise client_error("ThrottlingException", 400, call.operation, "Rate exceeded")
