"""One retry and timeout policy for the failover, read by the state machine and the runner.

The state machine's definition (definition.py) writes it as each task's ``Retry`` block
and ``TimeoutSeconds``; the local runner (local_runner.py), which the drill runs in its
place, waits the same way: exponential backoff from ``interval_seconds``, capped at
``max_delay_seconds``, with full jitter (a random wait between zero and the cap), for at
most ``max_retries`` retries. The fields are Step Functions' own
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html;
``MaxDelaySeconds`` and ``JitterStrategy`` since 2023).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

# Errors retried with backoff: the step's own "throttled" signal and Lambda's transient ones.
TRANSIENT = (
    "Retryable",
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.SdkClientException",
    "Lambda.AWSLambdaException",
)
# One attempt of one step: the state's TimeoutSeconds and the step function's own timeout.
ATTEMPT_TIMEOUT_SECONDS = 300
# How long an automatic failover waits for a person's approval.
APPROVAL_TIMEOUT_SECONDS = 3600
# A whole run, every step and every wait.
RUN_TIMEOUT_SECONDS = 3 * 3600


@dataclass(frozen=True)
class RetryPolicy:
    interval_seconds: int = 2
    max_retries: int = 6  # Step Functions' MaxAttempts: retries after the first attempt
    backoff_rate: float = 2.0
    max_delay_seconds: int = 60
    jitter: str = "FULL"

    def delay(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (1 for the first retry)."""
        cap = min(self.interval_seconds * self.backoff_rate ** (retry - 1), self.max_delay_seconds)
        return rng.uniform(0, cap) if self.jitter == "FULL" else cap

    def as_retry(self) -> dict[str, Any]:
        """The Amazon States Language ``Retry`` entry."""
        return {
            "ErrorEquals": list(TRANSIENT),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_retries,
            "BackoffRate": self.backoff_rate,
            "MaxDelaySeconds": self.max_delay_seconds,
            "JitterStrategy": self.jitter,
        }


RETRY = RetryPolicy()
