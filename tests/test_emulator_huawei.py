"""The Huawei AICC emulator over real sockets, with plain httpx (not the product client).

For every documented rule: a request that keeps it passes, and one that breaks it is refused
with the status the wire protocol names and a description saying what is wrong. Then tokens
expiring, fileIds, traffic control, review callbacks and retries, injected faults, and the
`ivrsync emulator` command as a real process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ivrsync.emulator import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.huawei import TOKEN_PATH, UPLOAD_PATH, reject_names_matching
from tests.conftest import DATA, REPO_ROOT, RunCli, read_line

WAV = (DATA / "alaw_8k_mono.wav").read_bytes()
MP3 = (DATA / "tone.mp3").read_bytes()
KEY, SECRET = "demo-app-key", "demo-app-secret"

Body = dict[str, Any]

# One client for the whole module: creating an httpx client costs more than a request here.
HTTP = httpx.Client(timeout=30, trust_env=False)


@pytest.fixture(autouse=True, scope="module")
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def alaw_wav(data_size: int) -> bytes:
    """An 8 kHz mono A-law WAV with `data_size` bytes of audio (44 + data_size bytes)."""
    fmt = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", data_size) + b"\xd5" * data_size
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fast(**changes: Any) -> HuaweiEmulatorConfig:
    """The default configuration with reviews and callback retries quick enough for tests."""
    return replace(HuaweiEmulatorConfig(review_delay=0.05, callback_interval=0.05), **changes)


def start(config: HuaweiEmulatorConfig | None = None) -> HuaweiEmulator:
    return HuaweiEmulator(config or fast()).start()


@pytest.fixture
def emu() -> Iterator[HuaweiEmulator]:
    server = start()
    yield server
    server.stop()


def get_token(emu: HuaweiEmulator, expire: str | None = None) -> str:
    headers = {} if expire is None else {"X-Token-Expire": expire}
    answer = HTTP.post(
        emu.url + TOKEN_PATH, json={"app_key": KEY, "app_secret": SECRET}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["AccessToken"]
    assert isinstance(token, str)
    return token


@pytest.fixture
def token(emu: HuaweiEmulator) -> str:
    return get_token(emu)


def upload_body(**overrides: str | None) -> Body:
    """A valid upload body; an override of None removes the field."""
    body: Body = {
        "fileInfo": b64(WAV),
        "locale": "en_US",
        "voiceType": "0",
        "fileType": "wav",
        "voiceFileName": "MainMenu",
    }
    for name, value in overrides.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def upload(
    emu: HuaweiEmulator,
    token: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    **overrides: str | None,
) -> httpx.Response:
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    payload = upload_body(**overrides) if body is None else body
    return HTTP.post(emu.url + UPLOAD_PATH, json=payload, headers=sent, timeout=30)


def assert_refused(answer: httpx.Response, status: int, code: str, *words: str) -> None:
    """The status, the returnCode and a description containing each word (any case)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["returnCode"] == code, body
    for word in words:
        assert word.lower() in body["description"].lower(), body


