"""The quick YAML build (no positions) must give exactly what the careful build gives.

Most runs never print a position, so manifests are built without them and a document finds
its positions only when a message asks; anything unusual goes to the careful build. If the
two builds ever disagreed, a plan would depend on whether an error happened to be printed.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ivrsync.manifest.yaml_source import YamlLoadError, _build_with_marks, parse_yaml

TRICKY = [
    "a: 1\nb: yes\nc: ~\nd: 2026-11-21\ne: 2026-11-21T10:00:00Z\nf: 0x1F\ng: 1_000\n",
    "1: one\ntrue: t\nnull: n\n3.5: f\n",  # keys are kept as written
    "x: !!str 12\ny: !!int '7'\nz: !!float 1\nb: !!binary aGVsbG8=\n",
    "list: [a, {b: c}, [d, e]]\nflow: {k: v, 'q': \"w\"}\n",
    "text: Terms & conditions apply\nother: 'R&D'\nand: a&b\n",  # `&` that is no anchor
    "base: &b {x: 1}\nuse: *b\nmerged:\n  <<: *b\n  y: 2\n",  # anchors: careful build
    "inline_merge:\n  <<: {x: 1}\n  y: 2\n",
    "multi: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    "- top\n- level\n- [list]\n",
    "emoji: \U0001f600\ncjk: 欢迎\n",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_the_quick_build_gives_the_careful_data(text: str) -> None:
    quick = parse_yaml(text, "x.yaml")
    careful = _build_with_marks(text, "x.yaml")[0]
    assert quick.data == careful


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first at line 1)"),
        ("s: !!set {a, b}\n", "the YAML tag '!!set' is not allowed"),
        ("v: !custom x\n", "the YAML tag '!custom' is not allowed"),
        ("[a]: 1\n", "a key must be a plain name"),
        ("n: !!int twelve\n", "'twelve' is not a valid int"),
    ],
)
def test_what_the_quick_build_cannot_explain_is_reported_with_its_line(
    text: str, message: str
) -> None:
    with pytest.raises(YamlLoadError) as raised:
        parse_yaml(text, "x.yaml")
    problem = raised.value.problems[0]
    assert message in problem.message
    assert problem.location is not None and problem.location.line is not None


def test_positions_are_found_when_a_message_asks_for_them() -> None:
    document = parse_yaml("prompts:\n  hello:\n    audio:\n      en_US: a.wav\n", "p.yaml")
    where = document.location(("prompts", "hello", "audio", "en_US"))
    assert (where.file, where.line, where.column) == ("p.yaml", 4, 14)
    key = document.location(("prompts", "hello"), at_key=True)
    assert (key.line, key.column) == (2, 3)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.dates(),
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(documents, st.sampled_from([False, True]))
def test_any_dumped_document_builds_the_same_both_ways(data: Any, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    assert parse_yaml(text, "x.yaml").data == _build_with_marks(text, "x.yaml")[0]


def test_a_location_past_the_careful_builds_limits_falls_back_to_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quick build counts no values; a file it read must still give a location."""
    document = parse_yaml("prompts:\n  a: {audio: {en_US: a.wav}}\n", "big.yaml")
    monkeypatch.setattr("ivrsync.manifest.yaml_source._MAX_VALUES", 3)
    where = document.location(("prompts", "a", "audio", "en_US"))
    assert (where.file, where.line, where.column) == ("big.yaml", 1, 1)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("voice: " + "[" * 100_000, 8 + 99),  # past libyaml 0.2.6's own limit, 1,000 levels
        ("voice: " + "{a: " * 5_000, 8 + 4 * 99),
        ("voice: " + "[" * 500 + "]" * 500 + "\n", 8 + 99),  # under libyaml's: our check
    ],
)
def test_nesting_past_the_limit_says_where_whatever_libyaml_is_bundled(
    text: str, column: int
) -> None:
    """PyYAML 6.0.4's libyaml refuses nesting in its own words; the user gets ivrsync's.

    The document itself is the first level, so the 99th bracket is one too many.
    """
    with pytest.raises(YamlLoadError) as raised:
        parse_yaml(text, "x.yaml")
    problem = raised.value.problems[0]
    assert problem.message == "maps and lists nest more than 100 levels deep here"
    assert problem.location is not None
    assert (problem.location.line, problem.location.column) == (1, column)
