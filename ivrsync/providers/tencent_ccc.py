"""Tencent Cloud CCC: `UploadIvrAudio` rules (reference/tencent-ccc.md, section 1)."""

from __future__ import annotations

from collections.abc import Mapping

from ivrsync.audio import AudioInfo
from ivrsync.errors import IvrsyncError
from ivrsync.manifest.schema import TencentCccSettings
from ivrsync.providers.base import Finding, Uploader, megabytes

TYPE = "tencent-ccc"
# Tencent has no locale parameter: any locale is the user's own label.
LOCALES: frozenset[str] | None = None
# `AudioUrl`: "mp3 and wav, file no larger than 5 MB", read as 5,000,000 bytes.
MAX_AUDIO_BYTES = 5_000_000


def derive_remote_name(prompt: str, locale: str, base: str | None) -> str:
    """`CustomFileName` is free text: `welcome.en_US`, or the base with the locale."""
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


def uploaded_attributes(voice_type: str, audio: AudioInfo) -> dict[str, str]:
    """Tencent takes no voice type: only the file and its name go up."""
    return {}


def daily_quota(settings: TencentCccSettings) -> int | None:
    return settings.daily_quota


def uploader(name: str, settings: TencentCccSettings, env: Mapping[str, str]) -> Uploader:
    raise IvrsyncError(
        f"{name}: uploading to Tencent Cloud CCC is not built yet; limit apply to other "
        "providers with --target (e.g. --target 'aicc.*')"
    )
