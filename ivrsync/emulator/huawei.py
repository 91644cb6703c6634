"""An emulator of Huawei Cloud AICC's IVR voice upload: tokenByAkSk, importVoiceFile/upload,
and the asynchronous review callback.

No machine that runs ivrsync's demo or tests reaches the real platform, so this serves the same
wire protocol on loopback and enforces what the documentation states (gathered from Huawei's
pages in docs/providers/huawei-aicc.md): Bearer tokens that expire, the flat all-string body,
the field rules, the 8 MB limit, "10 requests per second" traffic control, reviews posted to
`callBackUrl` and re-posted until the receiver answers `{"returnCode": "0"}`, six times at most.
A request that breaks a rule is refused with the documented status and a description saying what
is wrong and what is allowed. Faults (latency, errors, lost responses, throttling) can be
injected.

Times: `clock` (injectable) is the wall clock for token lifetimes and the timestamps recorded;
traffic control, the review delay and callback retries run on real time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import string
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import httpx

from ivrsync.audio import AudioError, probe_bytes
from ivrsync.emulator.command import Emulation, Prepared, Server, Setup
from ivrsync.emulator.common import (
    Faults,
    Request,
    Response,
    ReviewingEmulator,
    SlidingWindow,
    TokenBucket,
    json_type_name,
)
from ivrsync.http_json import NotJSON, decode_json

__all__ = [
    "TOKEN_PATH",
    "UPLOAD_PATH",
    "CallbackAttempt",
    "Faults",
    "HuaweiEmulator",
    "HuaweiEmulatorConfig",
    "HuaweiFaults",
    "ReviewFunction",
    "UploadRecord",
    "approve_all",
    "reject_names_matching",
]

logger = logging.getLogger("ivrsync.emulator.huawei")

# Endpoints: docs/providers/huawei-aicc.md#authentication and
# docs/providers/huawei-aicc.md#upload.
TOKEN_PATH = "/apigovernance/api/oauth/tokenByAkSk"
UPLOAD_PATH = "/apiaccess/rest/cc-management/v1/importVoiceFile/upload"

# X-Token-Expire: lifetime in seconds, "maximum 3600"
# (docs/providers/huawei-aicc.md#authentication).
# Its value when the header is absent is not documented: 600, the documentation's example.
MAX_TOKEN_LIFETIME = 3600
DEFAULT_TOKEN_LIFETIME = 600

# "After 10 requests are sent per second, traffic control is performed"
# (docs/providers/huawei-aicc.md#rate-limit; the status code is not documented: 429 here).
DEFAULT_RATE_LIMIT = 10.0

# The upload's rules as documented (docs/providers/huawei-aicc.md#upload), read here apart from
# the provider module (which names this emulator): a client that misreads one is caught here.
# `locale`: the values the upload API lists.
LOCALES = frozenset({"zh_CN", "en_US", "pt_BR", "th_TH"})
# `voiceFileName`: at most 50 Chinese characters, letters and digits.
MAX_NAME_LENGTH = 50
NAME_CHARS = "A-Za-z0-9\u3400-\u4dbf\u4e00-\u9fff"
# "The maximum size is 8 MB" (of the base64 text unless configured otherwise).
MAX_UPLOAD_BYTES = 8_000_000
# `voiceType`: 0 IVR, 1 prompt tone, 2 fault tone, 3 voice notification.
VOICE_TYPE_CODES = {"ivr": "0", "prompt_tone": "1", "fault_tone": "2", "voice_notification": "3"}
# fileType: "WAV and MP3 files are supported" (docs/providers/huawei-aicc.md#upload;
# the example sends "wav").
FILE_TYPES = ("wav", "mp3")
VOICE_TYPES = frozenset(VOICE_TYPE_CODES.values())
REQUIRED_FIELDS = ("fileInfo", "locale", "voiceType", "fileType")

# Success answer, word for word from the documentation's example
# (docs/providers/huawei-aicc.md#answers-and-errors).
UPLOAD_SUCCESS = "File uploaded successfully."

# Review callback (docs/providers/huawei-aicc.md#review-callback):
# status "2" approved, "3" rejected;
# "After six times, the file review result is no longer returned".
STATUS_APPROVED = "2"
STATUS_REJECTED = "3"
CALLBACK_ATTEMPTS = 6

# The server-side folder in `fileUrl` ("Y:/IVR/147/voice/0/..."): its meaning (a tenant or VDN
# number?) is not documented, so the example's value is used.
_FILE_URL_FOLDER = 147
# Without voiceFileName the example's fileUrl has a random 8-character name ("nPqV9vU3").
_RANDOM_NAME_CHARS = string.ascii_letters + string.digits
# A fileId is a 19-digit number (both documented examples are, and fit a signed 64-bit int).
_FILE_ID_RANGE = (10**18, 2**63)
# How long the emulator waits for a callback receiver to answer one attempt.
_CALLBACK_TIMEOUT = 5.0

_NAME = re.compile(f"[{NAME_CHARS}]{{1,{MAX_NAME_LENGTH}}}")
_NOT_NAME_CHAR = re.compile(f"[^{NAME_CHARS}]")
_TOKEN_EXPIRE = re.compile(r"[0-9]{1,9}")

ReviewStatus = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """One accepted upload as the emulated platform keeps it (an immutable snapshot)."""

    file_id: str
    voice_file_name: str | None
    locale: str
    voice_type: str
    file_type: str
    sha256: str  # of the decoded file
    size: int  # of the decoded file, in bytes
    callback_url: str | None
    received_at: float  # emulator clock
    file_url: str  # the server-side path the callback reports
    review_status: ReviewStatus = "pending"
    review_comment: str | None = None
    reviewed_at: float | None = None


ReviewFunction = Callable[[UploadRecord], tuple[bool, str]]


def approve_all(record: UploadRecord) -> tuple[bool, str]:
    """The default review: every upload approved, with the documentation's comment."""
    return True, "Approved"


