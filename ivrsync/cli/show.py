"""`ivrsync show [PLANFILE]`: a saved plan in any format, or with no file the state."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.cli.output import Console

FORMATS = ["text", "markdown", "json", "html"]


def _show_state(out: Console, fmt: str) -> None:
    from ivrsync.operations.state import state_file
    from ivrsync.views.state import state_summary, state_table

    found = state_file(Path.cwd())
    if found.state is None:
        out.message(f"No state yet ({found.path} does not exist): nothing has been uploaded.")
        return
    out.data(state_table(found.state, fmt))
    if fmt != "json":
        out.message(state_summary(found.state))


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
        if fmt == "html":
            raise click.UsageError("--format html shows a saved plan: give its PLANFILE.")
        _show_state(out, fmt)
        return 0
    from ivrsync.cli.plan import review_page
    from ivrsync.plan.render import render_markdown, render_text
    from ivrsync.plan.workflow import load_plan

    saved = load_plan(Path(plan_file))
    if fmt == "json":
        out.data(saved.to_json().rstrip("\n"))
    elif fmt == "markdown":
        out.data(render_markdown(saved).rstrip("\n"))
    elif fmt == "html":
        out.data(review_page(saved).rstrip("\n"))
    else:
        out.data(render_text(saved, lambda text, **kw: out.style(text, sys.stdout, **kw)))
    return 0
