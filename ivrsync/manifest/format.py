"""`ivrsync fmt`: manifests in one canonical order and style, with every comment kept.

The rules:

- **Key order.** The root: `version`, `state`, `providers`, `defaults`, `include`,
  `prompts`, `moved` (the order `Manifest` declares them; included files hold `prompts` and
  `moved`, in the same order). `state` and `defaults` as their models declare. Each provider's
  settings, and its `audio_source`, in the order the model of its `type` declares them, so
  `type` comes first. Each prompt: `description`, `providers`, `voice_type`, `remote_name`,
  `audio`, `acknowledge` (the declared order with the audio map last, where it reads best,
  followed only by the warnings it causes that are accepted). The locales under
  `audio`, and under a per-locale `remote_name`, sorted. Each `moved` entry: `from`, `to`.
- **What is not reordered.** Prompts, providers, list items and `include` globs stay in the
  user's order. Unknown keys stay where they are: only known keys trade places among
  themselves (`validate` reports the unknown ones). A map with a `<<` merge is left in its
  order. Quoting, flow collections (`[aicc, ccc]`, `{type: url, ...}`), block scalars and
  anchors are kept as written.
- **Comments.** A comment line belongs to the key or list item below it and moves with it. A
  comment at the end of a line stays at the end of that line (at the same column, when the line
  still fits before it). Comment lines after the last entry of a map or list, indented deeper
  than the next key, stay at the end of that map or list. The comments above the first key are
  the file's header and stay at the top, with a `# yaml-language-server:` modeline first.
  Comment lines are indented like the entry they belong to (their indentation relative to each
  other is kept).
- **Style.** Maps indented by 2 spaces, list items by 2 under their key (`key:` then
  `  - item`); no trailing spaces; at most one blank line in a row, none at the start of the
  file or right after a line that opens a map or list; exactly one newline at the end; LF line
  endings; no byte-order mark; long values are never wrapped.
- **Safety.** A file that does not parse gets the same `file:line:column` problems as
  `validate`. The result must parse to the same data and hold the same comments as the input,
  or the file is refused with a problem that says why (a comment inside a `[...]` or `{...}`
  spanning lines, for example); it is then left as it was. Formatting a formatted file changes
  nothing.
"""

from __future__ import annotations

import glob
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ivrsync.errors import Location, ManifestError, Problem
from ivrsync.files import write_atomically
from ivrsync.manifest.schema import (
    ROOT_FILE,
    Defaults,
    Manifest,
    MovedEntry,
    PromptSpec,
    ProviderSettings,
    StateSettings,
)
from ivrsync.manifest.yaml_source import YamlLoadError, load_yaml_file, parse_yaml
from ivrsync.settings import AudioSource

DataPath = tuple[str | int, ...]

MODELINE = "# yaml-language-server:"
INDENT_MAP = 2
INDENT_SEQUENCE = 4  # the item's content; its dash is at INDENT_OFFSET
INDENT_OFFSET = 2

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What YAML counts as the end of a line (as in yaml_source): line numbers must agree.
_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_BLANK = ""
# What YAML counts as white space: U+00A0 and other Unicode spaces are text to it.
_SPACE = " \t"


# --- The canonical order, read from the models in schema.py ---------------------------------


def _keys(model: Any) -> tuple[str, ...]:
    """The keys a model declares, as written in YAML (aliases such as `from`), in order."""
    return tuple(info.alias or name for name, info in model.model_fields.items())


def _by_type(union: Any) -> dict[str, tuple[str, ...]]:
    """`type` value -> key order, for a discriminated union such as ProviderSettings."""
    members = get_args(get_args(union)[0])  # Annotated[A | B, ...] -> (A, B)
    return {get_args(model.model_fields["type"].annotation)[0]: _keys(model) for model in members}


ROOT_ORDER = _keys(Manifest)
STATE_ORDER = _keys(StateSettings)
DEFAULTS_ORDER = _keys(Defaults)
PROVIDER_ORDER = _by_type(ProviderSettings)
AUDIO_SOURCE_ORDER = _by_type(AudioSource)
_AFTER_AUDIO = ("audio", "acknowledge")
PROMPT_ORDER = (*(key for key in _keys(PromptSpec) if key not in _AFTER_AUDIO), *_AFTER_AUDIO)
MOVED_ORDER = _keys(MovedEntry)


