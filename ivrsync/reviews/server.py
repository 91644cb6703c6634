"""The receiver of Huawei AICC review callbacks, and the results endpoint `refresh` reads.

    POST /callbacks/<token>   Huawei's callback; answered {"returnCode": "0"} once stored
    GET  /results?file_id=..  stored results (Authorization: Bearer <token>)
    GET  /healthz             {"ok": true}

A callback is committed to the store before it is acknowledged; a store that fails answers 500
with returnCode "1", so the platform tries again, and nothing acknowledged is ever lost. A
wrong token is answered exactly like an unknown path (404), without reading the body.

It faces the internet. Every request is read whole by a `RequestGate` (ivrsync.serving) before
a thread handles it: a connection that sends nothing, or a byte at a time, costs a buffer rather
than a thread, is cut at the request deadline (408), and is evicted (503) when a newer one needs
its place, so idle and slow clients cannot starve the callbacks. Every request is answered: what
cannot be parsed gets 400 (JSON nested too deeply included), a handler's unexpected error 500.
The standard library's HTTP server parses the rest (one request per connection), measured
against waitress and uvicorn in docs/reviews.md. The token never reaches a log: request lines
are logged with the path segment after /callbacks/ masked and control characters escaped, and
the token is registered with `ivrsync.secrets`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, fields
from typing import Any, Self

from ivrsync import secrets
from ivrsync.reviews.store import FILE_ID_PATTERN, ReviewResult, ReviewStatus, ReviewStore
from ivrsync.reviews.token import token_matches, token_problem

__all__ = [
    "CALLBACK_PREFIX",
    "DEFAULT_MAX_BODY",
    "DEFAULT_REQUEST_DEADLINE",
    "RESULTS_PATH",
    "InjectedStoreFailure",
    "ReviewServer",
    "ReviewServerStats",
    "parse_callback",
]

from ivrsync.serving import BackgroundServer, GatedHandler, GatedHTTPServer, Served, answer

logger = logging.getLogger("ivrsync.reviews.server")

CALLBACK_PREFIX = "/callbacks/"
RESULTS_PATH = "/results"
HEALTH_PATH = "/healthz"
DEFAULT_MAX_BODY = 64 * 1024

# Huawei's review statuses (docs/providers/huawei-aicc.md#review-callback).
_STATUSES: dict[str, ReviewStatus] = {"2": "approved", "3": "rejected"}

# Seconds from accepting a connection to having its whole request (head and body); past it,
# 408. A callback is a few hundred bytes sent at once.
DEFAULT_REQUEST_DEADLINE = 10.0
# Seconds an answer may take to write to a client that does not read it.
_WRITE_TIMEOUT = 10.0
# After answering without reading a body (413, a wrong token), read and discard at most this
# much of it, for at most this long, so that the client sees the answer rather than a reset.
_DRAIN_BYTES = 1024 * 1024
_DRAIN_SECONDS = 1.0
# Connections whose request is still arriving; a new one beyond evicts the oldest (503). Each
# costs a file descriptor and a buffer, no thread.
_MAX_PENDING = 512
# Requests handled at once (threads); beyond, answered 503 at once (Huawei retries).
_MAX_HANDLERS = 64
# Callbacks are flat objects: anything nested deeper is refused before it is decoded.
_MAX_JSON_DEPTH = 32

_CALLBACK_IN_LINE = re.compile(r"(/callbacks/)[^\s?\"']*")
_NOT_FOUND: dict[str, Any] = {"returnCode": "1", "description": "not found"}
# What http.server's own log_message escapes (C0, DEL, C1 and the backslash itself).
_ESCAPE_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\\"): "\\\\"
}


class InjectedStoreFailure(OSError):
    """The failure `fail_next_stores` injects: as if the disk had failed under SQLite."""


@dataclass(frozen=True, slots=True)
class ReviewServerStats:
    """What the server has seen since it started (a snapshot)."""

    stored: int = 0  # callbacks stored as new or changed results, and acknowledged
    repeated: int = 0  # callbacks identical to a stored result: counted, acknowledged
    refused_token: int = 0  # requests to /callbacks/ with a wrong or missing token (404)
    invalid: int = 0  # callbacks refused as malformed (400) or too large (413)
    store_failures: int = 0  # callbacks the store could not keep (500, not acknowledged)
    results_requests: int = 0  # GET /results answered
    refused_bearer: int = 0  # GET /results with a wrong or missing token (401)


class _CallbackError(Exception):
    """A callback that cannot be accepted: answer `status` with returnCode "1"."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def parse_callback(body: bytes) -> ReviewResult:
    """A callback body -> the result it reports; `_CallbackError` (400) saying what is wrong."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _CallbackError(400, "the body is not UTF-8 text") from None
    if _nesting(decoded) > _MAX_JSON_DEPTH:
        raise _CallbackError(
            400, f"the body nests JSON more than {_MAX_JSON_DEPTH} levels deep; a callback is flat"
        )
    try:
        value = json.loads(decoded)
    except json.JSONDecodeError as e:
        raise _CallbackError(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise _CallbackError(
            400,
            'the body must be a JSON object {"fileId": "...", "status": "2" or "3", '
            '"comment": "...", "fileUrl": "..."}',
        )
    file_id = _digits(value.get("fileId"))
    if file_id is None or not FILE_ID_PATTERN.fullmatch(file_id):
        raise _CallbackError(
            400, 'fileId is missing or not a number; it must be decimal digits, e.g. "1323"'
        )
    status = _digits(value.get("status"))
    if status not in _STATUSES:
        raise _CallbackError(
            400, 'status is missing or unknown; it must be "2" (approved) or "3" (rejected)'
        )
    texts: dict[str, str | None] = {}
    for name in ("comment", "fileUrl"):
        text = value.get(name)
        if text is not None and not isinstance(text, str):
            raise _CallbackError(400, f"{name} must be a string when present")
        texts[name] = text
    return ReviewResult(
        file_id=file_id,
        status=_STATUSES[status],
        comment=texts["comment"],
        file_url=texts["fileUrl"],
    )


_JSON_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def _nesting(text: str) -> int:
    """How deep `text`'s arrays and objects nest, strings skipped: json.loads recurses once per
    level, and a body of 30,000 '[' would end in a RecursionError rather than an answer."""
    depth = deepest = 0
    for match in _JSON_STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _digits(value: object) -> str | None:
    """A string, or a non-negative integer (not a boolean), as text; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return None


