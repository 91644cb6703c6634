"""Markdown for PR comments, MR notes and step summaries, cut to what the platform accepts.

Shared by the GitHub and GitLab glue: both post the same plan Markdown under different limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def fence(text: str, info: str = "text") -> str:
    """`text` in a code block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text.rstrip()}\n{marks}\n"


def fit(
    text: str, limit: int, measure: Callable[[str], int] = len, where: str = "GitHub's limit"
) -> str:
    """`text` cut at a line boundary to at most `limit` (as `measure` counts), with open
    `<details>` and code fences closed again and a last line that says it was cut (to fit
    `where`)."""
    if measure(text) <= limit:
        return text
    note = f"\n\n_Cut to fit {where}: the plan file (the run's artifact) has all of it._\n"
    budget = limit - measure(note) - 200  # room for closing tags
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in lines:
        size = measure(line)
        if used + size > budget:
            break
        kept.append(line)
        used += size
    if not kept and lines:  # one enormous line: cut it by characters
        head = lines[0]
        while head and measure(head) > budget:
            head = head[: len(head) * 9 // 10]
        kept = [head]
    body = "".join(kept)
    closing = ""
    fence_run: str | None = None
    for line in body.splitlines():
        match = re.match(r"^(`{3,})", line)
        if match and (fence_run is None or match.group(1).startswith(fence_run)):
            fence_run = None if fence_run is not None else match.group(1)
    if fence_run is not None:
        closing += ("\n" if not body.endswith("\n") else "") + fence_run + "\n"
    opened = body.count("<details>") - body.count("</details>")
    closing += "\n</details>\n" * max(0, opened)
    return body + closing + note
