"""`status`: where each recorded upload stands in review, read from the state (no network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivrsync.operations.state import read_state


@dataclass(frozen=True)
class UploadStatus:
    address: str
    provider: str
    file_id: str
    review: str  # approved, pending, rejected, or missing (the provider no longer lists it)
    comment: str | None
    uploaded_at: datetime
    reviewed_at: datetime | None
    last_approved_file_id: str | None  # what flows keep using while this one is not approved


@dataclass(frozen=True)
class StatusReport:
    uploads: list[UploadStatus]  # by address
    in_doubt: list[str]  # sent with no answer recorded
    now: datetime  # ages are counted to this instant


def status(root: Path, now: datetime) -> StatusReport:
    state = read_state(root)
    if state is None:
        return StatusReport([], [], now)
    uploads = [
        UploadStatus(
            address=address,
            provider=entry.provider,
            file_id=entry.file_id,
            review="missing" if entry.missing_since else entry.review.status,
            comment=entry.review.comment,
            uploaded_at=entry.uploaded_at,
            reviewed_at=entry.review.updated_at,
            last_approved_file_id=entry.last_approved.file_id if entry.last_approved else None,
        )
        for address, entry in sorted(state.resources.items())
    ]
    return StatusReport(uploads, sorted(state.in_doubt), now)
