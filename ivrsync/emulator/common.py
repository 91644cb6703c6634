"""Plumbing every provider emulator shares: a loopback JSON server, faults, traffic control.

The emulators are product features (the demo, CI dry-runs, the tests), so they use only the
standard library's threaded HTTP server: nothing more to install, and each connection gets its
own thread, so an injected latency or a slow client never holds up the others. Responses use
HTTP/1.0 semantics (one request per connection): a "lost response" is then simply a connection
closed without an answer, and stopping the server leaves no keep-alive connection behind.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import httpx

__all__ = [
    "MAX_BODY_BYTES",
    "EmulatorServer",
    "Faults",
    "MinInterval",
    "Request",
    "Response",
    "Scheduler",
    "SlidingWindow",
    "TokenBucket",
    "is_loopback",
    "json_type_name",
]

from ivrsync.http_json import Request, Response
from ivrsync.serving import BackgroundServer, JSONHandler, JSONServer, Served

logger = logging.getLogger("ivrsync.emulator")

# The emulator's own guard against a runaway client, well above any body a provider accepts
# (Huawei: 8 MB of base64, or about 10.7 MB when the 8 MB limit is read as the file's size),
# so that a provider's own size rule, not this guard, answers an oversized upload.
MAX_BODY_BYTES = 32_000_000

# Seconds a client may stall in the middle of sending a request before its thread gives up.
_CLIENT_TIMEOUT = 30.0


def json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for messages about a wrong field type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def is_loopback(host: str) -> bool:
    """True when `host` only ever means this machine, so serving there exposes nothing.

    A name other than `localhost` is resolved, and counts only if every address is loopback.
    """
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    if host.lower() == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


@dataclass
class Faults:
    """Failures to inject, changeable while the emulator runs (each request reads them anew).

    Which requests a fault applies to is the provider emulator's decision (for Huawei: the
    upload endpoint); `latency` applies to every answer. A `seed` makes the random draws
    repeatable; changing it re-seeds. Schedules count requests, not seconds, so that a run
    meets the same faults however fast or slow the machine runs it.
    """

    latency: float = 0.0  # seconds added before answering
    error_rate: float = 0.0  # fraction answered 503 before any processing
    lost_response_rate: float = 0.0  # fraction processed, then closed without a response
    throttle_next: int = 0  # the next N requests are throttled whatever the rate
    # Network jitter: each request arrives (is counted by traffic control) up to this many
    # seconds late, drawn from the seeded generator.
    jitter: float = 0.0
    # Of every `throttle_every` requests that reach traffic control, the last `throttle_burst`
    # are throttled (requests 28 to 30 of every 30 with 30 and 3), whatever the rate.
    throttle_every: int = 0
    throttle_burst: int = 1
    seed: int | None = None

    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _controlled: int = field(default=0, init=False, repr=False, compare=False)
    _rng: random.Random | None = field(default=None, init=False, repr=False, compare=False)
    _rng_seed: int | None = field(default=None, init=False, repr=False, compare=False)

    def delay(self) -> None:
        if self.latency > 0:
            time.sleep(self.latency)

    def arrive(self) -> None:
        """Delay the request by its share of network jitter, before traffic control sees it."""
        if self.jitter > 0:
            with self._lock:
                delay = self._random() * self.jitter
            time.sleep(delay)

    def should_fail(self) -> bool:
        return self._roll(self.error_rate)

    def should_lose_response(self) -> bool:
        return self._roll(self.lost_response_rate)

    def take_throttle(self) -> bool:
        """Count one request reaching traffic control; True when it must be throttled
        (one of `throttle_next`, used up, or where the `throttle_every` schedule says)."""
        with self._lock:
            self._controlled += 1
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return True
            every = self.throttle_every
            return every > 0 and (self._controlled - 1) % every >= every - self.throttle_burst

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._lock:
            return self._random() < rate

    def _random(self) -> float:
        """Callers hold the lock."""
        if self._rng is None or self._rng_seed != self.seed:
            self._rng, self._rng_seed = random.Random(self.seed), self.seed
        return self._rng.random()


class _TrafficControl:
    """What every traffic control shares: a rate of 0 (or infinity) turns it off."""

    rate: float

    @property
    def enabled(self) -> bool:
        return 0 < self.rate < math.inf


class TokenBucket(_TrafficControl):
    """Traffic control: at most `capacity` requests at once, refilled at `rate` a second.

    A rate of 0 (or infinity) turns control off. The clock is monotonic real time, not an
    emulator's injected wall clock: traffic control is about how fast requests really come.
    """

    def __init__(
        self,
        rate: float,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = rate if capacity is None else capacity
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty (the request must be refused)."""
        if not self.enabled:
            return True
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class MinInterval(_TrafficControl):
    """Traffic control read strictly: at most one request every `1 / rate` seconds.

    "N requests per second" with N = 1 leaves no room for a burst, so a token bucket (which
    lets a client that was idle send `capacity` at once) is not the right reading. A request is
    refused while the previous accepted one was less than `(1 - tolerance) / rate` seconds ago;
    the tolerance absorbs the jitter between a client that spaces its requests by exactly
    `1 / rate` on its own clock and the moments they arrive here. Refused requests do not move
    the window. A rate of 0 (or infinity) turns control off; the clock is monotonic real time.
    """

    def __init__(
        self,
        rate: float,
        *,
        tolerance: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= tolerance < 1:
            raise ValueError("tolerance must be at least 0 and less than 1")
        self.rate = rate
        self.tolerance = tolerance
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        """The shortest gap, in seconds, accepted between two requests."""
        return (1 - self.tolerance) / self.rate if self.enabled else 0.0

    def take(self) -> bool:
        """Accept (and remember) this request; False when it came too soon after the last."""
        if not self.enabled:
            return True
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self.interval:
                return False
            self._last = now
            return True


class SlidingWindow(_TrafficControl):
    """Traffic control as a strict gateway counts: at most `rate` requests in any window of
    `window` seconds (a request is refused when `rate` were accepted in the `window` before
    it). `accepted` keeps the arrival time of each accepted request, for measuring the rate
    a client achieved. A rate of 0 (or infinity) turns control off."""

    def __init__(
        self, rate: float, *, window: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.window = window
        self._clock = clock
        self._recent: list[float] = []
        self.accepted: list[float] = []
        self._lock = threading.Lock()

    def take(self) -> bool:
        if not self.enabled:
            return True
        with self._lock:
            now = self._clock()
            self._recent = [t for t in self._recent if t > now - self.window]
            if len(self._recent) >= self.rate:
                return False
            self._recent.append(now)
            self.accepted.append(now)
            return True


class Scheduler:
    """Runs `action(item)` about `delay` seconds after `schedule`, on one background thread.

    Used for asynchronous reviews: one thread and a heap instead of a timer thread per upload.
    Items still waiting when the scheduler stops are dropped, as a platform going down would.
    """

    def __init__(self, action: Callable[[str], None], *, name: str) -> None:
        self._action = action
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def schedule(self, delay: float, item: str) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), item))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                item = self._next_due()
                if item is None:
                    return
            try:
                self._action(item)
            except Exception:  # a bug in one item must not stop the others
                logger.exception("scheduled action for %s failed", item)

    def _next_due(self) -> str | None:
        """Wait (holding the condition) for the next due item; None once stopped."""
        while not self._stopped:
            if not self._heap:
                self._cond.wait()
                continue
            due = self._heap[0][0]
            now = time.monotonic()
            if due > now:
                self._cond.wait(due - now)
                continue
            return heapq.heappop(self._heap)[2]
        return None


