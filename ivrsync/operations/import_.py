"""`import`: record an upload's FileId without uploading, under the lock (apply/workflow.py
checks what the provider lets it check)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivrsync.apply.workflow import ApplySession, Imported, import_file_id


@dataclass(frozen=True)
class ImportOutcome:
    imported: Imported
    serial: int  # of the state as written


def import_upload(
    root: Path, address: str, file_id: str, *, force: bool, lock_timeout: float
) -> ImportOutcome:
    with ApplySession(root, lock_timeout=lock_timeout, operation="import") as session:
        imported = import_file_id(session, address, file_id, force=force)
    return ImportOutcome(imported, session.state.serial if session.state else 0)