def assert_uploaded(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["returnCode"] == "0"
    assert body["description"] == "File uploaded successfully."
    file_id = body["fileId"]
    assert isinstance(file_id, str)
    return file_id


# -- tokenByAkSk ------------------------------------------------------------------------------


def test_token_is_issued_with_every_value_a_string() -> None:
    with HuaweiEmulator(clock=lambda: 1_700_000_000.7) as emu:
        answer = HTTP.post(emu.url + TOKEN_PATH, json={"app_key": KEY, "app_secret": SECRET})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert all(isinstance(value, str) for value in body.values())
    assert body["ApplyType"] == "Bearer"
    assert body["CreateTime"] == "1700000000"
    assert body["Expires"] == "600"  # no X-Token-Expire header
    assert body["AppKey"] == KEY
    assert body["UserID"] == "Anonymous"
    assert set(body) == {
        "AccessToken", "ApplyType", "CreateTime", "Expires", "Scope", "AppKey", "UserID"
    }  # fmt: skip
    assert len(body["AccessToken"]) >= 32


@pytest.mark.parametrize("expire", ["1", "600", "3600"])
def test_token_lifetime_header_is_accepted(emu: HuaweiEmulator, expire: str) -> None:
    answer = HTTP.post(
        emu.url + TOKEN_PATH,
        json={"app_key": KEY, "app_secret": SECRET},
        headers={"X-Token-Expire": expire},
    )
    assert answer.status_code == 200
    assert answer.json()["Expires"] == expire


@pytest.mark.parametrize("expire", ["0", "3601", "99999999999", "ten", "1.5", "-1", "+60", ""])
def test_token_lifetime_header_out_of_range_is_refused(emu: HuaweiEmulator, expire: str) -> None:
    answer = HTTP.post(
        emu.url + TOKEN_PATH,
        json={"app_key": KEY, "app_secret": SECRET},
        headers={"X-Token-Expire": expire},
    )
    assert_refused(answer, 400, "AICC.400", "X-Token-Expire", "1 to 3600")


@pytest.mark.parametrize(
    "credentials", [{"app_key": "other", "app_secret": SECRET}, {"app_key": KEY, "app_secret": "x"}]
)
def test_token_with_wrong_credentials_is_refused(
    emu: HuaweiEmulator, credentials: dict[str, str]
) -> None:
    answer = HTTP.post(emu.url + TOKEN_PATH, json=credentials)
    assert_refused(answer, 401, "AICC.401", "app_key or app_secret is wrong")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([KEY, SECRET], ["an array", "JSON object"]),
        ({"app_key": KEY}, ["app_secret missing"]),
        ({"app_key": 1, "app_secret": SECRET}, ["app_key missing or not a string"]),
    ],
)
def test_token_with_malformed_body_is_refused(
    emu: HuaweiEmulator, body: object, words: list[str]
) -> None:
    answer = HTTP.post(emu.url + TOKEN_PATH, json=body)
    assert_refused(answer, 401, "AICC.401", *words)


def test_token_with_malformed_json_is_refused(emu: HuaweiEmulator) -> None:
    answer = HTTP.post(
        emu.url + TOKEN_PATH,
        content=b'{"app_key": ',
        headers={"Content-Type": "application/json"},
    )
    assert_refused(answer, 400, "AICC.400", "not valid JSON")


