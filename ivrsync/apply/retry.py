"""When to try a request again: transient failures only, with exponential backoff and jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    # Tries in all, the first included.
    attempts: int = 5
    # The first backoff's upper bound, doubled after every failure up to `cap` (seconds).
    base: float = 0.5
    cap: float = 20.0

    def backoff(self, failures: int, rng: random.Random) -> float:
        """ "Full jitter": spreads the retries of parallel workers instead of syncing them."""
        return rng.uniform(0.0, min(self.cap, self.base * 2 ** (failures - 1)))
