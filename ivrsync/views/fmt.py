"""`fmt` shown: the files changed (or their diffs), then a one-line summary."""

from __future__ import annotations

import difflib

from ivrsync.manifest.format.files import Formatted
from ivrsync.operations.fmt import FmtResult
from ivrsync.plan.render import plural


def unified_diff(formatted: Formatted) -> str:
    return "".join(
        difflib.unified_diff(
            formatted.before.splitlines(keepends=True),
            formatted.after.splitlines(keepends=True),
            fromfile=f"a/{formatted.display_path}",
            tofile=f"b/{formatted.display_path}",
        )
    ).rstrip("\n")


def fmt_summary(result: FmtResult, *, written: bool) -> str:
    """`2 files reformatted, 3 already formatted.`; `written` False for --check and --diff."""
    failed = sorted({p.location.file for p in result.problems if p.location})
    summary = []
    if result.changed:
        verb = "reformatted" if written else "would be reformatted"
        summary.append(f"{plural(len(result.changed), 'file')} {verb}")
    if result.unchanged:
        counted = f"{result.unchanged}" if summary else plural(result.unchanged, "file")
        summary.append(f"{counted} already formatted")
    if result.problems:
        summary.append(f"{plural(max(len(failed), 1), 'file')} could not be formatted")
    message = ", ".join(summary) or "no files to format"
    return message[0].upper() + message[1:] + "."
