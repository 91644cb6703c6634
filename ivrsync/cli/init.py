"""`ivrsync init [DIR]`: a prompt repository that validates and plans with no edits."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.scaffold import TEMPLATES, Action, scaffold, starters


@click.command()
@common_options
@click.argument(
    "target", default=".", metavar="[DIR]", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite files that exist (a .gitignore is merged, never overwritten).",
)
def init(target: Path, force: bool) -> int:
    """Create a prompt repository in DIR (default: the current directory; created if missing).

    Writes ivrsync.yaml (the first provider type active, the others ready to uncomment, one
    prompt), its audio, a GitHub Actions workflow (plan on pull requests, apply on main) and a
    .gitignore. `ivrsync validate` and `ivrsync plan` succeed in it at once, without
    credentials. Refuses to overwrite a file unless --force; an existing .gitignore gets the
    missing lines added.
    """
    out = console()
    done = scaffold(target, force=force)
    here = target.resolve() == Path.cwd().resolve()
    where = "the current directory" if here else str(target)
    out.message(f"Created a prompt repository in {where}:")
    width = max(len(t.target) for t in TEMPLATES)
    for template, action in done:
        out.message(f"  {action.value:<11}  {template.target:<{width}}  {template.what}")
    steps = [] if here else [f"cd {shlex.quote(str(target))}"]
    steps += [
        "ivrsync validate     # check the manifest and the audio",
        "ivrsync plan         # what apply would upload; needs no credentials",
    ]
    out.message("\nNext steps:")
    for step in steps:
        out.message(f"  {step}")
    (_, active), *others = starters()
    then = (
        "Then replace audio/en_US/welcome.wav with your recording and add prompts to "
        f"ivrsync.yaml. To upload, {active.to_upload} and run `ivrsync apply`; in GitHub, add "
        "them as secrets of the environment `ivrsync` (with required reviewers) and the "
        "workflow applies every merge to main."
    )
    for _, starter in others:
        then += (
            f" To use {starter.title} as well, uncomment the {starter.name} block in "
            f"ivrsync.yaml ({starter.to_upload} to upload there)."
        )
    out.message("\n" + textwrap.fill(then, width=88))
    if any(action is Action.OVERWRITTEN for _, action in done):
        out.message("\nOverwritten files had their old content replaced (--force).")
    return 0