def test_token_needs_a_json_content_type(emu: HuaweiEmulator) -> None:
    answer = HTTP.post(
        emu.url + TOKEN_PATH,
        content=json.dumps({"app_key": KEY, "app_secret": SECRET}).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert_refused(answer, 415, "AICC.415", "Content-Type must be application/json")


def test_token_endpoint_is_not_rate_limited(emu: HuaweiEmulator) -> None:
    for _ in range(20):
        get_token(emu)
    assert emu.throttled == 0


# -- upload: success, authorization --------------------------------------------------------------


def test_upload_succeeds_and_is_recorded() -> None:
    with HuaweiEmulator(fast(), clock=lambda: 1_666_706_957.559) as emu:
        file_id = assert_uploaded(upload(emu, get_token(emu), voiceType="1", locale="zh_CN"))
        [record] = emu.uploads
    assert record.file_id == file_id
    assert record.voice_file_name == "MainMenu"
    assert (record.locale, record.voice_type, record.file_type) == ("zh_CN", "1", "wav")
    assert record.size == len(WAV)
    assert record.sha256 == hashlib.sha256(WAV).hexdigest()
    assert record.callback_url is None
    assert record.received_at == 1_666_706_957.559
    assert record.file_url == "Y:/IVR/147/voice/1/MainMenu_1666706957559.wav"
    assert emu.requests == 1


@pytest.mark.parametrize(
    ("authorization", "words"),
    [
        (None, ["Authorization header is missing"]),
        ("bearer {token}", ["'Bearer <AccessToken>'"]),
        ("Bearer  {token}", ["exactly one space"]),
        ("Bearer{token}", ["exactly one space"]),
        ("Token {token}", ["'Bearer <AccessToken>'"]),
        ("Bearer", ["exactly one space, then the token"]),
        ("Bearer not-a-token", ["not issued by this service"]),
    ],
)
def test_upload_without_a_valid_bearer_token_is_refused(
    emu: HuaweiEmulator, token: str, authorization: str | None, words: list[str]
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization.format(token=token)}
    answer = HTTP.post(emu.url + UPLOAD_PATH, json=upload_body(), headers=headers)
    assert_refused(answer, 401, "AICC.401", *words)
    assert emu.uploads == []


def test_expire_tokens_expires_every_issued_token(emu: HuaweiEmulator) -> None:
    first, second = get_token(emu), get_token(emu, expire="3600")
    assert_uploaded(upload(emu, first))
    emu.expire_tokens()
    for token in (first, second):
        assert_refused(upload(emu, token), 401, "AICC.401", "expired", "call tokenByAkSk again")
    assert_uploaded(upload(emu, get_token(emu)))


def test_token_expires_after_x_token_expire_seconds_of_the_emulator_clock() -> None:
    now = [1_700_000_000.0]
    with HuaweiEmulator(fast(), clock=lambda: now[0]) as emu:
        token = get_token(emu, expire="5")
        now[0] += 4.9
        assert_uploaded(upload(emu, token))
        now[0] += 0.1
        assert_refused(upload(emu, token), 401, "AICC.401", "expired")
        default = get_token(emu)
        now[0] += 599
        assert_uploaded(upload(emu, default))
        now[0] += 1
        assert_refused(upload(emu, default), 401, "AICC.401", "expired")


def test_app_key_header_when_the_tenant_requires_it() -> None:
    config = fast(require_app_key_header=True)
    with HuaweiEmulator(config) as emu:
        token = get_token(emu)
        assert_uploaded(upload(emu, token, headers={"X-APP-Key": KEY}))
        assert_refused(upload(emu, token), 403, "AICC.403", "X-APP-Key header is missing")
        assert_refused(
            upload(emu, token, headers={"X-APP-Key": "someone-else"}),
            403,
            "AICC.403",
            "not the app key",
        )
        assert len(emu.uploads) == 1


def test_a_wrong_app_key_header_is_refused_even_when_optional(
    emu: HuaweiEmulator, token: str
) -> None:
    assert_uploaded(upload(emu, token, headers={"X-APP-Key": KEY}))
    assert_refused(upload(emu, token, headers={"X-APP-Key": "x"}), 403, "AICC.403", "app key")


# -- upload: the body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_content_types_are_accepted(
    emu: HuaweiEmulator, token: str, content_type: str
) -> None:
    answer = HTTP.post(
        emu.url + UPLOAD_PATH,
        content=json.dumps(upload_body()).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    assert_uploaded(answer)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_other_content_types_are_refused(
    emu: HuaweiEmulator, token: str, content_type: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = HTTP.post(
        emu.url + UPLOAD_PATH, content=json.dumps(upload_body()).encode(), headers=headers
    )
    assert_refused(answer, 415, "AICC.415", "Content-Type must be application/json")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"fileInfo=abc", ["not valid JSON"]),
        (b'{"locale": "en_US"', ["not valid JSON"]),
        (b"\xff\xfe{}", ["not UTF-8"]),
        (b'["en_US"]', ["an array", "flat JSON object"]),
        (b"[" * 30_000, ["nests JSON more than 32 levels"]),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    emu: HuaweiEmulator, token: str, content: bytes, words: list[str]
) -> None:
    answer = HTTP.post(
        emu.url + UPLOAD_PATH,
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert_refused(answer, 400, "AICC.400", *words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**upload_body(), "voiceType": 0}, ["'voiceType' is a number", "must be a string"]),
        ({**upload_body(), "voiceFileName": None}, ["'voiceFileName' is null"]),
        ({**upload_body(), "callBackUrl": ["http://x"]}, ["'callBackUrl' is an array"]),
        ({"body": upload_body()}, ["'body' is an object", "flat"]),
    ],
)
def test_a_body_with_a_value_that_is_not_a_string_is_refused(
    emu: HuaweiEmulator, token: str, body: Body, words: list[str]
) -> None:
    assert_refused(upload(emu, token, body), 400, "AICC.400", *words)
    assert emu.uploads == []


