"""Where the state lives: read, write only over the version that was read, and lock.

`StateStore` is the small protocol the planner and apply engine use, so that a remote backend
can follow; `LocalStateStore` keeps the state in a file next to the manifests:

- `ivrsync.state.json`: written atomically (`ivrsync.files.write_atomically`), so that
  a job killed at any moment leaves either the old or the new version, never a mix.
- `ivrsync.state.json.backup`: the version before the last write.
- `ivrsync.state.json.lock`: who is working on the state; created with O_EXCL, so exactly one
  process gets it. A lock left by a process of this host that no longer runs is taken over
  (with a warning naming it); one from another host needs `ivrsync force-unlock`.
- `ivrsync.state.json.lock.takeover`: exists for the moment one ivrsync takes such a lock over.

Nothing here ever overwrites a state file it could not read: a corrupt or newer-format file
may be the only record of uploads that cannot be repeated without spending quota.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from ivrsync import __version__
from ivrsync.files import HOST, process_alive, temp_path, write_atomically
from ivrsync.state.errors import (
    StateConflictError,
    StateCorruptError,
    StateError,
    StateVersionError,
)
from ivrsync.state.model import STATE_FORMAT_VERSION, State, UtcDateTime

__all__ = [
    "LocalStateStore",
    "LockInfo",
    "StateConflictError",
    "StateCorruptError",
    "StateError",
    "StateLockCorruptError",
    "StateLockedError",
    "StateStore",
    "StateVersion",
    "StateVersionError",
    "locked",
]

log = logging.getLogger(__name__)

LOCK_POLL_SECONDS = 0.1


class StateLockCorruptError(StateError):
    """The lock file exists but says nothing usable: it is reported, never removed silently."""


class LockInfo(BaseModel):
    """The record in a lock file: enough for a person to tell whether its holder is gone."""

    # Not "forbid": an older ivrsync must still be able to say who holds a newer one's lock.
    model_config = ConfigDict(extra="ignore")

    id: str
    operation: str
    who: str  # user@host
    host: str
    pid: int
    created: UtcDateTime
    version: str  # of the ivrsync holding it
    path: str  # the state file it protects

    @property
    def since(self) -> str:
        return self.created.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def holder_is_gone(self) -> bool:
        """Held by a process of this host that no longer runs (a killed CI job, a crash)."""
        return self.host == HOST and not process_alive(self.pid)

    def describe(self) -> str:
        return (
            f"{self.who} (pid {self.pid} on {self.host}, ivrsync {self.version}) "
            f"for '{self.operation}' since {self.since}, lock ID {self.id}"
        )


class StateLockedError(StateError):
    """Another ivrsync holds the lock; `holder` says who, so the user can judge if it is gone."""

    error_code = "locked"

    def __init__(self, holder: LockInfo) -> None:
        self.holder = holder
        super().__init__(
            f"the state {holder.path} is locked by {holder.describe()}. "
            "Wait for it to finish, or give a longer --lock-timeout. If that process is gone "
            f"(killed or crashed), remove the lock with: ivrsync force-unlock {holder.id}"
        )


@dataclass(frozen=True, slots=True)
class StateVersion:
    """One kept version of the state: what `state list-versions` shows and `rollback` takes."""

    id: str  # the backend's name for it, given back to `read_version`
    serial: int
    lineage: str
    written: datetime | None  # when the backend stored it, where it says
    current: bool  # the version `read()` returns


class StateStore(Protocol):
    """What the core needs from a state backend; a remote one can follow without changing it."""

    @property
    def location(self) -> str:
        """Where the state is, for messages: a path, or a URL such as s3://bucket/key."""
        ...

    @property
    def readers_lock(self) -> bool:
        """Whether `plan` takes the lock to read (unless told): yes for a file, where it
        runs next to the applies; no for a remote state, which plans on pull requests read
        with read-only credentials (a plan saved at a serial is refused once it moved)."""
        ...

    def versions(self) -> list[StateVersion]:
        """The versions kept (the current one first, then older ones, newest first)."""
        ...

    def read_version(self, version_id: str) -> State:
        """One of `versions()`; StateError when it is no longer kept."""
        ...

    def read(self) -> State | None:
        """The current state, or None when none was written yet."""
        ...

    def write(self, state: State) -> State:
        """Write `state` over the version it was read from; return it with serial + 1.

        Raises StateConflictError when the stored state is no longer `state.lineage` at
        `state.serial`. Where the store found no state (its `read()` returned None), it is
        created, at its own serial + 1 (a pushed or migrated state keeps counting up), and
        the conflict is that one exists now.
        """
        ...

    def lock(self, operation: str, timeout: float) -> LockInfo:
        """Take the lock, waiting up to `timeout` seconds; StateLockedError names the holder."""
        ...

    def unlock(self, lock: LockInfo) -> None:
        """Release `lock` if it is still the one held; never someone else's."""
        ...

    def current_lock(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock if its ID is `lock_id`; return what it said."""
        ...


# Tries made at once after a lock was seen taken, then found gone, before waiting between them.
_IMMEDIATE_RETRIES = 3


def lock_changed_hands(
    vanished: int, remaining: float, location: str, sleep: Callable[[float], None]
) -> None:
    """Before the next try for a lock found taken, then gone when read (released in between:
    other runs taking turns). The first tries are at once, the next ones a poll apart until
    the timeout: only a lock that still changes hands after it is an error."""
    if vanished <= _IMMEDIATE_RETRIES:
        return
    if remaining > 0:
        sleep(min(LOCK_POLL_SECONDS, remaining))
        return
    raise StateError(
        f"the state {location} is locked and unlocked again faster than ivrsync can take the "
        "lock; run again"
    )


@contextmanager
def locked(store: StateStore, operation: str, timeout: float) -> Iterator[LockInfo]:
    """Hold the lock for a `with` block; it is released however the block ends."""
    lock = store.lock(operation, timeout)
    try:
        yield lock
    except BaseException:
        # The block's own error is the one the user needs to see.
        try:
            store.unlock(lock)
        except StateError as exc:
            log.warning("%s", exc)
        raise
    store.unlock(lock)


Fingerprint = tuple[int, int, int]


def _fingerprint(stat: os.stat_result) -> Fingerprint:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


@dataclass(frozen=True, slots=True)
class _Seen:
    """The file this store last read or wrote, and the state version it held."""

    fingerprint: Fingerprint | None  # None: there was no file
    lineage: str | None
    serial: int


class LocalStateStore:
    """The state in a local file (see the module docstring for the files next to it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup_path = path.with_name(path.name + ".backup")
        self.lock_path = path.with_name(path.name + ".lock")
        # Exists only while an ivrsync removes a lock whose holder is gone.
        self.takeover_path = path.with_name(path.name + ".lock.takeover")
        self._seen: _Seen | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def readers_lock(self) -> bool:
        return True

    # -- versions: the file and its backup -------------------------------------------------

    def versions(self) -> list[StateVersion]:
        kept = []
        for version_id, path in (("current", self.path), ("backup", self.backup_path)):
            try:
                state = self._read_file(path)
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            kept.append(
                StateVersion(version_id, state.serial, state.lineage, written, path == self.path)
            )
        return kept

    def read_version(self, version_id: str) -> State:
        paths = {"current": self.path, "backup": self.backup_path}
        if version_id not in paths:
            raise StateError(
                f"{self.path} keeps the versions 'current' and 'backup', not {version_id!r}"
            )
        try:
            return self._read_file(paths[version_id])
        except FileNotFoundError:
            raise StateError(f"there is no {version_id} version of {self.path}") from None

    def _read_file(self, path: Path) -> State:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StateError(f"cannot read the state file {path}: {exc.strerror}") from None
        return State.from_json(data, str(path))

    # -- reading and writing -------------------------------------------------------------

    def read(self) -> State | None:
        try:
            with self.path.open("rb") as file:
                fingerprint = _fingerprint(os.fstat(file.fileno()))
                data = file.read()
        except FileNotFoundError:
            self._seen = _Seen(None, None, 0)
            return None
        except OSError as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc.strerror}") from None
        try:
            state = State.from_json(data, str(self.path))
        except StateCorruptError as exc:
            backup = self.backup_path if self.backup_path.exists() else None
            raise StateCorruptError(exc.source, exc.reason, backup) from None
        self._seen = _Seen(fingerprint, state.lineage, state.serial)
        return state

    def _on_disk(self) -> _Seen:
        """Lineage and serial of the file now, re-reading it only if it changed since seen.

        Stat is enough to know that a 100,000-resource state is still the one this store
        read or wrote; only a changed file is parsed again (and a corrupt one refused).
        """
        try:
            fingerprint: Fingerprint | None = _fingerprint(self.path.stat())
        except FileNotFoundError:
            fingerprint = None
        except OSError as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc.strerror}") from None
        seen = self._seen
        if seen is None or seen.fingerprint != fingerprint:
            self.read()
            seen = self._seen
            assert seen is not None
        return seen

    def write(self, state: State) -> State:
        """Atomically replace the file with `state` at serial + 1, if nobody wrote in between.

        The caller is expected to hold the lock; this check is the safety net for when it
        does not (or a person edited the file meanwhile). The returned state shares its
        resources with `state`: keep using the returned one.
        """
        seen = self._seen
        disk = self._on_disk()
        # A store that never read goes by the serial: only a state at 0 was never written.
        created = seen.lineage is None if seen is not None else state.serial == 0
        self._check_unchanged(disk, state, created)
        new = state.model_copy(
            update={
                "format_version": STATE_FORMAT_VERSION,
                "serial": state.serial + 1,
                "ivrsync_version": __version__,
            }
        )
        try:
            fingerprint = self._replace(new.to_json())
        except OSError as exc:
            raise StateError(
                f"cannot write the state file {self.path}: {exc}; the state file is unchanged"
            ) from exc
        self._seen = _Seen(fingerprint, new.lineage, new.serial)
        return new

    def _check_unchanged(self, disk: _Seen, state: State, created: bool) -> None:
        """`created`: this store found no state, so `state` is a new one (of any serial)."""
        if disk.lineage is None:
            if not created:
                raise StateConflictError(
                    f"the state file {self.path} was removed since it was read "
                    f"(at serial {state.serial}); restore it from {self.backup_path.name} "
                    "or git, then run again"
                )
            return
        if disk.lineage != state.lineage:
            if created:
                raise StateConflictError(
                    f"a state already exists at {self.path} (serial {disk.serial}), written "
                    "since this run found none; ivrsync will not replace it: run again"
                )
            raise StateConflictError(
                f"the state file {self.path} now holds a different state (lineage "
                f"{disk.lineage}, serial {disk.serial}) from the one this run read (lineage "
                f"{state.lineage}, serial {state.serial}); it was replaced meanwhile (a git "
                "checkout?): run again"
            )
        if disk.serial != state.serial:
            raise StateConflictError(
                f"the state file {self.path} changed since it was read: it is at serial "
                f"{disk.serial}, this run read serial {state.serial}. Another ivrsync wrote "
                "it in between; run again to work from the new state"
            )

    def _replace(self, data: bytes) -> Fingerprint:
        """Write atomically, making the old file the backup just before the rename.

        `path` exists at every moment (the backup is a hard link, not a rename).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        written = write_atomically(
            self.path, data, before_replace=self._keep_backup if existed else None
        )
        return _fingerprint(written)

    def _keep_backup(self) -> None:
        """Make the current file the backup without ever taking it away from `path`."""
        temp = temp_path(self.path)
        try:
            try:
                os.link(self.path, temp)
            except FileNotFoundError:
                raise
            except OSError:  # no hard links on this file system (some network or FUSE ones)
                _copy_durably(self.path, temp)
            temp.replace(self.backup_path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        # rename() between two links to one file does nothing and leaves the source (POSIX).
        # That is the case after a write killed between its backup and its rename: the
        # backup is then a link to the state file itself.
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    # -- locking -------------------------------------------------------------------------

    def lock(self, operation: str, timeout: float) -> LockInfo:
        template = LockInfo(
            id=str(uuid.uuid4()),
            operation=operation,
            who=f"{user_name()}@{HOST}",
            host=HOST,
            pid=os.getpid(),
            created=datetime.now(UTC),
            version=__version__,
            path=str(self.path),
        )
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the lock file {self.lock_path}: {exc}") from None
        deadline = time.monotonic() + max(timeout, 0.0)
        vanished = 0
        while True:
            info = template.model_copy(update={"created": datetime.now(UTC)})
            if self._create_lock(info):
                return info
            if self._take_over_if_gone():
                vanished += 1  # freed: try again
            else:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    time.sleep(min(LOCK_POLL_SECONDS, remaining))
                    continue
                holder = self._holder_after_timeout()
                if holder is not None:
                    if holder.holder_is_gone:  # another ivrsync is taking it over, or died doing so
                        raise StateError(
                            f"the state {self.path} is locked by {holder.describe()}, which "
                            f"is gone, and {self.takeover_path} says another ivrsync is "
                            "taking the lock over. If no ivrsync is running on this state, "
                            f"delete {self.takeover_path} and run again"
                        )
                    raise StateLockedError(holder)
                vanished += 1  # released just now: try again
            lock_changed_hands(vanished, deadline - time.monotonic(), self.location, time.sleep)

    def _take_over_if_gone(self) -> bool:
        """Remove the lock if its holder is provably gone (this host, process not running);
        True when the lock file is free now (taken over, or released meanwhile).

        Two ivrsyncs may find the same dead lock: the takeover file (O_EXCL) lets one at a
        time look again and remove it, so the second finds the first one's new lock (or
        none) and never removes a live one. A lock from another host is never taken over:
        whether its process runs cannot be known from here.
        """
        try:
            holder = self.current_lock()
        except StateLockCorruptError:
            return False  # being written now, or unusable: waited on, then reported
        if holder is None:
            return True
        if not holder.holder_is_gone:
            return False
        try:
            fd = os.open(self.takeover_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False  # another ivrsync is taking it over right now
        except OSError as exc:
            raise StateError(f"cannot create {self.takeover_path}: {exc}") from None
        try:
            os.close(fd)
            try:
                current = self.current_lock()
            except StateLockCorruptError:
                return False
            if current is None or current.id != holder.id:
                return True  # changed since seen: look again
            self._remove_lock()
        finally:
            with contextlib.suppress(OSError):
                self.takeover_path.unlink()
        log.warning(
            "took over the lock on %s left by %s: that process is no longer running on this "
            "host (killed or crashed)",
            self.path,
            holder.describe(),
        )
        return True

    def _create_lock(self, info: LockInfo) -> bool:
        try:
            fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StateError(f"cannot create the lock file {self.lock_path}: {exc}") from None
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(info.model_dump_json(indent=2).encode() + b"\n")
                file.flush()
                os.fsync(file.fileno())
        except BaseException as exc:
            with contextlib.suppress(OSError):
                self.lock_path.unlink()
            if isinstance(exc, OSError):
                raise StateError(f"cannot write the lock file {self.lock_path}: {exc}") from None
            raise
        return True

    def _holder_after_timeout(self) -> LockInfo | None:
        """Who holds the lock; a lock file still empty is given a moment, since its holder
        may be writing it right now (it is created empty, then filled)."""
        for _ in range(4):
            try:
                return self.current_lock()
            except StateLockCorruptError:
                time.sleep(0.1)
        return self.current_lock()

    def current_lock(self) -> LockInfo | None:
        try:
            data = self.lock_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._corrupt_lock(f"it cannot be read: {exc.strerror}") from None
        if not data.strip():
            raise self._corrupt_lock("it is empty")
        try:
            return LockInfo.model_validate_json(data)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise self._corrupt_lock(
                f"it is not a lock record ({where + ': ' if where else ''}{problem['msg']})"
            ) from None

    def _corrupt_lock(self, what: str) -> StateLockCorruptError:
        return StateLockCorruptError(
            f"the state {self.path} is locked, but its lock file {self.lock_path} is "
            f"unusable: {what}. An ivrsync may have been killed while taking the lock. "
            f"ivrsync will not remove it: if no ivrsync is working on this state, delete "
            f"{self.lock_path} by hand"
        )

    def unlock(self, lock: LockInfo) -> None:
        try:
            current = self.current_lock()
        except StateLockCorruptError as exc:
            log.warning("not releasing lock %s: %s", lock.id, exc)
            return
        if current is None or current.id != lock.id:
            # Someone force-unlocked it (and maybe took it since): theirs is not ours to remove.
            log.warning("lock %s on %s was no longer held at release", lock.id, self.path)
            return
        self._remove_lock()

    def force_unlock(self, lock_id: str) -> LockInfo:
        current = self.current_lock()
        if current is None:
            raise StateError(
                f"the state {self.path} is not locked (there is no {self.lock_path.name}); "
                "nothing to unlock"
            )
        if current.id != lock_id:
            raise StateError(
                f"lock ID {lock_id} does not match the lock on {self.path}: it is held by "
                f"{current.describe()}. If that process is gone, run: "
                f"ivrsync force-unlock {current.id}"
            )
        self._remove_lock()
        return current

    def _remove_lock(self) -> None:
        try:
            self.lock_path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateError(f"cannot remove the lock file {self.lock_path}: {exc}") from None


_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def user_name() -> str:
    """Who runs ivrsync, for lock records."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no passwd entry (some containers)
        return "unknown"


def _copy_durably(source: Path, target: Path) -> None:
    with source.open("rb") as reader, target.open("xb") as writer:
        shutil.copyfileobj(reader, writer)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copymode(source, target)
