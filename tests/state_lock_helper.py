"""A separate process for tests/test_state.py: holds or waits for a state lock.

    python state_lock_helper.py hold STATE      # prints "locked ID", holds until stdin closes
    python state_lock_helper.py wait STATE TIMEOUT
        # prints "blocked" if the lock is held, then "waited" once it has it, or exits 1
    python state_lock_helper.py take STATE TIMEOUT   # prints "alone" if no other holder was
                                                     # inside the lock with it

The holder lets go when the test says so (closing its stdin), and the waiter says when it
found the lock held: the test orders events by what it sees, never by how long things take.
Errors go to stderr as the CLI prints them, so the test sees what a user would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ivrsync.state.store import LocalStateStore, StateError, StateLockedError, locked


def main(argv: list[str]) -> int:
    command, path = argv[0], Path(argv[1])
    store = LocalStateStore(path)
    if command == "hold":
        with locked(store, "apply", timeout=0) as lock:
            print(f"locked {lock.id}", flush=True)
            sys.stdin.read()
        return 0
    if command == "take":
        return take(store, float(argv[2]))
    try:
        try:
            store.unlock(store.lock("plan", timeout=0))
        except StateLockedError:
            print("blocked", flush=True)
        with locked(store, "plan", timeout=float(argv[2])):
            print("waited", flush=True)
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
