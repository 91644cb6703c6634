"""`ivrsync state list|show|mv|rm`: look at the state, or change it by hand, under its lock."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console, lock_timeout_option
from ivrsync.operations import state as operations
from ivrsync.views.state import entry_json


@click.group()
@common_options
def state() -> None:
    """Look at the state, or change it by hand (the remote files never change)."""


@state.command("list")
@common_options
@click.argument("patterns", nargs=-1, metavar="[ADDRESS...]")
def list_(patterns: tuple[str, ...]) -> int:
    """Addresses in the state, one a line (globs filter them, e.g. 'ccc.*')."""
    found = operations.list_addresses(Path.cwd(), patterns)
    if found:
        console().data("\n".join(found))
    return 0


@state.command("show")
@common_options
@click.argument("address")
def show(address: str) -> int:
    """Everything the state records of ADDRESS, as JSON."""
    console().data(entry_json(operations.recorded_entry(Path.cwd(), address)))
    return 0


@state.command("mv")
@common_options
@click.argument("source")
@click.argument("target")
@lock_timeout_option
def mv(source: str, target: str, lock_timeout: float) -> int:
    """Record SOURCE's upload under TARGET (keeps the FileId; nothing is uploaded)."""
    written = operations.move(Path.cwd(), source, target, lock_timeout)
    console().message(f"Moved {source} to {target}. State serial {written.serial}.")
    return 0


@state.command("rm")
@common_options
@click.argument("patterns", nargs=-1, required=True, metavar="ADDRESS...")
@lock_timeout_option
def rm(patterns: tuple[str, ...], lock_timeout: float) -> int:
    """Forget addresses (globs allowed); the remote files stay. A later plan uploads them
    again if the manifests still declare them."""
    removed = operations.remove(Path.cwd(), patterns, lock_timeout)
    out = console()
    for address in removed.addresses:
        out.message(f"Removed {address} (the remote file stays).")
    out.message(f"State serial {removed.state.serial}.")
    return 0
