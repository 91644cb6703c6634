"""`ivrsync status`: where each upload stands in review, per provider."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.operations.status import status as read_status
from ivrsync.views.status import status_json, status_text


@click.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def status(as_json: bool) -> int:
    """A table per provider of pending, approved and rejected uploads, with comments and ages.

    Run `ivrsync refresh` first to ask the providers for news.
    """
    out = console()
    report = read_status(Path.cwd(), datetime.now(UTC))
    if as_json:
        out.json(status_json(report))
        return 0
    text = status_text(report)
    if text is None:
        out.message("No uploads recorded yet.")
    else:
        out.data(text)
    return 0
