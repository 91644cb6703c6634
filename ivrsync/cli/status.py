"""`ivrsync status`: where each upload stands in review, per provider."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ivrsync.cli.options import common_options, console
from ivrsync.manifest.loader import read_state_path
from ivrsync.state.model import ResourceState
from ivrsync.state.store import LocalStateStore


def age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _row(address: str, entry: ResourceState, now: datetime) -> dict[str, Any]:
    review = entry.review
    status = "missing" if entry.missing_since else review.status
    return {
        "address": address,
        "provider": entry.provider,
        "file_id": entry.file_id,
        "review": status,
        "comment": review.comment,
        "uploaded_at": entry.uploaded_at.isoformat().replace("+00:00", "Z"),
        "age": age(entry.uploaded_at, now),
        "reviewed_at": review.updated_at.isoformat().replace("+00:00", "Z")
        if review.updated_at
        else None,
        "last_approved_file_id": entry.last_approved.file_id if entry.last_approved else None,
    }


@click.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def status(as_json: bool) -> int:
    """A table per provider of pending, approved and rejected uploads, with comments and ages.

    Run `ivrsync refresh` first to ask the providers for news.
    """
    out = console()
    state = LocalStateStore(read_state_path(Path.cwd())).read()
    now = datetime.now(UTC)
    rows = [_row(a, e, now) for a, e in sorted(state.resources.items())] if state else []
    if as_json:
        doubts = sorted(state.in_doubt) if state else []
        out.json({"resources": rows, "in_doubt": doubts})
        return 0
    if not rows:
        out.message("No uploads recorded yet.")
        return 0
    lines: list[str] = []
    for provider in sorted({r["provider"] for r in rows}):
        mine = [r for r in rows if r["provider"] == provider]
        counts = {s: sum(r["review"] == s for r in mine) for s in ("approved", "pending")}
        rejected = sum(r["review"] == "rejected" for r in mine)
        missing = sum(r["review"] == "missing" for r in mine)
        lines.append(
            f"{provider}: {counts['approved']} approved, {counts['pending']} pending, "
            f"{rejected} rejected" + (f", {missing} missing" if missing else "")
        )
        table = [("address", "FileId", "review", "age", "comment / fallback")]
        for r in mine:
            note = r["comment"] or ""
            if r["last_approved_file_id"]:
                note = (note + "; " if note else "") + f"flows keep {r['last_approved_file_id']}"
            table.append((r["address"], r["file_id"], r["review"], r["age"], note))
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for row in table:
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            lines.append("  " + "  ".join([*cells, row[4]]).rstrip())
        lines.append("")
    if state and state.in_doubt:
        lines.append(f"In doubt (sent, no answer recorded): {', '.join(sorted(state.in_doubt))}")
    out.data("\n".join(lines).rstrip())
    return 0
