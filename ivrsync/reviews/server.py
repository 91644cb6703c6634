"""The receiver of review callbacks, and the results endpoint `refresh` reads.

    POST /callbacks/<token>   a provider's callback; acknowledged once stored
    GET  /results?file_id=..  stored results (Authorization: Bearer <token>)
    GET  /healthz             {"ok": true}

What a callback says and how it is answered is the provider's (a `CallbackFormat`, which its
module names in REVIEW_CALLBACKS; Huawei AICC's was the first): the callback routes and every
error answer speak it, the results endpoint speaks ivrsync's own. A callback is committed to
the store before it is acknowledged; a store that fails answers 500 with the format's refusal,
so the platform tries again, and nothing acknowledged is ever lost. A wrong token is answered
exactly like an unknown path (404), without reading the body.

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

import logging
import re
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar, Self

from ivrsync import secrets
from ivrsync.reviews.callbacks import CallbackFormat, CallbackRefused
from ivrsync.reviews.store import ReviewResult, ReviewStore
from ivrsync.reviews.token import token_matches, token_problem

__all__ = [
    "CALLBACK_PREFIX",
    "DEFAULT_MAX_BODY",
    "DEFAULT_REQUEST_DEADLINE",
    "RESULTS_PATH",
    "InjectedStoreFailure",
    "ReviewServer",
    "ReviewServerStats",
]

from ivrsync.http_json import Request, Response
from ivrsync.serving import BackgroundServer, GatedHandler, GatedHTTPServer, Served

logger = logging.getLogger("ivrsync.reviews.server")

CALLBACK_PREFIX = "/callbacks/"
RESULTS_PATH = "/results"
HEALTH_PATH = "/healthz"
DEFAULT_MAX_BODY = 64 * 1024

# Seconds from accepting a connection to having its whole request (head and body); past it,
# 408. A callback is a few hundred bytes sent at once.
DEFAULT_REQUEST_DEADLINE = 10.0
# Seconds an answer may take to write to a client that does not read it.
_WRITE_TIMEOUT = 10.0
# Connections whose request is still arriving; a new one beyond evicts the oldest (503). Each
# costs a file descriptor and a buffer, no thread.
_MAX_PENDING = 512
# Requests handled at once (threads); beyond, answered 503 at once (the provider retries).
_MAX_HANDLERS = 64

_CALLBACK_IN_LINE = re.compile(r"(/callbacks/)[^\s?\"']*")


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


def mask_callback_path(text: str) -> str:
    """`text` with whatever follows /callbacks/ replaced, for logs."""
    return _CALLBACK_IN_LINE.sub(r"\1***", text)


class _HTTPServer(GatedHTTPServer):
    connection_log = logger


class _Handler(GatedHandler):
    timeout = _WRITE_TIMEOUT
    server_version = "ivrsync-review-server"
    answer_headers: ClassVar[Mapping[str, str]] = {"Cache-Control": "no-store"}

    def mask(self, line: str) -> str:
        return mask_callback_path(line)


class ReviewServer(Served):
    """Serve the callback and results endpoints for `store`, authenticated by `token`; the
    callbacks, and every error answer, in the provider's format `callbacks`.

    `start()` listens (port 0 picks a free one) and serves in background threads; `stop()`
    releases the port. Also a context manager. `url` is the base URL; `callback_url` includes
    the token (give it to the provider; never print it).
    """

    def __init__(
        self,
        store: ReviewStore,
        token: str,
        callbacks: CallbackFormat,
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
        self.callbacks = callbacks
        self.host = host
        self.max_body = max_body
        self.request_deadline = request_deadline
        self._token = token
        self._requested_port = port
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys((f.name for f in fields(ReviewServerStats)), 0)
        self._failures_to_inject = 0
        self._serving = BackgroundServer("review-server")

    # -- answers -----------------------------------------------------------------------------

    def respond(self, request: Request) -> Response:
        """The answer to one request (what the handler calls)."""
        path, method = request.path, request.method
        if path == "/callbacks" or path.startswith(CALLBACK_PREFIX):
            return self._callback(request, path.removeprefix(CALLBACK_PREFIX))
        if path == RESULTS_PATH:
            return self._results(request)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return Response(200, {"ok": True})
        if path == HEALTH_PATH:
            return self._method_not_allowed(method, "GET")
        return self.error_response(404, "not found")

    def error_response(self, status: int, description: str) -> Response:
        return Response(status, self.callbacks.refused(description))

    def _method_not_allowed(self, method: str, allowed: str) -> Response:
        answer = self.error_response(405, f"{method} is not allowed here; use {allowed}")
        return Response(answer.status, answer.body, {"Allow": allowed})

    def _callback(self, request: Request, segment: str) -> Response:
        if not self.token_matches(urllib.parse.unquote(segment)):
            self.count("refused_token")
            return self.error_response(404, "not found")
        if request.method != "POST":
            return self._method_not_allowed(request.method, "POST")
        try:
            if request.problem is not None:
                raise CallbackRefused(*request.problem)
            result = self.callbacks.parse(request.body)
        except CallbackRefused as e:
            self.count("invalid")
            logger.info("callback refused (%d): %s", e.status, e.description)
            return self.error_response(e.status, e.description)
        if not self.store_result(result):
            return self.error_response(500, "the review result could not be stored; send it again")
        return Response(200, self.callbacks.accepted())

    def _results(self, request: Request) -> Response:
        authorization = request.header("Authorization") or ""
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not self.token_matches(given.strip()):
            self.count("refused_bearer")
            return Response(
                401,
                {"error": "send the review token as 'Authorization: Bearer <token>'"},
                {"WWW-Authenticate": 'Bearer realm="ivrsync review-server"'},
            )
        if request.method not in ("GET", "HEAD"):
            return self._method_not_allowed(request.method, "GET")
        try:
            parameters = urllib.parse.parse_qs(
                request.query, keep_blank_values=True, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            return Response(400, {"error": "the query string is not valid UTF-8"})
        unknown = sorted(set(parameters) - {"file_id"})
        if unknown:
            return Response(
                400, {"error": f"unknown parameter {unknown[0]!r}; only file_id is taken"}
            )
        file_ids = parameters.get("file_id")
        if file_ids is not None:
            bad = [f for f in file_ids if not self.callbacks.file_id.fullmatch(f)]
            if bad:
                form = self.callbacks.file_id_form
                return Response(400, {"error": f"file_id {bad[0][:50]!r} is not {form}"})
        try:
            results = self.store.results(file_ids)
        except Exception:
            logger.exception("reading review results failed")
            return Response(500, {"error": "the review store could not be read"})
        self.count("results_requests")
        return Response(200, {"results": [r.to_json() for r in results]})

    # -- what the answers use ----------------------------------------------------------------

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
                "could not store the review result of FileId %s (answered 500, the platform "
                "will send it again): %s: %s",
                result.file_id,
                type(e).__name__,
                e,
            )
            return False
        self.count("stored" if changed else "repeated")
        logger.info(
            "review result of FileId %s: %s%s",
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
        server = _HTTPServer(
            self.host,
            self._requested_port,
            _Handler,
            self,
            max_body=self.max_body,
            request_deadline=self.request_deadline,
            max_pending=_MAX_PENDING,
            max_handlers=_MAX_HANDLERS,
        )
        self._serving.start(server)
        return self

    def stop(self) -> None:
        """Stop accepting connections and release the port; safe to call twice.

        A callback being stored meanwhile completes (the store's lock), or fails to store
        and is answered 500 once the store is closed: never acknowledged unstored.
        """
        self._serving.stop()

    @property
    def callback_url(self) -> str:
        """The URL to give the provider for its callbacks: it contains the token."""
        return f"{self.url}{CALLBACK_PREFIX}{self._token}"
