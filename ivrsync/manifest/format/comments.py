"""Comments read from the input, each keyed by the entry (data path) it belongs to.

Keyed by data path rather than line, a comment moves with its key when fmt reorders keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivrsync.manifest.format.layout import (
    BLANK,
    SPACE,
    DataPath,
    Entry,
    Layout,
    comment_at,
    indent_of,
)

MODELINE = "# yaml-language-server:"


@dataclass
class Comment:
    text: str  # "" for a blank line, else the comment from its `#`
    column: int


@dataclass
class Trailer:
    text: str
    column: int  # where it started in the input
    indent: int  # the indentation of its line in the input


@dataclass
class Comments:
    header: list[str] = field(default_factory=list)  # verbatim, above the first key
    lead: dict[DataPath, list[Comment]] = field(default_factory=dict)
    trailing: dict[DataPath, list[Comment]] = field(default_factory=dict)
    eol_start: dict[DataPath, Trailer] = field(default_factory=dict)
    eol_end: dict[DataPath, Trailer] = field(default_factory=dict)


class Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def collect_comments(layout: Layout) -> Comments:
    comments = Comments()
    lines = layout.lines
    first = min(layout.content, default=len(lines))
    comments.header = [line.rstrip(SPACE) for line in lines[:first]]
    pending: list[Comment] = []
    previous: Entry | None = None

    for number in range(first, len(lines)):
        line = lines[number]
        if number not in layout.content:
            stripped = line.strip(SPACE)
            if not stripped:
                pending.append(Comment(BLANK, 0))
            elif (column := comment_at(line, 0)) is not None:
                # A comment line, or one after a lone `-` (whose item starts below it).
                pending.append(Comment(line[column:].rstrip(SPACE), indent_of(line)))
            # Other lines without content (`...`, a lone `-`) carry nothing to keep.
            continue
        starting = layout.starting(number)
        if starting:
            entry = min(starting, key=lambda e: (len(e.path), e.column))
            _flush(comments, layout, pending, previous, entry)
            previous = max(starting, key=lambda e: e.index)
        elif pending and previous is not None:
            # Between a key and its value on a later line: keep it above the key.
            comments.lead.setdefault(previous.path, []).extend(pending)
        pending = []
        if number in layout.no_comment:
            continue
        column = comment_at(line, layout.ends.get(number, 0))
        if column is None:
            continue
        if number in layout.flow_inner:
            raise Refused(
                number,
                "fmt cannot keep a comment inside [...] or {...} that spans lines; "
                "move it after the closing bracket",
            )
        trailer = Trailer(line[column:].rstrip(SPACE), column, indent_of(line))
        _attach_eol(comments, layout, number, trailer)

    _flush(comments, layout, pending, previous, None)
    _lift_modelines(comments)
    return comments


def _lift_modelines(comments: Comments) -> None:
    """A `# yaml-language-server:` line anywhere goes to the top of the header."""
    lifted: list[str] = []
    for blocks in (comments.lead, comments.trailing):
        for block in blocks.values():
            lifted.extend(c.text for c in block if c.text.startswith(MODELINE))
            block[:] = [c for c in block if not c.text.startswith(MODELINE)]
    comments.header[:0] = lifted


def _closed_target(closed: list[tuple[DataPath, int]], column: int) -> int:
    """Which of the closed collections (deepest first) a comment line at `column` ends: the
    deepest it is indented into; of collections at one column (a list written flush with its
    key), the outermost; the outermost of all when it is indented into none."""
    fitting = [column_ for _, column_ in closed if column_ <= column]
    if not fitting:
        return len(closed) - 1
    best = max(fitting)
    return max(k for k, (_, column_) in enumerate(closed) if column_ == best)


def _attach_eol(comments: Comments, layout: Layout, number: int, trailer: Trailer) -> None:
    """An end-of-line comment goes with the deepest entry that starts or ends on its line."""
    near = {e.index: e for e in [*layout.starting(number), *layout.by_end.get(number, [])]}
    candidates = [(len(e.path), e.end_line == number, e) for e in near.values()]
    if not candidates:
        raise Refused(number, "fmt cannot place this comment; put it on its own line")
    _, at_end, entry = max(candidates, key=lambda c: (c[0], c[1], c[2].index))
    (comments.eol_end if at_end else comments.eol_start)[entry.path] = trailer


def _flush(
    comments: Comments,
    layout: Layout,
    pending: list[Comment],
    previous: Entry | None,
    following: Entry | None,
) -> None:
    """Share comment lines between two entries: first the ends of the maps and lists that
    close there (lines indented deeper than the next entry, each going to the deepest of them
    it is indented into, never deeper than the line before), then the next entry's lead."""
    if not pending:
        return
    closed: list[tuple[DataPath, int]] = []  # (path, column), deepest first
    if previous is not None:
        for size in range(len(previous.path) - 1, -1, -1):
            path = previous.path[:size]
            inside = following is not None and following.path[:size] == path
            if path in layout.collections and not inside:
                closed.append((path, layout.collections[path]))
    limit = following.column if following is not None else -1
    place = 0
    blanks: list[Comment] = []
    index = 0
    for index, comment in enumerate(pending):  # noqa: B007 - index is used after the loop
        if comment.text == BLANK:
            blanks.append(comment)
            continue
        if not closed or comment.column <= limit:
            break
        place = max(place, _closed_target(closed, comment.column))
        comments.trailing.setdefault(closed[place][0], []).extend([*blanks, comment])
        blanks = []
    else:
        index = len(pending)
    rest = [*blanks, *pending[index:]]
    if following is not None and rest:
        comments.lead.setdefault(following.path, []).extend(rest)
