"""The Huawei review callback receiver over real sockets: the emulator's callbacks reach it and
are stored before they are acknowledged; wrong tokens, bad bodies and failing stores are
answered so that nothing unstored is ever acknowledged; results survive a SIGKILL; a burst of
1,000 callbacks is all stored. Plus the store, the client and the `review-server` command.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import logging
import os
import random
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivrsync.emulator import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.huawei import TOKEN_PATH, UPLOAD_PATH, reject_names_matching
from ivrsync.providers.huawei_aicc_callbacks import CALLBACKS
from ivrsync.reviews import server as server_module
from ivrsync.reviews.callbacks import CallbackRefused, decode_callback
from ivrsync.reviews.client import (
    ReviewClient,
    ReviewServerUnreachable,
    ReviewTokenRefused,
)
from ivrsync.reviews.server import ReviewServer
from ivrsync.reviews.store import ReviewResult, ReviewStore
from tests.conftest import DATA, RunCli, read_line
from tests.test_architecture import _code_texts

WAV_B64 = base64.b64encode((DATA / "alaw_8k_mono.wav").read_bytes()).decode()
# Fixed, not random: parameters are built from it, and their ids must be the same in every
# process that collects the tests (pytest-xdist's workers compare them).
TOKEN = "rv-" + base64.urlsafe_b64encode(random.Random(45).randbytes(24)).decode().rstrip("=")
FILE_ID = "1323606152730207249"

HTTP = httpx.Client(timeout=10, trust_env=False)


@pytest.fixture(autouse=True, scope="module")
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReviewStore]:
    with ReviewStore(tmp_path / "reviews.sqlite3") as opened:
        yield opened


@pytest.fixture
def server(store: ReviewStore) -> Iterator[ReviewServer]:
    with ReviewServer(store, TOKEN, CALLBACKS) as running:
        yield running


def client(server: ReviewServer, token: str = TOKEN) -> ReviewClient:
    return ReviewClient(server.url, token, trust_env=False)


def callback(
    server: ReviewServer,
    body: Any = None,
    *,
    content: bytes | None = None,
    token: str = TOKEN,
    **fields: Any,
) -> httpx.Response:
    """POST a callback: `body` as JSON (default: a valid approval, changed by `fields`)."""
    if content is None:
        payload = body if body is not None else {
            "fileUrl": "Y:/IVR/147/voice/0/MainMenu_1.wav",
            "fileId": FILE_ID,
            "status": "2",
            "comment": "Approved",
        } | fields  # fmt: skip
        content = json.dumps(payload).encode()
    return HTTP.post(
        f"{server.url}/callbacks/{token}",
        content=content,
        headers={"Content-Type": "application/json"},
    )


def assert_acknowledged(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"returnCode": "0"}


# -- with the Huawei emulator -----------------------------------------------------------------


def emulator(**changes: Any) -> HuaweiEmulator:
    config = HuaweiEmulatorConfig(review_delay=0.05, callback_interval=0.05, rate_limit=0)
    for name, value in changes.items():
        setattr(config, name, value)
    return HuaweiEmulator(config).start()


def upload(emu: HuaweiEmulator, name: str, callback_url: str) -> str:
    """Upload the test WAV as `name` through the plain HTTP API; returns the fileId."""
    answer = HTTP.post(
        emu.url + TOKEN_PATH,
        json={"app_key": emu.config.app_key, "app_secret": emu.config.app_secret},
    )
    assert answer.status_code == 200, answer.text
    access_token = answer.json()["AccessToken"]
    answer = HTTP.post(
        emu.url + UPLOAD_PATH,
        json={
            "fileInfo": WAV_B64,
            "locale": "en_US",
            "voiceType": "0",
            "fileType": "wav",
            "voiceFileName": name,
            "callBackUrl": callback_url,
        },
        headers={"Authorization": f"Bearer {access_token}"},
    )
    assert answer.status_code == 200, answer.text
    file_id = answer.json()["fileId"]
    assert isinstance(file_id, str)
    return file_id


def test_emulator_callbacks_are_stored_and_read_back(
    server: ReviewServer, store: ReviewStore
) -> None:
    emu = emulator(review=reject_names_matching("Reject"))
    try:
        approved = upload(emu, "MainMenu", server.callback_url)
        rejected = upload(emu, "RejectMe", server.callback_url)
        assert emu.wait_settled(10)  # both reviews made, both callbacks delivered
        uploads = {record.file_id: record for record in emu.uploads}
        attempts = emu.callbacks
    finally:
        emu.stop()
    assert all(a.accepted and a.status_code == 200 for a in attempts), attempts
    with client(server) as reader:
        results = reader.results([approved, rejected, "42"])
    assert set(results) == {approved, rejected}  # "42" has no result: left out
    assert results[approved].status == "approved"
    assert results[approved].comment == "Approved"
    assert results[rejected].status == "rejected"
    assert results[rejected].comment == "Rejected: voiceFileName matches 'Reject'"
    for file_id, result in results.items():
        assert result.file_url == uploads[file_id].file_url
        assert result.received_at.tzinfo is not None
        assert result.deliveries == 1
    assert store.results() == sorted(results.values(), key=lambda r: r.file_id)
    assert server.stats.stored == 2


def test_a_failed_store_is_answered_500_and_the_retry_is_stored(
    server: ReviewServer, store: ReviewStore
) -> None:
    server.fail_next_stores(1)
    emu = emulator()
    try:
        file_id = upload(emu, "MainMenu", server.callback_url)
        assert emu.wait_settled(10)  # the callback refused, then delivered again
        attempts = emu.callbacks
    finally:
        emu.stop()
    first, second = attempts
    assert (first.attempt, first.status_code, first.accepted) == (1, 500, False)
    assert json.loads(first.response_text)["returnCode"] == "1"
    assert (second.attempt, second.status_code, second.accepted) == (2, 200, True)
    # Stored once, by the second delivery: after the first was refused, before the answer.
    times = store.received_times(file_id)
    assert times is not None
    stored_at = times[0].timestamp()
    assert first.sent_at < second.sent_at <= stored_at
    [result] = store.results([file_id])
    assert result.deliveries == 1
    stats = server.stats
    assert (stats.store_failures, stats.stored) == (1, 1)


def test_no_result_is_acknowledged_unless_stored(server: ReviewServer, store: ReviewStore) -> None:
    """A store that really fails (closed under the server) is answered 500, every time."""
    store.close()
    answer = callback(server)
    assert answer.status_code == 500
    assert answer.json()["returnCode"] == "1"
    assert server.stats.store_failures == 1
    answer = HTTP.get(server.url + "/results", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 500


# -- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/callbacks/wrong-token-0123456789",
        f"/callbacks/{TOKEN[:-1]}",
        f"/callbacks/{TOKEN}x",
        f"/callbacks/{TOKEN}/",
        f"/callbacks/x{TOKEN}",
        "/callbacks/",
        "/callbacks",
    ],
)
def test_a_wrong_or_missing_token_is_not_found(
    server: ReviewServer, store: ReviewStore, path: str
) -> None:
    body = {"fileId": FILE_ID, "status": "2"}
    answer = HTTP.post(server.url + path, json=body)
    unknown = HTTP.post(server.url + "/no/such/path", json=body)
    assert answer.status_code == unknown.status_code == 404
    assert answer.json() == unknown.json()  # nothing tells a wrong token from a wrong path
    assert len(store) == 0
    assert server.stats.refused_token == 1


def test_a_callback_needs_post(server: ReviewServer) -> None:
    answer = HTTP.get(server.callback_url)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_results_need_the_bearer_token(server: ReviewServer, authorization: str | None) -> None:
    assert_acknowledged(callback(server))
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = HTTP.get(server.url + "/results", headers=headers)
    assert answer.status_code == 401
    assert "results" not in answer.json()
    assert server.stats.refused_bearer == 1


def test_the_client_reports_a_refused_token(server: ReviewServer) -> None:
    wrong = "not-the-right-token-42"
    with client(server, wrong) as reader, pytest.raises(ReviewTokenRefused) as refused:
        reader.results([FILE_ID])
    message = str(refused.value)
    assert "the review server refused the token (IVRSYNC_REVIEW_TOKEN)" in message
    assert server.url in message
    assert wrong not in message and TOKEN not in message


def test_the_client_reports_an_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        reader = ReviewClient(url, TOKEN, timeout=2, trust_env=False)
        with reader, pytest.raises(ReviewServerUnreachable) as unreachable:
            reader.results([FILE_ID])
    assert url in str(unreachable.value)
    assert TOKEN not in str(unreachable.value)


def test_the_token_never_reaches_a_log(server: ReviewServer) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("ivrsync.reviews")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        assert_acknowledged(callback(server))
        assert callback(server, content=b"{").status_code == 400
        assert callback(server, token=TOKEN + "x").status_code == 404
        server.fail_next_stores(1)
        assert callback(server).status_code == 500
        HTTP.get(server.url + "/results", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = stream.getvalue()
    assert "/callbacks/***" in text
    assert TOKEN not in text and TOKEN[3:20] not in text


# -- repeated deliveries -------------------------------------------------------------------------


def test_the_same_callback_twice_is_stored_once(server: ReviewServer, store: ReviewStore) -> None:
    assert_acknowledged(callback(server))
    assert_acknowledged(callback(server))
    [result] = store.results()
    assert (result.file_id, result.status, result.deliveries) == (FILE_ID, "approved", 2)
    times = store.received_times(FILE_ID)
    assert times is not None and times[0] <= times[1]
    assert (server.stats.stored, server.stats.repeated) == (1, 1)


def test_a_changed_result_replaces_the_stored_one(store: ReviewStore) -> None:
    first = ReviewResult(FILE_ID, "approved", "Approved", "Y:/a.wav")
    assert store.record(first) is True
    assert store.record(first) is False
    assert store.record(ReviewResult(FILE_ID, "rejected", "Too loud", "Y:/a.wav")) is True
    [result] = store.results([FILE_ID])
    assert (result.status, result.comment, result.deliveries) == ("rejected", "Too loud", 3)


def test_integers_are_accepted_for_file_id_and_status(
    server: ReviewServer, store: ReviewStore
) -> None:
    assert_acknowledged(callback(server, {"fileId": int(FILE_ID), "status": 3}))
    [result] = store.results()
    assert (result.file_id, result.status, result.comment, result.file_url) == (
        FILE_ID,
        "rejected",
        None,
        None,
    )


# -- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"fileId": ', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"", "not valid JSON"),
        (b'["1", "2"]', "JSON object"),
        (b'{"status": "2"}', "fileId"),
        (b'{"fileId": "abc", "status": "2"}', "fileId"),
        (b'{"fileId": true, "status": "2"}', "fileId"),
        (b'{"fileId": -5, "status": "2"}', "fileId"),
        (b'{"fileId": "1", "status": "9"}', "status"),
        (b'{"fileId": "1", "status": 2.0}', "status"),
        (b'{"fileId": "1"}', "status"),
        (b'{"fileId": "1", "status": "2", "comment": 5}', "comment"),
        (b'{"fileId": "1", "status": "2", "fileUrl": ["x"]}', "fileUrl"),
    ],
)
def test_a_malformed_callback_is_refused(
    server: ReviewServer, store: ReviewStore, content: bytes, words: str
) -> None:
    answer = callback(server, content=content)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["returnCode"] == "1"
    assert words in body["description"]
    assert len(store) == 0


def test_a_body_over_the_limit_is_refused(server: ReviewServer, store: ReviewStore) -> None:
    answer = callback(server, comment="x" * (server.max_body + 1))
    assert answer.status_code == 413
    assert answer.json()["returnCode"] == "1"
    assert len(store) == 0


def test_a_huge_declared_body_is_refused_without_waiting_for_it(server: ReviewServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            f"POST /callbacks/{TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000000\r\n\r\n".encode()
        )
        started = time.monotonic()
        answer = sock.recv(4096)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.0 413 "), answer
    assert elapsed < 2  # answered at once, not after reading (or waiting for) the body


def test_requests_beyond_the_handlers_are_answered_503(
    store: ReviewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole requests beyond the handler threads get 503 at once (Huawei retries them)."""
    monkeypatch.setattr(server_module, "_MAX_HANDLERS", 1)
    entered, release = threading.Event(), threading.Event()
    record = store.record

    def held_record(result: ReviewResult) -> bool:
        entered.set()
        release.wait(10)
        return record(result)

    monkeypatch.setattr(store, "record", held_record)
    with ReviewServer(store, TOKEN, CALLBACKS) as busy, ThreadPoolExecutor(1) as pool:
        first = pool.submit(callback, busy)
        assert entered.wait(10)  # the one handler is busy storing
        answer = callback(busy, fileId="42")
        release.set()
        assert answer.status_code == 503
        assert answer.json() == {"returnCode": "1", "description": "busy; try again"}
        assert_acknowledged(first.result(10))
    assert [r.file_id for r in store.results()] == [FILE_ID]


