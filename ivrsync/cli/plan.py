"""`ivrsync plan`: what apply would do, for a person, a PR comment or a machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console, lock_timeout_option
from ivrsync.operations.plan import plan_repository, save_plan
from ivrsync.plan.model import Plan
from ivrsync.plan.planner import PlanOptions
from ivrsync.plan.render import acknowledged_line, render_markdown, render_text

FORMATS = ["text", "markdown", "json", "html"]


def review_page(plan: Plan) -> str:
    """The HTML page of `plan` with the audio of the repository in the working directory."""
    from ivrsync.operations.review_page import review_audio
    from ivrsync.views.plan_html import render_html

    return render_html(plan, review_audio(plan, Path.cwd()))


@click.command()
@common_options
@click.option("--out", "out_path", metavar="FILE", help="Save the plan for `ivrsync apply FILE`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help=(
        "markdown: for a pull-request comment; json: see docs/plan-format.md; html: one "
        "self-contained page with waveforms and players (docs/review-page.md)."
    ),
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 with no changes, 1 on error, 2 with changes or uploads in doubt to decide.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Plan only these addresses (globs allowed, e.g. 'ccc.*'); repeatable.",
)
@click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="ADDR",
    help="Upload these again even if unchanged (globs allowed); repeatable.",
)
@click.option(
    "--refresh",
    is_flag=True,
    help="Ask the providers for review results and drift first (needs credentials).",
)
@click.option(
    "--lock/--no-lock",
    default=None,
    help="Hold the state lock while reading it (default: a local state yes, a remote one no).",
)
@lock_timeout_option
def plan(
    out_path: str | None,
    fmt: str,
    as_json: bool,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    replace: tuple[str, ...],
    refresh: bool,
    lock: bool | None,
    lock_timeout: float,
) -> int:
    """Compare the manifests with the state and show what apply would do.

    Needs no credentials and no network (except with --refresh). Uploads cannot be undone: a
    changed file is uploaded again (a new FileId), a removed one is only forgotten (the remote
    file stays).
    """
    out = console()
    outcome = plan_repository(
        Path.cwd(),
        PlanOptions(targets, replace),
        lock=lock,
        lock_timeout=lock_timeout,
        refresh=refresh,
    )
    for problem in outcome.report.shown:
        out.problem(problem)
    if outcome.report.acknowledged:
        out.message(acknowledged_line(len(outcome.report.acknowledged)))
    for note in outcome.notes:
        out.message(f"Note: {note}")
    result = outcome.plan
    if result is None:
        report = outcome.report
        out.message(f"Invalid: {len(report.errors)} error(s), {len(report.warnings)} warning(s).")
        return 1
    if out_path:
        save_plan(result, Path(out_path))
    fmt = "json" if as_json else fmt
    if fmt == "json":
        out.data(result.to_json().rstrip("\n"))
    elif fmt == "markdown":
        out.data(render_markdown(result).rstrip("\n"))
    elif fmt == "html":
        out.data(review_page(result).rstrip("\n"))
    else:
        out.data(render_text(result, lambda text, **kw: out.style(text, sys.stdout, **kw)))
    if out_path:
        out.message(f"Saved the plan to {out_path}.")
    return 2 if detailed_exitcode and not result.settled else 0
