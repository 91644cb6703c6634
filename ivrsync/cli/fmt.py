"""`ivrsync fmt`: rewrite manifests in the canonical order and style, keeping comments.

The rules are in `ivrsync.manifest.format`. Without FILES it formats `ivrsync.yaml` and the
files its `include:` globs match; a file that cannot be read is reported as validate reports
it and left untouched, and the others are still formatted.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.errors import ManifestError, Problem
from ivrsync.manifest.format.files import Formatted, format_file, manifest_files, write_formatted


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _diff(formatted: Formatted) -> str:
    return "".join(
        difflib.unified_diff(
            formatted.before.splitlines(keepends=True),
            formatted.after.splitlines(keepends=True),
            fromfile=f"a/{formatted.display_path}",
            tofile=f"b/{formatted.display_path}",
        )
    )


def _targets(files: tuple[Path, ...]) -> list[tuple[Path, str]]:
    if not files:
        return manifest_files(Path.cwd())
    return [(path, path.as_posix()) for path in files]


@click.command()
@common_options
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 listing the files that would change."
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Print a unified diff of the changes instead of writing them.",
)
def fmt(files: tuple[Path, ...], check: bool, show_diff: bool) -> int:
    """Rewrite manifests in the canonical key order and style, keeping every comment.

    FILES default to ivrsync.yaml and the files its `include:` globs match. Prints the files
    it changed. With --check (for CI and pre-commit) or --diff nothing is written. Exit 1
    when a file cannot be read or, with --check, when a file is not formatted.
    """
    out = console()
    problems: list[Problem] = []
    changed: list[Formatted] = []
    unchanged = 0
    for path, display in _targets(files):
        try:
            formatted = format_file(path, display)
        except ManifestError as exc:
            problems.extend(exc.problems)
            continue
        if not formatted.changed:
            unchanged += 1
            continue
        changed.append(formatted)
        if show_diff:
            out.data(_diff(formatted).rstrip("\n"))
        elif not check:
            write_formatted(formatted)
        if not show_diff:
            out.data(formatted.display_path)

    for problem in problems:
        out.problem(problem)
    failed = sorted({p.location.file for p in problems if p.location})
    summary = []
    if changed:
        verb = "would be reformatted" if check or show_diff else "reformatted"
        summary.append(f"{_plural(len(changed), 'file')} {verb}")
    if unchanged:
        counted = f"{unchanged}" if summary else _plural(unchanged, "file")
        summary.append(f"{counted} already formatted")
    if problems:
        summary.append(f"{_plural(max(len(failed), 1), 'file')} could not be formatted")
    message = ", ".join(summary) or "no files to format"
    out.message(message[0].upper() + message[1:] + ".")
    if check and changed:
        out.message("Run `ivrsync fmt` to format them.")
    return 1 if problems or (check and changed) else 0
