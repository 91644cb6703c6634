"""`status` shown: a table per provider, or JSON rows (docs/cli.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ivrsync.operations.status import StatusReport, UploadStatus


def age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _row(upload: UploadStatus, now: datetime) -> dict[str, Any]:
    return {
        "address": upload.address,
        "provider": upload.provider,
        "file_id": upload.file_id,
        "review": upload.review,
        "comment": upload.comment,
        "uploaded_at": _instant(upload.uploaded_at),
        "age": age(upload.uploaded_at, now),
        "reviewed_at": _instant(upload.reviewed_at) if upload.reviewed_at else None,
        "last_approved_file_id": upload.last_approved_file_id,
    }


def status_json(report: StatusReport) -> dict[str, Any]:
    return {
        "resources": [_row(upload, report.now) for upload in report.uploads],
        "in_doubt": report.in_doubt,
    }


def status_text(report: StatusReport) -> str | None:
    """The tables; None when nothing is recorded (the CLI says so as a message)."""
    rows = status_json(report)["resources"]
    if not rows:
        return None
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
    if report.in_doubt:
        lines.append(f"In doubt (sent, no answer recorded): {', '.join(report.in_doubt)}")
    return "\n".join(lines).rstrip()
