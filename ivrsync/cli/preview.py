"""`ivrsync preview`: write what callers will hear into a folder, to listen to."""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.errors import IvrsyncError
from ivrsync.operations.preview import preview as make_previews
from ivrsync.views.preview import preview_lines


@click.command()
@common_options
@click.argument("addresses", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every resource in the manifests.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("preview"),
    show_default=True,
    help="The folder the files are written to.",
)
def preview(addresses: tuple[str, ...], everything: bool, out: Path) -> int:
    """Write what callers will hear of ADDRESS... (provider.prompt.locale, globs allowed).

    The processed audio as it is uploaded and, where the provider transcodes it again, that
    transcode simulated. No state and no network are used.
    """
    if bool(addresses) == everything:
        raise IvrsyncError("name one or more addresses (provider.prompt.locale), or --all")
    previews = make_previews(Path.cwd(), addresses, out)
    console().data("\n".join(preview_lines(previews)))
    return 0