def canonical_keys(keys: Sequence[Any], order: Sequence[str] | None) -> list[Any]:
    """`keys` with the known ones (in `order`) sorted among the places they hold.

    Unknown keys keep their index. With `order` None every key is known and sorted by text.
    """
    if order is None:
        return sorted(keys, key=str)
    rank = {key: index for index, key in enumerate(order)}
    places = [i for i, key in enumerate(keys) if isinstance(key, str) and key in rank]
    known = sorted((keys[i] for i in places), key=lambda key: rank[key])
    result = list(keys)
    for place, key in zip(places, known, strict=True):
        result[place] = key
    return result


def _reorder(node: Any, order: Sequence[str] | None) -> None:
    if not isinstance(node, dict) or getattr(node, "merge", None):
        return
    mapping: Any = node  # a ruamel CommentedMap, an ordered dict
    keys = list(mapping)
    wanted = canonical_keys(keys, order)
    if wanted != keys:
        for key in wanted:
            mapping.move_to_end(key)


def reorder_manifest(data: Any) -> None:
    """Put a round-trip manifest (root or included file) in canonical key order, in place."""
    if not isinstance(data, dict):
        return
    _reorder(data, ROOT_ORDER)
    _reorder(data.get("state"), STATE_ORDER)
    _reorder(data.get("defaults"), DEFAULTS_ORDER)
    providers = data.get("providers")
    if isinstance(providers, dict):
        for settings in providers.values():
            if not isinstance(settings, dict):
                continue
            kind = settings.get("type")
            _reorder(
                settings,
                PROVIDER_ORDER.get(kind, ("type",)) if isinstance(kind, str) else ("type",),
            )
            source = settings.get("audio_source")
            if isinstance(source, dict):
                source_kind = source.get("type")
                _reorder(
                    source,
                    AUDIO_SOURCE_ORDER.get(source_kind, ("type",))
                    if isinstance(source_kind, str)
                    else ("type",),
                )
    prompts = data.get("prompts")
    if isinstance(prompts, dict):
        for prompt in prompts.values():
            if not isinstance(prompt, dict):
                continue
            _reorder(prompt, PROMPT_ORDER)
            _reorder(prompt.get("audio"), None)
            _reorder(prompt.get("remote_name"), None)
    moved = data.get("moved")
    if isinstance(moved, list):
        for entry in moved:
            _reorder(entry, MOVED_ORDER)


# --- Where everything is: entries, comments, content lines ----------------------------------


@dataclass
class _Entry:
    """A key of a block map, or an item of a block list: what comments attach to."""

    path: DataPath
    line: int  # its first line (0-based): the key's, or the item's
    column: int  # the key's column, or the item's dash
    end_line: int | None  # where its value ends, when a comment can follow it there
    index: int = 0  # its place in document order


@dataclass
class _Layout:
    lines: list[str]
    entries: list[_Entry] = field(default_factory=list)
    by_path: dict[DataPath, _Entry] = field(default_factory=dict)
    collections: dict[DataPath, int] = field(default_factory=dict)  # block map/list -> column
    content: set[int] = field(default_factory=set)  # lines holding keys or values
    no_comment: set[int] = field(default_factory=set)  # inside multi-line values: all text
    flow_inner: set[int] = field(default_factory=set)  # inside a multi-line [...] or {...}
    ends: dict[int, int] = field(default_factory=dict)  # line -> column after its last value
    by_line: dict[int, list[_Entry]] = field(default_factory=dict)
    by_end: dict[int, list[_Entry]] = field(default_factory=dict)
    # A collection's path -> the index of the first entry after everything in it.
    after: dict[DataPath, int] = field(default_factory=dict)

    def starting(self, line: int) -> list[_Entry]:
        return self.by_line.get(line, [])

    def index(self) -> None:
        """Entries by line, and where each collection's entries end (they are contiguous)."""
        open_paths: list[DataPath] = []
        for entry in self.entries:
            self.by_line.setdefault(entry.line, []).append(entry)
            if entry.end_line is not None:
                self.by_end.setdefault(entry.end_line, []).append(entry)
            while open_paths and entry.path[: len(open_paths[-1])] != open_paths[-1]:
                self.after[open_paths.pop()] = entry.index
            open_paths.append(entry.path)
        for path in open_paths:
            self.after[path] = len(self.entries)
        self.after[()] = len(self.entries)


