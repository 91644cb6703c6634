"""`ivrsync fmt`: rewrite manifests in the canonical order and style, keeping comments."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.manifest.format.files import Formatted
from ivrsync.operations.fmt import format_manifests
from ivrsync.views.fmt import fmt_summary, unified_diff


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

    def changed(formatted: Formatted) -> None:
        out.data(unified_diff(formatted) if show_diff else formatted.display_path)

    write = not (check or show_diff)
    result = format_manifests(Path.cwd(), files, write=write, on_changed=changed)
    for problem in result.problems:
        out.problem(problem)
    out.message(fmt_summary(result, written=write))
    if check and result.changed:
        out.message("Run `ivrsync fmt` to format them.")
    return 1 if result.problems or (check and result.changed) else 0
