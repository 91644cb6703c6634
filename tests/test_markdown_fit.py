"""The plan Markdown cut to fit a comment: its last line says exactly what is missing, on every
path (the folded plan shortened or left out, table rows dropped per provider, warnings lost)."""

from __future__ import annotations

import re

from ivrsync.plan.render import render_markdown, render_text
from tests.repo_factory import big_plan

RUN_SHOW = ". Run `ivrsync show PLANFILE` for all of it._"


def rows(text: str, provider: str) -> int:
    return len(re.findall(rf"^\| `\+` \| `{provider}\.", text, re.MULTILINE))


def folded_lines(text: str) -> list[str]:
    """The lines of the folded plan as the comment shows them (without a closing '...')."""
    body = text.split("<details><summary>Full plan</summary>\n\n```\n", 1)[1]
    lines = body.split("\n```\n\n</details>", 1)[0].split("\n")
    return lines[:-1] if lines[-1] == "..." else lines


def note(text: str) -> str:
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("_Cut to fit a comment"), last
    return last


def test_all_rows_fit_and_the_folded_plan_is_shortened_by_a_counted_number_of_lines() -> None:
    plan = big_plan({"ccc": 40})
    text = render_markdown(plan, limit=8000)
    assert len(text) <= 8000
    assert rows(text, "ccc") == 40
    total = len(render_text(plan).split("\n"))
    shown = folded_lines(text)
    assert shown == render_text(plan).split("\n")[: len(shown)]
    assert note(text) == (
        f"_Cut to fit a comment (8,000 characters): the full plan shortened to its first "
        f"{len(shown)} of {total} lines{RUN_SHOW}"
    )


def test_rows_dropped_are_counted_per_provider_and_a_left_out_plan_is_not_called_shortened() -> (
    None
):
    plan = big_plan({"aicc": 200, "ccc": 200})
    text = render_markdown(plan, limit=8000)
    assert len(text) <= 8000
    assert "<details>" not in text
    aicc, ccc = rows(text, "aicc"), rows(text, "ccc")
    assert 0 < aicc < 200
    total = len(render_text(plan).split("\n"))
    assert note(text) == (
        f"_Cut to fit a comment (8,000 characters): {aicc + ccc} of 400 changes listed in the "
        f"tables (aicc {aicc} of 200, ccc {ccc} of 200); the full plan ({total:,} lines) "
        f"left out{RUN_SHOW}"
    )


def test_warnings_beyond_the_head_lost_with_the_folded_plan_are_counted() -> None:
    plan = big_plan({"ccc": 60}, warnings=30)
    text = render_markdown(plan, limit=12_000)
    assert len(text) <= 12_000
    assert "> ... and 10 more warnings (in the full plan)" in text
    missing = [n for n in range(30) if f"warning number {n:03d}" not in text]
    assert missing == list(range(20, 30))
    assert note(text).endswith(f"; 10 warning(s) not listed{RUN_SHOW}")


def test_a_plan_that_fits_has_every_warning_and_no_note() -> None:
    plan = big_plan({"ccc": 5}, warnings=30)
    text = render_markdown(plan)
    assert all(f"warning number {n:03d}" in text for n in range(30))
    assert "_Cut to fit" not in text
    assert folded_lines(text) == render_text(plan).split("\n")


def test_5000_changes_on_two_providers_fit_a_real_comment() -> None:
    plan = big_plan({"aicc": 2500, "ccc": 2500}, warnings=25)
    text = render_markdown(plan)
    assert len(text) <= 65_536
    aicc, ccc = rows(text, "aicc"), rows(text, "ccc")
    assert f"{aicc + ccc} of 5000 changes listed in the tables (aicc {aicc} of 2500" in note(text)
    assert note(text).endswith(f"; 5 warning(s) not listed{RUN_SHOW}")
