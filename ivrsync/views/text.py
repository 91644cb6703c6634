"""Small pieces of wording the text views share."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """`1 file`, `2 files`."""
    return f"{count} {word}{'' if count == 1 else 's'}"