def _split_lines(text: str) -> list[str]:
    lines = _LINE_BREAKS.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _layout(text: str) -> _Layout:
    """Where every entry, value and comment-free line of a YAML text is."""
    walker = _Walker(_Layout(_split_lines(text)))
    root = yaml.compose(text, Loader=_LOADER)
    if root is not None:
        walker.seen.add(id(root))
        if isinstance(root, MappingNode | SequenceNode) and not root.flow_style:
            walker.collection(root, ())
        else:
            walker.span(root)
    walker.layout.index()
    return walker.layout


class _Walker:
    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.seen: set[int] = set()  # nodes met already: the second time is an alias

    def note_end(self, line: int, column: int) -> None:
        self.layout.ends[line] = max(self.layout.ends.get(line, 0), column)

    def span(self, node: Node) -> None:
        """Record the lines a scalar or a flow collection occupies."""
        layout = self.layout
        start, end = node.start_mark, node.end_mark
        if isinstance(node, ScalarNode) and node.style in ("|", ">"):
            # The end mark is at the start of the line after the last one of the scalar.
            last = end.line - (1 if end.column == 0 else 0)
            if not self.keeps_blank_lines(start.line, start.column):
                while last > start.line and not layout.lines[last].strip(_SPACE):
                    last -= 1  # blank lines after the text are not part of it
            layout.content.update(range(start.line, last + 1))
            layout.no_comment.update(range(start.line + 1, last + 1))
            self.note_end(start.line, start.column + 1)
            return
        layout.content.update(range(start.line, end.line + 1))
        self.note_end(end.line, end.column)
        if isinstance(node, ScalarNode):
            layout.no_comment.update(range(start.line, end.line))
            return
        layout.flow_inner.update(range(start.line, end.line))
        children: Iterable[Node]
        if isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = node.value
        for child in children:
            if id(child) not in self.seen:
                self.seen.add(id(child))
                self.span(child)

    def keeps_blank_lines(self, line: int, column: int) -> bool:
        """Whether a block scalar's header (`|+`, `>2+`) keeps the blank lines after it."""
        header = self.layout.lines[line][column:]
        start = min((i for i in (header.find("|"), header.find(">")) if i >= 0), default=-1)
        indicators = (header[start + 1 :].split(maxsplit=1) or [""])[0] if start >= 0 else ""
        return "+" in indicators.split("#", 1)[0]

    def value(self, node: Node, entry: _Entry) -> None:
        if id(node) in self.seen:  # an alias: `*name` on the entry's line
            entry.end_line = entry.line
            return
        self.seen.add(id(node))
        if isinstance(node, MappingNode | SequenceNode) and not node.flow_style:
            self.collection(node, entry.path)
        elif isinstance(node, ScalarNode) and node.value == "" and not node.style:
            entry.end_line = entry.line  # an empty value: `key:`
        else:
            self.span(node)
            block_scalar = isinstance(node, ScalarNode) and node.style in ("|", ">")
            # A comment after a block scalar can only be on its header line.
            entry.end_line = node.start_mark.line if block_scalar else node.end_mark.line

    def add(self, path: DataPath, line: int, column: int) -> _Entry:
        entry = _Entry(path, line, column, None, len(self.layout.entries))
        self.layout.entries.append(entry)
        self.layout.by_path[path] = entry
        return entry

    def collection(self, node: Node, path: DataPath) -> None:
        if isinstance(node, MappingNode):
            for number, (key, item) in enumerate(node.value):
                if number == 0:
                    self.layout.collections[path] = key.start_mark.column
                name = str(key.value) if isinstance(key, ScalarNode) else f"?{number}"
                entry = self.add((*path, name), key.start_mark.line, key.start_mark.column)
                self.span(key)
                self.value(item, entry)
        elif isinstance(node, SequenceNode):
            column = node.start_mark.column
            self.layout.collections[path] = column
            for number, item in enumerate(node.value):
                entry = self.add((*path, number), item.start_mark.line, column)
                self.value(item, entry)


