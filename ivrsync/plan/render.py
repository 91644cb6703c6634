"""A plan as people read it: terminal text (like Terraform's) and Markdown for a PR comment.

Both take a `Plan` value, whether just made or loaded from a file; neither writes anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from ivrsync.address import Address
from ivrsync.plan.model import (
    NEW_REASON,
    Action,
    Desired,
    Plan,
    ProviderRef,
    ResourceChange,
    SettingChange,
    Summary,
)

# GitHub refuses a comment longer than this many characters.
MARKDOWN_LIMIT = 65_536

Style = Callable[..., str]

SYMBOLS = {
    Action.CREATE: "+",
    Action.REPLACE: "-/+",
    Action.UPDATE: "~",
    Action.MOVE: "=>",
    Action.FORGET: "-",
    # A delete cannot be undone: marked as loudly as a caution (Terraform's destroy).
    Action.DELETE: "!!!",
}
_COLOURS = {
    Action.CREATE: "green",
    Action.REPLACE: "yellow",
    Action.UPDATE: "yellow",
    Action.MOVE: "cyan",
    Action.FORGET: "red",
    Action.DELETE: "red",
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
    if summary.update:
        line += f", {summary.update} to update in place"
    if summary.delete:
        line += f", {summary.delete} TO DELETE"
    if summary.move:
        line += f", {summary.move} to move"
    if summary.settings:
        line += f", settings of {plural(summary.settings, 'provider')} to record"
    if summary.pending:
        line += f"; {decide}"
    return line + "."


def acknowledged_line(count: int) -> str:
    """The warnings the manifests accept are counted, not listed (the plan JSON has them)."""
    return f"{count} acknowledged warning{'' if count == 1 else 's'} not shown."


def headline(change: ResourceChange) -> str:
    before = change.before
    if change.action is Action.CREATE:
        return f"{change.address} will be uploaded"
    if change.action is Action.REPLACE:
        moved = f" (moved from {change.previous_address})" if change.previous_address else ""
        return f"{change.address}{moved} will be uploaded again: it gets a new FileId"
    if change.action is Action.MOVE:
        kept = f"FileId {before.file_id} kept" if before else "FileId kept"
        return f"{change.previous_address} has moved to {change.address}: {kept}, no upload"
    if change.action is Action.UPDATE:
        moved = f" (moved from {change.previous_address})" if change.previous_address else ""
        kept = f"FileId {before.file_id} kept" if before else "FileId kept"
        return f"{change.address}{moved} will be updated in place: {kept}"
    if change.action is Action.FORGET:
        return f"{change.address} will be forgotten: the remote file stays"
    if change.action is Action.DELETE:
        gone = f"FileId {before.file_id}" if before else "its file"
        return f"{change.address} will be DELETED: {gone} is deleted from {change.provider}"
    return f"{change.address} is unchanged"


def _fmt_size(size: int) -> str:
    return f"{size:,} bytes"


_CHANNELS = {1: "mono", 2: "stereo"}


def audio_facts(after: Desired) -> str:
    """What a reviewer checks of an upload's audio: duration, format, rate, channels, size;
    of the processed audio where the manifest says so (what is uploaded)."""
    parts: list[str] = ["processed"] if after.process else []
    if after.duration is not None:
        parts.append(f"{after.duration:.2f} s")
    if after.format:
        same = after.codec in (None, after.format)
        parts.append(after.format if same else f"{after.format} {after.codec}")
    if after.sample_rate:
        parts.append(f"{after.sample_rate:,} Hz")
    if after.channels:
        parts.append(_CHANNELS.get(after.channels, f"{after.channels} channels"))
    parts.append(_fmt_size(after.size if after.processed_size is None else after.processed_size))
    return ", ".join(parts)


def recipe_line(after: Desired) -> str | None:
    """The processing steps, as the manifest resolves them (the pipeline version aside)."""
    if not after.process:
        return None
    steps = [f"{step} {value}" for step, value in after.process.items() if step != "pipeline"]
    return "process:     " + ("; ".join(steps) or "none (re-encoded as it is)")


def _audio_lines(after: Desired) -> list[str]:
    recipe = recipe_line(after)
    return [
        f"audio:       {after.audio_path} ({audio_facts(after)})",
        *([recipe] if recipe else []),
    ]


def live_file_id(change: ResourceChange) -> str | None:
    """The FileId flows keep using until a replacement is approved (plans before 1.2 do not
    record it: their approved `before` is it)."""
    if change.live_file_id is not None:
        return change.live_file_id
    before = change.before
    return before.file_id if before and before.review_status == "approved" else None


def details(change: ResourceChange) -> list[str]:
    """The lines under a change: what would be uploaded, and why."""
    lines: list[str] = []
    after, before = change.after, change.before
    if change.action is Action.CREATE and after:
        lines += [
            *_audio_lines(after),
            f"sha256:      {after.sha256[:16]}",
            f"remote_name: {after.remote_name}",
            *(f"{key + ':':<12} {value}" for key, value in sorted(after.attributes.items())),
            *(f"# {r.message}" for r in change.reasons if r.message != NEW_REASON),
        ]
        return lines
    if change.action is Action.FORGET and before:
        return [f"# FileId {before.file_id}, uploaded from {before.audio_path}"]
    if change.action is Action.DELETE and before:
        return [
            f"# FileId {before.file_id} ({before.remote_name}), uploaded from {before.audio_path}",
            *(f"# CAUTION: {r.message}" for r in change.reasons),
        ]
    if change.action in (Action.REPLACE, Action.UPDATE) and after:
        lines += _audio_lines(after)
    for reason in change.reasons:
        if reason.attribute:
            old, new = reason.before or "(none)", reason.after or "(none)"
            if reason.attribute == "sha256":
                old, new = old[:16], new[:16]
            lines.append(f"~ {reason.attribute}: {old} -> {new}")
        else:
            lines.append(f"# {reason.message}")
    if change.action is Action.REPLACE and before:
        live = live_file_id(change)
        if before.file_id != live:
            lines.append(f"# FileId {before.file_id} ({before.review_status}) is superseded")
        if live:
            lines.append(
                f"# FileId {live} (approved) stays in use until the new upload is approved"
            )
    return lines


def _setting_line(change: SettingChange) -> str:
    before = "(not set)" if change.before is None else change.before
    after = "(not set)" if change.after is None else change.after
    return f"{change.path}: {before} -> {after}"


def _settings_header(name: str, ref: ProviderRef) -> str | None:
    """What to say of a provider's settings that differ from those the state records (or
    are unknown: a state written before they were recorded), if they do."""
    if not ref.settings_differ:
        return None
    if ref.settings_before == "unknown":
        differ = (
            f"{name}: the settings recorded for it are unknown (the state was written before "
            "ivrsync recorded them)"
        )
    else:
        n = len(ref.setting_changes)
        verb = "differs" if n == 1 else "differ"
        differ = f"{name}: {plural(n, 'setting')} {verb} from those recorded in the state"
    if ref.record_settings:
        return f"{differ}; apply records the new values"
    return f"{differ}; left for a plan without --target"


def _settings_text(plan: Plan, style: Style) -> list[str]:
    """Provider settings against those the state records for each provider; a change that
    decides where credentials or audio go is marked like a destructive change."""
    out: list[str] = []
    for name, ref in plan.providers.items():
        header = _settings_header(name, ref)
        if header is None:
            continue
        out.append(style(f"  # {header}", bold=True))
        for change in ref.setting_changes:
            origin = ref.origins.get(change.path)
            where = f"   ({origin})" if origin else ""
            if change.caution:
                mark = style("!!!", fg="red", bold=True)
                out.append(f"{mark} {name}.{_setting_line(change)}{where}")
                out.append(style(f"      # CAUTION: {change.why}", fg="red", bold=True))
            else:
                out.append(
                    f"{style('  ~', fg='yellow', bold=True)} {name}.{_setting_line(change)}{where}"
                )
        out.append("")
    return ["Provider settings:", "", *out] if out else []


def plural(count: int, word: str) -> str:
    """`1 file`, `2 files`: shared by every view."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_text(plan: Plan, style: Style = _plain) -> str:
    out: list[str] = []
    if plan.changes:
        out.append("ivrsync will perform these actions:")
        out.append("")
        for change in plan.changes:
            symbol = SYMBOLS[change.action]
            colour = _COLOURS[change.action]
            out.append(style(f"  # {headline(change)}", bold=True))
            out.append(f"{style(f'{symbol:>3}', fg=colour, bold=True)} {change.address}")
            out.extend(f"      {line}" for line in details(change))
            out.append("")
    out.extend(_settings_text(plan, style))
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
        for warning in plan.listed_warnings:
            out.append(f"{style('Warning:', fg='yellow', bold=True)} {warning.message}")
        if plan.acknowledged_warnings:
            out.append(acknowledged_line(plan.acknowledged_warnings))
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
        Action.UPDATE: "to update",
        Action.MOVE: "to move",
        Action.FORGET: "to forget",
        Action.DELETE: "TO DELETE",
    }
    return ", ".join(f"{counts[a]} {w}" for a, w in words.items() if counts[a])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: the summary first, tables per provider, the full plan folded.

    Cut to `limit` characters: the folded plan is shortened first (then left out), then table
    rows, and a last line says exactly what is missing and how to see all of it.
    """
    head = _markdown_head(plan)
    by_provider: dict[tuple[str, str], list[ResourceChange]] = {}
    for change in plan.changes:
        by_provider.setdefault((change.provider, change.provider_type), []).append(change)
    # Room for the closing note, which names each provider whose table lost rows.
    budget = limit - 400 - sum(len(provider) + 40 for provider, _ in by_provider)
    text = "\n".join(head)
    listed: dict[str, int] = {}
    for (provider, provider_type), changes in sorted(by_provider.items()):
        section = [
            f"#### {provider} ({provider_type}): {_provider_counts(changes)}",
            "",
            "| | address | audio | why |",
            "|---|---|---|---|",
        ]
        block = "\n" + "\n".join(section)
        if len(text) + len(block) > budget:
            break
        text += block
        listed[provider] = 0
        for change in changes:
            row = (
                f"\n| `{SYMBOLS[change.action]}` | `{change.address}` | {_audio_cell(change)} "
                f"| {_cell(_why(change))} |"
            )
            if len(text) + len(row) > budget:
                break
            text += row
            listed[provider] += 1
        text += "\n"
    rows_note = _rows_note(by_provider, listed)
    full = render_text(plan).split("\n")
    details_open = "\n<details><summary>Full plan</summary>\n\n```\n"
    details_close = "\n```\n\n</details>\n"
    total = len(full)
    # The longest note this comment can get, so that what is kept of the plan leaves room for it.
    longest = _cut_note(
        plan, limit, rows_note, f"the full plan shortened to its first {total:,} of {total:,} lines"
    )
    room = limit - len(text) - len(details_open) - len(details_close) - len(longest)
    # A few lines of the folded plan tell a reviewer nothing: below this, it is left out.
    kept = _fitting_lines(full, room - len("\n...")) if room >= _MIN_FOLDED else []
    if len(kept) == total:
        text += details_open + "\n".join(full) + details_close
        plan_note = ""
    elif kept:
        text += details_open + "\n".join(kept) + "\n..." + details_close
        plan_note = f"the full plan shortened to its first {len(kept):,} of {total:,} lines"
    else:
        plan_note = f"the full plan ({total:,} lines) left out"
    if rows_note or plan_note:
        text += _cut_note(plan, limit, rows_note, plan_note, set(kept))
    return text


def _new_file_ids(plan: Plan) -> list[str]:
    """Counted as what it is: resources that get a new FileId, and the prompts they are."""
    renewed = [c.address for c in plan.changes if c.uploads and c.before is not None]
    if not renewed:
        return []
    prompts = {Address.parse(a).prompt for a in renewed}
    listed = ", ".join(f"`{a}`" for a in renewed[:10]) + (" ..." if len(renewed) > 10 else "")
    verb = "gets" if len(renewed) == 1 else "get"
    return [
        "> [!IMPORTANT]",
        f"> {plural(len(renewed), 'resource')} ({plural(len(prompts), 'prompt')}) {verb} a "
        f"new FileId: {listed}. IVR flows must switch to the new FileId once its upload is "
        "approved.",
        "",
    ]


def _audio_cell(change: ResourceChange) -> str:
    if change.after is not None and (change.uploads or change.sends_audio):
        return f"`{_cell(change.after.audio_path)}` {audio_facts(change.after)}"
    if change.before is not None:
        return f"`{_cell(change.before.audio_path)}`"
    return ""


def _why(change: ResourceChange) -> str:
    reasons = [r.message for r in change.reasons]
    if change.action is Action.REPLACE:
        live = live_file_id(change)
        reasons.append(
            f"FileId {live} stays live until the new one is approved"
            if live
            else "no upload of it was approved yet"
        )
    elif change.action in (Action.MOVE, Action.UPDATE) and change.before:
        reasons.append(f"FileId {change.before.file_id} kept")
    elif change.action is Action.FORGET and change.before:
        reasons.append(f"FileId {change.before.file_id}")
    return "; ".join(reasons)


def _deletes(plan: Plan) -> list[str]:
    """Remote files the apply deletes: first in the comment, as loud as it gets."""
    deleted = [c for c in plan.changes if c.action is Action.DELETE]
    if not deleted:
        return []
    lines = [
        "> [!CAUTION]",
        f"> {plural(len(deleted), 'remote file')} will be **deleted** (this cannot be undone; "
        "flows that still use them break):  ",
    ]
    lines += [
        f"> `{c.address}` FileId `{c.before.file_id if c.before else '?'}`  "
        for c in deleted[:_HEAD_ITEMS]
    ]
    if len(deleted) > _HEAD_ITEMS:
        lines.append(f"> ... and {len(deleted) - _HEAD_ITEMS} more (in the full plan)")
    return [*lines, ""]


def _settings_cautions(plan: Plan) -> list[str]:
    """Setting changes that decide where credentials or audio go, as loud as a destructive
    change."""
    loud = [(name, c) for name, ref in plan.providers.items() for c in ref.cautions]
    if not loud:
        return []
    lines = ["> [!CAUTION]", "> Provider settings that decide where credentials or audio go:  "]
    lines += [f"> `{name}.{_cell(_setting_line(c))}`: {_cell(c.why)}  " for name, c in loud]
    return [*lines, ""]


def _settings_table(plan: Plan) -> list[str]:
    rows: list[str] = []
    for name, ref in plan.providers.items():
        header = _settings_header(name, ref)
        if header is None:
            continue
        if not ref.setting_changes:
            rows.append(f"| `{name}` | | | | {_cell(header)} |")
        for c in ref.setting_changes:
            before = "_not set_" if c.before is None else f"`{_cell(c.before)}`"
            after = "_not set_" if c.after is None else f"`{_cell(c.after)}`"
            origin = _cell(ref.origins.get(c.path, ""))
            mark = " **caution**" if c.caution else ""
            rows.append(f"| `{name}` | `{c.path}`{mark} | {before} | {after} | {origin} |")
    if not rows:
        return []
    return [
        "#### Provider settings (against those recorded in the state)",
        "",
        "| provider | setting | before | after | from |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def _markdown_head(plan: Plan) -> list[str]:
    """The summary, the loud settings, the FileId note, the first pending uploads and warnings,
    and the provider settings that differ."""
    head = [f"**{summary_line(plan.summary)}**", ""]
    head += _deletes(plan)
    head += _settings_cautions(plan)
    head += _new_file_ids(plan)
    if plan.pending:
        head += ["> [!CAUTION]", f"> {len(plan.pending)} upload(s) in doubt need a decision:  "]
        head += [f"> `{PENDING_SYMBOL}` {_cell(p.message)}  " for p in plan.pending[:_HEAD_ITEMS]]
        if len(plan.pending) > _HEAD_ITEMS:
            head.append(f"> ... and {len(plan.pending) - _HEAD_ITEMS} more (in the full plan)")
        head.append("")
    warnings = plan.listed_warnings
    if warnings:
        head += ["> [!WARNING]"]
        head += [f"> {_cell(w.message)}  " for w in warnings[:_HEAD_ITEMS]]
        if len(warnings) > _HEAD_ITEMS:
            head.append(f"> ... and {len(warnings) - _HEAD_ITEMS} more warnings (in the full plan)")
        head.append("")
    if plan.acknowledged_warnings:  # nothing new: no call-out
        head += [f"_{acknowledged_line(plan.acknowledged_warnings)}_", ""]
    head += _findings(plan)
    head += _settings_table(plan)
    return head


# How many of validate's warnings a comment lists (folded) before "... and N more".
_FINDINGS_LISTED = 50


def _findings(plan: Plan) -> list[str]:
    """validate's warnings (the audio checks, a transcode), folded: a reviewer opens them."""
    listed = [f for f in plan.findings if f.acknowledged is None]
    accepted = len(plan.findings) - len(listed)
    if not listed:
        return [f"_{acknowledged_line(accepted)}_", ""] if accepted else []
    summary = f"{len(listed)} warning(s) from validate (audio and manifests)"
    lines = ["<details><summary>" + summary + "</summary>", ""]
    for finding in listed[:_FINDINGS_LISTED]:
        where = f"`{_cell(finding.where)}` " if finding.where else ""
        lines.append(f"- {where}{_cell(finding.message)}")
    if len(listed) > _FINDINGS_LISTED:
        lines.append(f"- ... and {len(listed) - _FINDINGS_LISTED} more: run `ivrsync validate`")
    if accepted:
        lines += ["", f"_{acknowledged_line(accepted)}_"]
    return [*lines, "", "</details>", ""]


