"""An emulator of Tencent Cloud Contact Center's IVR audio API: UploadIvrAudio and
DescribeIvrAudioList, behind API 3.0's TC3-HMAC-SHA256 request signing.

No machine that runs ivrsync's demo or tests reaches Tencent Cloud, so this serves the same wire
protocol on loopback and enforces what the documentation states (gathered from Tencent's pages
and the installed SDK in docs/providers/tencent-ccc.md): `POST /` with `X-TC-Action` and
`X-TC-Version`, every answer HTTP 200 with `Content-Type: application/json` and the
`{"Response": {...}}` envelope, errors included; signatures verified the way the service does
(and within five minutes of real time); 1 UploadIvrAudio request a second and 50 uploaded files
a day; each `AudioUrl` downloaded for real (at most 5 MB, WAV or MP3); files reviewed some time
after upload (Status 0 -> 1 or 2); DescribeIvrAudioList paging and filters. Faults (latency,
errors, lost responses, throttling) can be injected, and tests can remove a file as if in the
console or move the quota to the next day.

Times: signatures are checked against real time, because the SDK signs with real time. The daily
quota runs on the "quota clock": `clock` (injectable, wall clock by default) moved forward a day
by each `next_day()`. Traffic control and the review delay run on real (monotonic) time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

import httpx

from ivrsync.audio import AudioError, probe_bytes
from ivrsync.emulator.command import Emulation, EmulatorOption, Prepared, Server, Setup
from ivrsync.emulator.common import (
    Faults,
    MinInterval,
    Request,
    Response,
    ReviewingEmulator,
    SlidingWindow,
    TokenBucket,
    json_type_name,
)
from ivrsync.http_json import NotJSON, decode_json

__all__ = [
    "API_VERSION",
    "DEMO_SDK_APP_ID",
    "DEMO_SECRET_ID",
    "DEMO_SECRET_KEY",
    "DESCRIBE_ACTION",
    "STATUS_APPROVED",
    "STATUS_REJECTED",
    "STATUS_UNREVIEWED",
    "UPLOAD_ACTION",
    "Faults",
    "IvrAudioRecord",
    "ReviewFunction",
    "TencentEmulator",
    "TencentEmulatorConfig",
    "approve_all",
    "reject_names_matching",
]

logger = logging.getLogger("ivrsync.emulator.tencent")

# -- API 3.0 protocol (docs/providers/tencent-ccc.md#endpoint-and-signing) ----------

SERVICE = "ccc"
API_VERSION = "2020-02-10"
ALGORITHM = "TC3-HMAC-SHA256"
SCOPE_TERMINATOR = "tc3_request"
# AuthFailure.SignatureExpire: "Timestamp and server time cannot differ by more than five
# minutes" (common error codes).
MAX_CLOCK_SKEW = 300
# Signature v3: the signed headers "include at least host and content-type".
REQUIRED_SIGNED_HEADERS = ("content-type", "host")
# X-TC-Content-SHA256 may say the body is not signed; the SDK then hashes this literal.
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# Request structure: a POST request signed with TC3-HMAC-SHA256 carries at most 10 MB (read
# here as MiB, the more generous reading).
MAX_REQUEST_BYTES = 10 * 1024 * 1024

UPLOAD_ACTION = "UploadIvrAudio"
DESCRIBE_ACTION = "DescribeIvrAudioList"
ACTIONS = (UPLOAD_ACTION, DESCRIBE_ACTION)

# -- UploadIvrAudio (docs/providers/tencent-ccc.md#upload) -----------------------------------------

# "Daily upload limit of 50 files" and "a maximum of 1 requests ... per second for this API".
DAILY_QUOTA = 50
# `AudioUrl`: "mp3 and wav, file no larger than 5 MB", read as 5,000,000 bytes (as documented,
# read here apart from the provider module, which names this emulator).
MAX_AUDIO_BYTES = 5_000_000
UPLOAD_RATE_LIMIT = 1.0
# Not documented: the emulator refuses an upload only when the previous accepted one came less
# than 95% of the interval earlier (0.95 s at 1/s), so that a client spacing its requests by
# exactly one second on its own clock is not refused for network jitter (~50 ms).
UPLOAD_RATE_TOLERANCE = 0.05
# Which day the daily limit counts is not documented: the platform's own, China Standard Time.
QUOTA_TIMEZONE = timezone(timedelta(hours=8), "UTC+8")
# AudioFileInfo.Status: "0 not yet reviewed, 1 approved, 2 rejected".
STATUS_UNREVIEWED = 0
STATUS_APPROVED = 1
STATUS_REJECTED = 2
# FileIds are integers (the documentation's example: 50, 51); where they start is the emulator's
# choice, unlike the example's so that a client cannot get away with hard-coded ids.
FIRST_FILE_ID = 30001
# Downloading an AudioUrl: Tencent's timeouts and redirect policy are not documented. These keep
# a batch well inside the SDK's default 60 s request timeout.
FETCH_TIMEOUT = 5.0  # seconds for each connect or read
FETCH_DEADLINE = 20.0  # seconds for a whole download
MAX_REDIRECTS = 3
FETCH_WORKERS = 4  # downloads of one batch run in parallel

# -- DescribeIvrAudioList (docs/providers/tencent-ccc.md#listing-and-reviews) ----------------------

# "20 requests per second"; "PageSize (max 50, required), PageNumber (starts at 0, required)".
DESCRIBE_RATE_LIMIT = 20.0
MAX_PAGE_SIZE = 50

# -- the emulated account -------------------------------------------------------------------------

# Demo credentials: a SecretId has the real ones' shape (AKID and 32 more characters).
DEMO_SECRET_ID = "AKIDdemo0000000000000000000000000000"
DEMO_SECRET_KEY = "demo-secret-key"
DEMO_SDK_APP_ID = 1400000000

_UPLOAD_PARAMETERS = frozenset({"SdkAppId", "AudioList"})
_AUDIO_INFO_PARAMETERS = frozenset({"CustomFileName", "AudioUrl"})
_DESCRIBE_PARAMETERS = frozenset(
    {"SdkAppId", "PageSize", "PageNumber", "CustomFileName", "AudioFileName", "FileId"}
)
_T = TypeVar("_T")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True, slots=True)
class IvrAudioRecord:
    """One uploaded file as the emulated platform keeps it (an immutable snapshot)."""

    file_id: int
    sdk_app_id: int
    custom_file_name: str
    audio_url: str
    audio_file_name: str  # the last path segment of the URL, as AudioFileName reports it
    audio_format: str  # "wav" or "mp3", from the downloaded bytes
    sha256: str  # of the downloaded file
    size: int  # of the downloaded file, in bytes
    received_at: float  # quota clock
    status: int = STATUS_UNREVIEWED
    reviewed_at: float | None = None  # quota clock
    deleted: bool = False  # removed in the console (`TencentEmulator.delete_file`)

    def file_info(self) -> dict[str, Any]:
        """The record as an `AudioFileInfo` of the API."""
        return {
            "FileId": self.file_id,
            "CustomFileName": self.custom_file_name,
            "AudioFileName": self.audio_file_name,
            "Status": self.status,
        }


# Decides a review: True approves the file.
ReviewFunction = Callable[[IvrAudioRecord], bool]


def approve_all(record: IvrAudioRecord) -> bool:
    """The default review: every file approved."""
    return True


def reject_names_matching(pattern: str | re.Pattern[str]) -> ReviewFunction:
    """A review that rejects the files whose CustomFileName contains a match of `pattern`."""
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern

    def review(record: IvrAudioRecord) -> bool:
        return regex.search(record.custom_file_name) is None

    return review


@dataclass
class TencentEmulatorConfig:
    """What the emulated account looks like; the defaults follow the documentation."""

    secret_id: str = DEMO_SECRET_ID
    secret_key: str = DEMO_SECRET_KEY
    # The CCC applications (SdkAppId) of the account.
    sdk_app_ids: Sequence[int] = (DEMO_SDK_APP_ID,)
    # Files that may be uploaded per day (UTC+8 on the quota clock); None: no limit.
    daily_quota: int | None = DAILY_QUOTA
    # UploadIvrAudio requests per second (read strictly, see UPLOAD_RATE_TOLERANCE); 0: off.
    rate_limit: float = UPLOAD_RATE_LIMIT
    # How UploadIvrAudio's traffic control counts: "min-interval" (the tolerance above) or
    # "sliding-window" (at most `rate_limit` in any 1 s, with no tolerance).
    traffic_control: str = "min-interval"
    # DescribeIvrAudioList requests per second (a token bucket of that size); 0: off.
    describe_rate_limit: float = DESCRIBE_RATE_LIMIT
    # Seconds between downloading an upload's AudioUrl and the file being stored (listed by
    # DescribeIvrAudioList); the request is answered after. `hold_storing` holds it at will.
    storage_delay: float = 0.0
    # Seconds from upload to review decision.
    review_delay: float = 2.0
    # Decides each review: a function (True approves), or a regex that rejects the files whose
    # CustomFileName contains a match; None approves everything.
    review: ReviewFunction | re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        self.sdk_app_ids = tuple(self.sdk_app_ids)
        if not self.sdk_app_ids:
            raise ValueError("sdk_app_ids needs at least one application id")
        for app_id in self.sdk_app_ids:
            if isinstance(app_id, bool) or not isinstance(app_id, int) or app_id < 0:
                raise ValueError(f"sdk_app_ids holds {app_id!r}, not a non-negative integer")
        if not self.secret_id or not self.secret_key:
            raise ValueError("secret_id and secret_key must not be empty")
        if self.traffic_control not in ("min-interval", "sliding-window"):
            raise ValueError("traffic_control must be 'min-interval' or 'sliding-window'")
        for name in ("rate_limit", "describe_rate_limit", "review_delay", "storage_delay"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be 0 or more")
        if self.daily_quota is not None and self.daily_quota < 0:
            raise ValueError("daily_quota must be 0 or more (or None: no limit)")

    def review_function(self) -> ReviewFunction:
        if self.review is None:
            return approve_all
        if isinstance(self.review, re.Pattern):
            return reject_names_matching(self.review)
        return self.review


class _ApiError(Exception):
    """A request the API refuses: answered (HTTP 200) with this error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class _Fetched:
    data: bytes
    audio_format: str


