"""`ivrsync output`: the FileIds IVR flows reference, as JSON, YAML or environment variables."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.address import ENV_PREFIX
from ivrsync.cli.options import common_options, console
from ivrsync.errors import Problem, Severity
from ivrsync.operations.outputs import outputs
from ivrsync.views.outputs import FORMATS, outputs_text


@click.command()
@common_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--approved-only",
    is_flag=True,
    help="Only FileIds approved in review: the last approved upload where a newer one is "
    "pending or was rejected.",
)
@click.option("--prefix", default=ENV_PREFIX, show_default=True, help="For --format env.")
def output(fmt: str, as_json: bool, approved_only: bool, prefix: str) -> int:
    """The mapping (provider, prompt, locale) -> FileId for IVR flow definitions."""
    out = console()
    found = outputs(Path.cwd(), approved_only)
    for address, why in found.left_out:
        out.problem(
            Problem("no-file-id", f"{address} has no FileId here: {why}", None, Severity.WARNING)
        )
    text = outputs_text(found, "json" if as_json else fmt, prefix)
    if text is not None:
        out.data(text)
    return 0
