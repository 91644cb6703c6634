"""Why the state cannot be read, written or locked: each error says what to do about it.

They live apart from `store` so that the model can raise them without an import cycle;
`ivrsync.state.store` re-exports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ivrsync.errors import IvrsyncError

if TYPE_CHECKING:
    from ivrsync.state.store import LockInfo


class StateError(IvrsyncError):
    """The state file or its lock cannot be used as asked."""

    error_code = "state_error"


class StateCorruptError(StateError):
    """The state file is not a state ivrsync wrote; it is never overwritten."""

    error_code = "state_corrupt"

    def __init__(self, source: str, reason: str, backup: Path | None = None) -> None:
        self.source = source
        self.reason = reason
        self.backup = backup
        if backup is not None:
            where = f"The previous version is in {backup}. "
            fix = f"repair it or restore it (from {backup.name} or git)"
        else:
            where = ""
            fix = "repair it or restore it from git"
        super().__init__(
            f"the state file {source} is corrupt: {reason}. {where}"
            f"ivrsync will not overwrite it: {fix}, then run again."
        )


class StateVersionError(StateError):
    """The state has a format this ivrsync cannot read; it is never overwritten."""

    error_code = "state_version"

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(message)


class StateConflictError(StateError):
    """The state on disk changed since it was read: writing would lose someone's uploads."""

    error_code = "state_conflict"


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
