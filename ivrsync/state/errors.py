"""Why the state cannot be read or written: each error says what to do about it.

They live apart from `store` so that the model can raise them without an import cycle;
`ivrsync.state.store` re-exports them. The lock's own errors are in `store`, with the lock.
"""

from __future__ import annotations

from pathlib import Path

from ivrsync.errors import IvrsyncError


class StateError(IvrsyncError):
    """The state file or its lock cannot be used as asked."""

    error_code = "state_error"


class StateCorruptError(StateError):
    """The state file is not a state ivrsync wrote; it is never overwritten."""

    error_code = "state_corrupt"

    def __init__(
        self, source: str, reason: str, backup: Path | None = None, *, fix: str | None = None
    ) -> None:
        """`fix`: how to restore it where that is not git (a remote backend's history)."""
        self.source = source
        self.reason = reason
        self.backup = backup
        if backup is not None:
            where = f"The previous version is in {backup}. "
            fix = f"repair it or restore it (from {backup.name} or git)"
        else:
            where = ""
            fix = fix or "repair it or restore it from git"
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
