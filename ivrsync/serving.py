"""An HTTP server on its own thread that stops at once: the emulators and the review server,
and the one JSON request handler they share.

`serve_forever` notices a shutdown only at its next poll, a delay every stop pays (hundreds of
test servers add it up); a socket pair wakes this accept loop instead.

Each server serves a `JSONApp` (ivrsync.http_json) through `JSONHandler`: the handler reads
the body (with its limit, chunked or not), gives the application a `Request`, and sends the
`Response` as JSON; http.server's own errors are answered in the application's error shape, and
request lines are logged with control characters escaped (and whatever the handler masks).

A server that faces the internet (the review server) also puts a `RequestGate` in front of its
handler threads: see there. Its handler (`GatedHandler`) takes the body the gate read.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self

from ivrsync.http_json import Body, BodyFraming, JSONApp, Request, Response


class ThreadedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, and nothing that waits on a straggling client or on DNS.

    Subclasses name the logger for failed connections and requests.
    """

    connection_log: ClassVar[logging.Logger]

    daemon_threads = True
    # Do not wait for connection threads on close: a client stalled mid-request must not
    # keep stop() from returning.
    block_on_close = False
    # How long accepting one connection may take once the listening socket is ready; a bound
    # on how long stop() can wait if a client vanishes between readiness and accept.
    timeout = 0.05
    # socketserver's default backlog of 5 drops the connections of a burst of parallel clients
    # beyond it, and their SYN is only retried a second later: a stall no real API shows.
    request_queue_size = 128

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        """`host` may be an IPv6 address, bracketed or not."""
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host.strip("[]"), port), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up with getfqdn, which can stall for seconds
        # on a machine with slow DNS; a loopback server has no use for the name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal (lost-response faults, timeouts):
        # nothing here is worth a traceback.
        self.connection_log.debug("connection from %s failed", client_address, exc_info=True)


class JSONServer(ThreadedHTTPServer):
    """A `ThreadedHTTPServer` whose handler, a `JSONHandler`, answers for `app`."""

    def __init__(self, host: str, port: int, handler: type[JSONHandler], app: JSONApp) -> None:
        self.app = app
        super().__init__(host, port, handler)


# -- the gate: whole requests before threads ---------------------------------------------------

# The most a request line and headers may take (http.server's own limit on one line).
MAX_HEAD = 65536


@dataclass(frozen=True, slots=True)
class Arrived:
    """A request as the gate read it: its head, and its body or why the body was not read."""

    head: bytes  # the request line and headers, up to and including the blank line
    body: Body = field(default_factory=Body)


def answer(response: Response) -> bytes:
    """A whole HTTP/1.0 answer with a JSON body, for the gate to send without a handler."""
    data = json.dumps(response.body, ensure_ascii=False).encode()
    reason = BaseHTTPRequestHandler.responses.get(response.status, ("Error",))[0]
    extra = "".join(f"{name}: {value}\r\n" for name, value in response.headers.items())
    return (
        f"HTTP/1.0 {response.status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nCache-Control: no-store\r\nConnection: close\r\n"
        f"{extra}\r\n"
    ).encode() + data


class Refused(Exception):
    """A request the gate answers itself: `status`, saying `description`."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class _Framing:
    """How much of a request has arrived: its head, then its body (`BodyFraming`), read
    incrementally as bytes come in."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.buffer = bytearray()  # what arrived up to the end of the head
        self.head = b""
        self.body: BodyFraming | None = None  # once the head is parsed

    def feed(self, data: bytes) -> Arrived | None:
        """Take `data`; the request once it is complete or its body cannot be taken, else
        None; `Refused` when no handler need see it."""
        if self.body is not None:
            return self._arrived(self.body.feed(data))
        self.buffer += data
        # The blank line after the headers (http.server takes a bare LF for CRLF).
        found = [(self.buffer.find(sep), len(sep)) for sep in (b"\n\r\n", b"\n\n")]
        ends = [at + size for at, size in found if at >= 0]
        if not ends or min(ends) > MAX_HEAD:
            if ends or len(self.buffer) > MAX_HEAD:
                raise Refused(431, f"the request line and headers are over {MAX_HEAD:,} bytes")
            return None
        head_end = min(ends)
        self.head = bytes(self.buffer[:head_end])
        lines = io.BytesIO(self.head)
        lines.readline()  # the request line: the handler judges it
        try:
            headers = http.client.parse_headers(lines)
        except (http.client.HTTPException, ValueError):
            return Arrived(self.head)  # the handler's own parsing refuses it, and says why
        self.body = BodyFraming(headers, self.max_body)
        return self._arrived(self.body.feed(bytes(self.buffer[head_end:])))

    def _arrived(self, body: Body | None) -> Arrived | None:
        return None if body is None else Arrived(self.head, body)


