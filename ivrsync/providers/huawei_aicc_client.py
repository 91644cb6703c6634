"""The Huawei Cloud AICC client: token from `tokenByAkSk`, uploads to `importVoiceFile/upload`.

Imported only when something is uploaded, so `validate` and `plan` never load httpx.
API facts: docs/providers/huawei-aicc.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ivrsync import __version__
from ivrsync.providers.base import (
    ItemOutcome,
    Uploaded,
    UploadItem,
    base64_size,
    check_content,
)
from ivrsync.providers.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    PermanentError,
    ProviderError,
    ThrottledError,
    TokenRefusedError,
    TransientError,
)
from ivrsync.secrets import register as register_secret

TOKEN_PATH = "/apigovernance/api/oauth/tokenByAkSk"
UPLOAD_PATH = "/apiaccess/rest/cc-management/v1/importVoiceFile/upload"
# `voiceType`: 0 IVR, 1 prompt tone, 2 fault tone, 3 voice notification.
VOICE_TYPE_CODES = {"ivr": "0", "prompt_tone": "1", "fault_tone": "2", "voice_notification": "3"}
# `X-Token-Expire` may ask for up to 3600 s; ask for that and renew a minute before it ends.
TOKEN_LIFETIME = 3600
TOKEN_RENEW_MARGIN = 60.0
# Read the file in multiples of 3 bytes, so the base64 of each chunk joins into the whole.
_CHUNK = 3 * 64 * 1024
# Traffic control's status is not documented (docs/providers/huawei-aicc.md#rate-limit):
# 429, or a 5xx whose description says the gateway is limiting traffic.
_TRAFFIC_CONTROL = re.compile(
    r"traffic.control|flow.control|too many requests|rate.limit|throttl|限流|流控", re.IGNORECASE
)


class HuaweiAiccClient:
    """One tenant's API gateway. Thread-safe: uploads may run in parallel (10 requests/s)."""

    def __init__(
        self,
        endpoint: str,
        app_key: str,
        app_secret: str,
        *,
        provider: str = "aicc",
        callback_url: str | None = None,
        send_app_key_header: bool = True,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self._app_key = app_key
        self._app_secret = app_secret
        self._callback_url = callback_url
        self._send_app_key_header = send_app_key_header
        self._clock = clock
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=endpoint,
            timeout=httpx.Timeout(timeout, connect=10.0),
            verify=True,
            transport=transport,
            headers={"User-Agent": f"ivrsync/{__version__}"},
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # -- token ---------------------------------------------------------------------------

    def token(self, *, renew: bool = False, stale: str | None = None) -> str:
        """A valid access token, fetched again shortly before it expires or when refused.

        `stale` is the token a 401 refused: only the first thread to see it fetches a new one.
        """
        with self._token_lock:
            current = self._token
            fresh = current is not None and self._clock() < self._token_expires
            if fresh and not renew and current is not None:
                return current
            if renew and stale is not None and current is not None and current != stale:
                return current  # another thread already renewed it
            self._token, self._token_expires = self._fetch_token()
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        started = self._clock()
        try:
            response = self._http.post(
                TOKEN_PATH,
                json={"app_key": self._app_key, "app_secret": self._app_secret},
                headers={"X-Token-Expire": str(TOKEN_LIFETIME)},
            )
        except httpx.TransportError as exc:
            # Asking for a token changes nothing on the server: always safe to retry.
            raise TransientError(
                f"{self.provider}: token request failed: {_describe(exc)}"
            ) from None
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"{self.provider}: tokenByAkSk refused the app key and secret "
                f"(HTTP {response.status_code}: {_description(response)})",
                status=response.status_code,
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(
                f"{self.provider}: token request failed (HTTP {response.status_code}: "
                f"{_description(response)})",
                status=response.status_code,
            )
        body = _json(response)
        token = body.get("AccessToken") if isinstance(body, dict) else None
        if isinstance(token, str) and token:
            # Made from the app key and secret, and as good as them for an hour: a gateway
            # quoting the Authorization header back must not print it, nor the state keep it.
            register_secret(token)
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise PermanentError(
                f"{self.provider}: unexpected answer to tokenByAkSk (HTTP "
                f"{response.status_code}: {_description(response)})",
                status=response.status_code,
            )
        try:
            lifetime = float(body.get("Expires", TOKEN_LIFETIME))
        except (TypeError, ValueError):
            lifetime = float(TOKEN_LIFETIME)
        return token, started + max(lifetime - TOKEN_RENEW_MARGIN, 1.0)

    # -- upload --------------------------------------------------------------------------

    def upload(self, item: UploadItem, ready: Callable[[], None] = lambda: None) -> str:
        """Upload one file; returns its FileId (a string: it overflows a double).

        `ready()` is called just before each upload request goes out (see `Uploader`).
        """
        # A token first, so a slow token request does not bunch up the requests the rate
        # limit spaced; again after the wait for the slot (cached unless it expired meanwhile).
        self.token()
        ready()
        token = self.token()
        response = self._post_upload(item, token)
        if response.status_code == 401:
            # The token expired early or was revoked: the request was refused before anything
            # was stored. A new token now; the engine sends the upload again as a retry, in a
            # slot of its own under the rate limit (a resend at once would be two requests
            # closer than the limit allows).
            self.token(renew=True, stale=token)
            raise TokenRefusedError(
                f"{self.provider}: the access token was refused before the upload was stored "
                "(expired early or revoked); sending it again with a new one",
                status=401,
            )
        return self._file_id(item, response)

    def _post_upload(self, item: UploadItem, token: str) -> httpx.Response:
        fields: dict[str, str] = {
            "locale": item.locale,
            "voiceType": VOICE_TYPE_CODES[item.attributes["voice_type"]],
            "fileType": item.attributes["file_type"],
            "voiceFileName": item.remote_name,
        }
        if self._callback_url:
            fields["callBackUrl"] = self._callback_url
        length, body = _streamed_body(fields, item)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Length": str(length),
        }
        if self._send_app_key_header:
            headers["X-APP-Key"] = self._app_key
        try:
            return self._http.post(UPLOAD_PATH, content=body(), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"{item.address}: {_describe(exc)}") from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            # The body was not all sent, so the server cannot have stored the file.
            raise TransientError(f"{item.address}: {_describe(exc)}") from None
        except httpx.TransportError as exc:
            raise AmbiguousOutcome(
                f"{item.address}: the upload was sent but no answer came back "
                f"({_describe(exc)}); it may or may not have been stored"
            ) from None

    def _file_id(self, item: UploadItem, response: httpx.Response) -> str:
        status = response.status_code
        what = f"{item.address}: HTTP {status}: {_description(response)}"
        if status == 200:
            body = _json(response)
            code = _return_code(body)
            file_id = body.get("fileId") if isinstance(body, dict) else None
            if code == "0" and isinstance(file_id, str | int) and str(file_id).isdigit():
                return str(file_id)
            if code not in (None, "0"):
                raise PermanentError(what, status=status, code=code)
            # A 200 the client cannot read: the file was probably stored.
            raise AmbiguousOutcome(f"{what} (a malformed answer to an upload)", status=status)
        if status == 429 or (status >= 500 and _TRAFFIC_CONTROL.search(_description(response))):
            raise ThrottledError(what, status=status)
        if status in (401, 403):
            hint = " (the caller's IP may need to be whitelisted)" if status == 403 else ""
            raise AuthenticationError(what + hint, status=status)
        if status in (502, 503):
            raise TransientError(what, status=status)
        if status == 504:
            raise AmbiguousOutcome(what + " (the gateway timed out waiting)", status=status)
        raise PermanentError(what, status=status, code=_return_code(_json(response)))


