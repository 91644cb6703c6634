"""The state: what was uploaded where, with which FileId, and the lock around changing it."""

from ivrsync.state.errors import (
    StateConflictError,
    StateCorruptError,
    StateError,
    StateVersionError,
)
from ivrsync.state.model import (
    STATE_FORMAT_VERSION,
    ApprovedUpload,
    ResourceState,
    Review,
    ReviewStatus,
    State,
    provider_day,
)
from ivrsync.state.store import (
    LocalStateStore,
    LockInfo,
    StateLockCorruptError,
    StateLockedError,
    StateStore,
    locked,
)

__all__ = [
    "STATE_FORMAT_VERSION",
    "ApprovedUpload",
    "LocalStateStore",
    "LockInfo",
    "ResourceState",
    "Review",
    "ReviewStatus",
    "State",
    "StateConflictError",
    "StateCorruptError",
    "StateError",
    "StateLockCorruptError",
    "StateLockedError",
    "StateStore",
    "StateVersionError",
    "locked",
    "provider_day",
]
