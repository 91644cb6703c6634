"""A separate process for tests/test_state.py: holds or waits for a state lock.

    python state_lock_helper.py hold STATE SECONDS   # prints "locked ID", holds, releases
    python state_lock_helper.py wait STATE TIMEOUT   # prints "waited SECONDS", or exits 1
    python state_lock_helper.py take STATE TIMEOUT   # prints "alone" if no other holder was
                                                     # inside the lock with it

Errors go to stderr as the CLI prints them, so the test sees what a user would.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ivrsync.state.store import LocalStateStore, StateError, locked


def main(argv: list[str]) -> int:
    command, path, seconds = argv[0], Path(argv[1]), float(argv[2])
    store = LocalStateStore(path)
    if command == "hold":
        with locked(store, "apply", timeout=0) as lock:
            print(f"locked {lock.id}", flush=True)
            time.sleep(seconds)
        return 0
    if command == "take":
        return take(store, seconds)
    started = time.monotonic()
    try:
        with locked(store, "plan", timeout=seconds):
            print(f"waited {time.monotonic() - started:.3f}", flush=True)
    except StateError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def take(store: LocalStateStore, timeout: float) -> int:
    """Hold the lock for a moment and check, with a file only a holder creates, that no other
    process held it at the same time."""
    marker = store.path.with_name("holder")
    with locked(store, "apply", timeout=timeout):
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            print("not alone", flush=True)
            return 1
        marker.unlink()
    print("alone", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