@pytest.mark.parametrize("field", ["fileInfo", "locale", "voiceType", "fileType"])
@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_required_field_is_refused(
    emu: HuaweiEmulator, token: str, field: str, value: str | None
) -> None:
    answer = upload(emu, token, upload_body(**{field: value}))
    assert_refused(answer, 500, "AICC.MissingParameter", f"{field} is required")


def test_every_missing_field_is_named(emu: HuaweiEmulator, token: str) -> None:
    answer = upload(emu, token, {"voiceFileName": "MainMenu"})
    assert_refused(
        answer, 500, "AICC.MissingParameter", "fileInfo, locale, voiceType, fileType are required"
    )


@pytest.mark.parametrize("locale", ["zh_CN", "en_US", "pt_BR", "th_TH"])
def test_documented_locales_are_accepted(emu: HuaweiEmulator, token: str, locale: str) -> None:
    assert_uploaded(upload(emu, token, locale=locale))


@pytest.mark.parametrize("locale", ["fr_FR", "en-US", "EN_us", "zh_TW"])
def test_other_locales_are_refused(emu: HuaweiEmulator, token: str, locale: str) -> None:
    answer = upload(emu, token, locale=locale)
    assert_refused(
        answer, 500, "AICC.InvalidLocale", f"{locale!r} is not supported", "en_US, pt_BR, th_TH"
    )


@pytest.mark.parametrize("voice_type", ["0", "1", "2", "3"])
def test_documented_voice_types_are_accepted(
    emu: HuaweiEmulator, token: str, voice_type: str
) -> None:
    assert_uploaded(upload(emu, token, voiceType=voice_type))
    assert emu.uploads[0].voice_type == voice_type


@pytest.mark.parametrize("voice_type", ["4", "ivr", "00", " 0"])
def test_other_voice_types_are_refused(emu: HuaweiEmulator, token: str, voice_type: str) -> None:
    answer = upload(emu, token, voiceType=voice_type)
    assert_refused(answer, 500, "AICC.InvalidVoiceType", "'0' (ivr)", "'3' (voice notification)")


def test_mp3_is_accepted_as_mp3(emu: HuaweiEmulator, token: str) -> None:
    assert_uploaded(upload(emu, token, fileInfo=b64(MP3), fileType="mp3"))
    assert emu.uploads[0].file_type == "mp3"
    assert emu.uploads[0].file_url.endswith(".mp3")


@pytest.mark.parametrize("file_type", ["ogg", "WAV", "audio/wav", "wave"])
def test_other_file_types_are_refused(emu: HuaweiEmulator, token: str, file_type: str) -> None:
    answer = upload(emu, token, fileType=file_type)
    assert_refused(answer, 500, "AICC.InvalidFileType", "use 'wav' or 'mp3'")


@pytest.mark.parametrize(
    ("data", "file_type", "declared"), [(WAV, "mp3", "WAV"), (MP3, "wav", "MP3")]
)
def test_audio_of_another_type_than_declared_is_refused(
    emu: HuaweiEmulator, token: str, data: bytes, file_type: str, declared: str
) -> None:
    answer = upload(emu, token, fileInfo=b64(data), fileType=file_type)
    assert_refused(
        answer, 500, "AICC.FileTypeMismatch", f"fileType is '{file_type}'", f"holds {declared}"
    )


@pytest.mark.parametrize(
    "file_info",
    [
        "!!!!",
        b64(WAV)[:-1],  # not a multiple of 4 characters
        b64(WAV)[:40] + "\n" + b64(WAV)[40:],  # line breaks are not strict base64
        b64(WAV).replace("A", "-", 1),  # URL-safe alphabet
        "UklGRé==",
    ],
)
def test_file_info_that_is_not_strict_base64_is_refused(
    emu: HuaweiEmulator, token: str, file_info: str
) -> None:
    assert_refused(
        upload(emu, token, fileInfo=file_info), 500, "AICC.InvalidFileInfo", "not valid base64"
    )


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"this is a text file, not audio", ["not usable audio", "looks like text"]),
        (b"OggS" + bytes(60), ["not usable audio", "Ogg"]),
        (WAV[:30], ["not usable audio"]),
    ],
)
def test_file_info_that_is_not_audio_is_refused(
    emu: HuaweiEmulator, token: str, data: bytes, words: list[str]
) -> None:
    answer = upload(emu, token, fileInfo=b64(data))
    assert_refused(answer, 500, "AICC.InvalidFile", *words)


