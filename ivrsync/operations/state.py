"""The state as the commands see it: read, or changed by hand under its lock (`state
mv|rm|push|rollback|migrate`, `force-unlock`), as Terraform's state commands do; the edits
themselves are state/operations.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ivrsync.errors import IvrsyncError
from ivrsync.manifest.loader import read_state_settings
from ivrsync.plan.workflow import write_document
from ivrsync.state import operations
from ivrsync.state.backends import open_store
from ivrsync.state.model import InDoubt, ResourceState, State
from ivrsync.state.store import LockInfo, StateStore, StateVersion, locked


def state_store(root: Path, revision: str | None = None) -> StateStore:
    """The store the project at `root` names (ivrsync.yaml's `state:`), without validating
    the rest of the manifests: reading the state must work while they are broken. With
    `revision`, the one ivrsync.yaml named at that git revision."""
    return open_store(root, read_state_settings(root, revision))


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


def pull(root: Path, out: Path | None) -> State:
    """`state pull`: the current state, read as a reader (no lock), written to `out` if given
    (atomically) as the bytes the store holds (`State.to_json` is the one encoding)."""
    current = _existing(state_store(root))
    if out is not None:
        write_document(out, current.to_json().decode(), "the state")
    return current


@dataclass(frozen=True)
class Replaced:
    """A state written over the stored one by push, rollback or migrate."""

    location: str  # where it was written
    state: State  # as written
    previous: State | None  # what it replaced
    # The check --force overrode (another lineage, a newer serial), None when none had to be.
    forced: str | None
    # (address, FileId) the replaced state recorded and this one does not.
    dropped: list[tuple[str, str]]
    source: str | None = None  # migrate: where it was copied from (left as it was)


def read_pushed(path: Path) -> State:
    """A state file to push, refused (naming it) when it is not a state this ivrsync reads."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IvrsyncError(f"cannot read the state to push {path}: {exc.strerror}") from None
    return State.from_json(data, str(path))


def push(root: Path, path: Path, force: bool, lock_timeout: float) -> Replaced:
    """`state push FILE`: FILE becomes the current state (serial + 1), under the lock; another
    lineage, or a serial lower than the stored one (someone wrote since), needs `force`. The
    unsaved state an apply kept is removed once pushed."""
    pushed = read_pushed(path)
    store = state_store(root)
    with locked(store, "state push", lock_timeout):
        replaced = _replace(store, pushed, str(path), force)
    if path.resolve() == (root / operations.UNSAVED_STATE_FILE).resolve():
        # Consumed: apply refuses to run while it exists (its uploads would be sent again).
        path.unlink()
    return replaced


def _replace(store: StateStore, incoming: State, what: str, force: bool) -> Replaced:
    """Write `incoming` over the stored state, after the checks --force overrides; the
    caller holds the lock."""
    stored = store.read()
    problem = operations.replace_problem(stored, incoming, store.location, what)
    if problem and not force:
        raise IvrsyncError(
            f"{problem}. Writing it would lose what the stored state records; if you are sure, "
            "pass --force"
        )
    written = store.write(operations.written_over(stored, incoming))
    dropped = operations.dropped_file_ids(stored, incoming)
    return Replaced(store.location, written, stored, problem, dropped)


def list_versions(root: Path) -> list[StateVersion]:
    """`state list-versions`: what the store keeps, the current version first (no lock)."""
    store = state_store(root)
    versions = store.versions()
    if not versions:
        raise IvrsyncError(f"there is no state yet ({store.location}): nothing has been uploaded")
    return versions


def rollback(root: Path, version_id: str, lock_timeout: float) -> Replaced:
    """`state rollback VERSION_ID`: that version's content becomes the current state, written
    as a new version (serial + 1, the same lineage), so nothing is lost: the version rolled
    back from is kept too. A version of another lineage is refused."""
    store = state_store(root)
    with locked(store, "state rollback", lock_timeout):
        current = _existing(store)
        version = store.read_version(version_id)
        if version.lineage != current.lineage:
            raise IvrsyncError(
                f"version {version_id} of {store.location} is of another state (lineage "
                f"{version.lineage}) than the current one (lineage {current.lineage}); "
                "rollback only goes back within one state"
            )
        written = store.write(operations.written_over(current, version))
        return Replaced(
            store.location, written, current, None, operations.dropped_file_ids(current, version)
        )


def migrate(root: Path, revision: str, force: bool, lock_timeout: float) -> Replaced:
    """`state migrate`: copy the state from where ivrsync.yaml put it at git `revision` to where
    it puts it now, holding both locks (no apply can write either meanwhile), as `terraform
    init -migrate-state` does. The target keeps the source's lineage and serial (+ 1): a copy
    of the source pushed later is refused as older. The source is left as it was."""
    source, target = state_store(root, revision), state_store(root)
    if source.location == target.location:
        raise IvrsyncError(
            f"ivrsync.yaml names the same state at {revision} and now ({target.location}): "
            "nothing to migrate. Change its `state:` first, or name the revision that had the "
            "old one with --from-revision"
        )
    with (
        locked(source, "state migrate", lock_timeout),
        locked(target, "state migrate", lock_timeout),
    ):
        state = source.read()
        if state is None:
            raise IvrsyncError(
                f"there is no state at {source.location} (named by ivrsync.yaml at "
                f"{revision}): nothing to migrate"
            )
        replaced = _replace(target, state, f"the state at {source.location}", force)
    return dataclasses.replace(replaced, source=source.location)
