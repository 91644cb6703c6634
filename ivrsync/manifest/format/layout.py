"""Where everything is in a YAML text: entries, values, comment-free lines, comments.

Comments are not in YAML's data, so fmt reads them by position: this maps each line to the
keys and list items that start or end on it, from the composed YAML nodes (as validate reads).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

DataPath = tuple[str | int, ...]

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What YAML counts as the end of a line (as in yaml_source): line numbers must agree.
_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
BLANK = ""
# What YAML counts as white space: U+00A0 and other Unicode spaces are text to it.
SPACE = " \t"


@dataclass
class Entry:
    """A key of a block map, or an item of a block list: what comments attach to."""

    path: DataPath
    line: int  # its first line (0-based): the key's, or the item's
    column: int  # the key's column, or the item's dash
    end_line: int | None  # where its value ends, when a comment can follow it there
    index: int = 0  # its place in document order


@dataclass
class Layout:
    lines: list[str]
    entries: list[Entry] = field(default_factory=list)
    by_path: dict[DataPath, Entry] = field(default_factory=dict)
    collections: dict[DataPath, int] = field(default_factory=dict)  # block map/list -> column
    content: set[int] = field(default_factory=set)  # lines holding keys or values
    no_comment: set[int] = field(default_factory=set)  # inside multi-line values: all text
    flow_inner: set[int] = field(default_factory=set)  # inside a multi-line [...] or {...}
    ends: dict[int, int] = field(default_factory=dict)  # line -> column after its last value
    by_line: dict[int, list[Entry]] = field(default_factory=dict)
    by_end: dict[int, list[Entry]] = field(default_factory=dict)
    # A collection's path -> the index of the first entry after everything in it.
    after: dict[DataPath, int] = field(default_factory=dict)

    def starting(self, line: int) -> list[Entry]:
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


def read_layout(text: str) -> Layout:
    """Where every entry, value and comment-free line of a YAML text is."""
    walker = _Walker(Layout(_split_lines(text)))
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
    def __init__(self, layout: Layout) -> None:
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
                while last > start.line and not layout.lines[last].strip(SPACE):
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

    def value(self, node: Node, entry: Entry) -> None:
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

    def add(self, path: DataPath, line: int, column: int) -> Entry:
        entry = Entry(path, line, column, None, len(self.layout.entries))
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


def comment_at(line: str, after: int) -> int | None:
    """The column where a comment starts on a content line, looking past column `after`."""
    index = after
    while (index := line.find("#", index)) >= 0:
        if index == 0 or line[index - 1] in " \t":
            return index
        index += 1
    return None


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def comment_texts(text: str) -> Counter[str]:
    """Every comment in a YAML text (what fmt must keep), counted."""
    layout = read_layout(text)
    found: Counter[str] = Counter()
    for number, line in enumerate(layout.lines):
        if number in layout.no_comment:
            continue
        after = layout.ends.get(number, 0) if number in layout.content else 0
        column = comment_at(line, after)
        if column is not None:
            found[line[column:].rstrip(SPACE)] += 1
    return found