def test_base64_text_of_at_most_8_000_000_characters_is_accepted(
    emu: HuaweiEmulator, token: str
) -> None:
    data = alaw_wav(6_000_000 - 44)
    assert len(b64(data)) == 8_000_000
    assert_uploaded(upload(emu, token, fileInfo=b64(data)))
    assert emu.uploads[0].size == 6_000_000


def test_base64_text_over_8_000_000_characters_is_refused(emu: HuaweiEmulator, token: str) -> None:
    data = alaw_wav(6_000_002 - 44)
    assert len(b64(data)) == 8_000_004
    answer = upload(emu, token, fileInfo=b64(data))
    assert_refused(answer, 500, "AICC.FileTooLarge", "8,000,004 characters", "8,000,000")


def test_size_limit_of_file_measures_the_decoded_file() -> None:
    config = fast(size_limit_of="file")
    with HuaweiEmulator(config) as emu:
        token = get_token(emu)
        accepted = alaw_wav(8_000_000 - 44)  # 10.7 MB of base64
        assert_uploaded(upload(emu, token, fileInfo=b64(accepted)))
        refused = alaw_wav(8_000_002 - 44)
        answer = upload(emu, token, fileInfo=b64(refused))
    assert_refused(answer, 500, "AICC.FileTooLarge", "8,000,002 bytes", "8,000,000")


@pytest.mark.parametrize(
    "name", ["MainMenu", "主菜单01", "A" * 50, "㐀Menu", "2024Holiday", None, ""]
)
def test_valid_voice_file_names_are_accepted(
    emu: HuaweiEmulator, token: str, name: str | None
) -> None:
    assert_uploaded(upload(emu, token, voiceFileName=name))
    assert emu.uploads[0].voice_file_name == (name or None)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("main_menu", ["contains '_'"]),
        ("main menu", ["contains ' '"]),
        ("Main-Menu.wav", ["'-'", "'.'"]),
        ("café", ["contains 'é'"]),
        ("メニュー", ["contains"]),  # katakana is not a Chinese character
        ("A" * 51, ["is 51 characters long"]),
    ],
)
def test_invalid_voice_file_names_are_refused(
    emu: HuaweiEmulator, token: str, name: str, words: list[str]
) -> None:
    answer = upload(emu, token, voiceFileName=name)
    assert_refused(
        answer, 500, "AICC.InvalidVoiceFileName", *words, "at most 50", "Chinese characters"
    )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/review", "https://localhost:9/cb?tenant=1", "HTTP://LOCALHOST:9"]
)
def test_http_callback_urls_are_accepted(emu: HuaweiEmulator, token: str, url: str) -> None:
    assert_uploaded(upload(emu, token, callBackUrl=url))
    assert emu.uploads[0].callback_url == url


@pytest.mark.parametrize(
    "url", ["ftp://example.com/cb", "example.com/cb", "http://", "javascript:alert(1)",
            "http://host:port/", "http://exa mple.com/"]
)  # fmt: skip
def test_other_callback_urls_are_refused(emu: HuaweiEmulator, token: str, url: str) -> None:
    answer = upload(emu, token, callBackUrl=url)
    assert_refused(answer, 500, "AICC.InvalidCallBackUrl", "not an http:// or https:// URL")


def test_unknown_path_and_wrong_method(emu: HuaweiEmulator) -> None:
    answer = HTTP.post(emu.url + "/apiaccess/rest/cc-management/v1/importVoiceFile/uploads")
    assert_refused(answer, 404, "AICC.404", "no such path")
    answer = HTTP.get(emu.url + "/")
    assert_refused(answer, 404, "AICC.404", UPLOAD_PATH)
    answer = HTTP.get(emu.url + UPLOAD_PATH)
    assert_refused(answer, 405, "AICC.405", "takes POST, not GET")
    assert answer.headers["Allow"] == "POST"