@dataclass(slots=True)
class _Pending:
    sock: socket.socket
    address: Any
    deadline: float
    framing: _Framing


class RequestGate:
    """Reads every request whole on the accept thread, before a handler thread is given it.

    A thread per connection lets a client that sends nothing, or a byte every few seconds,
    hold a thread and a connection slot as long as it likes, and enough such clients starve
    everyone else. Here a connection being read costs a buffer, not a thread: the gate reads
    what arrives without blocking, and hands the request to a handler thread only once its
    head and body are complete. Each request has a deadline counted from its accept (past it,
    408), and when `max_pending` connections are being read a new one evicts the one read
    longest (503; clients retry): a client that sends its request at once, as Huawei does, is
    done long before it could be the oldest.
    """

    def __init__(
        self,
        dispatch: Callable[[socket.socket, Any, Arrived], None],
        refuse: Callable[[int, str], bytes],
        *,
        max_body: int,
        deadline: float,
        max_pending: int,
        log: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dispatch = dispatch
        self._refuse = refuse
        self.max_body = max_body
        self.deadline = deadline
        self.max_pending = max_pending
        self._clock = clock
        self._pending: dict[socket.socket, _Pending] = {}  # in accept order: oldest first
        self._selector: selectors.BaseSelector | None = None
        self._log = log

    def attach(self, selector: selectors.BaseSelector) -> None:
        """Read through `selector`, the accept loop's: one thread does it all."""
        self._selector = selector

    def admit(self, sock: socket.socket, address: Any) -> None:
        assert self._selector is not None
        if len(self._pending) >= self.max_pending:
            oldest = next(iter(self._pending.values()))
            self._log.info(
                "%d connections waiting for their request: answering 503 to the oldest, from %s",
                len(self._pending),
                oldest.address[0],
            )
            self._close(oldest, 503, "busy; try again")
        sock.setblocking(False)
        entry = _Pending(sock, address, self._clock() + self.deadline, _Framing(self.max_body))
        self._pending[sock] = entry
        self._selector.register(sock, selectors.EVENT_READ, self)

    def timeout(self) -> float | None:
        """Seconds until the next deadline, for the accept loop's select."""
        if not self._pending:
            return None
        # Every request has the same time from its accept: the oldest is due first.
        first = next(iter(self._pending.values()))
        return max(0.0, first.deadline - self._clock())

    def readable(self, sock: socket.socket) -> None:
        entry = self._pending.get(sock)
        if entry is None:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if entry.framing.buffer:
                self._close(entry, 400, "the request ended before it was complete")
            else:
                self._close(entry, None, "")  # connected and left: no one to answer
            return
        try:
            arrived = entry.framing.feed(data)
        except Refused as e:
            self._close(entry, e.status, e.description)
            return
        if arrived is None:
            return
        self._forget(entry)
        sock.setblocking(True)
        self._dispatch(sock, entry.address, arrived)

    def expire(self) -> None:
        """Answer 408 to every request past its deadline."""
        now = self._clock()
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if oldest.deadline > now:
                return
            self._log.info("no whole request from %s in time: answering 408", oldest.address[0])
            self._close(oldest, 408, f"the request was not complete within {self.deadline:g} s")

    def close(self) -> None:
        for entry in list(self._pending.values()):
            self._close(entry, None, "")

    def _forget(self, entry: _Pending) -> None:
        del self._pending[entry.sock]
        if self._selector is not None:
            self._selector.unregister(entry.sock)

    def _close(self, entry: _Pending, status: int | None, why: str) -> None:
        self._forget(entry)
        with contextlib.suppress(OSError):
            if status is not None:
                # A few hundred bytes to a socket that has sent, not read: the send buffer
                # takes them at once, and a client that cannot is not waited for.
                entry.sock.send(self._refuse(status, why))
            entry.sock.shutdown(socket.SHUT_RDWR)
        entry.sock.close()


class GatedHTTPServer(JSONServer):
    """A `JSONServer` whose handler threads are given whole requests by a `RequestGate`.

    At most `max_handlers` requests are handled at once; beyond, a request is answered 503 at
    once (clients retry) rather than queued behind them. Handlers are given a `GatedHandler`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: type[GatedHandler],
        app: JSONApp,
        *,
        max_body: int,
        request_deadline: float,
        max_pending: int,
        max_handlers: int,
    ) -> None:
        self._arrived: dict[socket.socket, Arrived] = {}
        self._slots = threading.BoundedSemaphore(max_handlers)
        self.gate = RequestGate(
            self._start_handler,
            self.refusal,
            max_body=max_body,
            deadline=request_deadline,
            max_pending=max_pending,
            log=self.connection_log,
        )
        super().__init__(host, port, handler, app)

    def refusal(self, status: int, description: str) -> bytes:
        """The whole answer the gate sends when it refuses a request itself."""
        return answer(self.app.error_response(status, description))

    def process_request(self, request: Any, client_address: Any) -> None:
        self.gate.admit(request, client_address)

    def _start_handler(self, request: socket.socket, client_address: Any, arrived: Arrived) -> None:
        if not self._slots.acquire(blocking=False):
            self.connection_log.warning("too many requests at once: answering 503")
            with contextlib.suppress(OSError):
                request.sendall(self.refusal(503, "busy; try again"))
            self.shutdown_request(request)
            return
        self._arrived[request] = arrived
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._arrived.pop(request, None)
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def take_arrived(self, request: socket.socket) -> Arrived:
        return self._arrived.pop(request)


# What http.server's own log_message escapes (C0, DEL, C1 and the backslash itself).
_ESCAPE_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\\"): "\\\\"
}
# What a handler thread reads from its socket at a time.
_READ_SIZE = 65536
# After answering without reading a body (413, a wrong token), read and discard at most this
# much of it, for at most this long, so that the client sees the answer rather than a reset.
_DRAIN_BYTES = 1024 * 1024
_DRAIN_SECONDS = 1.0


class JSONHandler(BaseHTTPRequestHandler):
    """The one JSON request handler: body, `Request`, the application's `Response`, JSON.

    Responses use HTTP/1.0 semantics (one request per connection). A body that cannot be
    accepted reaches the application as `Request.problem`; one answered without being read is
    drained a little so that the client sees the answer. An exception in the application is
    answered 500 in its error shape. Subclasses set `server_version`, `timeout` (seconds a
    socket operation may take), `max_body`, `answer_headers`, and may mask log lines (`mask`).
    """

    server: JSONServer
    max_body: ClassVar[int]
    answer_headers: ClassVar[Mapping[str, str]] = {}

    def version_string(self) -> str:
        return self.server_version

    def receive(self) -> Body:
        """The request's body, read from the socket as its framing says."""
        assert isinstance(self.rfile, io.BufferedIOBase)
        framing = BodyFraming(self.headers, self.max_body)
        body = framing.feed(b"")
        while body is None:
            wanted = framing.remaining
            data = self.rfile.read(wanted) if wanted else self.rfile.read1(_READ_SIZE)
            if not data:
                return Body(problem=(400, "the request ended before it was complete"))
            body = framing.feed(data)
        return body

    def _serve(self) -> None:
        body = self.receive()
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers={name.lower(): value for name, value in reversed(self.headers.items())},
            body=body.data,
            client=str(self.client_address[0]),
            problem=body.problem,
        )
        app = self.server.app
        try:
            response = app.respond(request)
        except Exception:
            # Not the path: it may hold a token.
            self.server.connection_log.exception("%s failed to answer", self.server_version)
            response = app.error_response(500, "internal error")
        if response is None:
            # The fault "lost response": the work is done, the answer never arrives.
            self.close_connection = True
            return
        self.send(response)
        if body.unread:
            self._drain(body.unread)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def send(self, response: Response) -> None:
        data = json.dumps(response.body, ensure_ascii=False).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in self.answer_headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drain(self, unread: int) -> None:
        """Answered without reading the body: stop writing, then read and drop a bounded part
        of it, so closing does not reset the connection before the client reads the answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_DRAIN_SECONDS)
            left = min(unread, _DRAIN_BYTES)
            while left > 0:
                chunk = self.connection.recv(min(left, _READ_SIZE))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (a bad request line, headers too long): JSON in the
        # application's error shape, and without echoing the request line (it may hold a token).
        self.close_connection = True
        text = self.responses.get(code, ("error",))[0]
        with contextlib.suppress(OSError):
            self.send(self.server.app.error_response(code, text))

    def mask(self, line: str) -> str:
        """A request line as it may be logged; by default as it is."""
        return line

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines come from anyone: control characters escaped, as http.server does, so
        # a request cannot write terminal escapes or fake lines into the log.
        message = self.mask(format % args).translate(_ESCAPE_CONTROLS)
        self.server.connection_log.info("%s %s", self.client_address[0], message)


class GatedHandler(JSONHandler):
    """A handler that reads its request from what the gate read: `self.arrived`."""

    server: GatedHTTPServer
    arrived: Arrived

    def setup(self) -> None:
        super().setup()
        self.arrived = self.server.take_arrived(self.request)
        self.rfile.close()  # the socket's reader: its reference would keep the socket open
        self.rfile = io.BytesIO(self.arrived.head)

    def receive(self) -> Body:
        return self.arrived.body


class BackgroundServer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.server: ThreadedHTTPServer | None = None
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_read: socket.socket | None = None
        self._wake_write: socket.socket | None = None

    def start(self, server: ThreadedHTTPServer) -> None:
        if self.server is not None:
            raise RuntimeError(f"{self.name} is already started")
        self.stopping.clear()
        self.server = server
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        server, wake = self.server, self._wake_read
        assert server is not None and wake is not None
        gate = server.gate if isinstance(server, GatedHTTPServer) else None
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            if gate is not None:
                gate.attach(selector)
            try:
                while not self.stopping.is_set():
                    for key, _ in selector.select(gate.timeout() if gate else None):
                        if self.stopping.is_set() or key.fileobj is wake:
                            continue
                        if key.data is gate and gate is not None:
                            assert isinstance(key.fileobj, socket.socket)
                            gate.readable(key.fileobj)
                        else:
                            server.handle_request()
                    if gate is not None:
                        gate.expire()
            finally:
                if gate is not None:
                    gate.close()

    def stop(self) -> None:
        """Stop accepting requests and release the port; safe to call twice."""
        self.stopping.set()
        server, self.server = self.server, None
        if server is None:
            return
        if self._wake_write is not None:
            self._wake_write.send(b"\0")
        if self._thread is not None:
            self._thread.join()
        server.server_close()
        for end in (self._wake_read, self._wake_write):
            if end is not None:
                end.close()
        self._wake_read = self._wake_write = None

    @property
    def port(self) -> int:
        if self.server is None:
            raise RuntimeError(f"{self.name} is not running")
        address = self.server.server_address
        assert isinstance(address, tuple)
        return int(address[1])


class Served:
    """What a server object shows whatever it serves: its port and URL, and use as a context
    manager. Subclasses set `host` and `_serving` and implement `start` and `stop`."""

    host: str
    _serving: BackgroundServer

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def url(self) -> str:
        host = self.host.strip("[]")
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
