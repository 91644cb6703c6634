"""Loopback HTTP servers for tests: any handler in a thread, and a static file server (the
place Tencent fetches `AudioUrl`s from)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port in a thread; yields the base URL, and stops
    the server and its thread on the way out, whatever happened."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def static_files(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on a free loopback port; yields its base URL."""
    with serving(functools.partial(_QuietHandler, directory=str(directory))) as url:
        yield url
