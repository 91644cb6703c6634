"""ruamel set up to re-write a manifest as fmt's style says, changing no value's text.

ruamel keeps order and quoting but not every scalar as written; these adapters keep them, and
feed it only text that means to it what it means to validate (libyaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivrsync.manifest.format.layout import SPACE, Layout, comment_at

INDENT_MAP = 2
INDENT_SEQUENCE = 4  # the item's content; its dash is at INDENT_OFFSET
INDENT_OFFSET = 2


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


def round_trip_parser() -> Any:
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


def drop_comments(node: Any) -> None:
    from ruamel.yaml.comments import Comment, CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap | CommentedSeq):
        setattr(node, Comment.attrib, Comment())
        for child in node.values() if isinstance(node, CommentedMap) else node:
            drop_comments(child)


def for_ruamel(layout: Layout) -> str:
    """The text without what ruamel refuses and YAML ignores: trailing spaces and tabs, and
    tabs between a value and its comment. Lines inside values are left as they are."""
    lines = []
    for number, line in enumerate(layout.lines):
        if number in layout.no_comment:
            lines.append(line)
            continue
        clean = line.rstrip(SPACE)
        after = layout.ends.get(number, 0) if number in layout.content else 0
        column = comment_at(clean, after)
        if column is not None:
            clean = clean[:after] + clean[after:column].replace("\t", " ") + clean[column:]
        lines.append(clean)
    return "\n".join(lines) + "\n"


def without_directives(body: str) -> str:
    """ruamel repeats a `%YAML` directive (and its `---`); the header already has them."""
    if not body.startswith("%"):
        return body
    lines = body.split("\n")
    end = next((i for i, line in enumerate(lines) if line.startswith("---")), -1)
    rest = lines[end + 1 :]
    if end >= 0 and lines[end].strip(SPACE) != "---":
        rest.insert(0, lines[end][3:].lstrip(SPACE))  # `--- value` on one line
    return "\n".join(rest)
