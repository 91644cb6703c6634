"""`ivrsync import ADDRESS FILE_ID`: record an upload's FileId without uploading anything."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console, lock_timeout_option
from ivrsync.operations.import_ import import_upload


@click.command("import")
@common_options
@click.argument("address")
@click.argument("file_id")
@click.option(
    "--force", is_flag=True, help="Replace the FileId ADDRESS records (it may be the approved one)."
)
@lock_timeout_option
def import_(address: str, file_id: str, force: bool, lock_timeout: float) -> int:
    """Record FILE_ID as the current upload of ADDRESS (provider.prompt.locale).

    For an upload in doubt that did land (a lost answer), or one made outside ivrsync. Tencent
    is asked whether the FileId exists, and its name must not say it holds other audio; it
    gives the review status. Huawei cannot be asked: only the FileId's form (19 digits) is
    checked, so check the FileId in the console first. Replacing a FileId the state records
    needs --force.
    """
    outcome = import_upload(Path.cwd(), address, file_id, force=force, lock_timeout=lock_timeout)
    entry, replaced_id = outcome.imported.entry, outcome.imported.replaced
    replaced = f", replacing FileId {replaced_id}" if replaced_id else ""
    console().message(
        f"Imported {address}: FileId {entry.file_id} ({entry.remote_name}, review "
        f"{entry.review.status}){replaced}. State serial {outcome.serial}."
    )
    return 0