# -- attacks from the internet -------------------------------------------------------------------


def _answer_to(sock: socket.socket, timeout: float = 10) -> bytes:
    """What the server sends on `sock` until it closes it (the generous timeout only fails a
    server that never answers)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


@pytest.mark.parametrize(("opening", "depth"), [("[", 30_000), ('{"a":', 10_000), ("[", 33)])
def test_deeply_nested_json_is_answered_400(
    server: ReviewServer, store: ReviewStore, opening: str, depth: int
) -> None:
    content = (opening * depth).encode()
    assert len(content) <= server.max_body
    answer = callback(server, content=content)
    assert answer.status_code == 400, answer.text
    assert answer.json()["description"] == (
        "the body nests JSON more than 32 levels deep; a callback is flat"
    )
    assert len(store) == 0
    assert_acknowledged(callback(server))  # and the server goes on


def test_brackets_inside_strings_are_not_nesting(server: ReviewServer, store: ReviewStore) -> None:
    assert_acknowledged(callback(server, comment='[{"\\' * 100))
    [result] = store.results()
    assert result.comment == '[{"\\' * 100


def test_an_unexpected_error_is_answered_500(
    server: ReviewServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(body: bytes) -> ReviewResult:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server.callbacks, "parse", broken)
    answer = callback(server)
    assert answer.status_code == 500
    assert answer.json() == {"returnCode": "1", "description": "internal error"}


@pytest.mark.parametrize("sends", [b"", b"POST /callbacks/", b"POST / HTTP/1.1\r\nContent-Le"])
def test_idle_or_slow_connections_do_not_starve_a_callback(
    server: ReviewServer, store: ReviewStore, sends: bytes
) -> None:
    """200 connections that send nothing, or part of a request, then stall: each costs the
    server a buffer, not a thread, and a callback is answered as usual."""
    stalled = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(200)]
    try:
        for sock in stalled:
            sock.sendall(sends)
        assert_acknowledged(callback(server))
    finally:
        for sock in stalled:
            sock.close()
    assert len(store) == 1


def test_the_oldest_stalled_connection_makes_room_for_a_new_one(
    store: ReviewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "_MAX_PENDING", 8)
    with ReviewServer(store, TOKEN, CALLBACKS) as busy:
        stalled = [socket.create_connection(("127.0.0.1", busy.port)) for _ in range(20)]
        try:
            for sock in stalled[:12]:  # the 12 oldest are evicted as the 12 newest arrive
                assert _answer_to(sock).startswith(b"HTTP/1.0 503 Service Unavailable\r\n")
            assert_acknowledged(callback(busy))  # evicts the 13th
            assert _answer_to(stalled[12]).startswith(b"HTTP/1.0 503 ")
        finally:
            for sock in stalled:
                sock.close()
    assert len(store) == 1


def test_a_request_must_be_whole_by_the_deadline(store: ReviewStore) -> None:
    """A client sending its headers a byte at a time is answered 408 at the deadline for the
    whole request, however often it sends."""
    head = f"POST /callbacks/{TOKEN} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode() + b"a" * 10_000
    with ReviewServer(store, TOKEN, CALLBACKS, request_deadline=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            started = time.monotonic()
            for byte in head:  # a byte each time the server has not answered within 50 ms
                ready, _, _ = select.select([sock], [], [], 0.05)
                if ready:
                    break
                sock.sendall(bytes([byte]))
            answer = _answer_to(sock)
            elapsed = time.monotonic() - started
        assert_acknowledged(callback(server))
    assert answer.startswith(b"HTTP/1.0 408 Request Timeout\r\n"), answer
    assert b"not complete within 0.5 s" in answer
    assert 0.5 <= elapsed < 5


def test_a_request_that_ends_early_is_answered_400(server: ReviewServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"POST /callbacks/{TOKEN} HTTP/1.1\r\nContent-Length: 50\r\n\r\n{{".encode())
        sock.shutdown(socket.SHUT_WR)
        answer = _answer_to(sock)
    assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n"), answer


def test_a_chunked_callback_is_stored(server: ReviewServer, store: ReviewStore) -> None:
    body = json.dumps({"fileId": FILE_ID, "status": "3", "comment": "Noise"}).encode()
    answer = HTTP.post(server.callback_url, content=iter([body[:10], body[10:]]))
    assert_acknowledged(answer)
    [result] = store.results()
    assert (result.status, result.comment) == ("rejected", "Noise")


def test_a_chunked_body_over_the_limit_is_refused(server: ReviewServer, store: ReviewStore) -> None:
    parts = [b"x" * 4096] * (server.max_body // 4096 + 1)
    answer = HTTP.post(server.callback_url, content=iter(parts))
    assert answer.status_code == 413
    assert len(store) == 0


def test_request_lines_are_logged_with_control_characters_escaped(
    server: ReviewServer, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="ivrsync.reviews"),
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sock.sendall(b"GET /\x1b[2J\x1b[31mfake\x07\\ HTTP/1.0\r\n\r\n")
        # The line is logged before the answer is sent, so it is there once the answer is.
        assert _answer_to(sock).startswith(b"HTTP/1.0 404 ")
    [line] = [r.getMessage() for r in caplog.records if "fake" in r.getMessage()]
    assert "\x1b" not in line and "\x07" not in line
    assert "GET /\\x1b[2J\\x1b[31mfake\\x07\\\\ HTTP/1.0" in line


def test_healthz(server: ReviewServer) -> None:
    answer = HTTP.get(server.url + "/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"ok": True}


# -- results and the client -------------------------------------------------------------------


def test_results_filter_by_file_id_and_the_client_batches(
    server: ReviewServer, store: ReviewStore
) -> None:
    ids = [str(10**18 + n) for n in range(450)]
    for file_id in ids[::150]:  # three of them have a result
        assert_acknowledged(callback(server, fileId=file_id))
    answer = HTTP.get(
        server.url + "/results",
        params=[("file_id", ids[0]), ("file_id", ids[1])],
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200
    [only] = answer.json()["results"]
    assert set(only) >= {"file_id", "status", "comment", "file_url", "received_at"}
    assert only["file_id"] == ids[0]
    assert datetime.fromisoformat(only["received_at"]).tzinfo is not None
    everything = HTTP.get(server.url + "/results", headers={"Authorization": f"Bearer {TOKEN}"})
    assert len(everything.json()["results"]) == 3
    before = server.stats.results_requests
    with client(server) as reader:
        found = reader.results(ids)
    assert sorted(found) == ids[::150]
    assert server.stats.results_requests - before == 3  # 450 ids, 200 a request


def test_results_refuse_a_bad_file_id(server: ReviewServer) -> None:
    answer = HTTP.get(
        server.url + "/results",
        params={"file_id": "12; DROP TABLE"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 400


# -- the store ---------------------------------------------------------------------------------


def test_the_store_is_durable_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "reviews.sqlite3"
    with ReviewStore(path) as store:
        store.record(ReviewResult(FILE_ID, "approved", "Approved", "Y:/a.wav"))
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with ReviewStore(path) as store:
        [result] = store.results()
    assert (result.file_id, result.status) == (FILE_ID, "approved")
    assert result.received_at.tzinfo == UTC


# -- a burst -----------------------------------------------------------------------------------


def test_a_burst_of_1000_callbacks_is_all_stored(
    server: ReviewServer, store: ReviewStore, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [str(10**18 + n) for n in range(1000)]

    def send(file_id: str) -> httpx.Response:
        return callback(server, fileId=file_id, status="3" if int(file_id) % 7 == 0 else "2")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, ids))
    elapsed = time.perf_counter() - started
    for answer in answers:
        assert_acknowledged(answer)
    assert len(store) == 1000
    assert server.stats.stored == 1000
    rejected = {r.file_id for r in store.results() if r.status == "rejected"}
    assert rejected == {f for f in ids if int(f) % 7 == 0}
    with capsys.disabled():
        print(f"\n1,000 callbacks from 16 threads: {elapsed:.2f} s ({1000 / elapsed:.0f}/s)")


# -- the command ---------------------------------------------------------------------------------

_STARTED = re.compile(
    r"Review server on (http://[^:]+:(\d+)): callbacks at \1/callbacks/"
    r"<token from IVRSYNC_REVIEW_TOKEN>; results at \1/results\n"
)


def _start_command(*args: str, cwd: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    env = dict(os.environ, IVRSYNC_REVIEW_TOKEN=TOKEN)
    process = subprocess.Popen(
        [sys.executable, "-m", "ivrsync", "review-server", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    line = read_line(process.stderr, "the review server")
    match = _STARTED.fullmatch(line)
    assert match, line
    return process, line, int(match.group(2))


def test_the_command_keeps_results_across_a_kill(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    process, line, port = _start_command("-C", str(work), "--listen", "127.0.0.1:0", cwd=tmp_path)
    try:
        answer = HTTP.post(
            f"http://127.0.0.1:{port}/callbacks/{TOKEN}",
            json={"fileId": FILE_ID, "status": "3", "comment": "Noise", "fileUrl": "Y:/n.wav"},
        )
        assert_acknowledged(answer)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()
    db = work / ".ivrsync" / "reviews.sqlite3"  # the default, under -C
    assert db.exists()
    assert TOKEN not in line

    # Again, on the same database, reachable from other machines: a note about TLS.
    process, line, port = _start_command("--listen", "0.0.0.0:0", "--db", str(db), cwd=tmp_path)
    try:
        assert line.startswith(f"Review server on http://0.0.0.0:{port}: ")
        with ReviewClient(f"http://127.0.0.1:{port}", TOKEN, trust_env=False) as reader:
            results = reader.results([FILE_ID])
        assert results[FILE_ID].status == "rejected"
        assert results[FILE_ID].comment == "Noise"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert b"TLS" in err
    assert b"Review server stopped" in err
    assert TOKEN.encode() not in out + err


@pytest.mark.parametrize(
    ("token", "words"),
    [
        (None, "IVRSYNC_REVIEW_TOKEN is not set"),
        ("", "IVRSYNC_REVIEW_TOKEN is not set"),
        ("short-token", "at least 16"),
        ("a/token/with/slashes", "may contain only"),
    ],
)
def test_the_command_needs_a_good_token(
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    token: str | None,
    words: str,
) -> None:
    if token is None:
        monkeypatch.delenv("IVRSYNC_REVIEW_TOKEN", raising=False)
    else:
        monkeypatch.setenv("IVRSYNC_REVIEW_TOKEN", token)
    code, out, err = run_cli("review-server", "--listen", "127.0.0.1:0")
    assert code == 1
    assert words in err
    assert out == ""


@pytest.mark.parametrize("listen", ["localhost", "127.0.0.1:99999", "::1:80", "[::1:80", "h:p"])
def test_the_command_refuses_a_bad_listen_address(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, listen: str
) -> None:
    monkeypatch.setenv("IVRSYNC_REVIEW_TOKEN", TOKEN)
    code, _, err = run_cli("review-server", "--listen", listen)
    assert code == 1
    assert "--listen" in err


def test_the_command_names_whoever_calls_back_from_the_registry() -> None:
    """Its help says whom to give the callback URL to: each type that declares
    REVIEW_CALLBACKS, a third one included with no edit of the command."""
    script = (
        "import sys, types\n"
        "from ivrsync.providers import PROVIDER_TYPES, huawei_aicc\n"
        "echo = types.ModuleType('echo')\n"
        "echo.__dict__.update(vars(huawei_aicc))\n"
        "echo.VENDOR = 'Echo'\n"
        "PROVIDER_TYPES['echo'] = echo\n"
        "from ivrsync.cli.main import main\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "review-server", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    help_text = " ".join(done.stdout.split())
    assert "Receive Echo and Huawei review callbacks, store them durably" in help_text
    assert "Echo and Huawei must be able to reach it." in help_text


# -- the callback format is the provider's ----------------------------------------------------


class _VerdictCallbacks:
    """A made-up provider's callbacks: `{"id": UUID, "verdict": "ok" | "no"}`, answered
    `{"ok": true}`, refused `{"ok": false, "why": ...}`."""

    file_id = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    file_id_form = "a UUID"

    def parse(self, body: bytes) -> ReviewResult:
        value = decode_callback(body)
        verdicts = {"ok": "approved", "no": "rejected"}
        if not isinstance(value, dict) or value.get("verdict") not in verdicts:
            raise CallbackRefused(400, 'verdict must be "ok" or "no"')
        file_id = value.get("id")
        if not isinstance(file_id, str) or not self.file_id.fullmatch(file_id):
            raise CallbackRefused(400, "id must be a UUID")
        return ReviewResult(file_id, "approved" if value["verdict"] == "ok" else "rejected")

    def accepted(self) -> dict[str, Any]:
        return {"ok": True}

    def refused(self, description: str) -> dict[str, Any]:
        return {"ok": False, "why": description}


PROMPT_ID = "4c1d2f3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def test_the_server_speaks_the_format_it_is_given(store: ReviewStore) -> None:
    """Routes, token, store and refresh's reading are the server's; what a callback says and
    every answer's shape are the provider's, so a provider with other ids (UUIDs) and other
    fields is served with no change to reviews/."""
    with ReviewServer(store, TOKEN, _VerdictCallbacks()) as server:
        posted = callback(server, {"id": PROMPT_ID, "verdict": "no"})
        assert (posted.status_code, posted.json()) == (200, {"ok": True})

        huawei = callback(server)  # Huawei's body means nothing to this format
        assert (huawei.status_code, huawei.json()) == (
            400,
            {"ok": False, "why": 'verdict must be "ok" or "no"'},
        )
        wrong_token = callback(server, {"id": PROMPT_ID, "verdict": "ok"}, token="x" * 32)
        assert (wrong_token.status_code, wrong_token.json()) == (
            404,
            {"ok": False, "why": "not found"},
        )
        method = HTTP.get(f"{server.url}/callbacks/{TOKEN}")
        assert (method.status_code, method.json()) == (
            405,
            {"ok": False, "why": "GET is not allowed here; use POST"},
        )

        headers = {"Authorization": f"Bearer {TOKEN}"}
        digits = HTTP.get(f"{server.url}/results?file_id={FILE_ID}", headers=headers)
        assert (digits.status_code, digits.json()) == (
            400,
            {"error": f"file_id '{FILE_ID}' is not a UUID"},
        )
        with client(server) as reader:
            results = reader.results([PROMPT_ID])
    assert results[PROMPT_ID].status == "rejected"
    assert [r.file_id for r in store.results()] == [PROMPT_ID]


def _review_server_with(
    types: dict[str, str | None], *args: str
) -> subprocess.CompletedProcess[str]:
    """`ivrsync review-server ARGS` with the registry's types given these REVIEW_CALLBACKS
    (copies of Huawei's module otherwise)."""
    script = (
        "import sys, types\n"
        "from ivrsync.providers import PROVIDER_TYPES, huawei_aicc\n"
        "PROVIDER_TYPES.clear()\n"
        f"for name, reference in {types!r}.items():\n"
        "    kind = types.ModuleType(name)\n"
        "    kind.__dict__.update(vars(huawei_aicc))\n"
        "    kind.TYPE, kind.VENDOR, kind.REVIEW_CALLBACKS = name, name.title(), reference\n"
        "    PROVIDER_TYPES[name] = kind\n"
        "from ivrsync.cli.main import main\n"
        "main(sys.argv[1:])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, "review-server", "--listen", "256.0.0.1:0", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "IVRSYNC_REVIEW_TOKEN": TOKEN},
    )


def test_the_command_serves_one_format_and_asks_which_when_types_differ() -> None:
    huawei = "ivrsync.providers.huawei_aicc_callbacks:CALLBACKS"
    other = "tests.test_review_server:VERDICT_CALLBACKS"
    done = _review_server_with({"echo": huawei, "verdict": other, "quiet": None})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "Error: the provider types echo, verdict call back in different formats, and one "
        "review server receives one: choose with --type (one server per format, each with "
        "its own --listen and --db)"
    )
    # Chosen, the format is loaded and the server goes on to listen (here, where it cannot).
    done = _review_server_with({"echo": huawei, "verdict": other}, "--type", "verdict")
    assert done.returncode == 1
    assert "cannot listen on 256.0.0.1:0 for the review server" in done.stderr
    done = _review_server_with({"echo": huawei, "verdict": other}, "--type", "quiet")
    assert done.returncode == 1
    assert "'quiet' is not one of 'echo', 'verdict'" in done.stderr

    done = _review_server_with({"quiet": None})
    assert done.returncode == 1
    assert "no registered provider type calls back with review results" in done.stderr


VERDICT_CALLBACKS = _VerdictCallbacks()


def test_the_review_package_names_no_field_of_a_provider_format() -> None:
    """Huawei's fields live in its provider package; reviews/ code (docstrings aside, which
    may say where the design comes from) speaks only of results and the format's answers."""
    fields = re.compile(r"fileId|fileUrl|returnCode|callBackUrl|retCode")
    package = Path(server_module.__file__).parent
    found = [
        f"{path.name}:{line}: {text!r}"
        for path in sorted(package.glob("*.py"))
        for line, text in _code_texts(ast.parse(path.read_text("utf-8")))
        if fields.search(text)
    ]
    assert found == []
