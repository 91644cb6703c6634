"""`refresh`: ask the providers for review results and drift, and record them, under the lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivrsync.apply.workflow import ApplySession
from ivrsync.refresh import RefreshReport, refresh_state


@dataclass(frozen=True)
class Refreshed:
    report: RefreshReport
    serial: int  # of the state as written


def refresh(root: Path, lock_timeout: float, now: datetime) -> Refreshed | None:
    """None when there is no state yet (nothing to ask about)."""
    # A signal stops refresh at once (it writes nothing until the end): the lock is released
    # as on any error (ivrsync/cli/app.py).
    with ApplySession(root, lock_timeout=lock_timeout, operation="refresh") as session:
        if session.state is None:
            return None
        report = refresh_state(session.project, session.state, session.env, now)
        return Refreshed(report, session.store.write(session.state).serial)
