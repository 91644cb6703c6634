"""One manifest's text in canonical form, refused when the result would mean less or more.

The steps (order, layout, comments, round trip) meet here, and so does the safety check.
"""

from __future__ import annotations

import io
from typing import Any

from ivrsync.errors import Location, ManifestError, Problem
from ivrsync.manifest.format.assemble import assemble
from ivrsync.manifest.format.comments import MODELINE, Refused, collect_comments
from ivrsync.manifest.format.layout import BLANK, comment_texts, read_layout
from ivrsync.manifest.format.order import reorder_manifest
from ivrsync.manifest.format.roundtrip import (
    drop_comments,
    for_ruamel,
    round_trip_parser,
    without_directives,
)
from ivrsync.manifest.yaml_source import YamlLoadError, parse_yaml


def _header(lines: list[str]) -> list[str]:
    modelines = [line for line in lines if line.startswith(MODELINE)]
    rest = [line for line in lines if not line.startswith(MODELINE)]
    return [*modelines, *rest]


def _not_a_map(data: Any, where: Location) -> Problem:
    """As validate says it."""
    what = (
        "empty"
        if data is None
        else "a list"
        if isinstance(data, list)
        else f"a single value ({data!r})"
    )
    return Problem("not-a-map", f"the file is {what}; it must be a map of keys", where)


def format_text(text: str, display_path: str) -> str:
    """The canonical form of one manifest's text; raises ManifestError if it cannot be made.

    `display_path` names the file in problems (relative to the repository root, as validate).
    """
    text = text.lstrip("\ufeff")  # byte-order marks (YAML ignores them at the start)
    try:
        document = parse_yaml(text, display_path)
    except YamlLoadError as exc:
        raise ManifestError(exc.problems) from None
    if not isinstance(document.data, dict):
        raise ManifestError([_not_a_map(document.data, document.location())])
    try:
        layout = read_layout(text)
        stray = [n for n, line in enumerate(layout.lines) if line.startswith("\ufeff")]
        if any(n not in layout.no_comment for n in stray):
            # Byte-order marks at the start of lines: libyaml (validate) skips them, ruamel
            # reads them as text. Dropped, so that the file means what validate read.
            text = (
                "\n".join(
                    line.lstrip("\ufeff") if n not in layout.no_comment else line
                    for n, line in enumerate(layout.lines)
                )
                + "\n"
            )
            layout = read_layout(text)
        if () not in layout.collections:
            raise Refused(
                min(layout.content, default=0),
                "fmt needs the top level written as `key: value` lines, not as {...}",
            )
        comments = collect_comments(layout)
    except Refused as refused:
        raise ManifestError(
            [Problem("fmt-comment", refused.message, Location(display_path, refused.line + 1))]
        ) from None

    from ruamel.yaml.error import YAMLError

    parser = round_trip_parser()
    try:
        data = parser.load(for_ruamel(layout))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            Location(display_path, mark.line + 1, mark.column + 1)
            if mark
            else Location(display_path)
        )
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(
            [Problem("fmt-yaml", f"fmt cannot read this YAML: {problem}", where)]
        ) from None
    drop_comments(data)
    reorder_manifest(data)
    stream = io.StringIO()
    parser.dump(data, stream)
    body = assemble(without_directives(stream.getvalue()), comments)

    header = _header(comments.header)
    while header and not header[0]:
        header.pop(0)
    collapsed: list[str] = []
    for line in header:
        if not (line == BLANK and collapsed and collapsed[-1] == BLANK):
            collapsed.append(line)
    result = "\n".join([*collapsed, body.rstrip("\n")]) + "\n" if collapsed else body
    _check(text, result, document.data, display_path)
    return result


def _check(before: str, after: str, data: Any, display_path: str) -> None:
    """Refuse a result that means something else or lost a comment (a bug in fmt)."""
    try:
        same = parse_yaml(after, display_path).data == data
    except YamlLoadError:
        same = False
    problem = None
    if not same:
        problem = "fmt would change what this file means; it is left as it is (please report this)"
    else:
        lost = comment_texts(before) - comment_texts(after)
        if lost:
            first = next(iter(lost))
            problem = (
                f"fmt would lose the comment {first!r}; it is left as it is (please report this)"
            )
    if problem:
        raise ManifestError([Problem("fmt-unsafe", problem, Location(display_path))])
