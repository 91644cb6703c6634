"""Where and how the CLI writes: data to stdout, messages to stderr, colour only when wanted."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import click

from ivrsync.errors import Problem, Severity
from ivrsync.secrets import redact

_SEVERITY_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow"}


def colour_wanted(stream: TextIO, no_color_flag: bool) -> bool:
    """Colour unless --no-color, NO_COLOR (any non-empty value) or a stream that is not a TTY."""
    if no_color_flag or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


@dataclass
class Console:
    no_color: bool = False

    def data(self, text: str) -> None:
        click.echo(redact(text), file=sys.stdout, color=colour_wanted(sys.stdout, self.no_color))

    def document(self, text: str) -> None:
        """A document to stdout exactly as given (no newline added, no colour): `state pull`."""
        click.echo(redact(text), file=sys.stdout, nl=False)

    def json(self, value: Any) -> None:
        click.echo(redact(json.dumps(value, indent=2, ensure_ascii=False)), file=sys.stdout)

    def message(self, text: str) -> None:
        click.echo(redact(text), file=sys.stderr, color=colour_wanted(sys.stderr, self.no_color))

    def style(self, text: str, stream: TextIO, **styles: Any) -> str:
        if not colour_wanted(stream, self.no_color):
            return text
        return click.style(text, **styles)

    def problem(self, problem: Problem) -> None:
        where = f"{problem.location}: " if problem.location else ""
        label = self.style(
            problem.severity.value, sys.stderr, fg=_SEVERITY_COLOURS[problem.severity], bold=True
        )
        self.message(f"{where}{label}: {problem.message}")
