"""`refresh` shown: what changed, one message a line, and a summary line (docs/cli.md)."""

from __future__ import annotations

from ivrsync.operations.refresh import Refreshed


def refresh_messages(refreshed: Refreshed) -> list[str]:
    report = refreshed.report
    lines = []
    for address, before, after in report.changes:
        if after == "missing":
            lines.append(f"{address}: no longer listed by the provider: the next plan uploads it")
        else:
            lines.append(f"{address}: {before} -> {after}")
    lines += [f"Note: {note}" for note in report.notes]
    return lines


def refresh_summary(refreshed: Refreshed) -> str:
    statuses = refreshed.report.statuses
    counts = ", ".join(f"{statuses[s]} {s}" for s in ("approved", "rejected", "pending", "missing"))
    return f"Refreshed: {counts}. State serial {refreshed.serial}."
