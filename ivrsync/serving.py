"""An HTTP server on its own thread that stops at once: the emulators and the review server.

`serve_forever` notices a shutdown only at its next poll, a delay every stop pays (hundreds of
test servers add it up); a socket pair wakes this accept loop instead.
"""

from __future__ import annotations

import logging
import selectors
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self


class ThreadedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, and nothing that waits on a straggling client or on DNS.

    Subclasses name the logger for failed connections.
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


class BackgroundServer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.server: socketserver.BaseServer | None = None
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_read: socket.socket | None = None
        self._wake_write: socket.socket | None = None

    def start(self, server: socketserver.BaseServer) -> None:
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
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)  # type: ignore[arg-type]
            selector.register(wake, selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is not wake and not self.stopping.is_set():
                        server.handle_request()

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
