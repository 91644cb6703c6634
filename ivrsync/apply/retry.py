"""When to try a request again: transient failures only, with exponential backoff and jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    # Tries in all, the first included.
    attempts: int = 5
    # Throttled answers (HTTP 429, RequestLimitExceeded) counted apart: the provider asks to
    # slow down, which costs time but nothing else, so a burst of them (five in two seconds)
    # must not fail an upload that a failing server would get five tries for.
    throttled_attempts: int = 10
    # The first backoff's upper bound, doubled after every failure up to `cap` (seconds).
    base: float = 0.5
    cap: float = 20.0

    def limit(self, *, throttled: bool) -> int:
        return self.throttled_attempts if throttled else self.attempts

    def backoff(self, failures: int, rng: random.Random) -> float:
        """ "Full jitter": spreads the retries of parallel workers instead of syncing them."""
        return rng.uniform(0.0, min(self.cap, self.base * 2 ** (failures - 1)))