def reject_names_matching(pattern: str | re.Pattern[str]) -> ReviewFunction:
    """A review that rejects uploads whose voiceFileName contains a match of `pattern`.

    Lets a demo or a CI run exercise the rejected path by naming a prompt accordingly.
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern

    def review(record: UploadRecord) -> tuple[bool, str]:
        if record.voice_file_name is not None and regex.search(record.voice_file_name):
            return False, f"Rejected: voiceFileName matches {regex.pattern!r}"
        return True, "Approved"

    return review


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One POST of a review result to an upload's callBackUrl, and how the receiver answered."""

    file_id: str
    url: str
    attempt: int  # 1-based
    payload: dict[str, str]
    sent_at: float  # emulator clock
    status_code: int | None  # None when no HTTP answer came
    response_text: str
    accepted: bool  # 200 with {"returnCode": "0"}: no further attempt
    error: str | None  # why the attempt did not count as received


@dataclass
class HuaweiEmulatorConfig:
    """What the emulated tenant looks like; the defaults follow the documentation."""

    app_key: str = "demo-app-key"
    app_secret: str = "demo-app-secret"
    # Requests per second on the upload endpoint (bucket capacity too); 0 turns it off.
    rate_limit: float = DEFAULT_RATE_LIMIT
    # How traffic control counts: a token bucket (bursts of `rate_limit` after a pause), or a
    # sliding window (at most `rate_limit` in any 1 s, the strictest reading).
    traffic_control: Literal["token-bucket", "sliding-window"] = "token-bucket"
    # The status of a refusal by traffic control: not documented; 429, or a 5xx (the
    # description then says "traffic control").
    throttle_status: int = 429
    # Whether the 8 MB limit is of the base64 text (the stricter reading) or of the file.
    size_limit_of: Literal["base64", "file"] = "base64"
    # Some tenants' gateways insist on the (documented as optional) X-APP-Key header.
    require_app_key_header: bool = False
    # Seconds from upload to review decision.
    review_delay: float = 2.0
    # Decides each review; None approves everything.
    review: ReviewFunction | None = None
    # Seconds between callback attempts, and how many attempts at most.
    callback_interval: float = 1.0
    callback_attempts: int = CALLBACK_ATTEMPTS

    def __post_init__(self) -> None:
        if self.size_limit_of not in ("base64", "file"):
            raise ValueError(
                f"size_limit_of must be 'base64' or 'file', not {self.size_limit_of!r}"
            )
        for name in ("rate_limit", "review_delay", "callback_interval"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be 0 or more")
        if self.callback_attempts < 1:
            raise ValueError("callback_attempts must be at least 1")


class _Refusal(Exception):
    """A request breaks a rule: answer `status` with this returnCode and description."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.response = Response(status, {"returnCode": code, "description": description})


@dataclass(frozen=True, slots=True)
class _ValidUpload:
    fields: dict[str, str]
    data: bytes


@dataclass
class HuaweiFaults(Faults):
    """The shared faults, and tokens that run out: every `expire_tokens_every`-th upload
    request finds every token issued so far expired (as `expire_tokens()` does)."""

    expire_tokens_every: int = 0


@dataclass
class _State:
    """Everything requests change, guarded by one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (emulator clock)
    uploads: dict[str, UploadRecord] = field(default_factory=dict)  # in arrival order
    callbacks: list[CallbackAttempt] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0


class HuaweiEmulator(ReviewingEmulator):
    """Huawei AICC's token and IVR voice upload endpoints, served on loopback.

    Use as a context manager, or `start()` / `stop()`. Inspect `uploads`, `callbacks` and the
    counters; change `faults` at any time.
    """

    name: ClassVar[str] = "huawei-aicc-emulator"

    def __init__(
        self,
        config: HuaweiEmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        traffic_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` is the platform's wall clock (token lifetimes, timestamps);
        `traffic_clock` the monotonic one traffic control counts requests per second on."""
        super().__init__(
            host=host,
            port=port,
            workers=4,
            worker_name="cb",
            client_options={"timeout": _CALLBACK_TIMEOUT},
        )
        self.config = config if config is not None else HuaweiEmulatorConfig()
        self.faults: HuaweiFaults = HuaweiFaults()
        self._clock = clock
        self._state = _State()
        self._bucket: TokenBucket | SlidingWindow = (
            SlidingWindow(self.config.rate_limit, clock=traffic_clock)
            if self.config.traffic_control == "sliding-window"
            else TokenBucket(self.config.rate_limit, clock=traffic_clock)
        )

    # -- inspection --------------------------------------------------------------------------

    @property
    def uploads(self) -> list[UploadRecord]:
        with self._state.lock:
            return list(self._state.uploads.values())

    @property
    def callbacks(self) -> list[CallbackAttempt]:
        with self._state.lock:
            return list(self._state.callbacks)

    @property
    def requests(self) -> int:
        """Requests that reached the upload endpoint (all of them, refused ones too)."""
        with self._state.lock:
            return self._state.requests

    @property
    def accepted_at(self) -> list[float]:
        """Arrival times (monotonic) of the uploads traffic control let through, when it
        counts in a sliding window (empty otherwise)."""
        if isinstance(self._bucket, SlidingWindow):
            with self._state.lock:
                return list(self._bucket.accepted)
        return []

    @property
    def throttled(self) -> int:
        """Upload requests refused by traffic control (429)."""
        with self._state.lock:
            return self._state.throttled

    def expire_tokens(self) -> None:
        """Make every token issued so far expired now, as if their lifetime had run out."""
        now = self._clock()
        with self._state.lock:
            for token, expires_at in self._state.tokens.items():
                self._state.tokens[token] = min(expires_at, now)

    # -- HTTP --------------------------------------------------------------------------------

    def error_body(self, status: int, description: str) -> dict[str, Any]:
        return {"returnCode": f"AICC.{status}", "description": description}

    def handle(self, request: Request) -> Response | None:
        if request.path not in (TOKEN_PATH, UPLOAD_PATH):
            return Response(
                404,
                self.error_body(
                    404,
                    f"no such path {request.path!r}: the API serves POST {TOKEN_PATH} "
                    f"and POST {UPLOAD_PATH}",
                ),
            )
        if request.method != "POST":
            return Response(
                405,
                self.error_body(405, f"{request.path} takes POST, not {request.method}"),
                {"Allow": "POST"},
            )
        try:
            if request.path == TOKEN_PATH:
                return self._issue_token(request)
            return self._upload(request)
        except _Refusal as refusal:
            return refusal.response

    # -- tokenByAkSk -------------------------------------------------------------------------

    def _issue_token(self, request: Request) -> Response:
        _require_json_content_type(request)
        lifetime = _token_lifetime(request.header("X-Token-Expire"))
        body = _parse_json(request.body)
        if not isinstance(body, dict):
            raise _Refusal(
                401,
                "AICC.401",
                f"the body is {json_type_name(body)}; send a JSON object "
                '{"app_key": "...", "app_secret": "..."}',
            )
        key, secret = body.get("app_key"), body.get("app_secret")
        pairs = (("app_key", key), ("app_secret", secret))
        absent = [name for name, value in pairs if not isinstance(value, str)]
        if absent:
            raise _Refusal(
                401, "AICC.401", f"{' and '.join(absent)} missing or not a string in the body"
            )
        assert isinstance(key, str) and isinstance(secret, str)
        if not (
            hmac.compare_digest(key.encode(), self.config.app_key.encode())
            and hmac.compare_digest(secret.encode(), self.config.app_secret.encode())
        ):
            raise _Refusal(401, "AICC.401", "app_key or app_secret is wrong")
        now = self._clock()
        token = secrets.token_urlsafe(32)
        with self._state.lock:
            tokens = self._state.tokens
            for old in [t for t, expires in tokens.items() if expires < now - MAX_TOKEN_LIFETIME]:
                del tokens[old]
            tokens[token] = now + lifetime
        return Response(
            200,
            {
                "AccessToken": token,
                "ApplyType": "Bearer",
                "CreateTime": str(int(now)),
                "Expires": str(lifetime),
                "Scope": "default",
                "AppKey": self.config.app_key,
                "UserID": "Anonymous",
            },
        )

    # -- importVoiceFile/upload --------------------------------------------------------------

    def _upload(self, request: Request) -> Response | None:
        faults = self.faults
        faults.arrive()
        with self._state.lock:
            self._state.requests += 1
            number = self._state.requests
        if faults.expire_tokens_every > 0 and number % faults.expire_tokens_every == 0:
            self.expire_tokens()
        if faults.should_fail():
            raise _Refusal(503, "AICC.503", "service unavailable (an injected fault); try again")
        if faults.take_throttle() or not self._bucket.take():
            with self._state.lock:
                self._state.throttled += 1
            status = self.config.throttle_status
            raise _Refusal(
                status,
                f"AICC.{status}",
                f"traffic control: more than {self.config.rate_limit:g} requests per second",
            )
        self._authorize(request)
        _require_json_content_type(request)
        upload = self._validate(_parse_flat_body(request.body))
        record = self._record(upload)
        if faults.should_lose_response():
            return None
        return Response(
            200, {"returnCode": "0", "description": UPLOAD_SUCCESS, "fileId": record.file_id}
        )

    def _authorize(self, request: Request) -> None:
        """401 unless `Authorization: Bearer <live token>`; 403 for a wrong X-APP-Key."""
        authorization = request.header("Authorization")
        if authorization is None:
            raise _Refusal(
                401,
                "AICC.401",
                "the Authorization header is missing; send 'Authorization: Bearer <AccessToken>' "
                "with a token from tokenByAkSk",
            )
        scheme, space, token = authorization.partition(" ")
        if scheme != "Bearer" or not space or not token or token[0].isspace():
            raise _Refusal(
                401,
                "AICC.401",
                "the Authorization header must be 'Bearer <AccessToken>': the word Bearer, "
                f"exactly one space, then the token (it starts with {scheme[:10]!r})",
            )
        now = self._clock()
        with self._state.lock:
            expires_at = self._state.tokens.get(token)
        if expires_at is None:
            raise _Refusal(
                401,
                "AICC.401",
                "the access token was not issued by this service; get one from tokenByAkSk",
            )
        if now >= expires_at:
            raise _Refusal(
                401,
                "AICC.401",
                f"the access token expired {now - expires_at:.0f} s ago; tokens cannot be "
                "refreshed: call tokenByAkSk again",
            )
        app_key = request.header("X-APP-Key")
        if app_key is None and self.config.require_app_key_header:
            raise _Refusal(
                403, "AICC.403", "the X-APP-Key header is missing; this tenant requires it"
            )
        if app_key is not None and not hmac.compare_digest(
            app_key.encode(), self.config.app_key.encode()
        ):
            raise _Refusal(
                403, "AICC.403", "the X-APP-Key header is not the app key the token was issued to"
            )

    def _validate(self, fields: dict[str, str]) -> _ValidUpload:
        """Apply the documented field rules; a failure is a business failure (500)."""
        missing = [name for name in REQUIRED_FIELDS if not fields.get(name)]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise _business(
                "AICC.MissingParameter",
                f"{', '.join(missing)} {verb} required (non-empty); the required fields are "
                f"{', '.join(REQUIRED_FIELDS)}",
            )
        locale, voice_type, file_type = fields["locale"], fields["voiceType"], fields["fileType"]
        if locale not in LOCALES:
            raise _business(
                "AICC.InvalidLocale",
                f"locale {locale!r} is not supported; use one of {', '.join(sorted(LOCALES))}",
            )
        if voice_type not in VOICE_TYPES:
            allowed = ", ".join(
                f"{code!r} ({name.replace('_', ' ')})"
                for name, code in sorted(VOICE_TYPE_CODES.items(), key=lambda item: item[1])
            )
            raise _business(
                "AICC.InvalidVoiceType", f"voiceType {voice_type!r} is not valid; use {allowed}"
            )
        if file_type not in FILE_TYPES:
            raise _business(
                "AICC.InvalidFileType",
                f"fileType {file_type!r} is not supported; use "
                + " or ".join(repr(t) for t in FILE_TYPES),
            )
        name = fields.get("voiceFileName") or None
        if name is not None and not _NAME.fullmatch(name):
            raise _business("AICC.InvalidVoiceFileName", _name_problem(name))
        callback = fields.get("callBackUrl") or None
        if callback is not None and not _is_http_url(callback):
            raise _business(
                "AICC.InvalidCallBackUrl",
                f"callBackUrl {callback!r} is not an http:// or https:// URL with a host",
            )
        data = self._decode_file(fields["fileInfo"])
        try:
            audio = probe_bytes(data)
        except AudioError as e:
            raise _business(
                "AICC.InvalidFile", f"fileInfo is not usable audio: {e}; upload WAV or MP3"
            ) from None
        if audio.format != file_type:
            raise _business(
                "AICC.FileTypeMismatch",
                f"fileType is {file_type!r} but fileInfo holds {audio.format.upper()} audio; "
                f"declare fileType {audio.format!r}",
            )
        return _ValidUpload(fields, data)

    def _decode_file(self, text: str) -> bytes:
        """Strict base64 within the size limit, read the way the configuration says."""
        limit = f"{MAX_UPLOAD_BYTES:,}"
        if self.config.size_limit_of == "base64" and len(text) > MAX_UPLOAD_BYTES:
            raise _business(
                "AICC.FileTooLarge",
                f"fileInfo is {len(text):,} characters of base64; at most {limit} are accepted "
                "(the 8 MB limit applies to the base64 text)",
            )
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as e:
            raise _business(
                "AICC.InvalidFileInfo",
                f"fileInfo is not valid base64 ({e}); send standard base64 (A-Z, a-z, 0-9, "
                "'+', '/', '=' padding) without line breaks",
            ) from None
        if self.config.size_limit_of == "file" and len(data) > MAX_UPLOAD_BYTES:
            raise _business(
                "AICC.FileTooLarge",
                f"the file in fileInfo is {len(data):,} bytes; at most {limit} are accepted",
            )
        return data

    def _record(self, upload: _ValidUpload) -> UploadRecord:
        fields = upload.fields
        now = self._clock()
        name = fields.get("voiceFileName") or None
        stored_name = name or "".join(secrets.choice(_RANDOM_NAME_CHARS) for _ in range(8))
        voice_type, file_type = fields["voiceType"], fields["fileType"]
        with self._state.lock:
            file_id = _new_file_id(self._state.uploads)
            record = UploadRecord(
                file_id=file_id,
                voice_file_name=name,
                locale=fields["locale"],
                voice_type=voice_type,
                file_type=file_type,
                sha256=hashlib.sha256(upload.data).hexdigest(),
                size=len(upload.data),
                callback_url=fields.get("callBackUrl") or None,
                received_at=now,
                file_url=(
                    f"Y:/IVR/{_FILE_URL_FOLDER}/voice/{voice_type}/"
                    f"{stored_name}_{int(now * 1000)}.{file_type}"
                ),
            )
            self._state.uploads[file_id] = record
        self._schedule_review(self.config.review_delay, file_id)
        return record

    # -- review and callback -----------------------------------------------------------------

    def _review(self, file_id: str) -> None:
        with self._state.lock:
            record = self._state.uploads[file_id]
        review = self.config.review or approve_all
        try:
            approved, comment = review(record)
        except Exception as e:
            logger.exception("the review function failed on %s", file_id)
            approved, comment = False, f"emulator review function failed: {e!r}"
        reviewed = replace(
            record,
            review_status="approved" if approved else "rejected",
            review_comment=comment,
            reviewed_at=self._clock(),
        )
        with self._state.lock:
            self._state.uploads[file_id] = reviewed
        if reviewed.callback_url is not None and not self.stopping.is_set():
            try:
                self._submit(self._deliver, reviewed)
            except RuntimeError:  # stop() shut the pool down meanwhile: the platform is gone
                logger.debug("not delivering the review of %s: stopping", file_id)

    def _deliver(self, record: UploadRecord) -> None:
        """POST the review result until the receiver says returnCode "0", or attempts run out."""
        assert record.callback_url is not None
        payload = {
            "fileUrl": record.file_url,
            "fileId": record.file_id,
            "status": STATUS_APPROVED if record.review_status == "approved" else STATUS_REJECTED,
            "comment": record.review_comment or "",
        }
        content = json.dumps(payload, ensure_ascii=False).encode()
        for attempt in range(1, self.config.callback_attempts + 1):
            if self.stopping.is_set():
                return
            sent_at = self._clock()
            status: int | None = None
            text = ""
            try:
                answer = self._http().post(
                    record.callback_url,
                    content=content,
                    headers={"Content-Type": "application/json"},
                )
                status, text = answer.status_code, answer.text
                error = _callback_answer_problem(answer)
            except (httpx.HTTPError, RuntimeError) as e:  # RuntimeError: client closed on stop
                error = f"no answer: {type(e).__name__}: {e}"
            with self._state.lock:
                self._state.callbacks.append(
                    CallbackAttempt(
                        file_id=record.file_id,
                        url=record.callback_url,
                        attempt=attempt,
                        payload=dict(payload),
                        sent_at=sent_at,
                        status_code=status,
                        response_text=text,
                        accepted=error is None,
                        error=error,
                    )
                )
            if error is None:
                return
            logger.info("callback %d for %s not received: %s", attempt, record.file_id, error)
            if self.stopping.wait(self.config.callback_interval):
                return


# -- request parsing ---------------------------------------------------------------------------


def _business(code: str, description: str) -> _Refusal:
    """A business failure: the documentation's answer to parameters it refuses is HTTP 500."""
    return _Refusal(500, code, description)


def _require_json_content_type(request: Request) -> None:
    content_type = request.header("Content-Type")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        got = "none" if content_type is None else repr(content_type)
        raise _Refusal(415, "AICC.415", f"Content-Type must be application/json (got {got})")


def _token_lifetime(header: str | None) -> int:
    if header is None:
        return DEFAULT_TOKEN_LIFETIME
    value = header.strip()
    if _TOKEN_EXPIRE.fullmatch(value) and 1 <= int(value) <= MAX_TOKEN_LIFETIME:
        return int(value)
    raise _Refusal(
        400,
        "AICC.400",
        f"X-Token-Expire must be a whole number of seconds from 1 to {MAX_TOKEN_LIFETIME} "
        f"(got {header!r})",
    )


def _parse_json(body: bytes) -> object:
    try:
        return decode_json(body)
    except NotJSON as e:
        raise _Refusal(400, "AICC.400", str(e)) from None


def _parse_flat_body(body: bytes) -> dict[str, str]:
    """The upload body: one flat JSON object whose every value is a string."""
    parsed = _parse_json(body)
    if not isinstance(parsed, dict):
        raise _Refusal(
            400,
            "AICC.400",
            f"the body is {json_type_name(parsed)}; send one flat JSON object of strings "
            "(fileInfo, locale, voiceType, fileType, ...)",
        )
    for key, value in parsed.items():
        if not isinstance(value, str):
            raise _Refusal(
                400,
                "AICC.400",
                f"{key!r} is {json_type_name(value)}; every value in the body must be a string "
                '(e.g. "voiceType": "0"), and the body is flat, not wrapped',
            )
    return parsed


def _name_problem(name: str) -> str:
    bad = sorted(set(_NOT_NAME_CHAR.findall(name)))
    if bad:
        why = "contains " + ", ".join(repr(c) for c in bad)
    else:
        why = f"is {len(name)} characters long"
    return (
        f"voiceFileName {name!r} {why}; it may have at most {MAX_NAME_LENGTH} characters, "
        "only letters, digits and Chinese characters (no spaces, '_', '-' or '.')"
    )


def _is_http_url(text: str) -> bool:
    if any(c.isspace() for c in text):
        return False
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _callback_answer_problem(answer: httpx.Response) -> str | None:
    """None when the receiver acknowledged the result (200 and returnCode "0")."""
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    try:
        body = answer.json()
    except ValueError:
        return "the answer is not JSON"
    if not isinstance(body, dict) or body.get("returnCode") != "0":
        return 'the answer is not {"returnCode": "0"}'
    return None


def _new_file_id(taken: dict[str, UploadRecord]) -> str:
    while True:
        file_id = str(secrets.randbelow(_FILE_ID_RANGE[1] - _FILE_ID_RANGE[0]) + _FILE_ID_RANGE[0])
        if file_id not in taken:
            return file_id


# Where `ivrsync emulator` takes the emulated tenant's credentials from: the variables the
# product's client reads by default.
APP_KEY_VARIABLE = "AICC_APP_KEY"
APP_SECRET_VARIABLE = "AICC_APP_SECRET"


def _prepare(setup: Setup) -> Prepared:
    """The emulator for the command line: credentials from the environment, else the demo's."""
    app_key = setup.env.get(APP_KEY_VARIABLE)
    config = HuaweiEmulatorConfig(review_delay=setup.review_delay)
    if app_key:
        config.app_key = app_key
    app_secret = setup.env.get(APP_SECRET_VARIABLE)
    if app_secret:
        config.app_secret = app_secret
    if setup.reject_pattern is not None:
        config.review = reject_names_matching(setup.reject_pattern)
    key_note = f"app key from {APP_KEY_VARIABLE}" if app_key else f"app key {config.app_key!r}"

    def start(port: int) -> Server:
        return HuaweiEmulator(config, host=setup.host, port=port).start()

    return Prepared(
        start=start, describe=lambda server: f"Huawei AICC emulator on {server.url} ({key_note})"
    )


EMULATION = Emulation(
    name="huawei",
    title="Huawei AICC",
    default_port=8080,
    help="Huawei AICC: tokenByAkSk, importVoiceFile/upload and review callbacks. Credentials "
    f"are {APP_KEY_VARIABLE} / {APP_SECRET_VARIABLE} from the environment, else "
    "demo-app-key / demo-app-secret.",
    upload_name="voiceFileName",
    prepare=_prepare,
)
