"""A loopback HTTP server that answers from a script: for the answers a faithful emulator
never gives (malformed bodies, gateway errors), so the client's handling of them is tested
over a real socket."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.static_server import serving


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    close_without_answer: bool = False
    # The body made from the request's headers and body (a server quoting what it was sent).
    render: Callable[[Mapping[str, str], bytes], bytes] | None = None


class ScriptedServer:
    def __init__(self, answers: dict[str, list[Answer]]) -> None:
        self.answers = {path: list(queue) for path, queue in answers.items()}
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def next_answer(self, path: str) -> Answer:
        with self.lock:
            queue = self.answers.get(path) or [Answer(404, b'{"returnCode": "404"}')]
            return queue.pop(0) if len(queue) > 1 else queue[0]


@contextmanager
def scripted(answers: dict[str, list[Answer]]) -> Iterator[tuple[str, ScriptedServer]]:
    script = ScriptedServer(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with script.lock:
                script.requests.append((self.path, dict(self.headers.items()), body))
            answer = script.next_answer(self.path)
            if answer.close_without_answer:
                self.close_connection = True
                self.connection.close()
                return
            text = (
                answer.body
                if answer.render is None
                else answer.render(dict(self.headers.items()), body)
            )
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url, script