def mask_callback_path(text: str) -> str:
    """`text` with whatever follows /callbacks/ replaced, for logs."""
    return _CALLBACK_IN_LINE.sub(r"\1***", text)


class _HTTPServer(GatedHTTPServer):
    connection_log = logger

    def __init__(self, host: str, port: int, app: ReviewServer) -> None:
        self.app = app
        super().__init__(
            host,
            port,
            _Handler,
            max_body=app.max_body,
            request_deadline=app.request_deadline,
            max_pending=_MAX_PENDING,
            max_handlers=_MAX_HANDLERS,
        )

    def refusal(self, status: int, description: str) -> bytes:
        return answer(status, {"returnCode": "1", "description": description})


class _Handler(GatedHandler):
    server: _HTTPServer
    timeout = _WRITE_TIMEOUT
    server_version = "ivrsync-review-server"
    _unread = 0  # bytes of the body left unread when answering
    _answered = False

    def version_string(self) -> str:
        return self.server_version

    def _serve(self) -> None:
        """Answer the request; an unexpected error is answered 500 rather than dropped."""
        try:
            self._route()
        except Exception:
            logger.exception("the review server failed to answer a request")
            if not self._answered:
                self._unread = 0
                self._send(500, {"returnCode": "1", "description": "internal error"}, {})

    def _route(self) -> None:
        app = self.server.app
        path, _, query = self.path.partition("?")
        self._unread = self.arrived.unread
        if path == "/callbacks" or path.startswith(CALLBACK_PREFIX):
            status, body, headers = self._callback(app, path.removeprefix(CALLBACK_PREFIX))
        elif path == RESULTS_PATH:
            status, body, headers = self._results(app, query)
        elif path == HEALTH_PATH and self.command in ("GET", "HEAD"):
            status, body, headers = 200, {"ok": True}, {}
        elif path == HEALTH_PATH:
            status, body, headers = _method_not_allowed(self.command, "GET")
        else:
            status, body, headers = 404, _NOT_FOUND, {}
        self._send(status, body, headers)
        if self._unread:
            self._drain()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    # -- endpoints ---------------------------------------------------------------------------

    def _callback(
        self, app: ReviewServer, segment: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not app.token_matches(urllib.parse.unquote(segment)):
            app.count("refused_token")
            return 404, _NOT_FOUND, {}
        if self.command != "POST":
            return _method_not_allowed(self.command, "POST")
        try:
            if self.arrived.problem is not None:
                raise _CallbackError(*self.arrived.problem)
            result = parse_callback(self.arrived.body)
        except _CallbackError as e:
            app.count("invalid")
            logger.info("callback refused (%d): %s", e.status, e.description)
            return e.status, {"returnCode": "1", "description": e.description}, {}
        if not app.store_result(result):
            return (
                500,
                {
                    "returnCode": "1",
                    "description": "the review result could not be stored; send it again",
                },
                {},
            )
        return 200, {"returnCode": "0"}, {}

    def _results(self, app: ReviewServer, query: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        authorization = self.headers.get("Authorization") or ""
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not app.token_matches(given.strip()):
            app.count("refused_bearer")
            return (
                401,
                {"error": "send the review token as 'Authorization: Bearer <token>'"},
                {"WWW-Authenticate": 'Bearer realm="ivrsync review-server"'},
            )
        if self.command not in ("GET", "HEAD"):
            return _method_not_allowed(self.command, "GET")
        try:
            parameters = urllib.parse.parse_qs(query, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return 400, {"error": "the query string is not valid UTF-8"}, {}
        unknown = sorted(set(parameters) - {"file_id"})
        if unknown:
            return 400, {"error": f"unknown parameter {unknown[0]!r}; only file_id is taken"}, {}
        file_ids = parameters.get("file_id")
        if file_ids is not None:
            bad = [f for f in file_ids if not FILE_ID_PATTERN.fullmatch(f)]
            if bad:
                return 400, {"error": f"file_id {bad[0][:50]!r} is not decimal digits"}, {}
        try:
            results = app.store.results(file_ids)
        except Exception:
            logger.exception("reading review results failed")
            return 500, {"error": "the review store could not be read"}, {}
        app.count("results_requests")
        return 200, {"results": [r.to_json() for r in results]}, {}

    # -- the body ----------------------------------------------------------------------------

    def _drain(self) -> None:
        """Answered without reading the body: stop writing, then read and drop a bounded part
        of it, so closing does not reset the connection before the client reads the answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_DRAIN_SECONDS)
            left = min(self._unread, _DRAIN_BYTES)
            while left > 0:
                chunk = self.connection.recv(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass
        self._unread = 0

    # -- answers and logs --------------------------------------------------------------------

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self._answered = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (a bad request line, headers too long): JSON, and without
        # echoing the request line (it may hold the token).
        self.close_connection = True
        text = self.responses.get(code, ("error",))[0]
        with contextlib.suppress(OSError):
            self._send(code, {"returnCode": "1", "description": text}, {})

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines come from anyone: control characters escaped, as http.server does, so
        # a request cannot write terminal escapes or fake lines into the log.
        message = mask_callback_path(format % args).translate(_ESCAPE_CONTROLS)
        logger.info("%s %s", self.client_address[0], message)


def _method_not_allowed(method: str, allowed: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return (
        405,
        {"returnCode": "1", "description": f"{method} is not allowed here; use {allowed}"},
        {"Allow": allowed},
    )


class ReviewServer(Served):
    """Serve the callback and results endpoints for `store`, authenticated by `token`.

    `start()` listens (port 0 picks a free one) and serves in background threads; `stop()`
    releases the port. Also a context manager. `url` is the base URL; `callback_url` includes
    the token (give it to Huawei; never print it).
    """

    def __init__(
        self,
        store: ReviewStore,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body: int = DEFAULT_MAX_BODY,
        request_deadline: float = DEFAULT_REQUEST_DEADLINE,
    ) -> None:
        problem = token_problem(token)
        if problem is not None:
            raise ValueError(problem)
        if max_body < 1:
            raise ValueError("max_body must be at least 1 byte")
        secrets.register(token)
        self.store = store
        self.host = host
        self.max_body = max_body
        self.request_deadline = request_deadline
        self._token = token
        self._requested_port = port
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys((f.name for f in fields(ReviewServerStats)), 0)
        self._failures_to_inject = 0
        self._serving = BackgroundServer("review-server")

    # -- what the handler uses ---------------------------------------------------------------

    def token_matches(self, given: str) -> bool:
        return token_matches(given, self._token)

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def store_result(self, result: ReviewResult) -> bool:
        """Store one callback durably; False (logged, counted) when the store failed."""
        try:
            with self._lock:
                inject = self._failures_to_inject > 0
                if inject:
                    self._failures_to_inject -= 1
            if inject:
                raise InjectedStoreFailure(5, "disk I/O error (injected by fail_next_stores)")
            changed = self.store.record(result)
        except Exception as e:
            self.count("store_failures")
            logger.error(
                "could not store the review result of fileId %s (answered 500, the platform "
                "will send it again): %s: %s",
                result.file_id,
                type(e).__name__,
                e,
            )
            return False
        self.count("stored" if changed else "repeated")
        logger.info(
            "review result of fileId %s: %s%s",
            result.file_id,
            result.status,
            "" if changed else " (again)",
        )
        return True

    # -- control -----------------------------------------------------------------------------

    def fail_next_stores(self, n: int) -> None:
        """For tests: the next `n` callbacks fail to store, as if the disk had failed."""
        with self._lock:
            self._failures_to_inject = max(0, n)

    @property
    def stats(self) -> ReviewServerStats:
        with self._lock:
            return ReviewServerStats(**self._counts)

    def start(self) -> Self:
        """Listen and serve in a background thread; OSError when the address is unusable."""
        if self._serving.server is not None:
            raise RuntimeError("the review server is already started")
        self._serving.start(_HTTPServer(self.host, self._requested_port, self))
        return self

    def stop(self) -> None:
        """Stop accepting connections and release the port; safe to call twice.

        A callback being stored meanwhile completes (the store's lock), or fails to store
        and is answered 500 once the store is closed: never acknowledged unstored.
        """
        self._serving.stop()

    @property
    def callback_url(self) -> str:
        """The URL to give Huawei as callBackUrl: it contains the token."""
        return f"{self.url}{CALLBACK_PREFIX}{self._token}"
