"""The one JSON request handler (ivrsync.serving.JSONHandler) at its edges, on both of its paths:
an emulator's handler thread reads the body from its socket, the review server's gate reads it
before a thread is given the request. Both answer a body they cannot take in the server's own
error shape, and the client reads that answer."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrsync.emulator.common import MAX_BODY_BYTES, EmulatorServer, Request, Response
from ivrsync.http_json import NotJSON, decode_json
from ivrsync.providers.huawei_aicc_callbacks import CALLBACKS
from ivrsync.reviews.server import ReviewServer
from ivrsync.reviews.store import ReviewStore

TOKEN = "json-handler-test-token-0123456789"


class Echo(EmulatorServer):
    """An emulator that answers the JSON it was sent."""

    name = "echo"

    def handle(self, request: Request) -> Response | None:
        try:
            value = decode_json(request.body)
        except NotJSON as e:
            return Response(400, self.error_body(400, str(e)))
        return Response(200, {"echo": value})


@dataclass(frozen=True)
class Target:
    """A running server, the path whose body is read, and its limit."""

    port: int
    path: str
    max_body: int


@pytest.fixture
def echo() -> Iterator[Echo]:
    with Echo() as running:
        yield running


@pytest.fixture(params=["emulator", "review server"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "emulator":
        with Echo() as emulator:
            yield Target(emulator.port, "/", MAX_BODY_BYTES)
    else:
        with (
            ReviewStore(tmp_path / "reviews.db") as store,
            ReviewServer(store, TOKEN, CALLBACKS) as server,
        ):
            yield Target(server.port, f"/callbacks/{TOKEN}", server.max_body)


def exchange(port: int, data: bytes, *, end: bool = True) -> tuple[int, dict[str, Any]]:
    """Send `data` (then end the request's side of the connection, if `end`); the answer's
    status and JSON body, read to the close (one request per connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if end:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def post(target: Target, headers: str, body: bytes = b"", *, end: bool = True) -> Any:
    head = f"POST {target.path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n"
    return exchange(target.port, head.encode() + body, end=end)


def test_a_chunked_body_is_read_whole(echo: Echo) -> None:
    status, body = exchange(
        echo.port,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n8\r\n [1, 2]}\r\n0\r\nX-Trailer: yes\r\n\r\n',
        end=False,
    )
    assert (status, body) == (200, {"echo": {"a": [1, 2]}})


@pytest.mark.parametrize(
    ("headers", "body", "status", "words"),
    [
        ("Content-Length: ten\r\n", b"", 400, "Content-Length is not a number"),
        ("Transfer-Encoding: gzip\r\n", b"", 400, "Transfer-Encoding 'gzip' is not supported"),
        ("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n", 400, "malformed chunked"),
        ("Transfer-Encoding: chunked\r\n", b"2\r\n{}XX0\r\n\r\n", 400, "malformed chunked"),
        ("Content-Length: 50\r\n", b'{"a"', 400, "ended before it was complete"),
    ],
)
def test_a_body_that_cannot_be_read_is_answered_400(
    target: Target, headers: str, body: bytes, status: int, words: str
) -> None:
    answered, error = post(target, headers, body)
    assert answered == status
    assert words in error["description"]


def test_a_declared_body_over_the_limit_is_answered_413_while_it_is_being_sent(
    target: Target,
) -> None:
    """Answered at once from the Content-Length; the client, still sending, reads the 413
    rather than a reset connection."""
    declared = target.max_body + 1
    status, error = post(target, f"Content-Length: {declared}\r\n", b"x" * 65536, end=False)
    assert status == 413
    assert f"at most {target.max_body:,}" in error["description"]


def test_a_chunked_body_over_the_limit_is_answered_413(target: Target) -> None:
    size = f"{target.max_body + 1:x}"
    status, error = post(
        target, "Transfer-Encoding: chunked\r\n", f"{size}\r\n".encode() + b"x" * 1000, end=False
    )
    assert status == 413
    assert f"over {target.max_body:,} bytes" in error["description"]


def test_bad_json_is_told_apart_from_a_bad_body(echo: Echo) -> None:
    for sent, words in [
        (b'{"a": ', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 30_000, "nests JSON more than 32 levels deep"),
    ]:
        answer = httpx.post(f"{echo.url}/", content=sent)
        assert answer.status_code == 400
        assert words in answer.json()["description"]
    assert decode_json(b'["[[[[", {"}": "\\"{{"}]', max_depth=2) == ["[[[[", {"}": '"{{'}]


def test_decode_json_says_when_it_is_too_deep() -> None:
    with pytest.raises(NotJSON) as deep:
        decode_json(b"[[[]]]", max_depth=2)
    assert deep.value.too_deep
    with pytest.raises(NotJSON) as bad:
        decode_json(b"[[]")
    assert not bad.value.too_deep


def test_a_failure_in_the_application_is_answered_500_in_its_error_shape(echo: Echo) -> None:
    def broken(request: Request) -> None:
        raise RuntimeError("a bug")

    echo.on_request = broken
    answer = httpx.post(f"{echo.url}/", content=b"{}")
    assert answer.status_code == 500
    assert answer.json() == {"status": 500, "description": "internal error"}


def test_a_malformed_request_line_is_answered_without_echoing_it(echo: Echo) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as sock:
        sock.sendall(b"GET /secret-part HTTP/1.0 extra\r\n\r\n")
        answer = sock.makefile("rb").read()
    # http.server answers a request line it cannot parse as HTTP/0.9 would: the body alone.
    assert json.loads(answer) == {"status": 400, "description": "Bad Request"}


def test_an_emulator_logs_request_lines_with_control_characters_escaped(
    echo: Echo, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ivrsync.emulator"):
        # The line is logged before the answer is sent, so it is there once the answer is.
        status, _ = exchange(echo.port, b"POST /\x1b[2Jfake\x07 HTTP/1.0\r\n\r\n")
    assert status == 400  # an empty body is not JSON
    [line] = [r.getMessage() for r in caplog.records if "fake" in r.getMessage()]
    assert "\x1b" not in line and "\x07" not in line
    assert "POST /\\x1b[2Jfake\\x07 HTTP/1.0" in line
