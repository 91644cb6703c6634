"""The Tencent Cloud CCC emulator over real sockets, through the real SDK.

`tencentcloud.ccc.v20200210.ccc_client.CccClient` talks to it as it would to Tencent; plain httpx
(with a request signed here, by the SDK's own signing function) sends what the SDK cannot: an old
timestamp, a broken Authorization header, a wrong version. AudioUrls are downloaded for real from
a stdlib HTTP server serving tests/data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from http.server import SimpleHTTPRequestHandler
from typing import Any

import httpx
import pytest
from tencentcloud.ccc.v20200210 import ccc_client, models
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign

from ivrsync.emulator import TencentEmulator, TencentEmulatorConfig
from ivrsync.emulator.common import MinInterval
from ivrsync.emulator.tencent import (
    API_VERSION,
    DEMO_SDK_APP_ID,
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    STATUS_APPROVED,
    STATUS_REJECTED,
    STATUS_UNREVIEWED,
    reject_names_matching,
)
from tests.conftest import DATA, REPO_ROOT, RunCli, read_line
from tests.static_server import serving

WAV = (DATA / "alaw_8k_mono.wav").read_bytes()
MP3 = (DATA / "tone.mp3").read_bytes()
APP = DEMO_SDK_APP_ID
FIVE_MB = 5_000_000

Json = dict[str, Any]

# One client for the whole module: creating an httpx client costs more than a request here.
HTTP = httpx.Client(timeout=30, trust_env=False)


@pytest.fixture(autouse=True, scope="module")
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


def alaw_wav(total_size: int) -> bytes:
    """An 8 kHz mono A-law WAV of exactly `total_size` bytes."""
    data_size = total_size - 44
    fmt = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", data_size) + b"\xd5" * data_size
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert isinstance(port, int)
        return port


# -- where AudioUrls point: a stdlib HTTP server -------------------------------------------------


class _AudioHandler(SimpleHTTPRequestHandler):
    """Files from a folder, plus `/redirect/N/<file>` (N hops of 302) and `/endless.wav`
    (a WAV that never ends and declares no length)."""

    def do_GET(self) -> None:
        if self.path.startswith("/redirect/"):
            _, _, hops, rest = self.path.split("/", 3)
            target = f"/redirect/{int(hops) - 1}/{rest}" if int(hops) > 1 else f"/{rest}"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/endless.wav":
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.end_headers()  # HTTP/1.0 and no Content-Length: the body ends at close
            try:
                self.wfile.write(alaw_wav(44 + 65536)[:44])
                for _ in range(200):  # 13 MB at most, should the reader never stop
                    self.wfile.write(b"\xd5" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a server holding the test audio (and some things that are not)."""
    folder = tmp_path_factory.mktemp("audio")
    shutil.copy(DATA / "alaw_8k_mono.wav", folder / "welcome.wav")
    shutil.copy(DATA / "tone.mp3", folder / "tone.mp3")
    shutil.copy(DATA / "alaw_8k_mono.wav", folder / "prompt-a.wav")
    shutil.copy(DATA / "tone.mp3", folder / "prompt-b.mp3")
    (folder / "notes.wav").write_text("these are not the prompts you are looking for\n")
    (folder / "big.wav").write_bytes(alaw_wav(FIVE_MB + 1))
    (folder / "exact.wav").write_bytes(alaw_wav(FIVE_MB))
    with serving(functools.partial(_AudioHandler, directory=str(folder))) as url:
        yield url


# -- the emulator and its clients ----------------------------------------------------------------


def config(**changes: Any) -> TencentEmulatorConfig:
    """The default configuration without upload spacing and with quick reviews."""
    values: Json = {"rate_limit": 0, "review_delay": 0.05} | changes
    return TencentEmulatorConfig(**values)


@pytest.fixture
def emu() -> Iterator[TencentEmulator]:
    with TencentEmulator(config()) as emulator:
        yield emulator


