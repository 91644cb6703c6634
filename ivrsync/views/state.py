"""The state shown: `show` with no plan (a table, Markdown or the file's JSON), `state show`
(one entry as JSON), `state list-versions`, and what push, rollback and migrate wrote."""

from __future__ import annotations

import json
from typing import Any

from ivrsync.operations.state import RecordedEntry, Replaced
from ivrsync.state.model import State
from ivrsync.state.store import StateVersion


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
        lines = _columns(header, rows)
    return "\n".join(lines)


def _columns(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def _written(version: StateVersion) -> str:
    return version.written.strftime("%Y-%m-%dT%H:%M:%SZ") if version.written else "-"


def versions_table(versions: list[StateVersion]) -> str:
    """`state list-versions`: one version a row, the current one marked."""
    rows = [(v.id, v.serial, _written(v), "current" if v.current else "") for v in versions]
    return "\n".join(_columns(("id", "serial", "written (UTC)", ""), rows))


def versions_json(versions: list[StateVersion]) -> list[dict[str, Any]]:
    return [
        {
            "id": v.id,
            "serial": v.serial,
            "lineage": v.lineage,
            "written": _written(v) if v.written else None,
            "current": v.current,
        }
        for v in versions
    ]


def replaced_lines(replaced: Replaced, done: str) -> list[str]:
    """What push, rollback or migrate wrote (`done`: "Pushed FILE to"), and, loudly, what a
    --force overrode and the FileIds the state no longer records."""
    state = replaced.state
    lines = []
    if replaced.forced:
        lines.append(f"WARNING: --force: {replaced.forced}; it was replaced anyway.")
    lines.append(
        f"{done} {replaced.location}: state serial {state.serial}, lineage {state.lineage}, "
        f"{len(state.resources)} resource(s)."
    )
    if replaced.dropped:
        shown = ", ".join(f"{address} (FileId {file_id})" for address, file_id in replaced.dropped)
        lines.append(
            f"WARNING: the state no longer records {len(replaced.dropped)} upload(s) the "
            f"replaced one did: {shown}. The files stay at the provider; `ivrsync import "
            "ADDRESS FILE_ID` records one again (the replaced state is kept: "
            "`ivrsync state list-versions`)."
        )
    return lines


def state_summary(state: State) -> str:
    return (
        f"State serial {state.serial}, lineage {state.lineage}: {len(state.resources)} resource(s)."
    )
