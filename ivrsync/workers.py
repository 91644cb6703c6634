"""CPU-bound work spread over the machine's cores, in worker processes.

Decoding, measuring and processing audio is numpy and C libraries called from Python code
that holds the GIL between them: threads would run it little faster than one. So the work
goes to processes, and the parent is kept simple enough to reason about on every way out:

- no thread in the parent: it hands out one item at a time over a pipe per worker and waits
  in its main thread on the pipes, the workers' exit sentinels and a signal wake-up pipe, so
  Ctrl-C always lands in that one wait, whichever thread of the process the kernel gave the
  signal to (numpy's BLAS threads may be there). concurrent.futures' pool has a manager
  thread, a queue feeder thread and an exit hook that joins them: an interrupt that reached
  it at the wrong moment could hang the process;
- workers are fresh interpreters (spawned: never a fork of this process, which may hold
  threads and their locks), started with SIGINT blocked, so a worker never sees Ctrl-C, not
  even while it starts: the terminal sends it to the whole process group, and the parent
  alone decides. It stops the workers at once, and nothing waits on a long file. (Python
  3.11's fork server would also do, but its socket lives under TMPDIR, and a long TMPDIR
  makes it fail to start);
- a machine that cannot start a worker (no processes left) gets the work done here;
- a task that fails, or whose worker died, gives an exception back, never a lost result:
  callers do that work again in this process, where its error is reported as usual.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Generic, TypeVar

from ivrsync.errors import IvrsyncError

__all__ = ["WORKERS_ENV", "WorkerLost", "parallel_map", "worker_count"]


WORKERS_ENV = "IVRSYNC_AUDIO_WORKERS"
_STOP_GRACE = 5.0  # seconds a terminated worker has to exit before it is killed

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class WorkerLost(Exception):
    """The worker process doing a task exited without an answer (killed, out of memory)."""


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
    they finish; every worker has exited when this returns or raises.

    `work` must be a module-level function (it is sent to the workers by name). With one
    worker, or one item, it runs here: a pool costs more than it saves.
    """
    if workers <= 1 or len(items) <= 1:
        _here(work, items, done)
        return
    with _signals_wake_this_thread() as wakeup:
        pool: _Pool[T, R] = _Pool()
        try:
            try:
                pool.start(work, min(workers, len(items)))
            except OSError as exc:
                logger.warning("cannot start worker processes (%s): working in this process", exc)
                _here(work, items, done)
                return
            pool.run(items, done, wakeup)
        except BaseException:
            pool.stop(at_once=True)
            raise
        pool.stop(at_once=False)


def _here(
    work: Callable[[T], R], items: Sequence[T], done: Callable[[T, R | BaseException], None]
) -> None:
    for item in items:
        try:
            result: R | BaseException = work(item)
        except Exception as exc:  # given back, as from a worker
            result = exc
        done(item, result)


class _Worker(Generic[T]):
    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.task: T | None = None  # the item in hand, if any
        self.busy = False


class _Pool(Generic[T, R]):
    """Worker processes, each fed one item at a time over its own pipe."""

    def __init__(self) -> None:
        self.workers: list[_Worker[T]] = []

    def start(self, work: Callable[[T], R], size: int) -> None:
        from multiprocessing import resource_tracker

        context = multiprocessing.get_context("spawn")
        # Spawning starts multiprocessing's resource tracker first if it is not running, and
        # that unblocks SIGINT once the tracker is started: so it is started before the mask.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(size):
                ours, theirs = context.Pipe(duplex=True)
                process = context.Process(target=_serve, args=(theirs, work), daemon=True)
                try:
                    process.start()
                except OSError:
                    ours.close()
                    if self.workers:
                        break  # fewer workers than asked: still some
                    raise
                finally:
                    theirs.close()
                self.workers.append(_Worker(process, ours))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def run(
        self, items: Sequence[T], done: Callable[[T, R | BaseException], None], wakeup: int
    ) -> None:
        waiting = deque(items)
        live = list(self.workers)
        for worker in live:
            self._hand(worker, waiting)
        while any(worker.busy for worker in live):
            watched: list[Connection | int] = [wakeup]
            for worker in live:
                if worker.busy:
                    watched += [worker.connection, worker.process.sentinel]
            ready = wait(watched)
            if wakeup in ready:
                _drain(wakeup)  # a signal: its Python handler runs on the next line
            for worker in [w for w in live if w.busy]:
                if worker.connection in ready or worker.process.sentinel in ready:
                    result, alive = _answer(worker)
                    task, worker.task, worker.busy = worker.task, None, False
                    done(task, result)  # type: ignore[arg-type]
                    if alive:
                        self._hand(worker, waiting)
                    else:
                        live.remove(worker)
            if not live:  # every worker died: the rest is done again by the caller
                while waiting:
                    done(waiting.popleft(), WorkerLost("no worker process is left"))

    @staticmethod
    def _hand(worker: _Worker[T], waiting: deque[T]) -> None:
        if waiting:
            worker.task = waiting.popleft()
            worker.busy = True
            worker.connection.send(worker.task)

    def stop(self, *, at_once: bool) -> None:
        """Every worker gone: idle ones exit when their pipe closes; on an error or a signal
        the busy ones are terminated, not waited for (a long file could take minutes)."""
        for worker in self.workers:
            worker.connection.close()
            if at_once and worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(_STOP_GRACE)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
            worker.process.close()


def _answer(worker: _Worker[T]) -> tuple[object, bool]:
    """What the worker sent back, and whether it is still there to take more."""
    try:
        if worker.connection.poll():
            return worker.connection.recv(), True
    except (EOFError, OSError):
        pass
    worker.process.join()
    return WorkerLost(f"the worker process exited with code {worker.process.exitcode}"), False


def _serve(connection: Connection, work: Callable[[T], R]) -> None:
    """A worker: items in, results (or the exception raised) out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # should SIGINT ever be unblocked here
    while True:
        try:
            item = connection.recv()
        except EOFError:
            return
        try:
            result: object = work(item)
        except Exception as exc:
            result = exc
        try:
            connection.send(result)
        except Exception as exc:  # not picklable: say so rather than die
            connection.send(WorkerLost(f"the result could not be sent back: {exc!r}"))


@contextmanager
def _signals_wake_this_thread() -> Iterator[int]:
    """A pipe that a signal writes to, whichever thread it is delivered to (Python's C
    handler writes the wake-up fd): waiting on it, the main thread wakes and runs the
    signal's Python handler (KeyboardInterrupt for Ctrl-C). An earlier wake-up fd (an
    asyncio loop's) gets what arrives meanwhile and is put back."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    if threading.current_thread() is not threading.main_thread():
        previous = None  # only the main thread runs signal handlers; nothing to wake here
    else:
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    try:
        yield read_end
    finally:
        if previous is not None:
            signal.set_wakeup_fd(previous)
            if previous != -1:
                _drain(read_end, forward_to=previous)
        os.close(read_end)
        os.close(write_end)


def _drain(read_end: int, forward_to: int = -1) -> None:
    try:
        while data := os.read(read_end, 512):
            if forward_to != -1:
                with suppress(OSError):
                    os.write(forward_to, data)
    except BlockingIOError:
        pass
