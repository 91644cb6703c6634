"""`ivrsync state list|show|mv|rm|pull|push|list-versions|rollback|migrate`: look at the
state, or change it by hand, under its lock."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console, lock_timeout_option
from ivrsync.operations import state as operations
from ivrsync.views.state import entry_json, replaced_lines, versions_json, versions_table


@click.group()
@common_options
def state() -> None:
    """Look at the state, or change it by hand (the remote files never change).

    Every command that writes the state takes its lock; one writing over the stored state
    (push, rollback, migrate) refuses to lose what it records unless told --force.
    """


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


force_option = click.option(
    "--force",
    is_flag=True,
    help="Write even over a state of another lineage, or a newer serial (loses what it records).",
)


@state.command("pull")
@common_options
@click.argument("file", required=False, metavar="[FILE]")
def pull(file: str | None) -> int:
    """The current state, as stored: to stdout, or written to FILE."""
    current = operations.pull(Path.cwd(), Path(file) if file else None)
    if file is None:
        console().document(current.to_json().decode())
    return 0


@state.command("push")
@common_options
@click.argument("file", metavar="FILE")
@force_option
@lock_timeout_option
def push(file: str, force: bool, lock_timeout: float) -> int:
    """Make the state in FILE the current one (serial + 1), under the lock.

    Refused when FILE is another state (lineage) than the stored one, or older (a lower
    serial: someone wrote since), unless --force. After apply could not write the state, it
    kept it in ivrsync.state.unsaved.json and names the push command to run.
    """
    replaced = operations.push(Path.cwd(), Path(file), force, lock_timeout)
    for line in replaced_lines(replaced, f"Pushed {file} to"):
        console().message(line)
    return 0


@state.command("list-versions")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
def list_versions(as_json: bool) -> int:
    """The versions of the state the backend keeps, the current one first (for rollback)."""
    versions = operations.list_versions(Path.cwd())
    if as_json:
        console().json(versions_json(versions))
    else:
        console().data(versions_table(versions))
    return 0


@state.command("rollback")
@common_options
@click.argument("version_id", metavar="VERSION_ID")
@lock_timeout_option
def rollback(version_id: str, lock_timeout: float) -> int:
    """Make a kept version (`state list-versions`) the current state again, as a new version
    (serial + 1): the one rolled back from is kept too."""
    replaced = operations.rollback(Path.cwd(), version_id, lock_timeout)
    for line in replaced_lines(replaced, f"Rolled back to version {version_id} of"):
        console().message(line)
    return 0


@state.command("migrate")
@common_options
@click.option(
    "--from-revision",
    "revision",
    default="HEAD",
    show_default=True,
    metavar="REV",
    help="The git revision whose ivrsync.yaml names the state to copy from.",
)
@force_option
@lock_timeout_option
def migrate(revision: str, force: bool, lock_timeout: float) -> int:
    """Copy the state to where ivrsync.yaml's `state:` now puts it, from where it put it at a
    git revision (HEAD: before your uncommitted edit), holding both locks.

    As `terraform init -migrate-state`: change `state:`, run this, then commit. Refused when
    the target holds another state (or a newer one), unless --force. The old state is left
    as it was: remove it once the new backend works.
    """
    replaced = operations.migrate(Path.cwd(), revision, force, lock_timeout)
    for line in replaced_lines(replaced, f"Migrated the state from {replaced.source} to"):
        console().message(line)
    console().message(
        f"{replaced.source} is left as it was: remove it once the new backend works (a push "
        "of it is refused as older)."
    )
    return 0
