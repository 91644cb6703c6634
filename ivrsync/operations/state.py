"""The state as the commands see it: read, or changed by hand under its lock (`state mv|rm`,
`force-unlock`), as Terraform's state commands do; the edits themselves are state/operations.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivrsync.errors import IvrsyncError
from ivrsync.manifest.loader import read_state_settings
from ivrsync.state import operations
from ivrsync.state.backends import open_store
from ivrsync.state.model import InDoubt, ResourceState, State
from ivrsync.state.store import LockInfo, StateStore, locked


def state_store(root: Path) -> StateStore:
    """The store the project at `root` names (ivrsync.yaml's `state:`), without validating
    the rest of the manifests: reading the state must work while they are broken."""
    return open_store(root, read_state_settings(root))


def read_state(root: Path) -> State | None:
    """The state as it is (None before the first upload); read without the lock, as a reader."""
    return state_store(root).read()


@dataclass(frozen=True)
class StateFile:
    path: str  # the store's location: a file, or s3://bucket/key
    state: State | None  # None: nothing has been uploaded yet


def state_file(root: Path) -> StateFile:
    store = state_store(root)
    return StateFile(store.location, store.read())


def _existing(store: StateStore) -> State:
    state = store.read()
    if state is None:
        raise IvrsyncError(f"there is no state yet ({store.location}): nothing has been uploaded")
    return state


def list_addresses(root: Path, patterns: tuple[str, ...]) -> list[str]:
    """Addresses recorded or in doubt, filtered by the globs (all with none)."""
    return operations.matching(_existing(state_store(root)), patterns)


@dataclass(frozen=True)
class RecordedEntry:
    entry: ResourceState | InDoubt
    in_doubt: bool  # sent with no answer: the next apply or the user decides


def recorded_entry(root: Path, address: str) -> RecordedEntry:
    """Everything the state records of `address`."""
    current = _existing(state_store(root))
    entry = current.resources.get(address) or current.in_doubt.get(address)
    if entry is None:
        raise IvrsyncError(f"{address} is not in the state (see `ivrsync state list`)")
    return RecordedEntry(entry, address in current.in_doubt)


def move(root: Path, source: str, target: str, lock_timeout: float) -> State:
    """`state mv`: the state as written."""
    store = state_store(root)
    with locked(store, "state mv", lock_timeout):
        current = _existing(store)
        operations.move(current, source, target)
        return store.write(current)


@dataclass(frozen=True)
class Removed:
    addresses: list[str]
    state: State  # as written


def remove(root: Path, patterns: tuple[str, ...], lock_timeout: float) -> Removed:
    """`state rm`: forget the addresses; the remote files stay."""
    store = state_store(root)
    with locked(store, "state rm", lock_timeout):
        current = _existing(store)
        removed = operations.remove(current, patterns)
        return Removed(removed, store.write(current))


def force_unlock(root: Path, lock_id: str) -> LockInfo:
    """Remove the lock LOCK_ID; the holder it names is returned for the message."""
    return state_store(root).force_unlock(lock_id)