class _Endpoint:
    """An emulator served by another process: all `sdk` needs is its endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint


def sdk(
    emulator: TencentEmulator | _Endpoint,
    secret_id: str = DEMO_SECRET_ID,
    secret_key: str = DEMO_SECRET_KEY,
    *,
    unsigned_payload: bool = False,
) -> Any:
    """The real SDK client, pointed at the emulator as the product points it."""
    profile = ClientProfile(
        signMethod="TC3-HMAC-SHA256",
        httpProfile=HttpProfile(protocol="http", endpoint=emulator.endpoint, reqTimeout=30),
    )
    profile.unsignedPayload = unsigned_payload
    return ccc_client.CccClient(credential.Credential(secret_id, secret_key), "", profile)


def upload(client: Any, *items: tuple[str, str], app: int = APP) -> Any:
    request = models.UploadIvrAudioRequest()
    request.SdkAppId = app
    request.AudioList = []
    for name, url in items:
        info = models.UploadAudioInfo()
        info.CustomFileName, info.AudioUrl = name, url
        request.AudioList.append(info)
    return client.UploadIvrAudio(request)


def describe(client: Any, page_size: int = 50, page_number: int = 0, **filters: Any) -> Any:
    request = models.DescribeIvrAudioListRequest()
    request.SdkAppId = filters.pop("app", APP)
    request.PageSize, request.PageNumber = page_size, page_number
    for name, values in filters.items():
        setattr(request, name, values)
    return client.DescribeIvrAudioList(request)


def listed(client: Any, **filters: Any) -> tuple[int, list[int]]:
    """(TotalCount, FileIds of the first page)."""
    answer = describe(client, **filters)
    return answer.TotalCount, [info.FileId for info in answer.FileInfo]


def sdk_error(call: Callable[[], Any]) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as caught:
        call()
    return caught.value


def signed_post(
    emulator: TencentEmulator,
    action: str,
    params: Json | bytes,
    *,
    secret_id: str = DEMO_SECRET_ID,
    secret_key: str = DEMO_SECRET_KEY,
    timestamp: int | None = None,
    version: str | None = API_VERSION,
    extra_signed: dict[str, str] | None = None,
    scope_date: str | None = None,
    service: str = "ccc",
    tamper: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]] | None = None,
) -> httpx.Response:
    """A request signed here as signature v3 describes (with the SDK's HMAC chain), then
    optionally altered by `tamper` after signing."""
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    now = int(time.time()) if timestamp is None else timestamp
    day = scope_date or datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    headers = {"Content-Type": "application/json", "Host": emulator.endpoint}
    headers |= extra_signed or {}
    signed = sorted(name.lower() for name in headers)
    lookup = {name.lower(): value for name, value in headers.items()}
    canonical_headers = "".join(f"{n}:{lookup[n].strip().lower()}\n" for n in signed)
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()]
    )
    scope = f"{day}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(now),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signature = Sign.sign_tc3(secret_key, day, service, string_to_sign)
    headers |= {
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}",
        "X-TC-Action": action,
        "X-TC-Timestamp": str(now),
    }
    if version is not None:
        headers["X-TC-Version"] = version
    if tamper is not None:
        headers, body = tamper(headers, body)
    return HTTP.post(emulator.url + "/", content=body, headers=headers)


def error_of(answer: httpx.Response) -> tuple[str, str]:
    """(Code, Message) of an API error answer, which is HTTP 200 with the envelope."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()["Response"]
    assert isinstance(body["RequestId"], str) and body["RequestId"]
    return body["Error"]["Code"], body["Error"]["Message"]


PROMPTS = ("prompt-a.wav", "prompt-b.mp3")
DESCRIBE_ALL: Json = {"SdkAppId": APP, "PageSize": 50, "PageNumber": 0}


# -- uploads through the SDK ---------------------------------------------------------------------


def test_wav_and_mp3_are_uploaded_and_recorded(emu: TencentEmulator, files: str) -> None:
    answer = upload(
        sdk(emu),
        ("welcome.en_US", f"{files}/welcome.wav?sign=abc&t=1"),
        ("tone.en_US", f"{files}/tone.mp3"),
    )
    assert answer.FailedFileList is None
    got = [(i.FileId, i.CustomFileName, i.AudioFileName, i.Status) for i in answer.SuccessFileList]
    assert got == [
        (30001, "welcome.en_US", "welcome.wav", STATUS_UNREVIEWED),
        (30002, "tone.en_US", "tone.mp3", STATUS_UNREVIEWED),
    ]
    assert isinstance(answer.RequestId, str)
    first, second = emu.uploads
    assert (first.file_id, first.sdk_app_id, first.audio_format) == (30001, APP, "wav")
    assert first.audio_url == f"{files}/welcome.wav?sign=abc&t=1"
    assert (first.sha256, first.size) == (hashlib.sha256(WAV).hexdigest(), len(WAV))
    assert (second.sha256, second.size, second.audio_format) == (
        hashlib.sha256(MP3).hexdigest(),
        len(MP3),
        "mp3",
    )
    assert emu.quota_used == 2
    assert emu.requests == {"UploadIvrAudio": 1}


def test_file_ids_keep_increasing_and_names_may_repeat(emu: TencentEmulator, files: str) -> None:
    client = sdk(emu)
    ids = []
    for _ in range(3):
        answer = upload(client, ("same", f"{files}/tone.mp3"), ("same", f"{files}/welcome.wav"))
        ids += [info.FileId for info in answer.SuccessFileList]
    assert ids == list(range(30001, 30007))


def test_the_sdk_with_an_unsigned_payload_is_accepted(emu: TencentEmulator, files: str) -> None:
    answer = upload(sdk(emu, unsigned_payload=True), ("a", f"{files}/tone.mp3"))
    assert len(answer.SuccessFileList) == 1


def test_files_that_cannot_be_used_are_listed_as_failed_and_others_succeed(
    emu: TencentEmulator, files: str
) -> None:
    unreachable = f"http://127.0.0.1:{_free_port()}/gone.wav"
    answer = upload(
        sdk(emu),
        ("ok-wav", f"{files}/welcome.wav"),
        ("text", f"{files}/notes.wav"),
        ("missing", f"{files}/missing.wav"),
        ("unreachable", unreachable),
        ("big", f"{files}/big.wav"),
        ("ftp", "ftp://example.com/a.wav"),
        ("ok-mp3", f"{files}/tone.mp3"),
    )
    assert [i.CustomFileName for i in answer.SuccessFileList] == ["ok-wav", "ok-mp3"]
    failed = {i.FileName: i.FailedMsg for i in answer.FailedFileList}
    assert list(failed) == ["text", "missing", "unreachable", "big", "ftp"]
    assert "not usable audio" in failed["text"] and "WAV and MP3" in failed["text"]
    assert "HTTP 404" in failed["missing"]
    assert "could not be downloaded" in failed["unreachable"]
    assert "5,000,001 bytes" in failed["big"] and "5,000,000" in failed["big"]
    assert "not an http:// or https:// URL" in failed["ftp"]
    assert [u.custom_file_name for u in emu.uploads] == ["ok-wav", "ok-mp3"]
    assert emu.quota_used == 2  # only successes count


def test_a_file_of_exactly_5_000_000_bytes_is_accepted(emu: TencentEmulator, files: str) -> None:
    answer = upload(sdk(emu), ("exact", f"{files}/exact.wav"))
    assert answer.FailedFileList is None
    assert emu.uploads[0].size == FIVE_MB


def test_a_download_without_a_length_stops_past_5_000_000_bytes(
    emu: TencentEmulator, files: str
) -> None:
    answer = upload(sdk(emu), ("endless", f"{files}/endless.wav"))
    assert answer.SuccessFileList is None
    (failure,) = answer.FailedFileList
    assert "larger than 5,000,000 bytes" in failure.FailedMsg


def test_redirects_are_followed_a_few_times(emu: TencentEmulator, files: str) -> None:
    answer = upload(
        sdk(emu),
        ("near", f"{files}/redirect/2/tone.mp3"),
        ("far", f"{files}/redirect/5/tone.mp3"),
    )
    (success,) = answer.SuccessFileList
    assert (success.CustomFileName, success.AudioFileName) == ("near", "tone.mp3")
    (failure,) = answer.FailedFileList
    assert failure.FileName == "far" and "redirected more than 3 times" in failure.FailedMsg


def test_an_empty_list_is_answered_as_null(emu: TencentEmulator, files: str) -> None:
    fine = signed_post(
        emu,
        "UploadIvrAudio",
        {"SdkAppId": APP, "AudioList": [{"CustomFileName": "a", "AudioUrl": f"{files}/tone.mp3"}]},
    ).json()["Response"]
    assert fine["FailedFileList"] is None and len(fine["SuccessFileList"]) == 1
    broken = signed_post(
        emu,
        "UploadIvrAudio",
        {"SdkAppId": APP, "AudioList": [{"CustomFileName": "b", "AudioUrl": f"{files}/x.wav"}]},
    ).json()["Response"]
    assert broken["SuccessFileList"] is None and len(broken["FailedFileList"]) == 1


# -- answers --------------------------------------------------------------------------------------


def test_content_type_is_exactly_application_json_on_success_and_error(
    emu: TencentEmulator,
) -> None:
    fine = signed_post(emu, "DescribeIvrAudioList", DESCRIBE_ALL)
    assert fine.status_code == 200
    assert fine.headers["Content-Type"] == "application/json"
    assert fine.json()["Response"]["TotalCount"] == 0
    refused = signed_post(emu, "DescribeIvrAudioList", DESCRIBE_ALL, secret_key="wrong")
    assert refused.headers["Content-Type"] == "application/json"
    assert error_of(refused)[0] == "AuthFailure.SignatureFailure"


def test_requests_the_emulator_does_not_serve_are_answered_in_the_envelope(
    emu: TencentEmulator,
) -> None:
    code, message = error_of(HTTP.get(emu.url + "/"))
    assert code == "UnsupportedOperation" and "POST /" in message
    code, message = error_of(
        signed_post(
            emu,
            "DescribeIvrAudioList",
            DESCRIBE_ALL,
            extra_signed={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    assert code == "UnsupportedOperation" and "application/json" in message


def test_a_body_the_server_cannot_read_is_answered_in_the_envelope(emu: TencentEmulator) -> None:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: lots\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 ")
    assert b"\r\nContent-Type: application/json\r\n" in head + b"\r\n"
    error = json.loads(body)["Response"]["Error"]
    assert error["Code"] == "InvalidRequest" and "Content-Length" in error["Message"]


# -- TC3-HMAC-SHA256 ------------------------------------------------------------------------------


def test_a_request_signed_here_is_accepted(emu: TencentEmulator) -> None:
    answer = signed_post(emu, "DescribeIvrAudioList", DESCRIBE_ALL)
    assert "Error" not in answer.json()["Response"]


def test_more_signed_headers_are_lower_cased_as_the_documentation_says(
    emu: TencentEmulator,
) -> None:
    answer = signed_post(
        emu,
        "DescribeIvrAudioList",
        DESCRIBE_ALL,
        extra_signed={"X-TC-Action": "DescribeIvrAudioList"},
    )
    assert "Error" not in answer.json()["Response"], answer.text


def test_a_wrong_secret_key_fails_the_signature(emu: TencentEmulator) -> None:
    error = sdk_error(lambda: describe(sdk(emu, secret_key="not-the-key")))
    assert error.code == "AuthFailure.SignatureFailure"
    assert error.requestId


def test_an_unknown_secret_id_is_not_found(emu: TencentEmulator) -> None:
    error = sdk_error(lambda: describe(sdk(emu, secret_id="AKIDunknown")))
    assert error.code == "AuthFailure.SecretIdNotFound"


@pytest.mark.parametrize("offset", [-600, 600])
def test_a_timestamp_ten_minutes_off_has_expired(emu: TencentEmulator, offset: int) -> None:
    answer = signed_post(
        emu, "DescribeIvrAudioList", DESCRIBE_ALL, timestamp=int(time.time()) + offset
    )
    code, message = error_of(answer)
    assert code == "AuthFailure.SignatureExpire"
    assert "300 s" in message


def test_a_timestamp_four_minutes_old_is_accepted(emu: TencentEmulator) -> None:
    answer = signed_post(
        emu, "DescribeIvrAudioList", DESCRIBE_ALL, timestamp=int(time.time()) - 240
    )
    assert "Error" not in answer.json()["Response"]


def _set_header(name: str, value: str | None) -> Callable[..., tuple[dict[str, str], bytes]]:
    def tamper(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        headers = dict(headers)
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
        return headers, body

    return tamper


@pytest.mark.parametrize(
    ("authorization", "why"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer abc", "starts with 'Bearer'"),
        ("TC3-HMAC-SHA256 Credential=x", "lacks SignedHeaders, Signature"),
        (
            "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/ccc, SignedHeaders=content-type;host, "
            "Signature=" + "0" * 64,
            "Credential is not",
        ),
        (
            f"TC3-HMAC-SHA256 Credential={DEMO_SECRET_ID}/2024-01-01/ccc/tc3_request, "
            "SignedHeaders=content-type, Signature=" + "0" * 64,
            "must include host",
        ),
        (
            f"TC3-HMAC-SHA256 Credential={DEMO_SECRET_ID}/2024-01-01/ccc/tc3_request, "
            "SignedHeaders=content-type;host, Signature=xyz",
            "64 lower-case hexadecimal",
        ),
    ],
)
def test_a_missing_or_malformed_authorization_is_invalid(
    emu: TencentEmulator, authorization: str | None, why: str
) -> None:
    answer = signed_post(
        emu,
        "DescribeIvrAudioList",
        DESCRIBE_ALL,
        tamper=_set_header("Authorization", authorization),
    )
    code, message = error_of(answer)
    assert code == "AuthFailure.InvalidAuthorization"
    assert why in message


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"scope_date": "2001-01-01"}, "UTC date of X-TC-Timestamp"),
        ({"service": "cvm"}, "/cvm/"),
        ({"tamper": lambda h, b: (h, b.replace(b"50", b"49"))}, "does not match"),
        ({"tamper": _set_header("Host", "ccc.tencentcloudapi.com")}, "does not match"),
    ],
)
def test_a_request_that_differs_from_what_was_signed_fails(
    emu: TencentEmulator, change: Json, why: str
) -> None:
    code, message = error_of(signed_post(emu, "DescribeIvrAudioList", DESCRIBE_ALL, **change))
    assert code == "AuthFailure.SignatureFailure"
    assert why in message


def test_a_missing_timestamp_is_a_missing_parameter(emu: TencentEmulator) -> None:
    answer = signed_post(
        emu, "DescribeIvrAudioList", DESCRIBE_ALL, tamper=_set_header("X-TC-Timestamp", None)
    )
    assert error_of(answer)[0] == "MissingParameter"


def test_a_wrong_version_and_unknown_actions_are_refused(emu: TencentEmulator) -> None:
    code, message = error_of(
        signed_post(emu, "DescribeIvrAudioList", DESCRIBE_ALL, version="2017-03-12")
    )
    assert code == "NoSuchVersion" and "2020-02-10" in message
    code, _ = error_of(signed_post(emu, "DescribeIvrAudioList", DESCRIBE_ALL, version=None))
    assert code == "MissingParameter"
    code, message = error_of(signed_post(emu, "DeleteIvrAudio", {"SdkAppId": APP}))
    assert code == "InvalidAction" and "'DeleteIvrAudio'" in message
    assert emu.requests["DeleteIvrAudio"] == 1


# -- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "why"),
    [
        ({"AudioList": []}, "MissingParameter", "SdkAppId"),
        ({"SdkAppId": "1400000000", "AudioList": []}, "InvalidParameter", "integer"),
        ({"SdkAppId": 1400000001, "AudioList": []}, "InvalidParameterValue", "1400000001"),
        ({"SdkAppId": APP}, "MissingParameter", "AudioList"),
        ({"SdkAppId": APP, "AudioList": {}}, "InvalidParameter", "array"),
        ({"SdkAppId": APP, "AudioList": []}, "InvalidParameterValue", "empty"),
        ({"SdkAppId": APP, "AudioList": ["a.wav"]}, "InvalidParameter", "AudioList.0"),
        (
            {"SdkAppId": APP, "AudioList": [{"CustomFileName": "a"}]},
            "MissingParameter",
            "AudioList.0.AudioUrl",
        ),
        (
            {"SdkAppId": APP, "AudioList": [{"CustomFileName": 7, "AudioUrl": "http://x/a.wav"}]},
            "InvalidParameter",
            "AudioList.0.CustomFileName",
        ),
        (
            {"SdkAppId": APP, "AudioList": [{"CustomFileName": " ", "AudioUrl": "http://x/a"}]},
            "InvalidParameterValue",
            "CustomFileName is empty",
        ),
        (
            {"SdkAppId": APP, "AudioList": [{"CustomFileName": "a", "AudioURL": "http://x/a"}]},
            "UnknownParameter",
            "AudioList.0.AudioURL",
        ),
        ({"SdkAppId": APP, "AudioList": [], "Region": "x"}, "UnknownParameter", "Region"),
    ],
)
def test_upload_parameters_are_checked(
    emu: TencentEmulator, params: Json, code: str, why: str
) -> None:
    got, message = error_of(signed_post(emu, "UploadIvrAudio", params))
    assert (got, why in message) == (code, True), message
    assert emu.uploads == []


