"""`ivrsync refresh`: record what the providers say now: review results, and drift."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ivrsync.apply.workflow import ApplySession
from ivrsync.cli.options import common_options, console, lock_timeout_option


@click.command()
@common_options
@lock_timeout_option
def refresh(lock_timeout: float) -> int:
    """Update review statuses and find drift; uploads nothing.

    Tencent: DescribeIvrAudioList (a FileId it no longer lists is drift: the next plan uploads
    it again). Huawei: the results `ivrsync review-server` received (reviews_url).
    """
    from ivrsync.refresh import refresh_state

    out = console()
    # A signal stops refresh at once (it writes nothing until the end): the lock is released
    # as on any error (ivrsync/cli/app.py).
    with ApplySession(Path.cwd(), lock_timeout=lock_timeout, operation="refresh") as session:
        if session.state is None:
            out.message("No state yet: nothing to refresh.")
            return 0
        report = refresh_state(session.project, session.state, session.env, datetime.now(UTC))
        written = session.store.write(session.state)
    for address, before, after in report.changes:
        if after == "missing":
            out.message(f"{address}: no longer listed by the provider: the next plan uploads it")
        else:
            out.message(f"{address}: {before} -> {after}")
    for note in report.notes:
        out.message(f"Note: {note}")
    counts = ", ".join(
        f"{report.statuses[s]} {s}" for s in ("approved", "rejected", "pending", "missing")
    )
    out.data(f"Refreshed: {counts}. State serial {written.serial}.")
    return 0
