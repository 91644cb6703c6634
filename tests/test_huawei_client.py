"""The Huawei AICC client: tokens, the request it sends, and how it reads every answer."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.providers.base import UploadItem
from ivrsync.providers.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    PermanentError,
    ThrottledError,
    TransientError,
)
from ivrsync.providers.huawei_aicc_client import TOKEN_PATH, UPLOAD_PATH, HuaweiAiccClient
from tests.conftest import DATA
from tests.scripted_server import Answer, scripted

KEY, SECRET = "client-key", "client-secret"
TOKEN = Answer(200, json.dumps({"AccessToken": "t0k", "Expires": "3600"}).encode())


def item(path: Path = DATA / "alaw_8k_mono.wav", name: str = "WelcomeEnUS") -> UploadItem:
    return UploadItem(
        address="aicc.welcome.en_US",
        path=path,
        audio_path=path.name,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        size=path.stat().st_size,
        remote_name=name,
        locale="en_US",
        attributes={"voice_type": "prompt_tone", "file_type": path.suffix[1:]},
    )


@pytest.fixture
def emulator() -> Iterator[HuaweiEmulator]:
    config = HuaweiEmulatorConfig(app_key=KEY, app_secret=SECRET, review_delay=60)
    with HuaweiEmulator(config) as running:
        yield running


def test_upload_sends_the_documented_flat_body_and_returns_the_file_id_as_a_string(
    emulator: HuaweiEmulator,
) -> None:
    client = HuaweiAiccClient(emulator.url, KEY, SECRET, callback_url="https://h.example/cb")
    file_id = client.upload(item())
    client.close()
    [record] = emulator.uploads
    assert file_id == record.file_id
    assert isinstance(file_id, str)
    assert len(file_id) == 19
    assert (record.voice_file_name, record.locale, record.voice_type, record.file_type) == (
        "WelcomeEnUS",
        "en_US",
        "1",
        "wav",
    )
    assert record.callback_url == "https://h.example/cb"


def test_the_streamed_body_is_exactly_the_json_a_plain_encoder_would_send() -> None:
    answers = {TOKEN_PATH: [TOKEN], UPLOAD_PATH: [Answer(200, b'{"returnCode":"0","fileId":"1"}')]}
    with scripted(answers) as (url, script):
        client = HuaweiAiccClient(url, KEY, SECRET)
        client.upload(item(DATA / "tone.mp3", "Hold"))
        client.close()
    path, headers, body = script.requests[-1]
    assert path == UPLOAD_PATH
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["X-APP-Key"] == KEY
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    sent = json.loads(body)
    assert all(isinstance(value, str) for value in sent.values())
    assert base64.b64decode(sent["fileInfo"], validate=True) == (DATA / "tone.mp3").read_bytes()
    assert (sent["fileType"], sent["voiceType"], sent["voiceFileName"]) == ("mp3", "1", "Hold")


def test_one_token_serves_many_uploads(emulator: HuaweiEmulator) -> None:
    answers = {TOKEN_PATH: [TOKEN], UPLOAD_PATH: [Answer(200, b'{"returnCode":"0","fileId":"7"}')]}
    with scripted(answers) as (url, script):
        client = HuaweiAiccClient(url, KEY, SECRET)
        for _ in range(3):
            client.upload(item())
        client.close()
    paths = [path for path, _, _ in script.requests]
    assert paths == [TOKEN_PATH, UPLOAD_PATH, UPLOAD_PATH, UPLOAD_PATH]


def test_an_expired_token_is_fetched_again_and_the_refused_upload_is_a_retry(
    emulator: HuaweiEmulator,
) -> None:
    """The refused request stored nothing: it is a transient failure, which the engine sends
    again in a rate-limit slot of its own, with the token fetched at once."""
    client = HuaweiAiccClient(emulator.url, KEY, SECRET)
    first = client.upload(item())
    emulator.expire_tokens()
    with pytest.raises(TransientError) as refused:
        client.upload(item())
    assert refused.value.status == 401
    assert len(emulator.uploads) == 1
    second = client.upload(item())
    client.close()
    assert first != second
    assert len(emulator.uploads) == 2


def test_a_token_near_its_end_is_renewed_before_it_is_refused() -> None:
    now = [0.0]
    short = Answer(200, json.dumps({"AccessToken": "t0k", "Expires": "600"}).encode())
    answers = {TOKEN_PATH: [short], UPLOAD_PATH: [Answer(200, b'{"returnCode":"0","fileId":"7"}')]}
    with scripted(answers) as (url, script):
        client = HuaweiAiccClient(url, KEY, SECRET, clock=lambda: now[0])
        client.upload(item())
        now[0] = 545.0  # within a minute of the 600 s lifetime
        client.upload(item())
        client.close()
    assert [p for p, _, _ in script.requests].count(TOKEN_PATH) == 2


@pytest.mark.parametrize(
    ("answer", "error", "says"),
    [
        (Answer(200, b"<html>oops</html>", "text/html"), AmbiguousOutcome, "malformed answer"),
        (Answer(200, b'{"returnCode": "0"}'), AmbiguousOutcome, "malformed answer"),
        (
            Answer(500, b'{"returnCode": "AICC.1", "description": "bad locale"}'),
            PermanentError,
            "bad locale",
        ),
        (
            Answer(200, b'{"retCode": "17", "description": "no tenant"}'),
            PermanentError,
            "no tenant",
        ),
        (Answer(404, b""), PermanentError, "HTTP 404"),
        (Answer(403, b'{"description": "denied"}'), AuthenticationError, "whitelisted"),
        (Answer(429, b'{"description": "traffic control"}'), ThrottledError, "traffic control"),
        (Answer(502, b""), TransientError, "HTTP 502"),
        (Answer(503, b""), TransientError, "HTTP 503"),
        (Answer(504, b""), AmbiguousOutcome, "gateway timed out"),
        (Answer(200, close_without_answer=True), AmbiguousOutcome, "no answer came back"),
    ],
)
def test_every_answer_becomes_a_typed_error_with_the_servers_words(
    answer: Answer, error: type[Exception], says: str
) -> None:
    with scripted({TOKEN_PATH: [TOKEN], UPLOAD_PATH: [answer]}) as (url, _):
        client = HuaweiAiccClient(url, KEY, SECRET)
        with pytest.raises(error) as raised:
            client.upload(item())
        client.close()
    assert says in str(raised.value)


def test_a_refused_secret_is_an_authentication_error_that_never_shows_the_secret(
    emulator: HuaweiEmulator,
) -> None:
    client = HuaweiAiccClient(emulator.url, KEY, "wrong-secret-x")
    with pytest.raises(AuthenticationError) as raised:
        client.upload(item())
    client.close()
    assert "refused the app key and secret" in str(raised.value)
    assert "wrong-secret-x" not in str(raised.value)
    assert emulator.uploads == []


def test_a_refused_connection_is_transient() -> None:
    client = HuaweiAiccClient("http://127.0.0.1:9", KEY, SECRET)  # discard port: nothing listens
    with pytest.raises(TransientError):
        client.upload(item())
    client.close()
