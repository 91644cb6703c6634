"""`ivrsync validate`: is this prompt repository right, before anything is uploaded?"""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.validate import validate_repository
from ivrsync.views.validate import invalid_line, valid_line, validation_json


@click.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the result and problems as JSON.")
@click.option(
    "--strict",
    is_flag=True,
    help="Treat warnings as errors (exit 1), except those the manifests acknowledge.",
)
def validate(as_json: bool, strict: bool) -> int:
    """Check ivrsync.yaml, its includes and audio files, without any network call.

    Exit 0 when valid (warnings are printed), 1 with every problem listed otherwise.
    """
    report = validate_repository(Path.cwd())
    out = console()
    failed = not report.valid or (strict and bool(report.warnings))
    if as_json:
        out.json(validation_json(report))
        return 1 if failed else 0
    for problem in report.shown:
        out.problem(problem)
    if failed:
        out.message(invalid_line(report))
        return 1
    out.data(valid_line(report))
    return 0
