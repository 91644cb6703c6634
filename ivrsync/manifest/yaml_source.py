"""YAML loading that can tell where every key and value came from.

PyYAML's constructors drop positions and silently keep the last of two duplicate keys. We
compose the node graph (in C when libyaml is available) and build plain Python data from it
ourselves. Positions are only needed for messages, so the first build skips them (most runs
never print one): a document records the line and column of each key and value, by their
path in the data, the first time it is asked for a location. Anything unusual (a duplicate
key, a tag, an anchor, a merge key) goes straight to the careful build, which reports it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ivrsync.errors import Location, Problem

DataPath = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
# Aliases can make a small file expand exponentially ("billion laughs"); no real manifest
# comes near this many values.
_MAX_VALUES = 2_000_000
# Nesting: a manifest needs about six levels. Building the data recurses once per level, and
# libyaml's composer recurses in C, where tens of thousands of `[` overflow the stack.
_MAX_DEPTH = 100
_COMPOSE_SAFE_DEPTH = 1_000


Marks = dict[DataPath, tuple[int, int]]


class YamlDocument:
    """Plain data from one YAML file, and the positions of its keys and values on demand."""

    def __init__(
        self, display_path: str, data: Any, text: str, marks: tuple[Marks, Marks] | None = None
    ) -> None:
        self.display_path = display_path
        self.data = data
        self.text = text
        self._marks = marks

    def marks(self) -> tuple[Marks, Marks]:
        """(value marks, key marks), from a second, careful build of the same text."""
        if self._marks is None:
            try:
                self._marks = _build_with_marks(self.text, self.display_path)[1:]
            except YamlLoadError:  # past a limit only the careful build counts (2,000,000
                self._marks = ({}, {})  # values): locations fall back to the file itself
        return self._marks

    def location(self, path: DataPath = (), *, at_key: bool = False) -> Location:
        """The position of the value at `path` (or of its key), or of its nearest ancestor."""
        value_marks, key_marks = self.marks()
        marks = key_marks if at_key else value_marks
        while True:
            if path in marks:
                line, column = marks[path]
                return Location(self.display_path, line, column)
            if not path:
                return Location(self.display_path, 1, 1)
            if at_key:
                marks = value_marks
                at_key = False
                continue
            path = path[:-1]


class YamlLoadError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message if problems else "YAML error")
        self.problems = problems


def load_yaml_file(path: Path, display_path: str) -> YamlDocument:
    """Read and parse one manifest file; every problem found is raised together."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlLoadError(
            [Problem("unreadable", f"cannot read: {exc.strerror}", Location(display_path))]
        ) from None
    return load_yaml_bytes(raw, display_path)


def load_yaml_bytes(raw: bytes, display_path: str) -> YamlDocument:
    """Parse a manifest's bytes read from elsewhere (git: `state migrate`) as a file's."""
    return parse_yaml(_decode(raw, display_path), display_path)


def parse_yaml(text: str, display_path: str) -> YamlDocument:
    node = _compose(text, display_path)
    if node is None:
        return YamlDocument(display_path, None, text)
    if not _ANCHOR.search(text):  # no alias can multiply values or loop
        try:
            return YamlDocument(display_path, _plain_data(node, 0, SafeConstructor()), text)
        except _Unusual:
            pass
    data, value_marks, key_marks = _build_with_marks(text, display_path, node)
    return YamlDocument(display_path, data, text, (value_marks, key_marks))


def _compose(text: str, display_path: str) -> Node | None:
    try:
        _check_depth(text, display_path)
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise YamlLoadError([_syntax_problem(exc, display_path, text)]) from None
    except yaml.reader.ReaderError as exc:
        raise YamlLoadError([_reader_problem(exc, display_path, text)]) from None
    except yaml.YAMLError as exc:
        raise YamlLoadError(
            [Problem("yaml-syntax", f"invalid YAML: {exc}", Location(display_path))]
        ) from None


def _build_with_marks(
    text: str, display_path: str, node: Node | None = None
) -> tuple[Any, Marks, Marks]:
    """The careful build: positions of everything, and every problem, raised together."""
    if node is None:
        node = _compose(text, display_path)
    builder = _Builder(display_path, text)
    data = builder.build(node, ()) if node is not None else None
    if builder.problems:
        raise YamlLoadError(builder.problems)
    return data, builder.value_marks, builder.key_marks


# An anchor (`&name`) where a node's properties can start; "Terms & conditions" is not one.
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s\]},]")
_STR_TAG = "tag:yaml.org,2002:str"
_SAFE_TAGS = frozenset(SafeConstructor.yaml_constructors) - {None}


class _Unusual(Exception):
    """Something the quick build leaves to `_Builder`, which explains it with a position."""


