"""What a provider that POSTs review results declares for `ivrsync review-server`: how it
writes a result, how it wants an acknowledgement and a refusal answered, and the form of its
ids. The server (routes, token, request gate, store, statistics) is the same for every one;
each provider module names its `CallbackFormat` (REVIEW_CALLBACKS, "module:attribute").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from ivrsync.http_json import NotJSON, decode_json
from ivrsync.reviews.store import ReviewResult

__all__ = ["MAX_JSON_DEPTH", "CallbackFormat", "CallbackRefused", "decode_callback"]

# Callbacks are flat objects: anything nested deeper is refused before it is decoded.
MAX_JSON_DEPTH = 32


class CallbackRefused(Exception):
    """A callback that cannot be accepted: answered `status` with the format's refusal."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class CallbackFormat(Protocol):
    """One provider's review callbacks, as the server parses and answers them."""

    # The ids its callbacks carry, which `GET /results?file_id=` takes; `file_id_form` says
    # it in an error ("is not <file_id_form>").
    file_id: re.Pattern[str]
    file_id_form: str

    # The result a callback body reports; `CallbackRefused` (400) saying what is wrong.
    def parse(self, body: bytes) -> ReviewResult: ...

    # The body that acknowledges a stored result (the provider stops sending it).
    def accepted(self) -> Mapping[str, Any]: ...

    # The body of every other answer of the server's, a refusal or an error, saying why.
    def refused(self, description: str) -> Mapping[str, Any]: ...


def decode_callback(body: bytes) -> object:
    """A callback body as JSON, no deeper than `MAX_JSON_DEPTH`; `CallbackRefused` (400)."""
    try:
        return decode_json(body, max_depth=MAX_JSON_DEPTH)
    except NotJSON as e:
        raise CallbackRefused(400, f"{e}; a callback is flat" if e.too_deep else str(e)) from None
