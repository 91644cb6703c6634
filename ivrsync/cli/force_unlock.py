"""`ivrsync force-unlock LOCK_ID`: free the state after an ivrsync was killed holding its lock."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.operations.state import force_unlock as remove_lock


@click.command("force-unlock")
@common_options
@click.argument("lock_id", metavar="LOCK_ID")
def force_unlock(lock_id: str) -> int:
    """Remove the state lock LOCK_ID, left by an ivrsync that was killed or crashed.

    The ID is the one an error about the lock names. Only do this when the process holding
    the lock is gone: two runs changing the state at once can upload twice.
    """
    holder = remove_lock(Path.cwd(), lock_id)
    console().message(
        f"Lock {holder.id} (held by {holder.who}, {holder.operation}, since {holder.since}) "
        "removed."
    )
    return 0