@pytest.mark.parametrize(
    "body", [b"", b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 30_000, b'{"a":' * 30_000]
)
def test_a_body_that_is_not_a_json_object_is_refused(emu: TencentEmulator, body: bytes) -> None:
    assert error_of(signed_post(emu, "UploadIvrAudio", body))[0] == "InvalidParameter"


def test_an_application_the_account_does_not_have_is_named(emu: TencentEmulator) -> None:
    error = sdk_error(lambda: describe(sdk(emu), app=1234))
    assert error.code == "InvalidParameterValue"
    assert "SdkAppId 1234" in error.message


@pytest.mark.parametrize(
    ("change", "code", "why"),
    [
        ({"PageSize": 0}, "InvalidParameterValue", "1 to 50"),
        ({"PageSize": 51}, "InvalidParameterValue", "1 to 50"),
        ({"PageSize": None}, "MissingParameter", "PageSize"),
        ({"PageNumber": None}, "MissingParameter", "PageNumber"),
        ({"PageNumber": -1}, "InvalidParameterValue", "start at 0"),
        ({"PageNumber": 1.5}, "InvalidParameter", "integer"),
        ({"FileId": ["30001"]}, "InvalidParameter", "integers"),
        ({"FileId": [-1]}, "InvalidParameterValue", "negative"),
        ({"CustomFileName": "a"}, "InvalidParameter", "strings"),
        ({"Offset": 0}, "UnknownParameter", "Offset"),
    ],
)
def test_describe_parameters_are_checked(
    emu: TencentEmulator, change: Json, code: str, why: str
) -> None:
    params = {k: v for k, v in (DESCRIBE_ALL | change).items() if v is not None}
    got, message = error_of(signed_post(emu, "DescribeIvrAudioList", params))
    assert (got, why in message) == (code, True), message


