"""A rate limiter that never lets a provider see more requests per second than it allows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces request starts at least 1/rate seconds apart, across all threads.

    Strict spacing (a bucket of one) rather than bursts: the provider measures on its own
    clock, and a burst that is legal here can arrive as an illegal one there.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        not_before: float = 0.0,
    ) -> None:
        """`not_before` (on `clock`) delays the first slot: a previous run's last request."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = not_before
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until this caller may send; callers are served in the order they arrive."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