class _HTTPServer(JSONServer):
    connection_log = logger


class _Handler(JSONHandler):
    timeout = _CLIENT_TIMEOUT
    server_version = "ivrsync-emulator"
    max_body = MAX_BODY_BYTES


class EmulatorServer(Served):
    """A provider emulator's server: start on a port (0 picks a free one), answer, stop.

    Subclasses implement `handle` (the provider's endpoints) and `error_body` (its error shape)
    and may extend `start`/`stop` for background work (reviews, callbacks).
    """

    name: ClassVar[str] = "emulator"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self.faults = Faults()
        # Called on the handler's thread with each request before it is handled: a test
        # counts requests (to act after the n-th) or holds one (to act while it is in flight)
        # instead of guessing how long things take.
        self.on_request: Callable[[Request], None] | None = None
        self._serving = BackgroundServer(f"{self.name}-server")

    # -- what a provider implements ----------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """Answer one request; None closes the connection without an answer."""
        raise NotImplementedError

    def error_body(self, status: int, description: str) -> dict[str, Any]:
        """The provider's error body for a failure outside its endpoints' own rules."""
        return {"status": status, "description": description}

    def error_response(self, status: int, description: str) -> Response:
        """The answer to a failure outside the endpoints' own rules (a body that cannot be
        read, a malformed request line, a bug): by default `status` with `error_body`.

        A provider whose API reports every error inside a 200 answer overrides this.
        """
        return Response(status, self.error_body(status, description))

    # -- plumbing ----------------------------------------------------------------------------

    def respond(self, request: Request) -> Response | None:
        """What the handler calls: a body that could not be read is answered at once."""
        if request.problem is not None:
            return self.error_response(*request.problem)
        return self.dispatch(request)

    def dispatch(self, request: Request) -> Response | None:
        """`handle`, shielded: a bug answers 500 (and is logged); latency is added here."""
        observer = self.on_request
        if observer is not None:
            observer(request)
        try:
            response = self.handle(request)
        except Exception:
            logger.exception("%s failed on %s %s", self.name, request.method, request.path)
            response = self.error_response(500, "emulator internal error (a bug)")
        self.faults.delay()
        return response

    def start(self) -> Self:
        """Listen and serve in a background thread; returns self, so `X().start()` reads well."""
        if self._serving.server is not None:
            raise RuntimeError(f"{self.name} is already started")
        self._serving.start(_HTTPServer(self.host, self._requested_port, _Handler, self))
        return self

    def stop(self) -> None:
        """Stop accepting requests and release the port; safe to call twice."""
        self._serving.stop()

    @property
    def stopping(self) -> threading.Event:
        """Set once `stop` is called: background loops wait on it instead of sleeping."""
        return self._serving.stopping