_MIN_FOLDED = 1000
# How many pending uploads and warnings the head of a comment lists before "... and N more".
_HEAD_ITEMS = 20


def _fitting_lines(lines: list[str], room: int) -> list[str]:
    """The first lines of `lines` that fit in `room` characters, newlines between included."""
    used = -1
    for count, line in enumerate(lines):
        used += len(line) + 1
        if used > room:
            return lines[:count]
    return lines


def _rows_note(
    by_provider: dict[tuple[str, str], list[ResourceChange]], listed: dict[str, int]
) -> str:
    """Which tables lost rows: "aicc 120 of 500, ccc 0 of 300"; empty when none did."""
    cut = [
        f"{provider} {listed.get(provider, 0)} of {len(changes)}"
        for (provider, _), changes in sorted(by_provider.items())
        if listed.get(provider, 0) < len(changes)
    ]
    if not cut:
        return ""
    total = sum(len(changes) for changes in by_provider.values())
    return f"{sum(listed.values())} of {total} changes listed in the tables ({', '.join(cut)})"


def _cut_note(
    plan: Plan, limit: int, rows_note: str, plan_note: str, in_plan: set[str] | None = None
) -> str:
    """The last line of a cut comment: what is missing from it, each count exact.

    `in_plan` holds the lines the folded plan shows (None: count as if it showed none).
    """
    parts = [part for part in (rows_note, plan_note) if part]
    # What the head lists beyond its first items is only in the full plan: count what the
    # plan's cut lost of those too.
    in_plan = in_plan or set()
    lost_pending = sum(
        1 for p in plan.pending[_HEAD_ITEMS:] if f"      # {p.message}" not in in_plan
    )
    lost_warnings = sum(
        1 for w in plan.listed_warnings[_HEAD_ITEMS:] if f"Warning: {w.message}" not in in_plan
    )
    if lost_pending:
        parts.append(f"{lost_pending} upload(s) in doubt not listed")
    if lost_warnings:
        parts.append(f"{lost_warnings} warning(s) not listed")
    return (
        f"\n_Cut to fit a comment ({limit:,} characters): "
        + "; ".join(parts)
        + ". Run `ivrsync show PLANFILE` for all of it._\n"
    )
