"""Huawei Cloud AICC: `importVoiceFile/upload` rules (docs/providers/huawei-aicc.md#upload)."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, Literal

from pydantic import Field

from ivrsync.audio import AudioInfo
from ivrsync.errors import Severity
from ivrsync.processing.recipe import NativeAudio
from ivrsync.providers.base import (
    Finding,
    ReviewReport,
    Starter,
    Uploader,
    base64_size,
    credential,
    credentials_checked,
    megabytes,
)
from ivrsync.settings import (
    Acknowledgement,
    EndpointUrl,
    EnvName,
    HttpUrl,
    PromptOption,
    ProviderSettingsBase,
    acknowledge_field,
)

TYPE = "huawei-aicc"
VENDOR = "Huawei"
# The `locale` values the upload API lists (the console offers more; the API these four).
LOCALES: frozenset[str] | None = frozenset({"zh_CN", "en_US", "pt_BR", "th_TH"})
# No daily quota is documented, so no day boundary (docs/providers/huawei-aicc.md#rate-limit).
QUOTA_TIME_ZONE: tzinfo | None = None
# No public API lists, queries or deletes uploaded voice files.
CAN_LIST = False
# importVoiceFile/upload is the only write: an upload can be neither changed nor deleted
# (docs/providers/huawei-aicc.md#what-the-api-cannot-do).
CAN_UPDATE = False
CAN_DELETE = False
# Every upload is reviewed before flows may use it (docs/providers/huawei-aicc.md#review-callback).
REVIEWS = True
# Review results are POSTed to callback_url (docs/providers/huawei-aicc.md#review-callback), in
# the format `ivrsync review-server` reads with this (imported only there).
REVIEW_CALLBACKS: str | None = "ivrsync.providers.huawei_aicc_callbacks:CALLBACKS"
# "The maximum size is 8 MB": read as 8,000,000 bytes of base64 text unless the manifest says
# `size_limit_of: file` (the documentation does not say which).
MAX_UPLOAD_BYTES = 8_000_000
# `voiceFileName`: at most 50 Chinese characters, letters and digits.
MAX_NAME_LENGTH = 50
NAME_CHARS = "A-Za-z0-9\u3400-\u4dbf\u4e00-\u9fff"
_NAME = re.compile(f"^[{NAME_CHARS}]{{1,{MAX_NAME_LENGTH}}}$")
_NOT_NAME_CHARS = re.compile(f"[^{NAME_CHARS}]+")
# `fileId` in upload answers and callbacks, e.g. 1182733043937561608.
FILE_ID = re.compile(r"[1-9][0-9]{18}")
# What the platform transcodes every upload to.
NATIVE_FORMAT = "WAV A-law, 8000 Hz, mono"
# The same, as processing makes it.
NATIVE_AUDIO = NativeAudio("wav", "alaw", 8000, 1)
# `voiceType` of each upload (docs/providers/huawei-aicc.md#upload): a prompt's, or the default.
VoiceType = Literal["ivr", "prompt_tone", "fault_tone", "voice_notification"]
# The emulator `ivrsync emulator` serves (an Emulation), imported only when it is served.
EMULATOR: str | None = "ivrsync.emulator.huawei:EMULATION"
PROMPT_OPTIONS: Mapping[str, PromptOption] = {
    "voice_type": PromptOption(VoiceType, "ivr", "the kind of prompt (Huawei's voiceType)"),
}


class HuaweiAiccSettings(ProviderSettingsBase):
    """Huawei Cloud AICC (`importVoiceFile/upload`)."""

    type: Literal["huawei-aicc"]
    endpoint: EndpointUrl = Field(description="scheme://host[:port] of the tenant's API gateway")
    app_key_env: EnvName = Field(
        "AICC_APP_KEY", description="the variable holding the app key (never the key itself)"
    )
    app_secret_env: EnvName = Field(
        "AICC_APP_SECRET", description="the variable holding the app secret"
    )
    callback_url: HttpUrl | None = Field(
        None, description="where Huawei posts review results; may use ${ENV} for its secret"
    )
    rate_limit: float = Field(10, gt=0, le=10, description="requests per second (documented: 10)")
    reviews_url: HttpUrl | None = Field(
        None,
        description="the `ivrsync review-server` that receives the review callbacks: "
        "`ivrsync refresh` reads the results there",
    )
    reviews_token_env: EnvName = Field(
        "IVRSYNC_REVIEW_TOKEN", description="the variable holding the review server's token"
    )
    size_limit_of: Literal["base64", "file"] = Field(
        "base64",
        description="whether the 8 MB limit applies to the base64 text (stricter, default) "
        "or to the file itself",
    )
    acknowledge: list[Acknowledgement] = acknowledge_field("every prompt of this provider")


SETTINGS = HuaweiAiccSettings

STARTER: Starter | None = Starter(
    title="Huawei Cloud AICC",
    name="aicc",
    settings="""\
    type: huawei-aicc                         # the provider: Huawei Cloud AICC
    endpoint: ${AICC_ENDPOINT:-https://service.besclouds.com}  # your tenant's API gateway
    app_key_env: AICC_APP_KEY                 # the variable that holds the app key
    app_secret_env: AICC_APP_SECRET           # the variable that holds the app secret
    # callback_url: https://ivr.example.com/callbacks/${IVRSYNC_REVIEW_TOKEN}  # for review results
    # rate_limit: 10                          # requests a second, at most the documented 10
    # reviews_url: https://ivr.example.com    # the `ivrsync review-server` refresh reads from
    # reviews_token_env: IVRSYNC_REVIEW_TOKEN # the variable that holds its token
    # size_limit_of: base64                   # the 8 MB limit counts the base64 text, or: file
    # acknowledge: []                         # accepted warnings, counted not listed (docs/manifest.md)
""",  # noqa: E501
    to_upload="set AICC_APP_KEY and AICC_APP_SECRET (and AICC_ENDPOINT for your tenant)",
)


def _camel(text: str) -> str:
    if _NAME.fullmatch(text):  # most names and every locale's parts: one word already
        return text[:1].upper() + text[1:]
    return "".join(word[:1].upper() + word[1:] for word in _NOT_NAME_CHARS.split(text))


# A repository has a handful of locales and one name per prompt and locale.
_camel_locale = functools.lru_cache(maxsize=64)(_camel)


def derive_remote_name(prompt: str, locale: str, base: str | None) -> str:
    """`main-menu` in `en_US` -> `MainMenuEnUS`; names over 50 characters keep 42 and a hash.

    The hash keeps long derived names distinct and the same on every run. A name the user
    chose (`base`) is never shortened: one that is too long is reported instead.
    """
    name = (base if base is not None else _camel(prompt)) + _camel_locale(locale)
    if len(name) <= MAX_NAME_LENGTH or base is not None:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name[: MAX_NAME_LENGTH - 8] + digest


def remote_name_problem(name: str) -> str | None:
    if _NAME.fullmatch(name):
        return None
    bad = sorted(set("".join(_NOT_NAME_CHARS.findall(name))))
    if bad:
        why = "contains " + ", ".join(repr(c) for c in bad)
    else:
        why = f"is {len(name)} characters long" if name else "is empty"
    return (
        f"'{name}' {why}; a Huawei voiceFileName is at most {MAX_NAME_LENGTH} letters, "
        "digits and Chinese characters (no spaces, '_', '-' or '.')"
    )


def upload_size(settings: HuaweiAiccSettings, size: int) -> int:
    return base64_size(size) if settings.size_limit_of == "base64" else size


def is_native(audio: AudioInfo) -> bool:
    """True when Huawei AICC would play the file without transcoding.

    AICC converts every prompt to 8 kHz mono A-law WAV; a file already in
    that form cannot lose quality or change length on upload.
    """
    return (
        audio.format == "wav"
        and audio.codec == "alaw"
        and audio.sample_rate == 8000
        and audio.channels == 1
    )


def audio_findings(settings: HuaweiAiccSettings, audio: AudioInfo) -> list[Finding]:
    findings: list[Finding] = []
    measured = upload_size(settings, audio.size)
    if measured > MAX_UPLOAD_BYTES:
        what = "its base64 text" if settings.size_limit_of == "base64" else "the file"
        findings.append(
            Finding(
                "too-large",
                f"{what} is {megabytes(measured)}; Huawei AICC accepts at most "
                f"{megabytes(MAX_UPLOAD_BYTES)} (size_limit_of: {settings.size_limit_of})",
            )
        )
    if not is_native(audio):
        channels = "mono" if audio.channels == 1 else f"{audio.channels} channels"
        described = f"{audio.format.upper()} {audio.codec}, {audio.sample_rate} Hz, {channels}"
        findings.append(
            Finding(
                "transcoded",
                f"the audio is {described}; Huawei AICC transcodes it to {NATIVE_FORMAT} and "
                "quality may suffer: let ivrsync convert it (`process:` in "
                "ivrsync.yaml: this provider's name, `native`) to hear what callers will hear",
                Severity.WARNING,
                subject=described,
            )
        )
    return findings


def uploaded_attributes(options: Mapping[str, Any], audio: AudioInfo) -> dict[str, str]:
    return {"voice_type": options["voice_type"], "file_type": audio.format}


def daily_quota(settings: HuaweiAiccSettings) -> int | None:
    return None


def uploaded_name(settings: HuaweiAiccSettings, remote_name: str, sha256: str) -> str:
    return remote_name


def file_id_problem(file_id: str) -> str | None:
    """`fileId` is a 19-digit number (docs/providers/huawei-aicc.md#answers-and-errors)."""
    if FILE_ID.fullmatch(file_id):
        return None
    return f"'{file_id}' is not a Huawei AICC FileId: those are 19-digit numbers"


def content_problem(settings: HuaweiAiccSettings, remote_name: str, sha256: str) -> str | None:
    return None  # nothing lists uploads: there is no name to compare


def uploader(name: str, settings: HuaweiAiccSettings, env: Mapping[str, str]) -> Uploader:
    from ivrsync.providers.huawei_aicc_client import HuaweiAiccClient, HuaweiAiccUploader

    with credentials_checked():
        app_key = credential(env, name, "app_key_env", settings.app_key_env)
        app_secret = credential(env, name, "app_secret_env", settings.app_secret_env)
    client = HuaweiAiccClient(
        settings.endpoint,
        app_key,
        app_secret,
        provider=name,
        callback_url=settings.callback_url,
    )
    return HuaweiAiccUploader(client, settings.rate_limit)


def reviews(
    name: str, settings: HuaweiAiccSettings, env: Mapping[str, str], file_ids: list[str]
) -> ReviewReport:
    """Huawei only calls back: the results are read from the `ivrsync review-server` that
    received them. Nothing lists uploads, so drift cannot be seen."""
    if settings.reviews_url is None:
        return ReviewReport(
            {},
            None,
            note=f"{name}: no reviews_url in ivrsync.yaml, so Huawei's review results (sent "
            "to callback_url) cannot be read; run `ivrsync review-server` and set reviews_url",
        )
    from ivrsync.reviews.client import ReviewClient

    token = credential(env, name, "reviews_token_env", settings.reviews_token_env)
    with ReviewClient(settings.reviews_url, token) as client:
        found = client.results(file_ids)
    return ReviewReport({fid: (r.status, r.comment) for fid, r in found.items()}, None)