def _comment_at(line: str, after: int) -> int | None:
    """The column where a comment starts on a content line, looking past column `after`."""
    index = after
    while (index := line.find("#", index)) >= 0:
        if index == 0 or line[index - 1] in " \t":
            return index
        index += 1
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


# --- Comments: read from the input, keyed by what they belong to ----------------------------


@dataclass
class _Comment:
    text: str  # "" for a blank line, else the comment from its `#`
    column: int


@dataclass
class _Trailer:
    text: str
    column: int  # where it started in the input
    indent: int  # the indentation of its line in the input


@dataclass
class _Comments:
    header: list[str] = field(default_factory=list)  # verbatim, above the first key
    lead: dict[DataPath, list[_Comment]] = field(default_factory=dict)
    trailing: dict[DataPath, list[_Comment]] = field(default_factory=dict)
    eol_start: dict[DataPath, _Trailer] = field(default_factory=dict)
    eol_end: dict[DataPath, _Trailer] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _collect(layout: _Layout) -> _Comments:
    comments = _Comments()
    lines = layout.lines
    first = min(layout.content, default=len(lines))
    comments.header = [line.rstrip(_SPACE) for line in lines[:first]]
    pending: list[_Comment] = []
    previous: _Entry | None = None

    for number in range(first, len(lines)):
        line = lines[number]
        if number not in layout.content:
            stripped = line.strip(_SPACE)
            if not stripped:
                pending.append(_Comment(_BLANK, 0))
            elif (column := _comment_at(line, 0)) is not None:
                # A comment line, or one after a lone `-` (whose item starts below it).
                pending.append(_Comment(line[column:].rstrip(_SPACE), _indent(line)))
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
        column = _comment_at(line, layout.ends.get(number, 0))
        if column is None:
            continue
        if number in layout.flow_inner:
            raise _Refused(
                number,
                "fmt cannot keep a comment inside [...] or {...} that spans lines; "
                "move it after the closing bracket",
            )
        trailer = _Trailer(line[column:].rstrip(_SPACE), column, _indent(line))
        _attach_eol(comments, layout, number, trailer)

    _flush(comments, layout, pending, previous, None)
    _lift_modelines(comments)
    return comments


def _lift_modelines(comments: _Comments) -> None:
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


def _attach_eol(comments: _Comments, layout: _Layout, number: int, trailer: _Trailer) -> None:
    """An end-of-line comment goes with the deepest entry that starts or ends on its line."""
    near = {e.index: e for e in [*layout.starting(number), *layout.by_end.get(number, [])]}
    candidates = [(len(e.path), e.end_line == number, e) for e in near.values()]
    if not candidates:
        raise _Refused(number, "fmt cannot place this comment; put it on its own line")
    _, at_end, entry = max(candidates, key=lambda c: (c[0], c[1], c[2].index))
    (comments.eol_end if at_end else comments.eol_start)[entry.path] = trailer