def _plain_data(node: Node, depth: int, constructor: SafeConstructor) -> Any:
    """The quick build: the same data `_Builder` makes, for documents with nothing unusual."""
    kind = type(node)
    tag = node.tag
    if kind is ScalarNode:
        if tag == _STR_TAG:
            return node.value
        if tag not in _SAFE_TAGS:
            raise _Unusual
        try:
            return constructor.construct_object(node, deep=True)
        except Exception:  # a bad `!!tag` value raises anything
            raise _Unusual from None
    if depth >= _MAX_DEPTH:
        raise _Unusual
    if kind is MappingNode and tag == _MAP_TAG:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode or key_node.tag not in _SAFE_TAGS:
                raise _Unusual  # a list or map as a key, a merge key (`<<`), a tag
            key = str(key_node.value)
            if key in result:
                raise _Unusual
            if type(value_node) is ScalarNode and value_node.tag == _STR_TAG:
                result[key] = value_node.value  # most values: no call needed
            else:
                result[key] = _plain_data(value_node, depth + 1, constructor)
        return result
    if kind is SequenceNode and tag == _SEQ_TAG:
        return [_plain_data(item, depth + 1, constructor) for item in node.value]
    raise _Unusual


def _check_depth(text: str, display_path: str) -> None:
    """Refuse absurd nesting before composing, when the text could hold any.

    A collection nests one level deeper per indentation column, indicator (`- `, `? `) or
    bracket, so only a file with very long lines or very many brackets is read twice.
    """
    longest = max(map(len, text.splitlines()), default=0)
    if longest + text.count("[") + text.count("{") <= _COMPOSE_SAFE_DEPTH:
        return
    try:
        _walk_depth(text, display_path, _Loader)
    except yaml.MarkedYAMLError as exc:
        if exc.problem != _LIBYAML_NESTING_LIMIT:
            raise
        # libyaml 0.2.6 (PyYAML 6.0.4) has its own limit, 1,000 levels, and reaches it while
        # looking ahead for a key (up to 1,024 characters), before handing over the events
        # that cross ours. The pure-Python parser has no such limit and finds where ours is
        # crossed; it only runs on a file libyaml has just refused.
        _walk_depth(text, display_path, yaml.SafeLoader)
        raise


# What libyaml 0.2.6 says when a document nests more than 1,000 levels deep.
_LIBYAML_NESTING_LIMIT = "exceeded maximum nesting depth"


