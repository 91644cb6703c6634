"""The state shown: `show` with no plan (a table, Markdown or the file's JSON) and
`state show` (one entry as JSON)."""

from __future__ import annotations

import json

from ivrsync.operations.state import RecordedEntry
from ivrsync.state.model import State


def entry_json(recorded: RecordedEntry) -> str:
    data = recorded.entry.model_dump(mode="json")
    if recorded.in_doubt:
        data = {"in_doubt": data}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def state_table(state: State, fmt: str) -> str:
    """The recorded uploads, one a row: `markdown`, `json` (the state file) or `text`."""
    if fmt == "json":
        return state.to_json().decode().rstrip("\n")
    rows = [
        (
            address,
            entry.file_id,
            entry.review.status,
            entry.uploaded_at.strftime("%Y-%m-%d %H:%M"),
            entry.audio_path,
        )
        for address, entry in sorted(state.resources.items())
    ]
    header = ("address", "FileId", "review", "uploaded (UTC)", "audio")
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([f"`{row[0]}`", *row[1:]]) + " |" for row in rows]
    else:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]
        ]
    return "\n".join(lines)


def state_summary(state: State) -> str:
    return (
        f"State serial {state.serial}, lineage {state.lineage}: {len(state.resources)} resource(s)."
    )
