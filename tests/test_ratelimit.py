"""The rate limiter and retry policy: pure logic, checked with an injected clock."""

from __future__ import annotations

import random
import threading

from ivrsync.apply.ratelimit import RATE_HEADROOM, RateLimiter
from ivrsync.apply.retry import RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_sends_are_spaced_so_no_second_holds_more_than_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(35):
        limiter.acquire()
        starts.append(clock())
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1.0 - 1e-9]  # float sums drift
        assert len(in_window) <= 10
    # 34 intervals of 1 / (10 * 0.92) s: the rate less the headroom kept for network jitter.
    assert abs((starts[-1] - starts[0]) - 34 / (10 * RATE_HEADROOM)) < 1e-9


def test_an_idle_limiter_does_not_save_up_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.sleep(60)  # a long pause
    limiter.acquire()
    first_after_pause = clock()
    limiter.acquire()
    assert abs(clock() - first_after_pause - 1 / RATE_HEADROOM) < 1e-9


def test_threads_share_one_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                starts.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starts) == 20
    # Slots are handed out 0.1 s apart, whatever order the threads run in.
    assert max(starts) - min(starts) >= 1.9 - 1e-9


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(attempts=6, base=0.5, cap=4.0)
    rng = random.Random(7)
    for failures, bound in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)]:
        delays = [policy.backoff(failures, rng) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # spread over the whole range, not fixed


def test_the_first_slot_waits_for_a_previous_runs_last_request() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep, not_before=clock() + 0.7)
    limiter.acquire()
    assert abs(clock() - 100.7) < 1e-9
