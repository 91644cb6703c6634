"""Tencent Cloud CCC: `UploadIvrAudio` rules (docs/providers/tencent-ccc.md#upload)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from ivrsync.audio import AudioInfo
from ivrsync.processing.recipe import NativeAudio
from ivrsync.providers.base import (
    Finding,
    ReviewReport,
    Starter,
    Uploader,
    credential,
    credentials_checked,
    megabytes,
)
from ivrsync.settings import (
    Acknowledgement,
    AudioSource,
    EnvInt,
    EnvName,
    HostOrUrl,
    PromptOption,
    ProviderSettingsBase,
    acknowledge_field,
)

if TYPE_CHECKING:
    from ivrsync.providers.tencent_ccc_client import TencentCccUploader

TYPE = "tencent-ccc"
VENDOR = "Tencent"
# Tencent has no locale parameter: any locale is the user's own label.
LOCALES: frozenset[str] | None = None
# The 50 uploads a day are counted by the Beijing day (docs/providers/tencent-ccc.md#daily-quota).
QUOTA_TIME_ZONE: tzinfo | None = timezone(timedelta(hours=8), "Beijing time")
# DescribeIvrAudioList finds uploads by CustomFileName.
CAN_LIST = True
# UploadIvrAudio only adds files: none can be changed or deleted through the API
# (docs/providers/tencent-ccc.md#what-the-api-cannot-do).
CAN_UPDATE = False
CAN_DELETE = False
# Every upload is reviewed before flows may use it
# (docs/providers/tencent-ccc.md#listing-and-reviews).
REVIEWS = True
# Review results are read from DescribeIvrAudioList, not called back.
REVIEW_CALLBACKS: str | None = None
# `AudioUrl`: "mp3 and wav, file no larger than 5 MB", read as 5,000,000 bytes.
MAX_AUDIO_BYTES = 5_000_000
# CCC takes WAV or MP3 (docs/providers/tencent-ccc.md). 16-bit PCM at the telephone rate:
# lossless, so the one lossy step (G.711 on the line) is the platform's, and ivrsync, not the
# platform, resamples (soxr VHQ); A-law here would quantise twice.
NATIVE_AUDIO = NativeAudio("wav", "pcm_s16le", 8000, 1)
# Hex digits of the content's sha256 in a CustomFileName: collisions among one prompt's
# versions are 1 in 4 billion.
CONTENT_HASH_CHARS = 8
_HASH = re.compile(f"[0-9a-f]{{{CONTENT_HASH_CHARS}}}")
# UploadIvrAudio takes nothing per prompt besides the file and its name.
PROMPT_OPTIONS: Mapping[str, PromptOption] = {}
# The emulator `ivrsync emulator` serves (an Emulation), imported only when it is served.
EMULATOR: str | None = "ivrsync.emulator.tencent:EMULATION"


class TencentCccSettings(ProviderSettingsBase):
    """Tencent Cloud CCC (`UploadIvrAudio`, `DescribeIvrAudioList`)."""

    DECIDING: ClassVar[dict[str, str]] = {"sdk_app_id": "uploads go to another CCC application"}

    type: Literal["tencent-ccc"]
    sdk_app_id: Annotated[EnvInt, Field(gt=0, lt=2**63, description="the CCC application id")]
    endpoint: HostOrUrl = Field(
        "ccc.tencentcloudapi.com",
        description="host[:port], or http://host:port for an emulator",
    )
    region: str = Field("", description="not required by CCC")
    secret_id_env: EnvName = Field(
        "TENCENTCLOUD_SECRET_ID", description="the variable holding the SecretId"
    )
    secret_key_env: EnvName = Field(
        "TENCENTCLOUD_SECRET_KEY", description="the variable holding the SecretKey"
    )
    daily_quota: int = Field(50, ge=1, le=50, description="uploads per day (documented: 50)")
    rate_limit: float = Field(1, gt=0, le=1, description="requests per second (documented: 1)")
    batch_size: int = Field(10, ge=1, le=50, description="files per UploadIvrAudio request")
    content_hash_in_name: bool = Field(
        True,
        description="end each CustomFileName with 8 hex digits of the audio's sha256, so a "
        "lost upload can be found again instead of uploaded twice",
    )
    audio_source: AudioSource = Field(description="how Tencent gets each file's URL")
    acknowledge: list[Acknowledgement] = acknowledge_field("every prompt of this provider")


SETTINGS = TencentCccSettings

STARTER: Starter | None = Starter(
    title="Tencent Cloud CCC",
    name="ccc",
    settings="""\
    type: tencent-ccc                         # the provider: Tencent Cloud Contact Center
    sdk_app_id: ${CCC_SDK_APP_ID}             # the CCC application id (SdkAppId)
    endpoint: ccc.tencentcloudapi.com         # host[:port], or http://host:port for an emulator
    region: ""                                # not required by CCC
    secret_id_env: TENCENTCLOUD_SECRET_ID     # the variable that holds the SecretId
    secret_key_env: TENCENTCLOUD_SECRET_KEY   # the variable that holds the SecretKey
    daily_quota: 50                           # uploads a day, at most the documented 50
    rate_limit: 1                             # requests a second, at most the documented 1
    batch_size: 10                            # files per UploadIvrAudio request, 1 to 50
    content_hash_in_name: true                # end CustomFileName with 8 hex digits of sha256
    audio_source:                             # Tencent fetches every file from a URL:
      type: url                               # the audio is published already, at
      template: https://cdn.example.com/ivr/{path}  # {path}, {sha256}, {sha256_short}, {filename}
      # Or ivrsync stages it in S3-compatible storage and hands out presigned URLs:
      # type: s3                            # staged by ivrsync
      # endpoint: https://cos.ap-guangzhou.myqcloud.com  # COS, OBS, MinIO; omit for AWS S3
      # bucket: my-ivr-audio                # the bucket, created beforehand
      # prefix: ivrsync/                    # objects are named prefix + sha256 + extension
      # region: ap-guangzhou                # the bucket's region
      # url_expires: 3600                   # seconds a presigned URL lives
      # access_key_id_env: AWS_ACCESS_KEY_ID  # the variable that holds the access key id
      # secret_access_key_env: AWS_SECRET_ACCESS_KEY  # ... and the secret access key
    acknowledge: []                           # accepted warnings, counted not listed
""",
    to_upload="set TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and CCC_SDK_APP_ID",
)


def derive_remote_name(prompt: str, locale: str, base: str | None) -> str:
    """`CustomFileName` is free text: `welcome.en_US` (or the base with the locale); the
    upload adds a short content hash (`uploaded_name`)."""
    return f"{base if base is not None else prompt}.{locale}"


def remote_name_problem(name: str) -> str | None:
    if name.strip() and name.isprintable():
        return None
    return f"'{name}' is not a usable CustomFileName: give printable text"


def audio_findings(settings: TencentCccSettings, audio: AudioInfo) -> list[Finding]:
    if audio.size > MAX_AUDIO_BYTES:
        return [
            Finding(
                "too-large",
                f"the file is {megabytes(audio.size)}; Tencent CCC accepts at most "
                f"{megabytes(MAX_AUDIO_BYTES)}",
            )
        ]
    return []


def uploaded_attributes(options: Mapping[str, Any], audio: AudioInfo) -> dict[str, str]:
    """Tencent takes no prompt options: only the file and its name go up."""
    return {}


def daily_quota(settings: TencentCccSettings) -> int | None:
    return settings.daily_quota


def uploaded_name(settings: TencentCccSettings, remote_name: str, sha256: str) -> str:
    """`welcome.en_US.3fa9c2d1`: the name identifies the content.

    After a lost response, apply looks the upload up by this name (DescribeIvrAudioList)
    instead of uploading again, and the name tells one version of a prompt from another.
    """
    if not settings.content_hash_in_name:
        return remote_name
    return f"{remote_name}.{sha256[:CONTENT_HASH_CHARS]}"


def file_id_problem(file_id: str) -> str | None:
    """`FileId` is an integer in the API (docs/providers/tencent-ccc.md#upload)."""
    if file_id.isascii() and file_id.isdigit():
        return None
    return f"'{file_id}' is not a Tencent CCC FileId: those are decimal numbers"


def content_problem(settings: TencentCccSettings, remote_name: str, sha256: str) -> str | None:
    """A name ivrsync gave (`welcome.en_US.3fa9c2d1`) says which content it holds: another
    hash is another recording (another prompt, or another version of this one)."""
    _, dot, tail = remote_name.rpartition(".")
    if not (settings.content_hash_in_name and dot and _HASH.fullmatch(tail)):
        return None  # not named by ivrsync (uploaded in the console?): nothing to compare
    if tail == sha256[:CONTENT_HASH_CHARS]:
        return None
    return (
        f"its CustomFileName '{remote_name}' carries content hash {tail}, and the audio's "
        f"is {sha256[:CONTENT_HASH_CHARS]}: it is the upload of other audio"
    )


def make_uploader(
    name: str, settings: TencentCccSettings, env: Mapping[str, str], *, listing_only: bool = False
) -> TencentCccUploader:
    """The client for these settings; one `listing_only` needs no audio source (nor S3
    credentials). The client (and the SDK, ~0.2 s) is imported only here."""
    from ivrsync.providers.audio_source import audio_urls
    from ivrsync.providers.tencent_ccc_client import NO_AUDIO_URLS, TencentCccUploader

    with credentials_checked():
        secret_id = credential(env, name, "secret_id_env", settings.secret_id_env)
        secret_key = credential(env, name, "secret_key_env", settings.secret_key_env)
        urls = NO_AUDIO_URLS if listing_only else audio_urls(settings.audio_source, env, name)
    return TencentCccUploader(
        name,
        secret_id,
        secret_key,
        urls,
        sdk_app_id=settings.sdk_app_id,
        endpoint=settings.endpoint,
        region=settings.region,
        rate_limit=settings.rate_limit,
        batch_size=settings.batch_size,
        daily_quota=settings.daily_quota,
    )


def uploader(name: str, settings: TencentCccSettings, env: Mapping[str, str]) -> Uploader:
    return make_uploader(name, settings, env)


def reviews(
    name: str, settings: TencentCccSettings, env: Mapping[str, str], file_ids: list[str]
) -> ReviewReport:
    """DescribeIvrAudioList gives every file's Status; a FileId it no longer lists is drift."""
    files = make_uploader(name, settings, env, listing_only=True).describe()
    return ReviewReport({f.file_id: (f.status, None) for f in files}, {f.file_id for f in files})
