"""Edits of the state that `ivrsync state mv|rm` make, as Terraform's state commands do."""

from __future__ import annotations

import fnmatch

from ivrsync.address import Address
from ivrsync.errors import IvrsyncError
from ivrsync.state.model import State


def matching(state: State, patterns: tuple[str, ...]) -> list[str]:
    """Addresses in the state (recorded or in doubt) matching any of the globs; all if none."""
    addresses = sorted(set(state.resources) | set(state.in_doubt))
    if not patterns:
        return addresses
    return [a for a in addresses if any(fnmatch.fnmatchcase(a, p) for p in patterns)]


def move(state: State, source: str, target: str) -> None:
    """Record the upload of `source` under `target`: no upload, the FileId is kept."""
    old, new = Address.parse(source), Address.parse(target)
    if source not in state.resources:
        raise IvrsyncError(f"{source} is not in the state (see `ivrsync state list`)")
    if target in state.resources or target in state.in_doubt:
        raise IvrsyncError(f"{target} is already in the state; `ivrsync state rm` it first")
    if old.provider != new.provider:
        raise IvrsyncError(
            f"a FileId belongs to its provider: {source} cannot move to provider {new.provider}"
        )
    state.resources[target] = state.resources.pop(source)


def remove(state: State, patterns: tuple[str, ...]) -> list[str]:
    """Forget these addresses; the remote files stay (neither API can delete)."""
    removed = matching(state, patterns)
    if not removed:
        raise IvrsyncError(f"no address in the state matches {', '.join(patterns)}")
    for address in removed:
        state.resources.pop(address, None)
        state.in_doubt.pop(address, None)
    return removed
