"""`fmt`: rewrite manifests in the canonical order and style, keeping comments.

The rules are in `ivrsync.manifest.format`. Without files it formats `ivrsync.yaml` and the
files its `include:` globs match; a file that cannot be read is reported as validate reports
it and left untouched, and the others are still formatted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ivrsync.errors import ManifestError, Problem
from ivrsync.manifest.format.files import Formatted, format_file, manifest_files, write_formatted


@dataclass
class FmtResult:
    changed: list[Formatted] = field(default_factory=list)  # written, or to be with `write`
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)  # files that could not be read


def format_manifests(
    root: Path,
    files: tuple[Path, ...],
    *,
    write: bool,
    on_changed: Callable[[Formatted], None],
) -> FmtResult:
    """`on_changed` hears of each file that changes (once written, with `write`) as it goes."""
    result = FmtResult()
    targets = [(path, path.as_posix()) for path in files] if files else manifest_files(root)
    for path, display in targets:
        try:
            formatted = format_file(path, display)
        except ManifestError as exc:
            result.problems.extend(exc.problems)
            continue
        if not formatted.changed:
            result.unchanged += 1
            continue
        result.changed.append(formatted)
        if write:
            write_formatted(formatted)
        on_changed(formatted)
    return result