# -- traffic control ------------------------------------------------------------------------------


def test_two_uploads_back_to_back_exceed_one_per_second(files: str) -> None:
    now = [1000.0]  # traffic control's clock, moved by the test
    with TencentEmulator(config(rate_limit=1.0), traffic_clock=lambda: now[0]) as emu:
        client = sdk(emu)
        upload(client, ("first", f"{files}/tone.mp3"))
        now[0] += 0.5
        error = sdk_error(lambda: upload(client, ("second", f"{files}/tone.mp3")))
        assert error.code == "RequestLimitExceeded"
        assert "1 request(s) per second" in error.message
        assert emu.rate_limited == 1
        assert [u.custom_file_name for u in emu.uploads] == ["first"]
        describe(client)  # other actions have their own limit
        now[0] += 0.5  # a second after the first accepted one
        upload(client, ("third", f"{files}/tone.mp3"))
        assert [u.custom_file_name for u in emu.uploads] == ["first", "third"]
        assert emu.rate_limited == 1
        assert emu.requests == {"UploadIvrAudio": 3, "DescribeIvrAudioList": 1}


def test_upload_spacing_tolerates_50_ms_of_jitter() -> None:
    now = [100.0]
    limiter = MinInterval(1.0, tolerance=0.05, clock=lambda: now[0])
    assert limiter.take()
    now[0] += 0.949
    assert not limiter.take()  # refused requests do not move the window
    now[0] = 100.95
    assert limiter.take()
    now[0] += 0.5
    assert not limiter.take()
    assert MinInterval(0).take() and MinInterval(0).take()


