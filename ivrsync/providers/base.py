"""The provider protocol: what ivrsync must know about each provider type.

Each provider type is a module that satisfies `ProviderType` (as pre-commit's languages do);
`ivrsync.providers.PROVIDER_TYPES` maps the manifest's `type:` to it. What every provider
shares lives here beside the protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from ivrsync.audio import AudioInfo
from ivrsync.errors import Severity


@dataclass(frozen=True, slots=True)
class Finding:
    """What a provider would refuse, or change, about one resource; the caller adds where."""

    code: str
    message: str
    severity: Severity = Severity.ERROR


class ProviderType(Protocol):
    # The `type:` value in the manifest.
    TYPE: str
    # Locales the API accepts, or None when it takes any.
    LOCALES: frozenset[str] | None

    # The remote name for (prompt, locale) by the documented rule; `base` replaces the prompt.
    def derive_remote_name(self, prompt: str, locale: str, base: str | None) -> str: ...

    # Why a remote name would be refused, or None when it is allowed.
    def remote_name_problem(self, name: str) -> str | None: ...

    # What the provider would refuse or transcode in this audio, known before any upload.
    def audio_findings(self, settings: Any, audio: AudioInfo) -> list[Finding]: ...

    # What an upload sends besides the bytes and the name; a change to one means a re-upload.
    def uploaded_attributes(self, voice_type: str, audio: AudioInfo) -> dict[str, str]: ...

    # Uploads allowed per provider day, or None when the provider documents no such limit.
    def daily_quota(self, settings: Any) -> int | None: ...


def base64_size(size: int) -> int:
    return 4 * math.ceil(size / 3)


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB ({size:,} bytes)"
