"""The rate limiter and retry policy: pure logic, checked with an injected clock (and the
emulators' sliding-window traffic control on the same clock, for network jitter)."""

from __future__ import annotations

import random
import threading

from ivrsync.apply.ratelimit import RATE_HEADROOM, RateLimiter
from ivrsync.apply.retry import RetryPolicy
from ivrsync.emulator.common import SlidingWindow


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


def test_a_caller_woken_late_keeps_the_next_one_at_its_distance() -> None:
    clock = FakeClock()
    late = [0.15]  # the machine is loaded: one wake-up comes 150 ms after it was due

    def sleep(seconds: float) -> None:
        clock.sleep(seconds + (late.pop() if late else 0.0))

    limiter = RateLimiter(10, clock=clock, sleep=sleep)
    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(clock())
    assert starts[2] - starts[1] >= limiter.interval - 1e-9


def sliding_window_refusals(rate: float, headroom: float, jitter: float) -> tuple[int, float]:
    """200 requests spaced by the limiter, each arriving up to `jitter` s late (seeded), as
    a gateway that counts any 1-second window sees them: (refusals, rate achieved)."""
    clock = FakeClock()
    limiter = RateLimiter(rate, headroom=headroom, clock=clock, sleep=clock.sleep)
    rng = random.Random(14)
    arrivals = []
    for _ in range(200):
        limiter.acquire()
        arrivals.append(clock() + rng.uniform(0.0, jitter))
    arrivals.sort()
    moment = iter(arrivals)
    now = [0.0]
    window = SlidingWindow(rate, clock=lambda: now[0])
    refused = 0
    for now[0] in moment:
        refused += not window.take()
    return refused, (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def test_under_network_jitter_a_sliding_window_refuses_nothing_at_90_percent() -> None:
    for rate in (10, 1):  # Huawei, Tencent
        refused, achieved = sliding_window_refusals(rate, RATE_HEADROOM, jitter=0.08)
        assert refused == 0
        assert achieved >= 0.9 * rate
        # Spaced at exactly 1/rate, as before, the same jitter is refused.
        assert sliding_window_refusals(rate, 1.0, jitter=0.08)[0] > 0
