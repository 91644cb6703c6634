"""Edits of the state that `ivrsync state mv|rm` make, as Terraform's state commands do."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

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


@dataclass
class FlowFileIds:
    # provider -> prompt -> locale -> FileId
    mapping: dict[str, dict[str, dict[str, str]]]
    # (address, why it has no FileId here): what a flow author must not miss silently
    left_out: list[tuple[str, str]]


def flow_file_ids(state: State, approved_only: bool) -> FlowFileIds:
    """The FileIds IVR flows reference, and the addresses that have none to give.

    With `approved_only`, the upload flows can use: the current one if approved, else the
    last approved one, else none. A FileId the provider no longer lists is left out, and so
    is an upload in doubt (it has no FileId until the user decides).
    """
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    left_out: list[tuple[str, str]] = []
    for address, entry in sorted(state.resources.items()):
        if entry.missing_since is not None:
            left_out.append(
                (address, f"the provider no longer lists FileId {entry.file_id} (refresh)")
            )
            continue
        file_id: str | None = entry.file_id
        if approved_only and entry.review.status != "approved":
            file_id = entry.last_approved.file_id if entry.last_approved else None
        if file_id is None:
            left_out.append((address, f"no upload approved yet (review {entry.review.status})"))
            continue
        where = Address.parse(address)
        mapping.setdefault(where.provider, {}).setdefault(where.prompt, {})[where.locale] = file_id
    for address in sorted(set(state.in_doubt) - set(state.resources)):
        left_out.append(
            (
                address,
                "its upload is in doubt and needs a decision (`ivrsync plan` says which)",
            )
        )
    left_out.sort()
    return FlowFileIds(mapping, left_out)
