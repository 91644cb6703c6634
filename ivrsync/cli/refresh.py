"""`ivrsync refresh`: record what the providers say now: review results, and drift."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console, lock_timeout_option


@click.command()
@common_options
@lock_timeout_option
def refresh(lock_timeout: float) -> int:
    """Update review statuses and find drift; uploads nothing.

    Tencent: DescribeIvrAudioList (a FileId it no longer lists is drift: the next plan uploads
    it again). Huawei: the results `ivrsync review-server` received (reviews_url).
    """
    from ivrsync.operations.refresh import refresh as refresh_state
    from ivrsync.views.refresh import refresh_messages, refresh_summary

    out = console()
    refreshed = refresh_state(Path.cwd(), lock_timeout, datetime.now(UTC))
    if refreshed is None:
        out.message("No state yet: nothing to refresh.")
        return 0
    for line in refresh_messages(refreshed):
        out.message(line)
    out.data(refresh_summary(refreshed))
    return 0