class ReviewingEmulator(EmulatorServer):
    """An emulator whose platform reviews each upload after a delay, and reaches out over HTTP
    from a pool of workers (Huawei posts review callbacks, Tencent downloads AudioUrls).

    Subclasses implement `_review` (called by the scheduler with what they scheduled) and get
    the lifecycle: reviews and workers stop with the server, and the outbound client is made on
    first use (it is slow to make) and refused once the emulator is stopping.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        workers: int,
        worker_name: str,
        client_options: Mapping[str, Any],
    ) -> None:
        super().__init__(host=host, port=port)
        self._reviews = Scheduler(self._reviewed, name=f"{self.name}-review")
        # Background work promised and not yet done (reviews scheduled, callbacks under way).
        self._pending = 0
        self._settled = threading.Condition()
        self._workers = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"{self.name}-{worker_name}"
        )
        self._client_options = dict(client_options)
        self._http_client: httpx.Client | None = None
        self._http_lock = threading.Lock()

    def _review(self, key: str) -> None:
        raise NotImplementedError

    def wait_settled(self, timeout: float) -> bool:
        """Wait until the platform has nothing left to do on its own: every review made and
        every callback finished (delivered or given up). False if `timeout` seconds pass first.

        What a test waits on instead of sleeping "long enough" for something not to happen.
        """
        with self._settled:
            return self._settled.wait_for(
                lambda: self._pending == 0 or self.stopping.is_set(), timeout
            )

    def _schedule_review(self, delay: float, key: str) -> None:
        self._begin()
        self._reviews.schedule(delay, key)

    def _submit(self, work: Callable[..., None], *args: Any) -> None:
        """Run `work(*args)` on the outbound workers, counted until it finishes; raises
        RuntimeError once the emulator has stopped."""
        self._begin()
        try:
            self._workers.submit(self._counted, work, *args)
        except BaseException:
            self._end()
            raise

    def _reviewed(self, key: str) -> None:
        self._counted(self._review, key)

    def _counted(self, work: Callable[..., None], *args: Any) -> None:
        try:
            work(*args)
        finally:
            self._end()

    def _begin(self) -> None:
        with self._settled:
            self._pending += 1

    def _end(self) -> None:
        with self._settled:
            self._pending -= 1
            self._settled.notify_all()

    def start(self) -> Self:
        super().start()
        self._reviews.start()
        return self

    def stop(self) -> None:
        """Stop serving; reviews not yet due are dropped, outbound work under way abandoned."""
        super().stop()
        self._reviews.stop()
        self._workers.shutdown(wait=False, cancel_futures=True)
        with self._settled:
            self._settled.notify_all()
        with self._http_lock:
            if self._http_client is not None:
                self._http_client.close()

    def _http(self) -> httpx.Client:
        """The outbound client; the platforms ignore proxy settings, and so do we."""
        with self._http_lock:
            if self.stopping.is_set():
                raise RuntimeError("the emulator is stopping")
            if self._http_client is None:
                self._http_client = httpx.Client(trust_env=False, **self._client_options)
            return self._http_client