class HuaweiAiccUploader:
    """`Uploader` for one configured Huawei provider: one file per request, in parallel."""

    batch_size = 1
    max_concurrency = 64
    daily_quota: int | None = None  # none documented

    def __init__(self, client: HuaweiAiccClient, rate_limit: float) -> None:
        self.client = client
        self.rate_limit = rate_limit
        # Nothing documents how long after the answer is due an upload may still be stored.
        self.landing_window = client.timeout

    def upload(self, batch: list[UploadItem], ready: Callable[[], None]) -> list[ItemOutcome]:
        outcomes: list[ItemOutcome] = []
        for item in batch:
            file_id = self.client.upload(item, ready)
            outcomes.append(Uploaded(item.address, file_id, item.remote_name))
        return outcomes

    def close(self) -> None:
        self.client.close()


def _streamed_body(
    fields: dict[str, str], item: UploadItem
) -> tuple[int, Callable[[], Iterator[bytes]]]:
    """The JSON body with `fileInfo` base64-encoded from the file as it is sent.

    A file is never held in memory whole (nor its base64, a third larger); Content-Length is
    known ahead from the file size. The bytes are hashed as they go, and the last chunk is held
    back until they match the plan's sha256: a file changed since the plan raises
    `ContentChangedError` with the body incomplete, so the server stores nothing.
    """
    head = json.dumps(fields, ensure_ascii=False)
    prefix = (head[:-1] + ', "fileInfo": "').encode()
    suffix = b'"}'
    length = len(prefix) + base64_size(item.size) + len(suffix)

    def chunks() -> Iterator[bytes]:
        yield prefix
        digest = hashlib.sha256()
        size = 0
        held = b""
        with item.path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                if held:
                    yield base64.b64encode(held)
                digest.update(chunk)
                size += len(chunk)
                held = chunk
        check_content(item, size, digest.hexdigest())
        yield base64.b64encode(held) + suffix

    return length, chunks


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _return_code(body: Any) -> str | None:
    """Sibling APIs call it `retCode`: accept either."""
    if not isinstance(body, dict):
        return None
    code = body.get("returnCode", body.get("retCode"))
    return None if code is None else str(code)


def _description(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        for key in ("description", "retMsg", "message", "error_msg"):
            if isinstance(body.get(key), str):
                return str(body[key])
    text = response.text.strip()
    return text[:200] if text else "(no body)"


def _describe(exc: httpx.TransportError) -> str:
    """`ConnectError: [Errno 111] Connection refused (POST https://host/path)`: the URL
    says which endpoint (a typo in `endpoint:`, a proxy) could not be reached."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        request = exc.request
    except RuntimeError:  # raised before a request was made
        return text
    return f"{text} ({request.method} {request.url.copy_with(query=None)})"


__all__ = ["HuaweiAiccClient", "HuaweiAiccUploader", "ProviderError"]
