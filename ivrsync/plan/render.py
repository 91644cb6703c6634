"""A plan as people read it: terminal text (like Terraform's) and Markdown for a PR comment.

Both take a `Plan` value, whether just made or loaded from a file; neither writes anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from ivrsync.plan.model import NEW_REASON, Action, Plan, ResourceChange, Summary

# GitHub refuses a comment longer than this many characters.
MARKDOWN_LIMIT = 65_536

Style = Callable[..., str]

_SYMBOLS = {
    Action.CREATE: "+",
    Action.REPLACE: "-/+",
    Action.MOVE: "=>",
    Action.FORGET: "-",
}
_COLOURS = {
    Action.CREATE: "green",
    Action.REPLACE: "yellow",
    Action.MOVE: "cyan",
    Action.FORGET: "red",
}


# An upload in doubt: it may or may not exist, and only the user can say which.
PENDING_SYMBOL = "?"


def _plain(text: str, **_: object) -> str:
    return text


def summary_line(summary: Summary) -> str:
    decide = f"{summary.pending} upload(s) in doubt pending a decision"
    if not summary.changes:
        if summary.pending:
            return f"No changes to apply, but {decide} (see above)."
        return "No changes. The state matches the manifests."
    line = (
        f"Plan: {summary.create} to upload, {summary.replace} to replace, "
        f"{summary.forget} to forget"
    )
    if summary.move:
        line += f", {summary.move} to move"
    if summary.pending:
        line += f"; {decide}"
    return line + "."


def _headline(change: ResourceChange) -> str:
    before = change.before
    if change.action is Action.CREATE:
        return f"{change.address} will be uploaded"
    if change.action is Action.REPLACE:
        moved = f" (moved from {change.previous_address})" if change.previous_address else ""
        return f"{change.address}{moved} will be uploaded again: it gets a new FileId"
    if change.action is Action.MOVE:
        kept = f"FileId {before.file_id} kept" if before else "FileId kept"
        return f"{change.previous_address} has moved to {change.address}: {kept}, no upload"
    if change.action is Action.FORGET:
        return f"{change.address} will be forgotten: the remote file stays"
    return f"{change.address} is unchanged"


def _fmt_size(size: int) -> str:
    return f"{size:,} bytes"


def _details(change: ResourceChange) -> list[str]:
    """The lines under a change: what would be uploaded, and why."""
    lines: list[str] = []
    after, before = change.after, change.before
    if change.action is Action.CREATE and after:
        lines += [
            f"audio:       {after.audio_path} ({_fmt_size(after.size)})",
            f"sha256:      {after.sha256[:16]}",
            f"remote_name: {after.remote_name}",
            *(f"{key + ':':<12} {value}" for key, value in sorted(after.attributes.items())),
            *(f"# {r.message}" for r in change.reasons if r.message != NEW_REASON),
        ]
        return lines
    if change.action is Action.FORGET and before:
        return [f"# FileId {before.file_id}, uploaded from {before.audio_path}"]
    for reason in change.reasons:
        if reason.attribute:
            old, new = reason.before or "(none)", reason.after or "(none)"
            if reason.attribute == "sha256":
                old, new = old[:16], new[:16]
            lines.append(f"~ {reason.attribute}: {old} -> {new}")
        else:
            lines.append(f"# {reason.message}")
    if change.action is Action.REPLACE and before:
        if before.review_status == "approved":
            lines.append(
                f"# FileId {before.file_id} (approved) stays in use until the new upload is "
                "approved"
            )
        else:
            lines.append(f"# FileId {before.file_id} ({before.review_status}) is superseded")
    return lines


def render_text(plan: Plan, style: Style = _plain) -> str:
    out: list[str] = []
    if plan.changes:
        out.append("ivrsync will perform these actions:")
        out.append("")
        for change in plan.changes:
            symbol = _SYMBOLS[change.action]
            colour = _COLOURS[change.action]
            out.append(style(f"  # {_headline(change)}", bold=True))
            out.append(f"{style(f'{symbol:>3}', fg=colour, bold=True)} {change.address}")
            out.extend(f"      {line}" for line in _details(change))
            out.append("")
    if plan.pending:
        out.append("Pending a decision (uploads in doubt):")
        out.append("")
        for pending in plan.pending:
            out.append(
                f"{style(f'{PENDING_SYMBOL:>3}', fg='magenta', bold=True)} {pending.address}"
            )
            out.append(f"      # {pending.message}")
        out.append("")
    if plan.warnings:
        for warning in plan.warnings:
            out.append(f"{style('Warning:', fg='yellow', bold=True)} {warning.message}")
        out.append("")
    out.append(style(summary_line(plan.summary), bold=True))
    return "\n".join(out)


def _provider_counts(changes: list[ResourceChange]) -> str:
    counts = dict.fromkeys(Action, 0)
    for change in changes:
        counts[change.action] += 1
    words = {
        Action.CREATE: "to upload",
        Action.REPLACE: "to replace",
        Action.MOVE: "to move",
        Action.FORGET: "to forget",
    }
    return ", ".join(f"{counts[a]} {w}" for a, w in words.items() if counts[a])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: the summary first, tables per provider, the full plan folded.

    Cut to `limit` characters: the folded details go first, then table rows, and a note says
    what was cut and how to see all of it.
    """
    head = [f"**{summary_line(plan.summary)}**", ""]
    replaced = plan.summary.replace
    if replaced:
        head += [
            "> [!IMPORTANT]",
            f"> {replaced} prompt(s) get a new FileId: IVR flows must switch to it once the "
            "new upload is approved.",
            "",
        ]
    if plan.pending:
        head += ["> [!CAUTION]", f"> {len(plan.pending)} upload(s) in doubt need a decision:  "]
        head += [f"> `{PENDING_SYMBOL}` {_cell(p.message)}  " for p in plan.pending[:20]]
        if len(plan.pending) > 20:
            head.append(f"> ... and {len(plan.pending) - 20} more")
        head.append("")
    if plan.warnings:
        head += ["> [!WARNING]"]
        head += [f"> {_cell(w.message)}  " for w in plan.warnings[:20]]
        if len(plan.warnings) > 20:
            head.append(f"> ... and {len(plan.warnings) - 20} more warnings")
        head.append("")
    budget = limit - 400  # room for the closing note
    text = "\n".join(head)
    total_rows = len(plan.changes)
    shown_rows = 0
    by_provider: dict[tuple[str, str], list[ResourceChange]] = {}
    for change in plan.changes:
        by_provider.setdefault((change.provider, change.provider_type), []).append(change)
    for (provider, provider_type), changes in sorted(by_provider.items()):
        section = [
            f"#### {provider} ({provider_type}): {_provider_counts(changes)}",
            "",
            "| | address | why |",
            "|---|---|---|",
        ]
        block = "\n" + "\n".join(section)
        if len(text) + len(block) > budget:
            break
        text += block
        for change in changes:
            reason = change.reasons[0].message if change.reasons else ""
            row = f"\n| `{_SYMBOLS[change.action]}` | `{change.address}` | {_cell(reason)} |"
            if len(text) + len(row) > budget:
                break
            text += row
            shown_rows += 1
        text += "\n"
    details_open = "\n<details><summary>Full plan</summary>\n\n```\n"
    details_close = "\n```\n\n</details>\n"
    full = render_text(plan)
    details_cut = False
    room = budget - len(text) - len(details_open) - len(details_close)
    if len(full) <= room:
        text += details_open + full + details_close
    elif room > 200:
        kept = full[:room].rsplit("\n", 1)[0]
        text += details_open + kept + "\n..." + details_close
        details_cut = True
    else:
        details_cut = True
    if shown_rows < total_rows or details_cut:
        text += (
            f"\n_Cut to fit a comment: {shown_rows} of {total_rows} changes listed"
            + (", the full plan shortened" if details_cut else "")
            + ". Run `ivrsync show PLANFILE` for all of it._\n"
        )
    return text