def _walk_depth(text: str, display_path: str, loader: type[yaml.SafeLoader]) -> None:
    """Raise `yaml-too-deep` at the first collection nested more than `_MAX_DEPTH` deep."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_DEPTH:
                mark = event.start_mark
                where = Location(display_path)
                if mark is not None:
                    where = Location(display_path, mark.line + 1, mark.column + 1)
                raise YamlLoadError([_too_deep(where)])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _too_deep(where: Location) -> Problem:
    return Problem(
        "yaml-too-deep", f"maps and lists nest more than {_MAX_DEPTH} levels deep here", where
    )


def _decode(raw: bytes, display_path: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        where = Location(display_path, line, column)
        message = (
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "manifests must be saved as UTF-8"
        )
        raise YamlLoadError([Problem("encoding", message, where)]) from None


def _syntax_problem(exc: yaml.MarkedYAMLError, display_path: str, text: str = "") -> Problem:
    mark = exc.problem_mark or exc.context_mark
    where = _place(mark, display_path, text) if mark else None
    what = exc.problem or "invalid YAML"
    if exc.context:
        context = exc.context
        start = exc.context_mark
        if start and mark and start.line != mark.line:
            context += f" that starts at line {start.line + 1}"
        what = f"{context}, {what}"
    if _tab_at(text, mark) or "\t" in str(exc) or "tab" in what:
        what += " (YAML indentation must use spaces, not tabs)"
    elif "mapping values are not allowed" in what:
        what += " (put a value that contains ': ' in quotes, and check the indentation)"
    elif "expected key" in what or "expected <block end>" in what:
        what += " (check the indentation of this line against the lines above)"
    return Problem("yaml-syntax", f"invalid YAML: {what}", where)


# What YAML (and so every mark it reports) counts as the end of a line.
_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _reader_problem(exc: yaml.reader.ReaderError, display_path: str, text: str) -> Problem:
    """A character YAML refuses anywhere (a control character, U+FFFE): say which, and where.

    The reader's own message spans two lines and gives an offset (in bytes or characters,
    depending on the parser), not a line; YAML reads the text in order and stops at the
    first such character, so its first occurrence is the place.
    """
    index = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
    where = Location(display_path)
    if index >= 0:
        breaks = _LINE_BREAKS.findall(text, 0, index)
        line_start = max((m.end() for m in _LINE_BREAKS.finditer(text, 0, index)), default=0)
        where = Location(display_path, len(breaks) + 1, index - line_start + 1)
    code = exc.character if isinstance(exc.character, int) else 0
    message = f"invalid YAML: the character U+{code:04X} is not allowed in a YAML file"
    if code == 0 and text.count("\0") > len(text) // 4:
        message += " (is the file saved as UTF-16 or UTF-32? manifests must be saved as UTF-8)"
    else:
        message += f" (remove it, or write it as \\u{code:04X} inside double quotes)"
    return Problem("yaml-syntax", message, where)


def _place(mark: yaml.Mark, display_path: str, text: str) -> Location:
    """Where a mark points; at the end of the last line when libyaml points past it (as it
    does when a file without a final newline ends in the middle of something)."""
    lines = _LINE_BREAKS.split(text)
    if text and mark.line >= len(lines):
        return Location(display_path, len(lines), len(lines[-1]) + 1)
    return Location(display_path, mark.line + 1, mark.column + 1)


def _tab_at(text: str, mark: yaml.Mark | None) -> bool:
    """Whether the error is at a tab used as indentation (libyaml does not always say so)."""
    lines = text.splitlines()
    if mark is None or mark.line >= len(lines):
        return False
    line = lines[mark.line]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    return "\t" in indent or line[mark.column : mark.column + 1] == "\t"


def _plain_tag(node: Node) -> bool:
    """Whether the node is a plain list, map or a value the safe constructor knows.

    Maps and lists are built here, not by PyYAML, so a tag on one (`!!python/object/apply`,
    `!!set`, `!custom`) would otherwise be dropped silently; it is refused instead, like an
    unknown tag on a value. Nothing a tag names is ever constructed, let alone run.
    """
    if isinstance(node, SequenceNode):
        return node.tag == _SEQ_TAG
    if isinstance(node, MappingNode):
        return node.tag == _MAP_TAG
    return node.tag is not None and node.tag in SafeConstructor.yaml_constructors


def _tag_problem(node: Node, where: Location) -> Problem:
    tag = str(node.tag)
    shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag
    if not shown.isprintable():
        shown = shown.encode("unicode_escape").decode("ascii")
    return Problem(
        "yaml-tag",
        f"the YAML tag '{shown}' is not allowed: a manifest holds only plain maps, lists, "
        "text, numbers and true/false; remove the tag",
        where,
    )


class _Builder:
    def __init__(self, display_path: str, text: str) -> None:
        self.display_path = display_path
        self.text = text
        # The last position in the text: an empty value at the very end of a file without a
        # final newline (`key:`, `---`) has its mark on the line after it.
        breaks = list(_LINE_BREAKS.finditer(text))
        self.end = (len(breaks) + 1, len(text) - (breaks[-1].end() if breaks else 0) + 1)
        self.constructor = SafeConstructor()
        self.value_marks: dict[DataPath, tuple[int, int]] = {}
        self.key_marks: dict[DataPath, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.active: set[int] = set()

    def position(self, node: Node) -> tuple[int, int]:
        mark = node.start_mark
        return min((mark.line + 1, mark.column + 1), self.end)

    def where(self, node: Node) -> Location:
        return Location(self.display_path, *self.position(node))

    def build(self, node: Node, path: DataPath) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES:
            raise YamlLoadError(
                [
                    Problem(
                        "yaml-too-large",
                        "the document expands to too many values (aliases?)",
                        self.where(node),
                    )
                ]
            )
        if len(path) > _MAX_DEPTH:
            raise YamlLoadError([_too_deep(self.where(node))])
        self.value_marks[path] = self.position(node)
        if not _plain_tag(node):
            self.problems.append(_tag_problem(node, self.where(node)))
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if id(node) in self.active:
            self.problems.append(
                Problem(
                    "yaml-recursive",
                    "an alias refers to the node that contains it",
                    self.where(node),
                )
            )
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problems.append(_syntax_problem(exc, self.display_path, self.text))
        except Exception:  # a bad `!!tag` value raises anything (ValueError, KeyError, ...)
            self.problems.append(
                Problem(
                    "yaml-tag",
                    f"'{node.value}' is not a valid {node.tag.rsplit(':', 1)[-1]}; "
                    "remove the `!!` tag or fix the value",
                    self.where(node),
                )
            )
        return None

    def mapping(self, node: MappingNode, path: DataPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self.merge_pairs(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    Problem(
                        "yaml-key",
                        "a key must be a plain name, not a list or map",
                        self.where(key_node),
                    )
                )
                continue
            if not _plain_tag(key_node):
                self.problems.append(_tag_problem(key_node, self.where(key_node)))
                continue
            key = str(key_node.value)
            if key in first_seen:
                first = self.where(first_seen[key])
                self.problems.append(
                    Problem(
                        "duplicate-key",
                        f"duplicate key '{key}' (first at line {first.line}); "
                        "each key may appear only once in a map",
                        self.where(key_node),
                    )
                )
                continue
            first_seen[key] = key_node
            child: DataPath = (*path, key)
            self.key_marks[child] = self.position(key_node)
            result[key] = self.build(value_node, child)
        for key_node, value_node in merged:
            key = str(key_node.value)
            if key not in result:
                child = (*path, key)
                self.key_marks[child] = self.position(key_node)
                result[key] = self.build(value_node, child)
        return result

    def merge_pairs(self, node: Node) -> list[tuple[Node, Node]]:
        """`<<: *anchor` (or a list of them) contributes keys the map does not set itself."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        pairs: list[tuple[Node, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problems.append(
                    Problem(
                        "yaml-merge",
                        "'<<' must merge a map (or a list of maps)",
                        self.where(source),
                    )
                )
                continue
            pairs.extend((k, v) for k, v in source.value if isinstance(k, ScalarNode))
        return pairs
