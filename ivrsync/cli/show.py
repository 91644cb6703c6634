"""`ivrsync show [PLANFILE]`: a saved plan in any format, or with no file the state."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.cli.output import Console

FORMATS = ["text", "markdown", "json"]


def _show_state(out: Console, fmt: str) -> None:
    from ivrsync.manifest.loader import read_state_path
    from ivrsync.state.store import LocalStateStore

    store = LocalStateStore(read_state_path(Path.cwd()))
    state = store.read()
    if state is None:
        out.message(f"No state yet ({store.path} does not exist): nothing has been uploaded.")
        return
    if fmt == "json":
        out.data(state.to_json().decode().rstrip("\n"))
        return
    rows = [
        (
            address,
            entry.file_id,
            entry.review.status,
            entry.uploaded_at.strftime("%Y-%m-%d %H:%M"),
            entry.audio_path,
        )
        for address, entry in sorted(state.resources.items())
    ]
    header = ("address", "FileId", "review", "uploaded (UTC)", "audio")
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([f"`{row[0]}`", *row[1:]]) + " |" for row in rows]
    else:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]
        ]
    out.data("\n".join(lines))
    out.message(f"State serial {state.serial}, lineage {state.lineage}: {len(rows)} resource(s).")


@click.command()
@common_options
@click.argument("plan_file", required=False, metavar="[PLANFILE]")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def show(plan_file: str | None, fmt: str, as_json: bool) -> int:
    """Render a plan saved by `plan --out`, or the state when no file is given."""
    out = console()
    fmt = "json" if as_json else fmt
    if plan_file is None:
        _show_state(out, fmt)
        return 0
    from ivrsync.plan.render import render_markdown, render_text
    from ivrsync.plan.workflow import load_plan

    saved = load_plan(Path(plan_file))
    if fmt == "json":
        out.data(saved.to_json().rstrip("\n"))
    elif fmt == "markdown":
        out.data(render_markdown(saved).rstrip("\n"))
    else:
        out.data(render_text(saved, lambda text, **kw: out.style(text, sys.stdout, **kw)))
    return 0
