"""`ivrsync import ADDRESS FILE_ID`: record an upload's FileId without uploading anything."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.apply.workflow import ApplySession, import_file_id
from ivrsync.cli.options import common_options, console, lock_timeout_option


@click.command("import")
@common_options
@click.argument("address")
@click.argument("file_id")
@lock_timeout_option
def import_(address: str, file_id: str, lock_timeout: float) -> int:
    """Record FILE_ID as the current upload of ADDRESS (provider.prompt.locale).

    For an upload in doubt that did land (a lost answer), or one made outside ivrsync. Tencent
    is asked whether the FileId exists and gives its name and review status; Huawei cannot be
    asked, so check the FileId in the console first.
    """
    with ApplySession(Path.cwd(), lock_timeout=lock_timeout, operation="import") as session:
        entry = import_file_id(session, address, file_id)
    console().message(
        f"Imported {address}: FileId {entry.file_id} ({entry.remote_name}, review "
        f"{entry.review.status}). State serial {session.state.serial if session.state else 0}."
    )
    return 0