@dataclass
class _State:
    """Everything requests change, guarded by one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    uploads: dict[int, IvrAudioRecord] = field(default_factory=dict)  # by FileId, ascending
    next_file_id: int = FIRST_FILE_ID
    quota_used: dict[date, int] = field(default_factory=dict)  # files counted per UTC+8 day
    day_offset: int = 0  # days added to the quota clock by next_day()
    requests: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0


def _envelope_error(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}


class TencentEmulator(ReviewingEmulator):
    """Tencent Cloud CCC's UploadIvrAudio and DescribeIvrAudioList, served on loopback.

    Use as a context manager, or `start()` / `stop()`. Point the SDK at it with
    `HttpProfile(protocol="http", endpoint=emulator.endpoint)`. Inspect `uploads`, `requests`
    and `rate_limited`; change `faults` at any time (error_rate, lost_response_rate and
    throttle_next strike UploadIvrAudio; latency every answer); `delete_file`, `next_day` and
    `set_quota_used` change the platform's state as the console or time would.
    """

    name: ClassVar[str] = "tencent-ccc-emulator"

    def __init__(
        self,
        config: TencentEmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        traffic_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` is the platform's wall clock (quota days, timestamps; signatures keep real time);
        `traffic_clock` the monotonic one traffic control counts requests per second on."""
        super().__init__(
            host=host,
            port=port,
            workers=FETCH_WORKERS,
            worker_name="fetch",
            client_options={
                "timeout": FETCH_TIMEOUT,
                "follow_redirects": True,
                "max_redirects": MAX_REDIRECTS,
            },
        )
        self.config = config if config is not None else TencentEmulatorConfig()
        self._clock = clock
        self._state = _State()
        self._upload_limit: MinInterval | SlidingWindow = (
            SlidingWindow(self.config.rate_limit, clock=traffic_clock)
            if self.config.traffic_control == "sliding-window"
            else MinInterval(
                self.config.rate_limit, tolerance=UPLOAD_RATE_TOLERANCE, clock=traffic_clock
            )
        )
        self._storing = threading.Event()
        self._storing.set()
        self._describe_limit = TokenBucket(self.config.describe_rate_limit, clock=traffic_clock)
        self._review_function = self.config.review_function()

    @property
    def endpoint(self) -> str:
        """`host:port`, what the SDK's `HttpProfile(endpoint=...)` takes (no scheme)."""
        return self.url.removeprefix("http://")

    # -- inspection and test hooks -----------------------------------------------------------

    @property
    def uploads(self) -> list[IvrAudioRecord]:
        """Every file uploaded, by FileId, deleted ones included (with `deleted` set)."""
        with self._state.lock:
            return list(self._state.uploads.values())

    @property
    def requests(self) -> dict[str, int]:
        """Requests received per X-TC-Action value (refused ones too; "" for none)."""
        with self._state.lock:
            return dict(self._state.requests)

    @property
    def rate_limited(self) -> int:
        """Requests refused with RequestLimitExceeded (traffic control or `throttle_next`)."""
        with self._state.lock:
            return self._state.rate_limited

    @property
    def quota_day(self) -> date:
        """The day (UTC+8, on the quota clock) whose daily limit uploads now count against."""
        with self._state.lock:
            return self._quota_day()

    @property
    def quota_used(self) -> int:
        """Files counted against today's daily limit."""
        with self._state.lock:
            return self._state.quota_used.get(self._quota_day(), 0)

    def set_quota_used(self, count: int) -> None:
        """Make today's daily limit as used as if `count` files had been uploaded today."""
        if count < 0:
            raise ValueError("count must be 0 or more")
        with self._state.lock:
            self._state.quota_used[self._quota_day()] = count

    def next_day(self) -> None:
        """Move the quota clock forward one day: a fresh daily limit."""
        with self._state.lock:
            self._state.day_offset += 1

    @property
    def accepted_at(self) -> list[float]:
        """Arrival times (monotonic) of the uploads traffic control let through, when it
        counts in a sliding window (empty otherwise)."""
        if isinstance(self._upload_limit, SlidingWindow):
            with self._state.lock:
                return list(self._upload_limit.accepted)
        return []

    def hold_storing(self) -> None:
        """Uploads accepted from now on wait, downloaded but not stored (nor listed), until
        `release_storing`: Tencent still at work on a request whose client gave up."""
        self._storing.clear()

    def release_storing(self) -> None:
        self._storing.set()

    def delete_file(self, file_id: int) -> None:
        """Remove a file as a user would in the console: DescribeIvrAudioList no longer lists
        it (its record stays in `uploads`, marked deleted). It gives no quota back."""
        with self._state.lock:
            record = self._state.uploads.get(file_id)
            if record is None:
                raise KeyError(f"no file with FileId {file_id}")
            self._state.uploads[file_id] = replace(record, deleted=True)

    def _quota_day(self) -> date:
        """Callers hold the lock."""
        today = datetime.fromtimestamp(self._clock(), QUOTA_TIMEZONE).date()
        return today + timedelta(days=self._state.day_offset)

    # -- HTTP --------------------------------------------------------------------------------

    def error_body(self, status: int, description: str) -> dict[str, Any]:
        codes = {413: "RequestSizeLimitExceeded", 500: "InternalError", 501: "UnsupportedOperation"}
        return _envelope_error(codes.get(status, "InvalidRequest"), description, _request_id())

    def error_response(self, status: int, description: str) -> Response:
        # API 3.0 answers every error inside an HTTP 200 response.
        return Response(200, self.error_body(status, description))

    def handle(self, request: Request) -> Response | None:
        request_id = _request_id()
        action = request.header("X-TC-Action")
        with self._state.lock:
            key = action or ""
            self._state.requests[key] = self._state.requests.get(key, 0) + 1
        # Faults strike UploadIvrAudio, as they do Huawei's upload endpoint: the look-up a
        # client makes after a lost answer is meant to get through. Latency applies to all.
        faulty = action == UPLOAD_ACTION
        if faulty:
            self.faults.arrive()
        if faulty and self.faults.should_fail():
            return Response(
                503,
                _envelope_error(
                    "ServiceUnavailable",
                    "service unavailable (an injected fault); try again",
                    request_id,
                ),
            )
        try:
            answer = self._answer(request, action)
        except _ApiError as e:
            return Response(200, _envelope_error(e.code, e.message, request_id))
        if faulty and self.faults.should_lose_response():
            return None
        return Response(200, {"Response": {**answer, "RequestId": request_id}})

    def _answer(self, request: Request, action: str | None) -> dict[str, Any]:
        if request.method != "POST" or request.path != "/":
            raise _ApiError(
                "UnsupportedOperation",
                f"{request.method} {request.path} is not served: the emulator takes API 3.0 "
                "calls as POST / with a JSON body, as the SDK sends them",
            )
        content_type = request.header("Content-Type") or ""
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise _ApiError(
                "UnsupportedOperation",
                f"Content-Type {content_type or 'none'!r} is not served: the emulator takes "
                "application/json bodies signed with TC3-HMAC-SHA256",
            )
        if len(request.body) > MAX_REQUEST_BYTES:
            raise _ApiError(
                "RequestSizeLimitExceeded",
                f"the request body is {len(request.body):,} bytes; a POST request carries at "
                f"most {MAX_REQUEST_BYTES:,}",
            )
        self._authenticate(request)
        version = request.header("X-TC-Version")
        if version is None:
            raise _ApiError(
                "MissingParameter", f"the X-TC-Version header is missing ({API_VERSION})"
            )
        if version != API_VERSION:
            raise _ApiError(
                "NoSuchVersion",
                f"API version {version!r} does not exist for ccc; the IVR audio actions are in "
                f"{API_VERSION}",
            )
        if action is None:
            raise _ApiError("MissingParameter", "the X-TC-Action header is missing")
        if action not in ACTIONS:
            raise _ApiError(
                "InvalidAction",
                f"action {action!r} does not exist (the emulator serves {', '.join(ACTIONS)})",
            )
        self._traffic_control(action)
        params = _parse_params(request.body)
        if action == UPLOAD_ACTION:
            return self._upload(params)
        return self._describe(params)

    def _traffic_control(self, action: str) -> None:
        limiter: MinInterval | SlidingWindow | TokenBucket
        throttled = False
        if action == UPLOAD_ACTION:
            limiter, rate = self._upload_limit, self.config.rate_limit
            throttled = self.faults.take_throttle()
        else:
            limiter, rate = self._describe_limit, self.config.describe_rate_limit
        if throttled or not limiter.take():
            with self._state.lock:
                self._state.rate_limited += 1
            raise _ApiError(
                "RequestLimitExceeded",
                f"{action} allows {rate:g} request(s) per second; this one came too soon",
            )

    # -- TC3-HMAC-SHA256 ---------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        authorization = request.header("Authorization")
        credential, signed_headers, signature = _parse_authorization(authorization)
        timestamp = request.header("X-TC-Timestamp")
        if timestamp is None:
            raise _ApiError("MissingParameter", "the X-TC-Timestamp header is missing")
        if not _TIMESTAMP.fullmatch(timestamp.strip()):
            raise _ApiError(
                "InvalidParameterValue",
                f"X-TC-Timestamp {timestamp!r} is not a Unix time in whole seconds",
            )
        signed_at = int(timestamp.strip())
        skew = signed_at - time.time()  # real time: the SDK signs with it
        if abs(skew) > MAX_CLOCK_SKEW:
            direction = "behind" if skew < 0 else "ahead of"
            raise _ApiError(
                "AuthFailure.SignatureExpire",
                f"signature expired: X-TC-Timestamp {signed_at} is {abs(skew):.0f} s {direction} "
                f"the server's time; at most {MAX_CLOCK_SKEW} s apart are accepted (check the "
                "local clock)",
            )
        secret_id, scope_date, service, terminator = credential
        if not hmac.compare_digest(secret_id.encode(), self.config.secret_id.encode()):
            raise _ApiError(
                "AuthFailure.SecretIdNotFound",
                "the SecretId in the Authorization header does not exist; check that it is "
                "entered correctly, without spaces around it",
            )
        if request.header("X-TC-Token") is not None:
            raise _ApiError(
                "AuthFailure.TokenFailure",
                "X-TC-Token was sent, but the SecretId is a permanent key, not a temporary one",
            )
        expected_date = datetime.fromtimestamp(signed_at, UTC).strftime("%Y-%m-%d")
        if service != SERVICE or terminator != SCOPE_TERMINATOR or scope_date != expected_date:
            raise _ApiError(
                "AuthFailure.SignatureFailure",
                f"the credential scope {scope_date}/{service}/{terminator} is not "
                f"{expected_date}/{SERVICE}/{SCOPE_TERMINATOR} (the UTC date of X-TC-Timestamp, "
                "the service, tc3_request)",
            )
        canonical_headers = ""
        for name in signed_headers:
            value = request.header(name)
            if value is None:
                raise _ApiError(
                    "AuthFailure.SignatureFailure",
                    f"the signed header {name!r} is not in the request",
                )
            # Signature v3: header names and values lower-cased, leading/trailing spaces removed.
            canonical_headers += f"{name}:{value.strip().lower()}\n"
        payload = request.body
        if request.header("X-TC-Content-SHA256") == UNSIGNED_PAYLOAD:
            payload = UNSIGNED_PAYLOAD.encode()
        canonical_request = "\n".join(
            [
                "POST",
                "/",
                "",  # the canonical query string of a POST request
                canonical_headers,
                ";".join(signed_headers),
                hashlib.sha256(payload).hexdigest(),
            ]
        )
        string_to_sign = "\n".join(
            [
                ALGORITHM,
                timestamp.strip(),
                f"{scope_date}/{SERVICE}/{SCOPE_TERMINATOR}",
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )
        expected = tc3_signature(self.config.secret_key, scope_date, string_to_sign)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise _ApiError(
                "AuthFailure.SignatureFailure",
                "the signature does not match: the SecretKey, or the canonical request (method, "
                "signed headers and their values, body) differs from what was signed",
            )

    # -- UploadIvrAudio ----------------------------------------------------------------------

    def _upload(self, params: dict[str, Any]) -> dict[str, Any]:
        _reject_unknown(params, _UPLOAD_PARAMETERS, "")
        app_id = self._sdk_app_id(params)
        if "AudioList" not in params:
            raise _ApiError("MissingParameter", "AudioList is required")
        items = params["AudioList"]
        if not isinstance(items, list):
            raise _ApiError(
                "InvalidParameter",
                f"AudioList is {json_type_name(items)}; send an array of "
                "{CustomFileName, AudioUrl} objects",
            )
        if not items:
            raise _ApiError("InvalidParameterValue", "AudioList is empty; give at least one file")
        audio_list = [_audio_info(item, index) for index, item in enumerate(items)]

        count = len(audio_list)
        with self._state.lock:
            day = self._quota_day()
            used = self._state.quota_used.get(day, 0)
            quota = self.config.daily_quota
            if quota is not None and used + count > quota:
                left = max(0, quota - used)
                raise _ApiError(
                    "FailedOperation.UploadFileOverflow",
                    f"AudioList has {count} file(s) but only {left} of the {quota} uploads a "
                    f"day are left for {day.isoformat()} (UTC+8); nothing was uploaded",
                )
            # Reserve the quota now, so that concurrent batches cannot overrun it together.
            self._state.quota_used[day] = used + count
        stored = 0
        try:
            fetched = list(self._workers.map(self._fetch, [url for _, url in audio_list]))
            self.stopping.wait(self.config.storage_delay)
            while not self._storing.wait(0.5):  # held by a test, until released or stopped
                if self.stopping.is_set():
                    raise _ApiError("InternalError", "the emulator stopped")
            successes: list[dict[str, Any]] = []
            failures: list[dict[str, Any]] = []
            records: list[IvrAudioRecord] = []
            now = self._clock()
            with self._state.lock:
                for (name, url), outcome in zip(audio_list, fetched, strict=True):
                    if isinstance(outcome, str):
                        failures.append({"FileName": name, "FailedMsg": outcome})
                        continue
                    file_id = self._state.next_file_id
                    self._state.next_file_id += 1
                    record = IvrAudioRecord(
                        file_id=file_id,
                        sdk_app_id=app_id,
                        custom_file_name=name,
                        audio_url=url,
                        audio_file_name=_audio_file_name(url, file_id, outcome.audio_format),
                        audio_format=outcome.audio_format,
                        sha256=hashlib.sha256(outcome.data).hexdigest(),
                        size=len(outcome.data),
                        received_at=now,
                    )
                    self._state.uploads[file_id] = record
                    records.append(record)
                    successes.append(record.file_info())
                stored = len(records)
        finally:
            with self._state.lock:  # give back what was reserved and not stored
                self._state.quota_used[day] -= count - stored
        for record in records:
            self._schedule_review(self.config.review_delay, str(record.file_id))
        # Either list "may return null": an empty one is answered as null, as the API may.
        return {"SuccessFileList": successes or None, "FailedFileList": failures or None}

    def _sdk_app_id(self, params: dict[str, Any]) -> int:
        app_id = _required_int(params, "SdkAppId")
        if app_id not in self.config.sdk_app_ids:
            served = ", ".join(str(a) for a in self.config.sdk_app_ids)
            raise _ApiError(
                "InvalidParameterValue",
                f"SdkAppId {app_id} is not a CCC application of this account (it has {served})",
            )
        return app_id

    def _fetch(self, url: str) -> _Fetched | str:
        """Download one AudioUrl as the platform would; a string says why it failed."""
        problem = _url_problem(url)
        if problem is not None:
            return problem
        deadline = time.monotonic() + FETCH_DEADLINE
        limit = f"{MAX_AUDIO_BYTES:,} bytes (5 MB)"
        chunks: list[bytes] = []
        try:
            with self._http().stream("GET", url) as answer:
                if answer.status_code != 200:
                    return (
                        f"downloading AudioUrl failed: HTTP {answer.status_code} "
                        f"{answer.reason_phrase}".rstrip()
                    )
                declared = answer.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > MAX_AUDIO_BYTES:
                    return f"the file is {int(declared):,} bytes; at most {limit} are accepted"
                total = 0
                for chunk in answer.iter_bytes():
                    total += len(chunk)
                    if total > MAX_AUDIO_BYTES:
                        return f"the file is larger than {limit}, the most accepted"
                    if time.monotonic() > deadline:
                        return f"downloading AudioUrl took longer than {FETCH_DEADLINE:g} s"
                    chunks.append(chunk)
        except httpx.TooManyRedirects:
            return f"AudioUrl redirected more than {MAX_REDIRECTS} times"
        except httpx.TimeoutException:
            return f"AudioUrl did not answer within {FETCH_TIMEOUT:g} s"
        except httpx.HTTPError as e:
            return f"AudioUrl could not be downloaded: {type(e).__name__}: {e}"
        data = b"".join(chunks)
        try:
            audio = probe_bytes(data)
        except AudioError as e:
            return f"the file at AudioUrl is not usable audio: {e}; only WAV and MP3 are accepted"
        return _Fetched(data, audio.format)

    # -- DescribeIvrAudioList ----------------------------------------------------------------

    def _describe(self, params: dict[str, Any]) -> dict[str, Any]:
        _reject_unknown(params, _DESCRIBE_PARAMETERS, "")
        app_id = self._sdk_app_id(params)
        page_size = _required_int(params, "PageSize")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _ApiError(
                "InvalidParameterValue",
                f"PageSize {page_size} is out of range; use 1 to {MAX_PAGE_SIZE}",
            )
        page_number = _required_int(params, "PageNumber")
        if page_number < 0:
            raise _ApiError(
                "InvalidParameterValue", f"PageNumber {page_number} is negative; pages start at 0"
            )
        names = _optional_list(params, "CustomFileName", str)
        audio_names = _optional_list(params, "AudioFileName", str)
        file_ids = _optional_list(params, "FileId", int)
        if file_ids is not None and any(i < 0 for i in file_ids):
            raise _ApiError("InvalidParameterValue", "FileId holds a negative number")

        def matches(record: IvrAudioRecord) -> bool:
            return (
                record.sdk_app_id == app_id
                and not record.deleted
                and (names is None or record.custom_file_name in names)
                and (audio_names is None or record.audio_file_name in audio_names)
                and (file_ids is None or record.file_id in file_ids)
            )

        with self._state.lock:
            found = sorted(
                (r for r in self._state.uploads.values() if matches(r)), key=lambda r: r.file_id
            )
        start = page_number * page_size
        page = found[start : start + page_size]
        return {"TotalCount": len(found), "FileInfo": [r.file_info() for r in page]}

    # -- review ------------------------------------------------------------------------------

    def _review(self, key: str) -> None:
        file_id = int(key)
        with self._state.lock:
            record = self._state.uploads.get(file_id)
        if record is None:
            return
        try:
            approved = bool(self._review_function(record))
        except Exception:
            logger.exception("the review function failed on FileId %s: rejecting it", file_id)
            approved = False
        status = STATUS_APPROVED if approved else STATUS_REJECTED
        with self._state.lock:
            current = self._state.uploads[file_id]  # re-read: it may have been deleted meanwhile
            self._state.uploads[file_id] = replace(
                current, status=status, reviewed_at=self._clock()
            )


# -- signing ------------------------------------------------------------------------------------


def tc3_signature(secret_key: str, scope_date: str, string_to_sign: str) -> str:
    """The TC3-HMAC-SHA256 signature of `string_to_sign`: keys derived from the SecretKey,
    the credential date, the service and `tc3_request`."""

    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    key = sign(("TC3" + secret_key).encode(), scope_date)
    key = sign(key, SERVICE)
    key = sign(key, SCOPE_TERMINATOR)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _parse_authorization(header: str | None) -> tuple[list[str], list[str], str]:
    """(credential parts, signed header names, signature) of a TC3-HMAC-SHA256 header."""
    shape = (
        f"'{ALGORITHM} Credential=<SecretId>/<date>/{SERVICE}/{SCOPE_TERMINATOR}, "
        "SignedHeaders=content-type;host, Signature=<hex>'"
    )

    def invalid(why: str) -> _ApiError:
        return _ApiError("AuthFailure.InvalidAuthorization", f"{why}; send {shape}")

    if header is None or not header.strip():
        raise invalid("the Authorization header is missing")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise invalid(f"the Authorization header starts with {algorithm[:32]!r}, not {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals or name in fields:
            raise invalid(f"the Authorization header has a malformed part {part.strip()[:40]!r}")
        fields[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise invalid(f"the Authorization header lacks {', '.join(missing)}")
    credential = fields["Credential"].split("/")
    if len(credential) != 4 or not all(credential):
        raise invalid("Credential is not SecretId/date/service/tc3_request")
    signed_headers = fields["SignedHeaders"].split(";")
    if any(not name or name != name.strip().lower() for name in signed_headers):
        raise invalid("SignedHeaders must be lower-case header names separated by ';'")
    absent = [name for name in REQUIRED_SIGNED_HEADERS if name not in signed_headers]
    if absent:
        raise invalid(f"SignedHeaders must include {' and '.join(absent)}")
    if not _HEX_SIGNATURE.fullmatch(fields["Signature"]):
        raise invalid("Signature is not 64 lower-case hexadecimal digits")
    return credential, signed_headers, fields["Signature"]


# -- request parameters -------------------------------------------------------------------------


def _request_id() -> str:
    return str(uuid.uuid4())


def _parse_params(body: bytes) -> dict[str, Any]:
    try:
        params = decode_json(body)
    except NotJSON as e:
        raise _ApiError("InvalidParameter", str(e)) from None
    if not isinstance(params, dict):
        raise _ApiError(
            "InvalidParameter", f"the body is {json_type_name(params)}; send a JSON object"
        )
    return params


def _reject_unknown(params: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise _ApiError(
            "UnknownParameter",
            f"unknown parameter {prefix}{unknown[0]}; the parameters are "
            + ", ".join(prefix + name for name in sorted(known)),
        )


def _required_int(params: Mapping[str, Any], name: str) -> int:
    if name not in params or params[name] is None:
        raise _ApiError("MissingParameter", f"{name} is required")
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ApiError(
            "InvalidParameter", f"{name} is {json_type_name(value)}; it must be an integer"
        )
    return value


def _optional_list(params: Mapping[str, Any], name: str, kind: type[_T]) -> list[_T] | None:
    """A filter: None when absent, null or empty (no filtering), else its values."""
    value = params.get(name)
    if value is None or value == []:
        return None
    type_name = "integers" if kind is int else "strings"
    if not isinstance(value, list) or any(
        isinstance(v, bool) or not isinstance(v, kind) for v in value
    ):
        raise _ApiError(
            "InvalidParameter", f"{name} is {json_type_name(value)}; send an array of {type_name}"
        )
    return value


def _audio_info(item: object, index: int) -> tuple[str, str]:
    """(CustomFileName, AudioUrl) of AudioList item `index`, structurally checked."""
    where = f"AudioList.{index}"
    if not isinstance(item, dict):
        raise _ApiError(
            "InvalidParameter",
            f"{where} is {json_type_name(item)}; send an object {{CustomFileName, AudioUrl}}",
        )
    _reject_unknown(item, _AUDIO_INFO_PARAMETERS, f"{where}.")
    values: list[str] = []
    for name in ("CustomFileName", "AudioUrl"):
        value = item.get(name)
        if value is None:
            raise _ApiError("MissingParameter", f"{where}.{name} is required")
        if not isinstance(value, str):
            raise _ApiError(
                "InvalidParameter", f"{where}.{name} is {json_type_name(value)}; send a string"
            )
        values.append(value)
    if not values[0].strip():
        raise _ApiError("InvalidParameterValue", f"{where}.CustomFileName is empty")
    return values[0], values[1]


def _url_problem(url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"AudioUrl {url[:200]!r} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return f"AudioUrl {url[:200]!r} is not an http:// or https:// URL with a host"
    return None


def _audio_file_name(url: str, file_id: int, audio_format: str) -> str:
    """AudioFileName: the URL's last path segment without the query; the FileId if it is empty."""
    segment = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    return segment or f"{file_id}.{audio_format}"


# Where `ivrsync emulator` takes the emulated account's credentials from: the variables the
# product's client reads by default.
SECRET_ID_VARIABLE = "TENCENTCLOUD_SECRET_ID"
SECRET_KEY_VARIABLE = "TENCENTCLOUD_SECRET_KEY"


def _app_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{text!r} is not an application id: give a non-negative integer")
    return int(text)


def _prepare(setup: Setup) -> Prepared:
    """The emulator for the command line: credentials from the environment, else the demo's."""
    secret_id = setup.env.get(SECRET_ID_VARIABLE)
    secret_key = setup.env.get(SECRET_KEY_VARIABLE)
    config = TencentEmulatorConfig(review_delay=setup.review_delay, review=setup.reject_pattern)
    if secret_id:
        config.secret_id = secret_id
    if secret_key:
        config.secret_key = secret_key
    sdk_app_ids: tuple[int, ...] = setup.options.get("sdk-app-id") or ()
    if sdk_app_ids:
        config.sdk_app_ids = tuple(dict.fromkeys(sdk_app_ids))  # repeated ids once
    id_note = (
        f"SecretId from {SECRET_ID_VARIABLE}" if secret_id else f"SecretId {config.secret_id!r}"
    )
    apps = ", ".join(str(a) for a in config.sdk_app_ids)
    label = "SdkAppId" if len(config.sdk_app_ids) == 1 else "SdkAppIds"

    def start(port: int) -> Server:
        return TencentEmulator(config, host=setup.host, port=port).start()

    def describe(server: Server) -> str:
        endpoint = server.url.removeprefix("http://")
        return (
            f"Tencent CCC emulator on {server.url} (SDK endpoint {endpoint}, protocol http; "
            f"{id_note}; {label} {apps})"
        )

    return Prepared(start=start, describe=describe)


EMULATION = Emulation(
    name="tencent",
    title="Tencent CCC",
    default_port=8089,
    help="Tencent CCC: UploadIvrAudio and DescribeIvrAudioList, signed with TC3-HMAC-SHA256; "
    "give the SDK the printed endpoint with protocol http. Credentials are "
    f"{SECRET_ID_VARIABLE} / {SECRET_KEY_VARIABLE} from the environment, else "
    f"{DEMO_SECRET_ID} / {DEMO_SECRET_KEY}.",
    upload_name="CustomFileName",
    prepare=_prepare,
    options=(
        EmulatorOption(
            "sdk-app-id",
            "ID",
            "A Tencent CCC application (SdkAppId) of the emulated account (repeatable; default "
            f"{DEMO_SDK_APP_ID}).",
            _app_id,
            multiple=True,
        ),
    ),
)