def test_describe_allows_20_requests_per_second(emu: TencentEmulator) -> None:
    def call(_: int) -> str:
        body = signed_post(emu, "DescribeIvrAudioList", DESCRIBE_ALL).json()["Response"]
        return str(body.get("Error", {}).get("Code", "ok"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(call, range(40)))
    assert outcomes.count("ok") >= 20
    assert outcomes.count("RequestLimitExceeded") >= 1
    assert set(outcomes) == {"ok", "RequestLimitExceeded"}
    assert emu.rate_limited == outcomes.count("RequestLimitExceeded")


# -- the daily quota ------------------------------------------------------------------------------


def test_a_batch_larger_than_what_is_left_today_is_refused_whole(
    emu: TencentEmulator, files: str
) -> None:
    client = sdk(emu)
    emu.set_quota_used(45)
    batch = [(f"p{i}", f"{files}/welcome.wav") for i in range(10)]
    error = sdk_error(lambda: upload(client, *batch))
    assert error.code == "FailedOperation.UploadFileOverflow"
    assert "10 file(s)" in error.message and "only 5" in error.message
    assert emu.uploads == [] and emu.quota_used == 45
    assert len(upload(client, *batch[:5]).SuccessFileList) == 5
    assert emu.quota_used == 50
    assert sdk_error(lambda: upload(client, batch[0])).code == "FailedOperation.UploadFileOverflow"
    emu.next_day()
    assert emu.quota_used == 0
    assert len(upload(client, *batch).SuccessFileList) == 10
    assert len(emu.uploads) == 15


def test_the_quota_day_is_the_day_in_utc_plus_8() -> None:
    now = [datetime(2026, 1, 1, 15, 59, 59, tzinfo=UTC).timestamp()]
    emu = TencentEmulator(config(), clock=lambda: now[0])
    assert emu.quota_day == date(2026, 1, 1)
    emu.set_quota_used(50)
    now[0] += 1  # 16:00 UTC is midnight in UTC+8
    assert (emu.quota_day, emu.quota_used) == (date(2026, 1, 2), 0)
    emu.next_day()
    assert emu.quota_day == date(2026, 1, 3)


# -- DescribeIvrAudioList -------------------------------------------------------------------------


def test_describe_pages_filters_and_orders_by_file_id(files: str) -> None:
    with TencentEmulator(
        config(daily_quota=None, sdk_app_ids=(APP, APP + 1), review_delay=60)
    ) as emu:
        client = sdk(emu)
        for batch in range(3):
            items = [
                (
                    f"name{batch * 20 + i}",
                    f"{files}/{PROMPTS[i % 2]}",
                )
                for i in range(20)
            ]
            upload(client, *items)
        upload(client, ("other-app", f"{files}/tone.mp3"), app=APP + 1)

        first = describe(client, 50, 0)
        assert first.TotalCount == 60
        assert [i.FileId for i in first.FileInfo] == list(range(30001, 30051))
        second = describe(client, 50, 1)
        assert (second.TotalCount, [i.FileId for i in second.FileInfo]) == (
            60,
            list(range(30051, 30061)),
        )
        assert describe(client, 50, 2).FileInfo == []
        info = first.FileInfo[1]
        assert (info.CustomFileName, info.AudioFileName, info.Status) == (
            "name1",
            "prompt-b.mp3",
            STATUS_UNREVIEWED,
        )

        assert listed(client, CustomFileName=["name7", "name9", "nobody"]) == (2, [30008, 30010])
        assert listed(client, AudioFileName=["prompt-a.wav"])[0] == 30
        assert listed(client, FileId=[30060, 30001, 99]) == (2, [30001, 30060])
        both = listed(client, AudioFileName=["prompt-b.mp3"], FileId=[30001, 30002, 30004])
        assert both == (2, [30002, 30004])  # every filter given, any value within one
        assert listed(client, CustomFileName=[]) == (60, list(range(30001, 30051)))
        assert listed(client, app=APP + 1) == (1, [30061])


def test_review_moves_status_from_0_to_1_or_2(files: str) -> None:
    review = config(review_delay=0.3, review=re.compile("reject"))
    with TencentEmulator(review) as emu:
        client = sdk(emu)
        upload(client, ("keep", f"{files}/tone.mp3"), ("please-reject", f"{files}/tone.mp3"))
        assert [i.Status for i in describe(client).FileInfo] == [STATUS_UNREVIEWED] * 2
        assert emu.wait_settled(10)
        assert all(u.reviewed_at is not None for u in emu.uploads)
        assert [i.Status for i in describe(client).FileInfo] == [STATUS_APPROVED, STATUS_REJECTED]
        assert [u.status for u in emu.uploads] == [STATUS_APPROVED, STATUS_REJECTED]


def test_a_review_function_decides(files: str) -> None:
    def review(record: Any) -> bool:
        return bool(record.audio_format == "wav")

    with TencentEmulator(config(review=review)) as emu:
        upload(sdk(emu), ("a", f"{files}/welcome.wav"), ("b", f"{files}/tone.mp3"))
        assert emu.wait_settled(10)
        assert [u.status for u in emu.uploads] == [STATUS_APPROVED, STATUS_REJECTED]
    assert reject_names_matching("^x")(emu.uploads[0]) is True


def test_a_file_deleted_in_the_console_is_no_longer_listed(
    emu: TencentEmulator, files: str
) -> None:
    client = sdk(emu)
    upload(client, ("a", f"{files}/tone.mp3"), ("b", f"{files}/tone.mp3"))
    emu.delete_file(30001)
    assert listed(client) == (1, [30002])
    assert listed(client, FileId=[30001]) == (0, [])
    assert [u.deleted for u in emu.uploads] == [True, False]
    assert emu.wait_settled(10)
    assert all(u.status == STATUS_APPROVED for u in emu.uploads)
    assert emu.uploads[0].deleted  # a review after the deletion keeps it deleted
    assert emu.quota_used == 2  # deleting gives no quota back
    with pytest.raises(KeyError):
        emu.delete_file(12345)


# -- faults ---------------------------------------------------------------------------------------


def test_latency_is_added_before_answering(emu: TencentEmulator) -> None:
    emu.faults.latency = 0.2
    started = time.monotonic()
    describe(sdk(emu))
    assert time.monotonic() - started >= 0.2


def test_error_rate_answers_503_and_stores_nothing(emu: TencentEmulator, files: str) -> None:
    emu.faults.error_rate = 1.0
    error = sdk_error(lambda: upload(sdk(emu), ("a", f"{files}/tone.mp3")))
    assert error.code == "ServerNetworkError"  # how the SDK reports a status other than 200
    assert describe(sdk(emu)).TotalCount == 0  # faults strike uploads only
    answer = signed_post(
        emu,
        "UploadIvrAudio",
        {"SdkAppId": APP, "AudioList": [{"CustomFileName": "a", "AudioUrl": f"{files}/tone.mp3"}]},
    )
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["Response"]["Error"]["Code"] == "ServiceUnavailable"
    assert emu.uploads == [] and emu.quota_used == 0
    emu.faults.error_rate = 0.0
    assert len(upload(sdk(emu), ("a", f"{files}/tone.mp3")).SuccessFileList) == 1


def test_a_lost_response_still_stores_the_upload(emu: TencentEmulator, files: str) -> None:
    emu.faults.lost_response_rate = 1.0
    error = sdk_error(lambda: upload(sdk(emu), ("lost", f"{files}/tone.mp3")))
    assert error.code == "ClientNetworkError"
    assert [u.custom_file_name for u in emu.uploads] == ["lost"]
    found = describe(sdk(emu), CustomFileName=["lost"])  # how a client finds out it landed
    assert [i.FileId for i in found.FileInfo] == [emu.uploads[0].file_id]


def test_throttle_next_throttles_that_many_requests(emu: TencentEmulator, files: str) -> None:
    client = sdk(emu)
    emu.faults.throttle_next = 2
    assert sdk_error(lambda: upload(client, ("a", f"{files}/tone.mp3"))).code == (
        "RequestLimitExceeded"
    )
    describe(client)  # faults strike uploads only
    assert sdk_error(lambda: upload(client, ("a", f"{files}/tone.mp3"))).code == (
        "RequestLimitExceeded"
    )
    upload(client, ("a", f"{files}/tone.mp3"))
    assert (emu.rate_limited, len(emu.uploads)) == (2, 1)


def test_a_throttle_schedule_counts_uploads_only(emu: TencentEmulator, files: str) -> None:
    client = sdk(emu)
    emu.faults.throttle_every = 2  # the 2nd of every 2 uploads
    upload(client, ("a", f"{files}/tone.mp3"))
    describe(client)  # not counted: faults strike uploads only
    assert sdk_error(lambda: upload(client, ("b", f"{files}/tone.mp3"))).code == (
        "RequestLimitExceeded"
    )
    upload(client, ("b", f"{files}/tone.mp3"))
    assert (emu.rate_limited, len(emu.uploads)) == (1, 2)


def test_stop_releases_the_port() -> None:
    emu = TencentEmulator(config()).start()
    url = emu.url
    assert emu.endpoint == url.removeprefix("http://")
    emu.stop()
    emu.stop()
    with pytest.raises(httpx.ConnectError):
        HTTP.post(url + "/", json={})


@pytest.mark.parametrize(
    "change",
    [
        {"sdk_app_ids": ()},
        {"sdk_app_ids": ("1400000000",)},
        {"secret_key": ""},
        {"rate_limit": -1},
        {"daily_quota": -1},
    ],
)
def test_a_bad_configuration_is_refused(change: Json) -> None:
    with pytest.raises(ValueError):
        TencentEmulatorConfig(**change)


# -- the command ---------------------------------------------------------------------------------


def test_the_command_serves_both_emulators_until_signalled(files: str) -> None:
    secret_id, secret_key = "AKIDtenant1234567890", "tenant-s3cret-Key-99"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AICC_", "TENCENTCLOUD_"))}
    env |= {"TENCENTCLOUD_SECRET_ID": secret_id, "TENCENTCLOUD_SECRET_KEY": secret_key}
    huawei_port, tencent_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ivrsync",
            "emulator",
            "--huawei-port",
            str(huawei_port),
            "--tencent-port",
            str(tencent_port),
            "--sdk-app-id",
            "1400000007",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        huawei = read_line(process.stderr, "the emulator")
        tencent = read_line(process.stderr, "the emulator")
        assert huawei.startswith(f"Huawei AICC emulator on http://127.0.0.1:{huawei_port} ")
        assert tencent == (
            f"Tencent CCC emulator on http://127.0.0.1:{tencent_port} (SDK endpoint "
            f"127.0.0.1:{tencent_port}, protocol http; SecretId from TENCENTCLOUD_SECRET_ID; "
            "SdkAppId 1400000007)\n"
        )
        endpoint = _Endpoint(f"127.0.0.1:{tencent_port}")
        client = sdk(endpoint, secret_id, secret_key)
        assert describe(client, app=1400000007).TotalCount == 0
        error = sdk_error(lambda: describe(sdk(endpoint), app=1400000007))
        assert error.code == "AuthFailure.SecretIdNotFound"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert b"Huawei AICC emulator stopped." in err and b"Tencent CCC emulator stopped." in err
    assert secret_key.encode() not in out + err
    assert secret_id not in huawei + tencent


def test_the_command_serves_tencent_alone_on_port(files: str) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ivrsync", "emulator", "tencent", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = read_line(process.stderr, "the emulator")
        assert line.startswith(f"Tencent CCC emulator on http://127.0.0.1:{port} ")
        assert f"SecretId {DEMO_SECRET_ID!r}" in line and "SdkAppId 1400000000" in line
        assert describe(sdk(_Endpoint(f"127.0.0.1:{port}"))).TotalCount == 0
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert b"Huawei" not in err
    assert DEMO_SECRET_KEY.encode() not in err


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["all", "--port", "9000"], "with all, use --huawei-port"),
        (["--port", "9000"], "with all, use --huawei-port"),
        (["tencent", "--huawei-port", "9000"], "--huawei-port does not apply"),
        (["huawei", "--port", "9000", "--huawei-port", "9001"], "disagree"),
        (["tencent", "--sdk-app-id", "x"], "--sdk-app-id"),
    ],
)
def test_the_command_refuses_ports_that_do_not_fit(
    run_cli: RunCli, args: list[str], why: str
) -> None:
    code, _, err = run_cli("emulator", *args)
    assert code != 0
    assert why in err