# -- fileIds and traffic control -----------------------------------------------------------------


def test_file_ids_are_19_digit_strings_unique_over_200_uploads() -> None:
    with HuaweiEmulator(HuaweiEmulatorConfig(rate_limit=0, review_delay=60)) as emu:
        token = get_token(emu)
        body = upload_body(fileInfo=b64(MP3), fileType="mp3")
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
            ids = [
                assert_uploaded(client.post(emu.url + UPLOAD_PATH, json=body)) for _ in range(200)
            ]
        assert [record.file_id for record in emu.uploads] == ids
    assert len(set(ids)) == 200
    assert all(re.fullmatch(r"[1-9][0-9]{18}", file_id) for file_id in ids)


class Clock:
    """Traffic control's clock, moved by the test: what counts is when requests arrive."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_over_10_per_second_is_throttled() -> None:
    clock = Clock()  # stands still: the 15 arrive within the same instant
    with HuaweiEmulator(fast(), traffic_clock=clock) as emu:
        token = get_token(emu)
        answers = [upload(emu, token) for _ in range(15)]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * 10 + [429] * 5
    assert emu.throttled == 5
    assert emu.requests == 15
    assert len(emu.uploads) == 10
    assert_refused(
        answers[10], 429, "AICC.429", "traffic control: more than 10 requests per second"
    )


def test_requests_spaced_100_ms_are_not_throttled() -> None:
    clock = Clock()
    with HuaweiEmulator(fast(), traffic_clock=clock) as emu:
        token = get_token(emu)
        for _ in range(10):  # empty the bucket first: what follows lives on the refill alone
            assert_uploaded(upload(emu, token))
        for _ in range(10):
            clock.now += 0.1
            assert_uploaded(upload(emu, token))
        clock.now += 0.09  # a little sooner than the refill
        assert upload(emu, token).status_code == 429
    assert emu.throttled == 1


# -- review and callback -------------------------------------------------------------------------


class Receiver:
    """A callback receiver answering from a script (the last answer repeats)."""

    def __init__(self, answers: list[tuple[int, bytes]]) -> None:
        self.answers = answers
        self.bodies: list[Body] = []
        self.content_types: list[str | None] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    receiver.bodies.append(json.loads(data))
                    receiver.content_types.append(self.headers.get("Content-Type"))
                    index = min(len(receiver.bodies), len(answers)) - 1
                status, content = answers[index]
                self.send_response(status)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/review"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


OK = (200, b'{"returnCode": "0"}')


def test_approval_is_posted_to_the_callback_url(emu: HuaweiEmulator, token: str) -> None:
    with Receiver([OK]) as receiver:
        file_id = assert_uploaded(upload(emu, token, callBackUrl=receiver.url))
        assert emu.wait_settled(10)
    [attempt] = emu.callbacks
    assert attempt.accepted and attempt.error is None and attempt.status_code == 200
    [body] = receiver.bodies
    assert receiver.content_types == ["application/json"]
    assert set(body) == {"fileUrl", "fileId", "status", "comment"}
    assert body["fileId"] == file_id
    assert (body["status"], body["comment"]) == ("2", "Approved")
    assert re.fullmatch(r"Y:/IVR/\d+/voice/0/MainMenu_\d{13}\.wav", body["fileUrl"])
    [record] = emu.uploads
    assert (record.review_status, record.review_comment) == ("approved", "Approved")
    assert body["fileUrl"] == record.file_url


def test_a_rejection_is_posted_with_status_3() -> None:
    config = fast(review=reject_names_matching("^Bad"))
    with HuaweiEmulator(config) as emu, Receiver([OK]) as receiver:
        token = get_token(emu)
        url = receiver.url
        bad = assert_uploaded(upload(emu, token, voiceFileName="BadPrompt", callBackUrl=url))
        good = assert_uploaded(upload(emu, token, voiceFileName="NotBad", callBackUrl=url))
        assert emu.wait_settled(10)
    assert len(receiver.bodies) == 2
    statuses = {body["fileId"]: (body["status"], body["comment"]) for body in receiver.bodies}
    assert statuses[bad] == ("3", "Rejected: voiceFileName matches '^Bad'")
    assert statuses[good] == ("2", "Approved")
    assert {r.file_id: r.review_status for r in emu.uploads} == {bad: "rejected", good: "approved"}


def test_review_happens_after_the_delay_even_without_a_callback() -> None:
    with HuaweiEmulator(HuaweiEmulatorConfig(review_delay=0.2)) as emu:
        upload(emu, get_token(emu), voiceFileName=None)
        [pending] = emu.uploads
        assert pending.review_status == "pending"
        assert emu.wait_settled(10)
        [reviewed] = emu.uploads
        assert reviewed.review_status == "approved"
        assert emu.callbacks == []
    record = emu.uploads[0]
    assert record.reviewed_at is not None and record.reviewed_at - record.received_at >= 0.2
    assert re.fullmatch(r"Y:/IVR/\d+/voice/0/[A-Za-z0-9]{8}_\d{13}\.wav", record.file_url)


def test_the_callback_is_retried_until_the_receiver_says_return_code_0(
    emu: HuaweiEmulator, token: str
) -> None:
    script = [(500, b'{"returnCode": "0"}'), (200, b'{"returnCode": "1"}'), (200, b"OK"), OK]
    with Receiver(script) as receiver:
        upload(emu, token, callBackUrl=receiver.url)
        assert emu.wait_settled(10)  # the platform is done: no fifth attempt will come
    attempts = emu.callbacks
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    assert [a.accepted for a in attempts] == [False, False, False, True]
    assert [a.error for a in attempts[:3]] == [
        "HTTP 500",
        'the answer is not {"returnCode": "0"}',
        "the answer is not JSON",
    ]
    assert len(receiver.bodies) == 4
    assert all(body == receiver.bodies[0] for body in receiver.bodies)


def test_the_callback_gives_up_after_six_attempts(emu: HuaweiEmulator, token: str) -> None:
    with Receiver([(500, b"busy")]) as receiver:
        upload(emu, token, callBackUrl=receiver.url)
        assert emu.wait_settled(10)  # the platform is done: no seventh attempt will come
    assert len(receiver.bodies) == 6
    assert [a.attempt for a in emu.callbacks] == [1, 2, 3, 4, 5, 6]
    assert not any(a.accepted for a in emu.callbacks)


def test_an_unreachable_callback_counts_as_a_failed_attempt(
    emu: HuaweiEmulator, token: str
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    upload(emu, token, callBackUrl=f"http://127.0.0.1:{port}/review")
    assert emu.wait_settled(10)
    assert len(emu.callbacks) == 6
    for attempt in emu.callbacks:
        assert attempt.status_code is None
        assert (attempt.error or "").startswith("no answer")


# -- faults --------------------------------------------------------------------------------------


def test_latency_is_added_before_answering(emu: HuaweiEmulator, token: str) -> None:
    emu.faults.latency = 0.2
    started = time.monotonic()
    assert_uploaded(upload(emu, token))
    assert time.monotonic() - started >= 0.2


def test_error_rate_answers_503_and_records_nothing(emu: HuaweiEmulator, token: str) -> None:
    emu.faults.error_rate = 1.0
    assert_refused(upload(emu, token), 503, "AICC.503", "service unavailable")
    assert emu.uploads == []
    assert emu.requests == 1
    emu.faults.error_rate = 0.0
    assert_uploaded(upload(emu, token))


def test_seeded_error_rate_repeats_itself() -> None:
    def pattern() -> list[int]:
        with HuaweiEmulator(fast(rate_limit=0)) as emu:
            token = get_token(emu)
            emu.faults.error_rate, emu.faults.seed = 0.5, 7
            return [upload(emu, token).status_code for _ in range(12)]

    first = pattern()
    assert set(first) == {200, 503}
    assert pattern() == first


def test_a_lost_response_still_records_the_upload(emu: HuaweiEmulator, token: str) -> None:
    emu.faults.lost_response_rate = 1.0
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        upload(emu, token)
    assert len(emu.uploads) == 1


def test_throttle_next_throttles_that_many_requests(emu: HuaweiEmulator, token: str) -> None:
    emu.faults.throttle_next = 2
    assert_refused(upload(emu, token), 429, "AICC.429", "traffic control")
    assert_refused(upload(emu, token), 429, "AICC.429", "traffic control")
    assert_uploaded(upload(emu, token))
    assert (emu.throttled, emu.requests, len(emu.uploads)) == (2, 3, 1)


def test_a_throttle_schedule_counts_requests_not_seconds(emu: HuaweiEmulator, token: str) -> None:
    """Requests 4 and 5 of every 5 are throttled, retries counted like any request."""
    emu.faults.throttle_every, emu.faults.throttle_burst = 5, 2
    statuses = [upload(emu, token).status_code for _ in range(12)]
    assert statuses == [200, 200, 200, 429, 429] * 2 + [200, 200]
    assert (emu.throttled, len(emu.uploads)) == (4, 8)


def test_tokens_expire_every_n_upload_requests(emu: HuaweiEmulator) -> None:
    emu.faults.expire_tokens_every = 3
    token = get_token(emu)
    assert_uploaded(upload(emu, token))
    assert_uploaded(upload(emu, token))
    assert_refused(upload(emu, token), 401, "AICC.401", "expired")  # the 3rd request
    token = get_token(emu)
    assert_uploaded(upload(emu, token))
    assert_uploaded(upload(emu, token))
    assert_refused(upload(emu, token), 401, "AICC.401", "expired")  # the 6th


def test_on_request_sees_each_request_before_it_is_answered(
    emu: HuaweiEmulator, token: str
) -> None:
    seen: list[tuple[str, int]] = []
    emu.on_request = lambda request: seen.append((request.path, len(emu.uploads)))
    assert_uploaded(upload(emu, token))
    assert seen == [(UPLOAD_PATH, 0)]  # called before the upload was stored


def test_stop_releases_the_port() -> None:
    emu = start()
    url = emu.url
    emu.stop()
    emu.stop()
    with pytest.raises(httpx.ConnectError):
        HTTP.post(url + TOKEN_PATH, json={})


# -- the command ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert isinstance(port, int)
        return port


@pytest.mark.parametrize(
    ("stop_signal", "environment", "key", "secret", "note"),
    [
        (signal.SIGTERM, True, "tenant-key", "s3cret-Value-42", "(app key from AICC_APP_KEY)"),
        (signal.SIGINT, False, KEY, SECRET, "(app key 'demo-app-key')"),
    ],
)
def test_the_command_serves_until_signalled(
    stop_signal: signal.Signals, environment: bool, key: str, secret: str, note: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICC_")}
    if environment:
        env |= {"AICC_APP_KEY": key, "AICC_APP_SECRET": secret}
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ivrsync", "emulator", "huawei", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = read_line(process.stderr, "the emulator")
        assert line == f"Huawei AICC emulator on http://127.0.0.1:{port} {note}\n"
        url = f"http://127.0.0.1:{port}{TOKEN_PATH}"
        answer = HTTP.post(url, json={"app_key": key, "app_secret": secret})
        assert answer.status_code == 200 and answer.json()["AppKey"] == key
        if environment:
            answer = HTTP.post(url, json={"app_key": KEY, "app_secret": SECRET})
            assert answer.status_code == 401
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert secret.encode() not in out + err + line.encode()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_the_command_refuses_a_remote_host_without_allow_remote(run_cli: RunCli, host: str) -> None:
    code, _, err = run_cli("emulator", "--host", host)
    assert code == 1
    assert f"refusing to listen on {host!r}" in err
    assert "--allow-remote" in err


def test_the_command_refuses_a_bad_reject_pattern(run_cli: RunCli) -> None:
    code, _, err = run_cli("emulator", "--reject-pattern", "(")
    assert code == 1
    assert "not a regular expression" in err
