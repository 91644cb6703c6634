"""CPU-bound work spread over the machine's cores, in worker processes.

Decoding, measuring and processing audio is numpy and C libraries called from Python code
that holds the GIL between them: threads would run it little faster than one. Processes are
started by a fork server (a clean process, never a fork of this one, which may hold threads
and their locks), and:

- a worker ignores Ctrl-C: the terminal sends it to the whole process group, and the
  parent alone decides (it stops the pool, and no worker prints a traceback);
- the pool is gone on every way out of `parallel_map`: on errors and signals its workers
  are stopped at once and the work not yet started is cancelled (results come through a
  callback, so no half-consumed iterator keeps a pool alive);
- a task that fails gives its exception back, never a lost result: callers do that work again
  in this process, where its error is reported as usual.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from typing import TypeVar

from ivrsync.errors import IvrsyncError

__all__ = ["WORKERS_ENV", "parallel_map", "worker_count"]


WORKERS_ENV = "IVRSYNC_AUDIO_WORKERS"
# Modules a worker needs, imported once by the fork server rather than by every worker.
_PRELOAD = ["ivrsync.processing.work", "ivrsync.processing.convert", "numpy", "soundfile", "soxr"]

T = TypeVar("T")
R = TypeVar("R")


def worker_count(env: Mapping[str, str] | None = None) -> int:
    """IVRSYNC_AUDIO_WORKERS, else the cores this process may run on (a CI container's
    limit, not the host's count)."""
    value = (os.environ if env is None else env).get(WORKERS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise IvrsyncError(f"{WORKERS_ENV} must be a whole number of at least 1, not {value!r}")
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def parallel_map(
    work: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    done: Callable[[T, R | BaseException], None],
) -> None:
    """Call `done` with each item and what `work` returned for it (or raised), in the order
    they finish; the pool is gone when this returns or raises.

    `work` must be a module-level function (it is sent to the workers by name). With one
    worker, or one item, it runs here: a pool costs more than it saves.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            try:
                result: R | BaseException = work(item)
            except Exception as exc:  # given back, as from a worker
                result = exc
            done(item, result)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(items)), mp_context=context, initializer=_ignore_interrupts
    )
    # Finished work comes through a queue the executor's thread fills: Ctrl-C then lands in
    # this thread's wait on it, never inside the executor's own locking (as_completed takes
    # every future's lock in a loop; interrupted there, a lock stays held and the executor's
    # thread, which Python joins at exit, hangs on it).
    finished: queue.SimpleQueue[tuple[T, Future[R]]] = queue.SimpleQueue()
    try:
        for item in items:
            future = pool.submit(work, item)
            future.add_done_callback(partial(_put, finished, item))
        for _ in items:
            item, future = finished.get()
            error = future.exception(timeout=0)
            done(item, future.result(timeout=0) if error is None else error)
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop at once (Ctrl-C, an error): the work in hand is dropped, not waited for (a long
    file could take minutes), and nothing of it was kept (the parent keeps results)."""
    # The executor's own list: Python 3.14's terminate_workers() does this.
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join()


def _put(finished: queue.SimpleQueue[tuple[T, Future[R]]], item: T, future: Future[R]) -> None:
    finished.put((item, future))


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
