"""`ivrsync init [DIR]`: a prompt repository that validates and plans with no edits."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.scaffold import TEMPLATES, Action, scaffold


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

    Writes ivrsync.yaml (Huawei AICC active, Tencent CCC ready to uncomment, one prompt), its
    audio, a GitHub Actions workflow (plan on pull requests, apply on main) and a .gitignore.
    `ivrsync validate` and `ivrsync plan` succeed in it at once, without credentials. Refuses
    to overwrite a file unless --force; an existing .gitignore gets the missing lines added.
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
    out.message(
        "\nThen replace audio/en_US/welcome.wav with your recording and add prompts to\n"
        "ivrsync.yaml. To upload, set AICC_APP_KEY and AICC_APP_SECRET (and AICC_ENDPOINT for\n"
        "your tenant) and run `ivrsync apply`; in GitHub, add them as secrets of the\n"
        "environment `ivrsync` (with required reviewers) and the workflow applies every merge\n"
        "to main. To use Tencent CCC as well, uncomment the ccc block in ivrsync.yaml."
    )
    if any(action is Action.OVERWRITTEN for _, action in done):
        out.message("\nOverwritten files had their old content replaced (--force).")
    return 0
