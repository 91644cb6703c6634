"""`ivrsync state list|show|mv|rm`: look at the state, or change it by hand, under its lock."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console, lock_timeout_option
from ivrsync.errors import IvrsyncError
from ivrsync.manifest.loader import read_state_path
from ivrsync.state import operations
from ivrsync.state.model import State
from ivrsync.state.store import LocalStateStore, locked


def _store() -> LocalStateStore:
    return LocalStateStore(read_state_path(Path.cwd()))


def _read(store: LocalStateStore) -> State:
    state = store.read()
    if state is None:
        raise IvrsyncError(f"there is no state yet ({store.path}): nothing has been uploaded")
    return state


@click.group()
@common_options
def state() -> None:
    """Look at the state, or change it by hand (the remote files never change)."""


@state.command("list")
@common_options
@click.argument("patterns", nargs=-1, metavar="[ADDRESS...]")
def list_(patterns: tuple[str, ...]) -> int:
    """Addresses in the state, one a line (globs filter them, e.g. 'ccc.*')."""
    found = operations.matching(_read(_store()), patterns)
    if found:
        console().data("\n".join(found))
    return 0


@state.command("show")
@common_options
@click.argument("address")
def show(address: str) -> int:
    """Everything the state records of ADDRESS, as JSON."""
    current = _read(_store())
    entry = current.resources.get(address) or current.in_doubt.get(address)
    if entry is None:
        raise IvrsyncError(f"{address} is not in the state (see `ivrsync state list`)")
    data = entry.model_dump(mode="json")
    if address in current.in_doubt:
        data = {"in_doubt": data}
    console().data(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


@state.command("mv")
@common_options
@click.argument("source")
@click.argument("target")
@lock_timeout_option
def mv(source: str, target: str, lock_timeout: float) -> int:
    """Record SOURCE's upload under TARGET (keeps the FileId; nothing is uploaded)."""
    store = _store()
    with locked(store, "state mv", lock_timeout):
        current = _read(store)
        operations.move(current, source, target)
        written = store.write(current)
    console().message(f"Moved {source} to {target}. State serial {written.serial}.")
    return 0


@state.command("rm")
@common_options
@click.argument("patterns", nargs=-1, required=True, metavar="ADDRESS...")
@lock_timeout_option
def rm(patterns: tuple[str, ...], lock_timeout: float) -> int:
    """Forget addresses (globs allowed); the remote files stay. A later plan uploads them
    again if the manifests still declare them."""
    store = _store()
    with locked(store, "state rm", lock_timeout):
        current = _read(store)
        removed = operations.remove(current, patterns)
        written = store.write(current)
    out = console()
    for address in removed:
        out.message(f"Removed {address} (the remote file stays).")
    out.message(f"State serial {written.serial}.")
    return 0
