"""What the one JSON request handler (ivrsync.serving) reads and answers, apart from any server.

A request's body is framed by its headers (Content-Length or chunked) and read in pieces as
they arrive, by the same `BodyFraming` whether the review server's gate reads it without
blocking or a handler thread reads it from its socket; its JSON is decoded with a bound on
nesting, since json.loads recurses once per level. The server's application answers each
`Request` with a `Response`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Protocol

__all__ = [
    "Body",
    "BodyFraming",
    "JSONApp",
    "NotJSON",
    "Request",
    "Response",
    "decode_json",
]

# A chunked body over the limit: how much more of it to read and drop after answering.
_DRAIN_GUESS = 1024 * 1024
# The longest chunk-size line taken (the size, and any chunk extensions).
_MAX_CHUNK_LINE = 1024


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as the application sees it: header names are lower-cased.

    `problem` is set, and `body` empty, when the body could not be accepted: (status, why).
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    client: str
    problem: tuple[int, str] | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Response:
    """A JSON answer; the body is serialised with `Content-Type: application/json`."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


class JSONApp(Protocol):
    """What a server serves: the handler gives it each request and sends what it returns."""

    def respond(self, request: Request) -> Response | None:
        """The answer to `request`; None closes the connection without one."""
        ...

    def error_response(self, status: int, description: str) -> Response:
        """The answer to a failure outside the application's own rules (a malformed request
        line, a body the gate refused, a bug), in the application's error shape."""
        ...


@dataclass(frozen=True, slots=True)
class Body:
    """A request's body as it was read, or why it could not be accepted."""

    data: bytes = b""
    problem: tuple[int, str] | None = None  # (status, why) when the body cannot be accepted
    unread: int = 0  # bytes of the body the client may still send (answer, then drain)


class BodyFraming:
    """A request's body as its headers frame it (Content-Length or chunked), taken in pieces
    as they arrive: `feed` returns the `Body` once it is complete or cannot be accepted."""

    def __init__(self, headers: Message, max_body: int) -> None:
        self.max_body = max_body
        self.buffer = bytearray()  # chunked: from the next chunk-size line on
        self.length: int | None = None  # Content-Length framing
        self.chunked = False
        self.data = bytearray()  # chunked: the data of the chunks so far
        self._settled = self._frame(headers)

    def _frame(self, headers: Message) -> Body | None:
        """The body when the headers alone decide it; None when its bytes are to be read."""
        encoding = headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                return Body(problem=(400, f"Transfer-Encoding {encoding[:30]!r} is not supported"))
            self.chunked = True
            return None
        length = headers.get("Content-Length")
        if length is None:
            return Body()
        if not length.strip().isdigit():
            return Body(problem=(400, "Content-Length is not a number"))
        self.length = int(length)
        if self.length > self.max_body:
            problem = f"the body is {self.length:,} bytes; at most {self.max_body:,} are accepted"
            return Body(problem=(413, problem), unread=self.length)
        return None

    @property
    def remaining(self) -> int | None:
        """Bytes of the body still to come, when the framing says (Content-Length)."""
        return None if self.length is None else max(0, self.length - len(self.buffer))

    def feed(self, data: bytes) -> Body | None:
        """Take `data` (possibly none); the body once complete or refused, else None."""
        if self._settled is not None:
            return self._settled
        if self.chunked:
            self.buffer += data
            self._settled = self._chunks()
            return self._settled
        assert self.length is not None
        if not self.buffer and len(data) >= self.length:
            # All of it at once (as a reader that knows `remaining` takes it): no copy.
            self._settled = Body(data[: self.length])
        else:
            self.buffer += data
            if len(self.buffer) >= self.length:
                self._settled = Body(bytes(memoryview(self.buffer)[: self.length]))
        return self._settled

    def _chunks(self) -> Body | None:
        while True:
            eol = self.buffer.find(b"\n", 0, _MAX_CHUNK_LINE + 1)
            if eol < 0:
                if len(self.buffer) > _MAX_CHUNK_LINE:
                    return Body(problem=(400, "malformed chunked body"))
                return None
            line = bytes(self.buffer[:eol]).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                return Body(problem=(400, "malformed chunked body"))
            if size == 0:
                # Trailers, up to the blank line.
                start = eol + 1
                while True:
                    eol = self.buffer.find(b"\n", start)
                    if eol < 0:
                        return None
                    if not self.buffer[start:eol].strip():
                        return Body(bytes(self.data))
                    start = eol + 1
            if len(self.data) + size > self.max_body:
                problem = f"the body is over {self.max_body:,} bytes; that is the limit"
                return Body(problem=(413, problem), unread=_DRAIN_GUESS)
            end = eol + 1 + size  # the data, then CRLF
            if len(self.buffer) < end + 2:
                return None
            if self.buffer[end : end + 2] != b"\r\n":
                return Body(problem=(400, "malformed chunked body"))
            with memoryview(self.buffer) as view:
                self.data += view[eol + 1 : end]
            del self.buffer[: end + 2]  # the chunk taken: the buffer holds what is still to parse


class NotJSON(ValueError):
    """A body that is not the JSON it should be; the message says why, for a 400."""

    def __init__(self, message: str, *, too_deep: bool = False) -> None:
        super().__init__(message)
        self.too_deep = too_deep


_JSON_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def decode_json(body: bytes, *, max_depth: int = 32) -> object:
    """`body` as UTF-8 JSON; `NotJSON` saying what is wrong, without decoding a body nested
    more than `max_depth` levels (json.loads would end in a RecursionError, not an answer)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotJSON("the body is not UTF-8 text") from None
    if _nesting(text) > max_depth:
        raise NotJSON(f"the body nests JSON more than {max_depth} levels deep", too_deep=True)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise NotJSON(f"the body is not valid JSON: {e}") from None


def _nesting(text: str) -> int:
    """How deep `text`'s arrays and objects nest, strings skipped."""
    depth = deepest = 0
    for match in _JSON_STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest
