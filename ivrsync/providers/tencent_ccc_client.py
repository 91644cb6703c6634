"""The Tencent Cloud CCC client, on the official SDK (`tencentcloud-sdk-python-ccc`).

Imported only when something is uploaded or looked up: the SDK costs ~0.2 s to import.
API facts and SDK quirks: docs/providers/tencent-ccc.md, docs/providers/tencent-ccc.md#the-sdk.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tencentcloud.ccc.v20200210 import ccc_client, models
from tencentcloud.common import credential as tc_credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from ivrsync.providers.audio_source import AudioUrls
from ivrsync.providers.base import ItemOutcome, RemoteFile, Uploaded, UploadItem
from ivrsync.providers.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    ContentChangedError,
    PermanentError,
    ProviderError,
    QuotaExceededError,
    ThrottledError,
    TransientError,
)
from ivrsync.secrets import register_signature

logger = logging.getLogger(__name__)

# DescribeIvrAudioList: PageSize at most 50; PageNumber starts at 0; 20 requests/s.
PAGE_SIZE = 50
DESCRIBE_INTERVAL = 1 / 20
# Tencent's documented review states.
REVIEW_STATUS = {0: "pending", 1: "approved", 2: "rejected"}
# Seconds after the client's timeout by which an UploadIvrAudio request is taken to have
# stored its files or never to do so. Not documented: Tencent downloads each AudioUrl before
# storing it (the emulator gives each download at most 20 s, in parallel, four at a time), and
# may still be doing so when the client gives up waiting.
STORAGE_BOUND = 60.0


@dataclass(frozen=True, slots=True)
class AudioFile:
    """One entry of DescribeIvrAudioList."""

    file_id: str
    custom_file_name: str
    audio_file_name: str
    status: str  # pending | approved | rejected


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """`ccc.tencentcloudapi.com` -> (https, host); `http://127.0.0.1:8089` -> (http, host:port)."""
    if "://" in endpoint:
        scheme, _, rest = endpoint.partition("://")
        return scheme, rest.rstrip("/")
    return "https", endpoint


def classify(
    exc: TencentCloudSDKException, what: str, *, upload: bool, endpoint: str = ""
) -> ProviderError:
    """The SDK's error codes, sorted by what the engine may do about them. A network error
    names the endpoint it could not reach (`endpoint`), which the SDK's message buries."""
    code = str(exc.get_code() or "")
    message = f"{what}: {code}: {exc.get_message()}"
    if endpoint and code in ("ClientNetworkError", "ServerNetworkError"):
        message = f"{what}: cannot reach {endpoint}: {code}: {exc.get_message()}"
    if code.startswith("AuthFailure"):
        return AuthenticationError(message, code=code)
    if code.startswith("RequestLimitExceeded"):
        return ThrottledError(message, code=code)
    if code == "FailedOperation.UploadFileOverflow":
        return QuotaExceededError(message, code=code)
    if code in ("ClientNetworkError", "ServerNetworkError") or code.startswith("InternalError"):
        # The SDK cannot tell a refused connection from a lost answer, nor can we tell
        # whether an internal error happened before or after the file was stored.
        if upload:
            # A timeout leaves the server possibly still at work (fetching the AudioUrl);
            # an answer, even an error, or a connection it closed, means it is done.
            timed_out = code == "ClientNetworkError" and "timed out" in message.lower()
            return AmbiguousOutcome(message, code=code, over=not timed_out)
        return TransientError(message, code=code)
    return PermanentError(message, code=code)


class _SigningClient(ccc_client.CccClient):  # type: ignore[misc]  # the SDK is untyped
    """Registers each request's TC3 signature as a secret as soon as the SDK makes it: a
    server may quote the Authorization header back, and the SDK logs it at DEBUG."""

    def _get_tc3_signature(self, *args: Any, **kwargs: Any) -> str:
        signature = str(super()._get_tc3_signature(*args, **kwargs))
        register_signature(signature)
        return signature


class TencentCccUploader:
    """`Uploader` for one configured Tencent provider: batches of files, one request a second.

    Made from the provider's settings by `tencent_ccc.make_uploader`: the client takes their
    values, so that it does not import the provider module that imports it.
    """

    max_concurrency = 1

    def __init__(
        self,
        name: str,
        secret_id: str,
        secret_key: str,
        urls: AudioUrls,
        *,
        sdk_app_id: int,
        endpoint: str,
        region: str,
        rate_limit: float,
        batch_size: int,
        daily_quota: int | None,
        timeout: int = 60,
    ) -> None:
        self.name = name
        self.sdk_app_id = sdk_app_id
        self.rate_limit = rate_limit
        self.batch_size = batch_size
        self.daily_quota = daily_quota
        self.urls = urls
        self.landing_window = timeout + STORAGE_BOUND
        protocol, host = split_endpoint(endpoint)
        self.endpoint = f"{protocol}://{host}"
        http = HttpProfile(protocol=protocol, endpoint=host, reqMethod="POST", reqTimeout=timeout)
        profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
        self._client = _SigningClient(
            tc_credential.Credential(secret_id, secret_key), region, profile
        )
        self._describe_lock = threading.Lock()
        self._last_describe = 0.0

    def close(self) -> None:
        pass

    def upload(self, batch: list[UploadItem], ready: Callable[[], None]) -> list[ItemOutcome]:
        """One UploadIvrAudio; each FailedFileList entry fails only its own item.

        A lost answer raises AmbiguousOutcome: the engine looks the files up by
        CustomFileName before anything is sent again.
        """
        refused: dict[str, ContentChangedError] = {}
        audio_list = []
        for item in batch:
            try:
                url = self.urls.url_for(item)
            except ContentChangedError as exc:
                refused[item.address] = exc
                continue
            audio_list.append({"CustomFileName": item.remote_name, "AudioUrl": url})
        if not audio_list:
            return [refused[item.address] for item in batch]
        request = models.UploadIvrAudioRequest()
        request.from_json_string(json.dumps({"SdkAppId": self.sdk_app_id, "AudioList": audio_list}))
        ready()
        try:
            response = self._client.UploadIvrAudio(request)
        except TencentCloudSDKException as exc:
            what = f"{self.name}: UploadIvrAudio"
            raise classify(exc, what, upload=True, endpoint=self.endpoint) from None
        succeeded = {str(info.CustomFileName): info for info in (response.SuccessFileList or [])}
        failed = {
            str(info.FileName): str(info.FailedMsg) for info in (response.FailedFileList or [])
        }
        outcomes: list[ItemOutcome] = []
        for item in batch:
            info = succeeded.get(item.remote_name)
            if item.address in refused:
                outcomes.append(refused[item.address])
            elif info is not None:
                outcomes.append(Uploaded(item.address, str(info.FileId), item.remote_name))
            elif item.remote_name in failed:
                outcomes.append(
                    PermanentError(
                        f"{item.address}: Tencent refused it: {failed[item.remote_name]}"
                    )
                )
            else:
                outcomes.append(
                    AmbiguousOutcome(
                        f"{item.address}: the answer names neither success nor failure for "
                        f"{item.remote_name}"
                    )
                )
        return outcomes

    def find(self, batch: list[UploadItem]) -> list[Uploaded | None]:
        """The uploads of these items by CustomFileName (a name identifies the content)."""
        by_name: dict[str, AudioFile] = {}
        for audio_file in self.describe(custom_file_names=[item.remote_name for item in batch]):
            by_name.setdefault(audio_file.custom_file_name, audio_file)
        found: list[Uploaded | None] = []
        for item in batch:
            landed = by_name.get(item.remote_name)
            if landed is None:
                found.append(None)
            else:
                logger.info("%s: found as FileId %s", item.address, landed.file_id)
                found.append(Uploaded(item.address, landed.file_id, item.remote_name))
        return found

    def files_by_id(self, file_ids: list[str]) -> list[RemoteFile]:
        return [
            RemoteFile(f.file_id, f.custom_file_name, f.status)
            for f in self.describe(file_ids=file_ids)
        ]

    def describe(
        self,
        *,
        custom_file_names: list[str] | None = None,
        file_ids: list[str] | None = None,
    ) -> list[AudioFile]:
        """Every page of DescribeIvrAudioList for these filters (all files when none)."""
        filters: dict[str, Any] = {}
        if custom_file_names:
            filters["CustomFileName"] = custom_file_names
        if file_ids:
            filters["FileId"] = [int(file_id) for file_id in file_ids]
        files: list[AudioFile] = []
        page = 0
        while True:
            request = models.DescribeIvrAudioListRequest()
            request.from_json_string(
                json.dumps(
                    {
                        "SdkAppId": self.sdk_app_id,
                        "PageSize": PAGE_SIZE,
                        "PageNumber": page,
                        **filters,
                    }
                )
            )
            self._space_describe()
            try:
                response = self._client.DescribeIvrAudioList(request)
            except TencentCloudSDKException as exc:
                what = f"{self.name}: DescribeIvrAudioList"
                raise classify(exc, what, upload=False, endpoint=self.endpoint) from None
            entries = response.FileInfo or []
            files.extend(
                AudioFile(
                    file_id=str(info.FileId),
                    custom_file_name=str(info.CustomFileName or ""),
                    audio_file_name=str(info.AudioFileName or ""),
                    status=REVIEW_STATUS.get(int(info.Status or 0), "pending"),
                )
                for info in entries
            )
            total = int(response.TotalCount or 0)
            page += 1
            if not entries or len(files) >= total:
                return files

    def _space_describe(self) -> None:
        with self._describe_lock:
            wait = self._last_describe + DESCRIBE_INTERVAL - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_describe = time.monotonic()


class _NoAudioUrls:
    def url_for(self, item: UploadItem) -> str:
        raise PermanentError(f"{item.address}: this client only looks files up")


# For a client that only looks files up: it needs no audio source (nor S3 credentials).
NO_AUDIO_URLS: AudioUrls = _NoAudioUrls()
