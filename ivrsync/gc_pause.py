"""Pausing the cyclic garbage collector while big structures are built.

Loading 100,000 resources (manifests, the state, a plan) makes millions of objects that live
on; each automatic collection walks every object alive, so their number made the load
quadratic (a 10,000-resource no-op plan spent a quarter of its time collecting; a state of
100,000 loaded three times slower).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _GcPause:
    """No cyclic garbage collection while big manifests, states or plans are built or encoded.

    Hundreds of thousands of new objects set off collection after collection, each walking
    every object alive: that tripled the time to load a 100,000-resource state. The objects
    made there hold no reference cycles, so nothing is lost by waiting. Nested and concurrent
    pauses (apply writes the state from a thread of its own) are counted: collection resumes
    when the last one ends, and only if it was on before the first.

    A pause that leaves many new objects alive (a state just loaded) moves them straight to
    the oldest generation (freeze and unfreeze: two list splices); the young generations
    would otherwise walk them all (0.15 s for 100,000 resources) on their way there. Young
    garbage of other code moves along and waits for the next full collection, so a small
    pause (apply writing the state after each upload) leaves the generations as they were.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pauses = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._pauses == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._pauses += 1
        try:
            yield
        finally:
            with self._lock:
                self._pauses -= 1
                if self._pauses == 0:
                    young = gc.get_count()[0]  # tracked objects made, less those freed
                    # Never thaw what someone else froze.
                    if young > PROMOTE_AFTER_PAUSE and gc.get_freeze_count() == 0:
                        gc.freeze()
                        gc.unfreeze()
                    if self._was_enabled:
                        gc.enable()


# New objects left alive by a pause beyond which they go to the oldest generation: a few
# thousand resources' worth (the young generation is collected every 700).
PROMOTE_AFTER_PAUSE = 20_000


paused_gc = _GcPause()
