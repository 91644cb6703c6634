"""The `ivrsync` entry point: answers `--version` at once and hands everything else to click.

Importing click takes longer than starting Python itself, so this module does not import it:
`ivrsync --version` (what scripts and CI run to check the tool is there) prints without it,
and `ivrsync.cli.app` (the click group and the error handling) is loaded for anything else.
"""

from __future__ import annotations

import os
import sys

from ivrsync import __version__
from ivrsync.cli.program import PROG, VERSION_MESSAGE

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (several ms)
if TYPE_CHECKING:
    from typing import NoReturn

    from ivrsync.cli.app import COMMANDS, LazyGroup, cli

__all__ = ["COMMANDS", "PROG", "VERSION_MESSAGE", "LazyGroup", "cli", "main"]

# Set by a shell asking click to complete a word: click must answer, whatever the arguments.
_COMPLETION_VARIABLE = f"_{PROG.upper()}_COMPLETE"


def main(argv: list[str] | None = None) -> NoReturn:
    """Exit 0 on success, 1 on any error (usage errors too), or the command's own code."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"] and _COMPLETION_VARIABLE not in os.environ:
        print(VERSION_MESSAGE % {"prog": PROG, "version": __version__})
        sys.exit(0)
    from ivrsync.cli.app import run

    run(argv)


def __getattr__(name: str) -> object:
    """`cli`, `COMMANDS` and `LazyGroup` are still importable from here, loaded on first use."""
    if name in ("cli", "COMMANDS", "LazyGroup"):
        from ivrsync.cli import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
