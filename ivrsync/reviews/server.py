"""The receiver of Huawei AICC review callbacks, and the results endpoint `refresh` reads.

    POST /callbacks/<token>   Huawei's callback; answered {"returnCode": "0"} once stored
    GET  /results?file_id=..  stored results (Authorization: Bearer <token>)
    GET  /healthz             {"ok": true}

A callback is committed to the store before it is acknowledged; a store that fails answers 500
with returnCode "1", so the platform tries again, and nothing acknowledged is ever lost. A
wrong token is answered exactly like an unknown path (404), without reading the body.

The standard library's threaded HTTP server (one thread per connection, one request per
connection): nothing to install, a slow client holds up no one else, and stopping leaves no
keep-alive connection behind. The token never reaches a log: request lines are logged with the
path segment after /callbacks/ masked, and the token is registered with `ivrsync.secrets`.
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
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from ivrsync import secrets
from ivrsync.reviews.store import FILE_ID_PATTERN, ReviewResult, ReviewStatus, ReviewStore
from ivrsync.reviews.token import token_matches, token_problem

__all__ = [
    "CALLBACK_PREFIX",
    "DEFAULT_MAX_BODY",
    "RESULTS_PATH",
    "InjectedStoreFailure",
    "ReviewServer",
    "ReviewServerStats",
    "parse_callback",
]

from ivrsync.serving import BackgroundServer, Served, ThreadedHTTPServer

logger = logging.getLogger("ivrsync.reviews.server")

CALLBACK_PREFIX = "/callbacks/"
RESULTS_PATH = "/results"
HEALTH_PATH = "/healthz"
DEFAULT_MAX_BODY = 64 * 1024

# Huawei's status codes (reference/huawei-aicc.md section 3).
_STATUSES: dict[str, ReviewStatus] = {"2": "approved", "3": "rejected"}

# Seconds a client may stall in the middle of a request before its thread gives up.
_CLIENT_TIMEOUT = 10.0
# After answering without reading a body (413, a wrong token), read and discard at most this
# much of it, for at most this long, so that the client sees the answer rather than a reset.
_DRAIN_BYTES = 1024 * 1024
_DRAIN_SECONDS = 1.0
# Connections served at once; beyond, a connection is answered 503 at once (Huawei retries).
_MAX_CONNECTIONS = 128

_CALLBACK_IN_LINE = re.compile(r"(/callbacks/)[^\s?\"']*")
_NOT_FOUND: dict[str, Any] = {"returnCode": "1", "description": "not found"}
_BUSY_BODY = b'{"returnCode": "1", "description": "busy; try again"}'
_BUSY_ANSWER = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _BUSY_BODY
)


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
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _CallbackError(400, "the body is not UTF-8 text") from None
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


class _BodyError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class _HTTPServer(ThreadedHTTPServer):
    connection_log = logger

    def __init__(self, host: str, port: int, app: ReviewServer) -> None:
        self.app = app
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        super().__init__(host, port, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            logger.warning("too many connections: answering 503 to %s", client_address[0])
            with contextlib.suppress(OSError):
                request.sendall(_BUSY_ANSWER)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = _CLIENT_TIMEOUT
    server_version = "ivrsync-review-server"
    _unread = 0  # bytes of the body left unread when answering

    def version_string(self) -> str:
        return self.server_version

    def _serve(self) -> None:
        app = self.server.app
        path, _, query = self.path.partition("?")
        self._unread = self._declared_length()
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
            result = parse_callback(self._read_body(app.max_body))
        except (_BodyError, _CallbackError) as e:
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

    def _declared_length(self) -> int:
        length = (self.headers.get("Content-Length") or "").strip()
        return int(length) if length.isdigit() else 0

    def _read_body(self, limit: int) -> bytes:
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _BodyError(400, f"Transfer-Encoding {encoding[:30]!r} is not supported")
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise _BodyError(400, "Content-Length is not a number")
        size = int(length)
        if size > limit:
            raise _BodyError(413, f"the body is {size:,} bytes; at most {limit:,} are accepted")
        data = self.rfile.read(size)
        self._unread = 0
        if len(data) < size:
            raise _BodyError(400, f"the body ended after {len(data):,} of {size:,} bytes")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        self._unread = _DRAIN_BYTES  # until the last chunk is read
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BodyError(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                self._unread = 0
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BodyError(413, f"the body is over {limit:,} bytes; that is the limit")
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _BodyError(400, "the chunked body ended early")
            parts.append(chunk)
            self.rfile.readline(1024)

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
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass
        self._unread = 0

    # -- answers and logs --------------------------------------------------------------------

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
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
        logger.info("%s %s", self.client_address[0], mask_callback_path(format % args))


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
