"""Edits of the state that `ivrsync state mv|rm|push|rollback|migrate` make, as Terraform's
state commands do."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ivrsync.address import Address
from ivrsync.errors import IvrsyncError
from ivrsync.state.model import State
from ivrsync.state.store import StateStore

# Next to ivrsync.yaml: the state an apply could not write, for `ivrsync state push`.
UNSAVED_STATE_FILE = "ivrsync.state.unsaved.json"


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


def replace_problem(stored: State | None, incoming: State, where: str, what: str) -> str | None:
    """Why writing `incoming` (`what`: a file pushed, a version) over `stored` (at `where`)
    could lose uploads, as `terraform state push` checks: `stored` is another state (lineage),
    or was written since `incoming` was read from it (a higher serial). None when it is safe."""
    if stored is None:
        return None
    if stored.lineage != incoming.lineage:
        return (
            f"{where} holds another state (lineage {stored.lineage}, serial {stored.serial}) "
            f"than {what} (lineage {incoming.lineage}, serial {incoming.serial})"
        )
    if incoming.serial < stored.serial:
        return (
            f"{where} is at serial {stored.serial}, newer than {what} (serial "
            f"{incoming.serial}): it holds writes that {what} lacks"
        )
    return None


def push_needs_force(store: StateStore, pushed: State) -> bool:
    """Whether `state push` of `pushed` to `store` would need --force now (a store that cannot
    be read now says nothing: the push itself will tell)."""
    try:
        stored = store.read()
    except IvrsyncError:
        return False
    return replace_problem(stored, pushed, store.location, "it") is not None


def dropped_file_ids(stored: State | None, incoming: State) -> list[tuple[str, str]]:
    """(address, FileId) that `stored` records and `incoming` does not: what replacing one with
    the other makes the state forget (the files stay at the provider)."""
    if stored is None:
        return []
    return [
        (address, entry.file_id)
        for address, entry in sorted(stored.resources.items())
        if (kept := incoming.resources.get(address)) is None or kept.file_id != entry.file_id
    ]


def written_over(stored: State | None, incoming: State) -> State:
    """`incoming`'s content, to be written over `stored`: at its serial (the write makes it
    serial + 1) and lineage, as the store's conditional write wants; a plan saved against
    `stored` is stale afterwards. Over no state, `incoming` is written as it is."""
    if stored is None:
        return incoming
    return incoming.model_copy(update={"lineage": stored.lineage, "serial": stored.serial})


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
