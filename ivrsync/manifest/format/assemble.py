"""Putting the comments back into the re-written text, and tidying its blank lines.

The formatted body has no comments; each goes back beside the entry its path names.
"""

from __future__ import annotations

from ivrsync.manifest.format.comments import Comment, Comments, Trailer
from ivrsync.manifest.format.layout import (
    BLANK,
    SPACE,
    DataPath,
    Entry,
    Layout,
    indent_of,
    read_layout,
)


def _render(block: list[Comment], column: int) -> list[str]:
    """Comment lines at `column`, keeping their indentation relative to each other."""
    base = min((c.column for c in block if c.text), default=0)
    return [" " * (column + c.column - base) + c.text if c.text else BLANK for c in block]


def _with_eol(line: str, trailer: Trailer) -> str:
    content = line.rstrip(SPACE)
    column = trailer.column - trailer.indent + indent_of(line)
    if len(content) < column:
        return content.ljust(column) + trailer.text
    return f"{content} {trailer.text}"


def assemble(body: str, comments: Comments) -> str:
    layout = read_layout(body)
    lines = layout.lines
    inserts: dict[int, list[tuple[tuple[int, int], list[str]]]] = {}
    eols: dict[int, list[Trailer]] = {}

    def insert(at: int, priority: tuple[int, int], text: list[str]) -> None:
        inserts.setdefault(at, []).append((priority, text))

    def found(path: DataPath) -> Entry:
        while path not in layout.by_path and path:
            path = path[:-1]
        if path not in layout.by_path:
            return layout.entries[0]
        return layout.by_path[path]

    for path, block in comments.lead.items():
        entry = found(path)
        column = min(e.column for e in layout.starting(entry.line))
        insert(entry.line, (1, 0), _render(block, column))
    for closed, block in comments.trailing.items():
        path = closed
        while path not in layout.collections and path:
            path = path[:-1]
        after = layout.after.get(path, len(layout.entries))
        at = layout.entries[after].line if after < len(layout.entries) else len(lines)
        insert(at, (0, -len(path)), _render(block, layout.collections.get(path, 0)))
    for path, trailer in comments.eol_start.items():
        eols.setdefault(found(path).line, []).append(trailer)
    for path, trailer in comments.eol_end.items():
        entry = found(path)
        eols.setdefault(entry.end_line if entry.end_line is not None else entry.line, []).append(
            trailer
        )

    out: list[tuple[str, int]] = []  # (line, kind)
    opens = _opening_lines(layout)
    for number in range(len(lines) + 1):
        for _, text in sorted(inserts.get(number, []), key=lambda item: item[0]):
            out.extend((line, _FREE) for line in text)
        if number == len(lines):
            break
        if number in layout.no_comment and number not in layout.by_line:
            out.append((lines[number], _VERBATIM))  # inside a multi-line value: as it is
            continue
        line = lines[number].rstrip(SPACE)
        extra = eols.get(number, [])
        if extra:
            # Two comments for one line (`key:  # a` over a value `# b` on the next line):
            # the first stays at the end of the line, the others go above it.
            out.extend((" " * indent_of(line) + t.text, _FREE) for t in extra[1:])
            line = _with_eol(line, extra[0])
        out.append((line, _OPENS if number in opens else _FREE))
    return "\n".join(_tidy(out)) + "\n"


_FREE, _OPENS, _VERBATIM = 0, 1, 2


def _opening_lines(layout: Layout) -> set[int]:
    """Lines that end by opening a block map or list (`providers:`)."""
    lines: set[int] = set()
    for entry in layout.entries:
        first = entry.index + 1
        if (
            entry.path in layout.collections
            and first < len(layout.entries)
            and layout.entries[first].line > entry.line
        ):
            lines.add(entry.line)
    return lines


def _tidy(out: list[tuple[str, int]]) -> list[str]:
    """At most one blank line in a row; none at the start, at the end, or right after a line
    that opens a map or list. Lines inside multi-line values are never touched."""
    result: list[str] = []
    drop_blank = True
    for line, kind in out:
        if kind != _VERBATIM and line == BLANK:
            if drop_blank:
                continue
            drop_blank = True
        else:
            drop_blank = kind == _OPENS
        result.append(line)
    while result and result[-1] == BLANK:
        result.pop()
    return result
