"""Options every command takes, wherever they are written (`ivrsync -C d validate` or after)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ivrsync.cli.output import Console

F = TypeVar("F", bound=Callable[..., Any])


def _change_directory(ctx: click.Context, _: click.Parameter, values: tuple[str, ...]) -> None:
    for value in values:
        try:
            os.chdir(value)
        except OSError as exc:
            raise click.BadParameter(f"cannot change to {value}: {exc.strerror}") from None


def _no_color(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["ivrsync.no_color"] = True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now, not to the one there was at start-up."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


_HANDLER = _StderrHandler()
_HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


def reset_logging() -> None:
    """Warnings only, to stderr; each run starts here (tests run many in one process)."""
    logger = logging.getLogger("ivrsync")
    if _HANDLER not in logger.handlers:
        logger.addHandler(_HANDLER)
    logger.propagate = False
    logger.setLevel(logging.WARNING)


def _verbose(ctx: click.Context, _: click.Parameter, value: int) -> None:
    if not value:
        return
    level = ctx.meta["ivrsync.verbosity"] = ctx.meta.get("ivrsync.verbosity", 0) + value
    logging.getLogger("ivrsync").setLevel(logging.DEBUG if level > 1 else logging.INFO)


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """`0`, `30s`, `5m`, `1h` or `500ms` (as Terraform's -lock-timeout) -> seconds."""
    text = value.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number, scale = text[: -len(unit)], _UNITS[unit]
            break
    else:
        number, scale = text, 1.0
    try:
        seconds = float(number) * scale
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise click.BadParameter(f"'{value}' is not a duration; write e.g. 0, 30s, 5m or 1h")
    return seconds


def lock_timeout_option(function: F) -> F:
    """`--lock-timeout DURATION` for every command that takes the state lock."""
    option = click.option(
        "--lock-timeout",
        default="0s",
        callback=parse_duration,
        metavar="DURATION",
        help="How long to wait for the state lock, e.g. 30s.  [default: 0s]",
    )
    return option(function)


def common_options(function: F) -> F:
    """-C DIR (as `git -C`: relative to the current one), --no-color and -v."""
    decorators = [
        click.option(
            "-C",
            "directory",
            metavar="DIR",
            multiple=True,
            is_eager=True,
            expose_value=False,
            callback=_change_directory,
            help="Run as if ivrsync was started in DIR (repeatable, each relative to the last).",
        ),
        click.option(
            "--no-color",
            is_flag=True,
            expose_value=False,
            callback=_no_color,
            help="No colour in output (also: NO_COLOR=1, or output that is not a terminal).",
        ),
        click.option(
            "-v",
            "--verbose",
            count=True,
            expose_value=False,
            callback=_verbose,
            help="Log what happens to stderr; -vv for debug detail.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def console() -> Console:
    """The command's console (imported here: `--help` prints through click alone)."""
    from ivrsync.cli.output import Console

    ctx = click.get_current_context()
    return Console(no_color=bool(ctx.meta.get("ivrsync.no_color")))