def _flush(
    comments: _Comments,
    layout: _Layout,
    pending: list[_Comment],
    previous: _Entry | None,
    following: _Entry | None,
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
    blanks: list[_Comment] = []
    index = 0
    for index, comment in enumerate(pending):  # noqa: B007 - index is used after the loop
        if comment.text == _BLANK:
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


# --- Putting the comments back into the formatted text --------------------------------------


def _render(block: list[_Comment], column: int) -> list[str]:
    """Comment lines at `column`, keeping their indentation relative to each other."""
    base = min((c.column for c in block if c.text), default=0)
    return [" " * (column + c.column - base) + c.text if c.text else _BLANK for c in block]


def _with_eol(line: str, trailer: _Trailer) -> str:
    content = line.rstrip(_SPACE)
    column = trailer.column - trailer.indent + _indent(line)
    if len(content) < column:
        return content.ljust(column) + trailer.text
    return f"{content} {trailer.text}"


def _assemble(body: str, comments: _Comments) -> str:
    layout = _layout(body)
    lines = layout.lines
    inserts: dict[int, list[tuple[tuple[int, int], list[str]]]] = {}
    eols: dict[int, list[_Trailer]] = {}

    def insert(at: int, priority: tuple[int, int], text: list[str]) -> None:
        inserts.setdefault(at, []).append((priority, text))

    def found(path: DataPath) -> _Entry:
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
        line = lines[number].rstrip(_SPACE)
        extra = eols.get(number, [])
        if extra:
            # Two comments for one line (`key:  # a` over a value `# b` on the next line):
            # the first stays at the end of the line, the others go above it.
            out.extend((" " * _indent(line) + t.text, _FREE) for t in extra[1:])
            line = _with_eol(line, extra[0])
        out.append((line, _OPENS if number in opens else _FREE))
    return "\n".join(_tidy(out)) + "\n"


_FREE, _OPENS, _VERBATIM = 0, 1, 2


def _opening_lines(layout: _Layout) -> set[int]:
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
        if kind != _VERBATIM and line == _BLANK:
            if drop_blank:
                continue
            drop_blank = True
        else:
            drop_blank = kind == _OPENS
        result.append(line)
    while result and result[-1] == _BLANK:
        result.pop()
    return result


# --- The whole file --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verbatim:
    """A number, true/false, null, date or `!!binary` as written (`1.50`, `+12`, `~`, `1e400`).

    ruamel reads these by YAML 1.2 and writes them back as it renders them: digits of a float
    can change, and a value YAML 1.1 (validate) reads as text can become a number. Kept as
    text with its tag, each is written exactly as it was.
    """

    text: str
    tag: str
    style: str | None = None  # as written: plain (None), or a quote for a quoted `!!binary`

    def __str__(self) -> str:
        return self.text


_VERBATIM_TAGS = tuple(
    f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null", "timestamp", "binary")
)


def _round_trip() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import RoundTripConstructor
    from ruamel.yaml.representer import RoundTripRepresenter

    class Constructor(RoundTripConstructor):
        pass

    class Representer(RoundTripRepresenter):
        pass

    def construct(_: Any, node: Any) -> Verbatim:
        return Verbatim(str(node.value), str(node.tag), node.style or None)

    def represent(representer: Any, value: Verbatim) -> Any:
        return representer.represent_scalar(value.tag, value.text, style=value.style)

    for tag in _VERBATIM_TAGS:
        Constructor.add_constructor(tag, construct)
    Representer.add_representer(Verbatim, represent)

    parser = YAML(typ="rt")
    parser.Constructor = Constructor
    parser.Representer = Representer
    parser.preserve_quotes = True
    parser.width = 1_000_000  # never fold a long description
    parser.indent(mapping=INDENT_MAP, sequence=INDENT_SEQUENCE, offset=INDENT_OFFSET)
    return parser


def _drop_comments(node: Any) -> None:
    from ruamel.yaml.comments import Comment, CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap | CommentedSeq):
        setattr(node, Comment.attrib, Comment())
        for child in node.values() if isinstance(node, CommentedMap) else node:
            _drop_comments(child)


def _header(lines: list[str]) -> list[str]:
    modelines = [line for line in lines if line.startswith(MODELINE)]
    rest = [line for line in lines if not line.startswith(MODELINE)]
    return [*modelines, *rest]


def comment_texts(text: str) -> Counter[str]:
    """Every comment in a YAML text (what fmt must keep), counted."""
    layout = _layout(text)
    found: Counter[str] = Counter()
    for number, line in enumerate(layout.lines):
        if number in layout.no_comment:
            continue
        after = layout.ends.get(number, 0) if number in layout.content else 0
        column = _comment_at(line, after)
        if column is not None:
            found[line[column:].rstrip(_SPACE)] += 1
    return found


def _for_ruamel(layout: _Layout) -> str:
    """The text without what ruamel refuses and YAML ignores: trailing spaces and tabs, and
    tabs between a value and its comment. Lines inside values are left as they are."""
    lines = []
    for number, line in enumerate(layout.lines):
        if number in layout.no_comment:
            lines.append(line)
            continue
        clean = line.rstrip(_SPACE)
        after = layout.ends.get(number, 0) if number in layout.content else 0
        column = _comment_at(clean, after)
        if column is not None:
            clean = clean[:after] + clean[after:column].replace("\t", " ") + clean[column:]
        lines.append(clean)
    return "\n".join(lines) + "\n"


