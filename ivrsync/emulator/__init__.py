"""Local emulators of the provider APIs, so the demo, tests and CI dry-runs need no cloud account.

They are product features, not test doubles: each enforces the rules its provider documents
and answers a broken request the way the provider would. `common` holds the shared server
plumbing; each provider has its own module.
"""

from __future__ import annotations

from ivrsync.emulator.common import Faults
from ivrsync.emulator.huawei import (
    CallbackAttempt,
    HuaweiEmulator,
    HuaweiEmulatorConfig,
    HuaweiFaults,
    UploadRecord,
)
from ivrsync.emulator.tencent import IvrAudioRecord, TencentEmulator, TencentEmulatorConfig

__all__ = [
    "CallbackAttempt",
    "Faults",
    "HuaweiEmulator",
    "HuaweiEmulatorConfig",
    "HuaweiFaults",
    "IvrAudioRecord",
    "TencentEmulator",
    "TencentEmulatorConfig",
    "UploadRecord",
]
