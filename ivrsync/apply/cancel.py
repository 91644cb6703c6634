"""Cancelling an apply: stop starting requests, wait a bounded time for those in flight.

One object carries the request from whoever asks (the CLI's signal handlers) to the engine's
workers, which check it before every request and wait on it instead of sleeping, so a cancel
is seen at once and never waits out a backoff.
"""

from __future__ import annotations

import threading

# Seconds a first cancel waits for the requests in flight before it gives up on them (they
# stay recorded as in doubt). CI services send a second signal well within this (GitHub:
# SIGTERM 7.5 s after SIGINT), which stops waiting at once.
DEFAULT_GRACE = 10.0


class Cancellation:
    """Two steps: `stop` (start no new request, finish the ones in flight) and `abandon`
    (stop waiting for them too). `request` takes them in turn, as signals arrive."""

    def __init__(self, grace: float = DEFAULT_GRACE) -> None:
        self.grace = grace
        self.stopping = threading.Event()
        self.abandoned = threading.Event()
        self.signum: int | None = None  # the first signal that asked, for the exit code
        self._listeners: list[threading.Event] = []
        self._lock = threading.Lock()

    def request(self, signum: int | None = None) -> None:
        """The first request stops, any later one abandons."""
        with self._lock:
            if self.signum is None:
                self.signum = signum
            first = not self.stopping.is_set()
        if first:
            self.stop()
        else:
            self.abandon()

    def stop(self) -> None:
        self.stopping.set()
        self._notify()

    def abandon(self) -> None:
        self.stopping.set()
        self.abandoned.set()
        self._notify()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when cancelled meanwhile (or before)."""
        return self.stopping.wait(max(0.0, seconds))

    def listen(self, event: threading.Event) -> None:
        """Set `event` on every change (the engine's main thread waits on it)."""
        with self._lock:
            self._listeners.append(event)
        if self.stopping.is_set():
            event.set()

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for event in listeners:
            event.set()