def _without_directives(body: str) -> str:
    """ruamel repeats a `%YAML` directive (and its `---`); the header already has them."""
    if not body.startswith("%"):
        return body
    lines = body.split("\n")
    end = next((i for i, line in enumerate(lines) if line.startswith("---")), -1)
    rest = lines[end + 1 :]
    if end >= 0 and lines[end].strip(_SPACE) != "---":
        rest.insert(0, lines[end][3:].lstrip(_SPACE))  # `--- value` on one line
    return "\n".join(rest)


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
        layout = _layout(text)
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
            layout = _layout(text)
        if () not in layout.collections:
            raise _Refused(
                min(layout.content, default=0),
                "fmt needs the top level written as `key: value` lines, not as {...}",
            )
        comments = _collect(layout)
    except _Refused as refused:
        raise ManifestError(
            [Problem("fmt-comment", refused.message, Location(display_path, refused.line + 1))]
        ) from None

    from ruamel.yaml.error import YAMLError

    parser = _round_trip()
    try:
        data = parser.load(_for_ruamel(layout))
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
    _drop_comments(data)
    reorder_manifest(data)
    stream = io.StringIO()
    parser.dump(data, stream)
    body = _assemble(_without_directives(stream.getvalue()), comments)

    header = _header(comments.header)
    while header and not header[0]:
        header.pop(0)
    collapsed: list[str] = []
    for line in header:
        if not (line == _BLANK and collapsed and collapsed[-1] == _BLANK):
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


# --- Files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Formatted:
    """One manifest before and after formatting."""

    path: Path
    display_path: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def format_file(path: Path, display_path: str) -> Formatted:
    """Format one file in memory; raises ManifestError (with file:line) if it cannot be."""
    try:
        load_yaml_file(path, display_path)  # the same problems as validate: encoding, syntax
    except YamlLoadError as exc:
        raise ManifestError(exc.problems) from None
    raw = path.read_bytes()
    before = raw.decode("utf-8")
    return Formatted(path, display_path, before, format_text(before, display_path))


def write_formatted(formatted: Formatted) -> None:
    """Replace the file with its formatted text, atomically, keeping its permissions."""
    write_atomically(formatted.path.resolve(), formatted.after)  # through a link: its target


def manifest_files(root: Path) -> list[tuple[Path, str]]:
    """`ivrsync.yaml` under `root` and the files its `include:` globs match, each with its
    path relative to `root`. Globs that are invalid or match nothing are skipped: validate
    reports them, and so are the includes of a root that does not parse. Raises
    ManifestError if there is no root manifest."""
    root = Path(os.path.abspath(root))  # noqa: PTH100 - as the loader: symlinks checked below
    root_file = root / ROOT_FILE
    if not root_file.is_file():
        hint = " (found ivrsync.yml: rename it)" if (root / "ivrsync.yml").exists() else ""
        raise ManifestError(
            [
                Problem(
                    "no-manifest",
                    f"no {ROOT_FILE} in {root}{hint}; run in a prompt repository or pass -C DIR",
                )
            ]
        )
    files = [(root_file, ROOT_FILE)]
    try:
        data = load_yaml_file(root_file, ROOT_FILE).data
    except YamlLoadError:
        return files  # formatting it reports why
    patterns = data.get("include") if isinstance(data, dict) else None
    real_root = root.resolve()
    for pattern in patterns if isinstance(patterns, list) else []:
        if not isinstance(pattern, str) or not pattern.strip() or "\0" in pattern:
            continue
        if Path(pattern).is_absolute() or "\\" in pattern:
            continue
        # glob.glob takes root_dir, which Path.glob does not (as in the loader).
        for match in sorted(glob.glob(pattern, root_dir=root, recursive=True)):  # noqa: PTH207
            path = Path(os.path.normpath(root / match))
            if not path.is_file() or not path.resolve().is_relative_to(real_root):
                continue
            if not path.is_relative_to(root):
                continue
            entry = (path, path.relative_to(root).as_posix())
            if entry not in files:
                files.append(entry)
    return files
