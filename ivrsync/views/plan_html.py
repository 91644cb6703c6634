"""A plan as one self-contained HTML page a reviewer looks at and listens to.

No external resource: styles inline, waveforms as inline SVG, audio as data: URIs. The text of
each change is the terminal plan's (plan/render.py), so the page says what `plan` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from ivrsync.operations.review_page import Clip, ReviewAudio
from ivrsync.plan.model import Action, Finding, Plan, ResourceChange
from ivrsync.plan.render import SYMBOLS, acknowledged_line, details, headline, summary_line

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#1b1f23;
padding:0 1em}
h1{font-size:1.4em}.summary{font-weight:600;font-size:1.1em}
.caution{border-left:5px solid #c62828;background:#fdecea;padding:.5em 1em;margin:.8em 0}
.warning{border-left:5px solid #b7791f;background:#fff8e1;padding:.5em 1em;margin:.8em 0}
.note{color:#57606a;font-style:italic}
section.change{border:1px solid #d0d7de;border-radius:6px;padding:.6em 1em;margin:1em 0}
section.delete,section.forget{border-color:#c62828}
.head{font-weight:600}.sym{font-family:monospace;font-weight:700;margin-right:.5em}
.create .sym{color:#1a7f37}.replace .sym,.update .sym{color:#9a6700}
.delete .sym,.forget .sym{color:#c62828}.move .sym{color:#0969da}
pre{background:#f6f8fa;padding:.5em;overflow-x:auto;margin:.4em 0}
.clips{display:flex;gap:1em;flex-wrap:wrap}
figure{margin:0;flex:1 1 420px}figcaption{font-size:.85em;color:#57606a}
svg.waveform{width:100%;height:80px;background:#f6f8fa;display:block}
svg.waveform polyline{fill:none;stroke:#0969da;stroke-width:1}
figure.previous svg.waveform polyline{stroke:#8c959f}
audio{width:100%;margin-top:.3em}
"""

_HEIGHT = 80


def waveform_svg(clip: Clip) -> str:
    """The min/max of each column as one polyline: down to the min, up to the max."""
    if not clip.peaks:
        return '<p class="note">No waveform: the audio could not be decoded.</p>'
    half = _HEIGHT / 2
    points: list[str] = []
    for x, (low, high) in enumerate(clip.peaks):
        points.append(f"{x},{half - high * half:.1f}")
        points.append(f"{x},{half - low * half:.1f}")
    width = len(clip.peaks)
    return (
        f'<svg class="waveform" viewBox="0 0 {width} {_HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-label="waveform of {escape(clip.path)}">'
        f'<polyline points="{" ".join(points)}"/></svg>'
    )


def _figure(clip: Clip, kind: str, label: str) -> str:
    return (
        f'<figure class="{kind}"><figcaption>{escape(label)}: {escape(clip.path)} '
        f"({escape(clip.origin)})</figcaption>{waveform_svg(clip)}"
        f'<audio controls preload="metadata" src="{clip.data_uri}"></audio></figure>'
    )


def _caps(audio: ReviewAudio) -> str:
    return (
        f"a page embeds at most {audio.limit} players and "
        f"{audio.max_bytes / 1_000_000:g} MB of audio"
    )


def _change(
    change: ResourceChange, audio: ReviewAudio, findings: Mapping[str, list[Finding]]
) -> str:
    action = change.action.value
    parts = [
        f'<section class="change {action}" id="{escape(change.address)}">',
        f'<div class="head"><span class="sym">{escape(SYMBOLS[change.action])}</span>'
        f"{escape(headline(change))}</div>",
    ]
    lines = details(change)
    if lines:
        parts.append(f"<pre>{escape(chr(10).join(lines))}</pre>")
    parts += [
        f'<div class="warning">{escape(f.code)}: {escape(f.message)}</div>'
        for f in findings.get(change.address, ())
    ]
    media = audio.changes.get(change.address)
    if media is not None:
        figures = []
        if media.current is not None:
            figures.append(_figure(media.current, "current", "What will be uploaded"))
        if media.previous is not None:
            figures.append(_figure(media.previous, "previous", "Uploaded now"))
        if figures:
            parts.append(f'<div class="clips">{"".join(figures)}</div>')
        if media.note:
            parts.append(f'<p class="note">{escape(media.note)}.</p>')
    elif change.address in audio.left_out:
        parts.append(f'<p class="note">No player: {_caps(audio)}.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _cautions(plan: Plan) -> list[str]:
    out: list[str] = []
    deleted = [c for c in plan.changes if c.action is Action.DELETE]
    if deleted:
        items = "".join(
            f"<li><code>{escape(c.address)}</code> FileId "
            f"<code>{escape(c.before.file_id if c.before else '?')}</code></li>"
            for c in deleted
        )
        out.append(
            f'<div class="caution"><strong>{len(deleted)} remote file(s) will be DELETED</strong> '
            f"(this cannot be undone; flows that still use them break):<ul>{items}</ul></div>"
        )
    for name, ref in plan.providers.items():
        for c in ref.cautions:
            out.append(
                f'<div class="caution"><strong>CAUTION</strong> <code>{escape(name)}.'
                f"{escape(c.path)}</code>: {escape(str(c.before))} &rarr; {escape(str(c.after))}"
                f" &mdash; {escape(c.why)}</div>"
            )
    for pending in plan.pending:
        out.append(
            f'<div class="caution"><strong>In doubt</strong> <code>{escape(pending.address)}'
            f"</code>: {escape(pending.message)}</div>"
        )
    for warning in plan.listed_warnings:
        out.append(f'<div class="warning">Warning: {escape(warning.message)}</div>')
    if plan.acknowledged_warnings:
        out.append(f'<p class="note">{escape(acknowledged_line(plan.acknowledged_warnings))}</p>')
    return out


def render_html(plan: Plan, audio: ReviewAudio) -> str:
    """The whole page: summary, cautions and warnings, then each change with its players."""
    body = [
        "<h1>ivrsync plan</h1>",
        f'<p class="summary">{escape(summary_line(plan.summary))}</p>',
        f'<p class="note">Made {escape(plan.created_at.isoformat(timespec="seconds"))} by '
        f"ivrsync {escape(plan.ivrsync_version)}, against state serial {plan.state.serial}.</p>",
        *_cautions(plan),
    ]
    if audio.left_out:
        body.append(
            f'<p class="note">Players for the first {len(audio.changes)} changes that send '
            f"audio ({_caps(audio)}); {len(audio.left_out)} more are listed without one.</p>"
        )
    by_address: dict[str, list[Finding]] = {}
    for finding in plan.findings:  # the audio checks, shown with the change they are about
        if finding.address is not None and finding.acknowledged is None:
            by_address.setdefault(finding.address, []).append(finding)
    body += [_change(change, audio, by_address) for change in plan.changes]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ivrsync plan: {escape(summary_line(plan.summary))}</title>"
        f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
