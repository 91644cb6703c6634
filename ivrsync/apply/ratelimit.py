"""A rate limiter that never lets a provider see more requests per second than it allows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ivrsync.apply.cancel import Cancellation

# The share of a provider's documented rate that requests are spaced for. A provider counts
# requests as they arrive, in any 1-second window; spaced at exactly 1/rate here, a few
# milliseconds of network jitter put rate + 1 of them in one window (measured: 15 refusals in
# one Huawei apply). At 92%, N requests span N/(0.92 * N) = 1.087 s, so jitter of up to 87 ms
# between the first and the last of them is absorbed, for 8% of the rate.
RATE_HEADROOM = 0.92


class RateLimiter:
    """Spaces request starts at least 1/(rate * headroom) seconds apart, across all threads.

    Strict spacing (a bucket of one) rather than bursts: the provider measures on its own
    clock, and a burst that is legal here can arrive as an illegal one there.
    """

    def __init__(
        self,
        rate: float,
        *,
        headroom: float = RATE_HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        not_before: float = 0.0,
    ) -> None:
        """`not_before` (on `clock`) delays the first slot: a previous run's last request."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be above 0 and at most 1")
        self.interval = 1.0 / (rate * headroom)
        self._clock = clock
        self._sleep = sleep
        self._next = not_before
        self._turn = threading.Lock()

    def acquire(self, cancel: Cancellation | None = None) -> bool:
        """Block until this caller may send; one caller waits for its turn at a time.

        The next turn is counted from the moment this one really starts, not from when it
        was due: a caller woken late (a loaded machine) sends late, and the next one keeps
        its distance from it, or the provider would see the two closer than allowed.
        False when `cancel` stopped the run meanwhile: the caller must not send.
        """
        with self._turn:
            while True:
                if cancel is not None and cancel.stopping.is_set():
                    return False
                wait = self._next - self._clock()
                if wait <= 0:
                    break
                if cancel is not None:
                    cancel.wait(wait)
                else:
                    self._sleep(wait)
            self._next = self._clock() + self.interval
        return True
