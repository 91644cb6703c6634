"""SIGINT and SIGTERM (a CI cancel) for commands that hold the state lock.

While the engine runs, the first signal asks it to stop (no new request, a bounded wait for
those in flight) and the second to stop waiting. At any other moment a signal raises
`Interrupted` in the main thread, as it does in every command (ivrsync/cli/app.py): it unwinds
like any error, the lock is released and the exit code is 128 + the signal's number.

A Python signal handler runs in the main thread between two bytecodes, possibly while that
thread holds a lock the handler would need (an Event's), so the handler takes none: it puts
the signal on a SimpleQueue (reentrant) and a watcher thread acts on it.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from ivrsync.apply.cancel import DEFAULT_GRACE, Cancellation
from ivrsync.cli.interrupt import Interrupted
from ivrsync.cli.output import Console

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalHandling:
    """What a command holds while signals are handled: the cancellation, armed or not."""

    def __init__(self, announce: Callable[[int, bool], None]) -> None:
        self.cancel = Cancellation()
        self.armed = False
        self._announce = announce
        self._signals: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._watcher = threading.Thread(target=self._watch, name="ivrsync-signals", daemon=True)

    @contextmanager
    def armed_for_engine(self) -> Iterator[Cancellation]:
        """Signals stop the engine (gracefully) instead of raising, inside this block."""
        self.armed = True
        try:
            yield self.cancel
        finally:
            self.armed = False

    @property
    def exit_code(self) -> int | None:
        """128 + the first signal that stopped the engine, or None."""
        signum = self.cancel.signum
        return None if signum is None else 128 + signum

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.cancel.abandoned.is_set():
            return  # already on the way out: a third signal changes nothing
        if not self.armed and not self.cancel.stopping.is_set():
            raise Interrupted(signum)
        self._signals.put(signum)

    def _watch(self) -> None:
        while (signum := self._signals.get()) is not None:
            first = not self.cancel.stopping.is_set()
            self.cancel.request(signum)
            self._announce(signum, first)

    def start(self) -> None:
        self._watcher.start()

    def stop(self) -> None:
        self._signals.put(None)
        self._watcher.join()


def announce_to(out: Console) -> Callable[[int, bool], None]:
    """What the user reads when a signal stops the engine."""

    def announce(signum: int, first: bool) -> None:
        name = signal.Signals(signum).name
        if first:
            out.message(
                f"{name}: stopping. No new upload starts; waiting up to "
                f"{DEFAULT_GRACE:g} s for those in flight (send {name} again to stop waiting)."
            )
        else:
            out.message(f"{name}: not waiting any more; uploads in flight stay in doubt.")

    return announce


@contextmanager
def handling_signals(announce: Callable[[int, bool], None]) -> Iterator[SignalHandling]:
    """SIGINT and SIGTERM handled as above for the block; `announce(signum, first)` tells the
    user what a signal did. Outside the main thread (where Python cannot handle signals)
    nothing is installed."""
    handling = SignalHandling(announce)
    if threading.current_thread() is not threading.main_thread():
        yield handling
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    handling.start()
    try:
        for signum in SIGNALS:
            signal.signal(signum, handling.handle)
        yield handling
    finally:
        # Once abandoned, the process is on its way out: further signals are ignored, so a
        # third Ctrl-C cannot interrupt the exit (Python's finalisation would put back the
        # default action for a handler of its own, but leaves SIG_IGN).
        abandoned = handling.cancel.abandoned.is_set()
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_IGN if abandoned else handler)
        handling.stop()
