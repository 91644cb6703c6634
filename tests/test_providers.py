"""The registry is the one list of provider types, and each provider module states what it
knows once: its settings model, its capabilities. The dependency runs manifest -> providers."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType
from typing import get_args

from ivrsync.manifest.schema import Manifest
from ivrsync.providers import PROVIDER_TYPES, huawei_aicc, tencent_ccc
from ivrsync.providers.base import ProviderType, Uploader
from ivrsync.providers.huawei_aicc import HuaweiAiccSettings
from ivrsync.providers.huawei_aicc_client import HuaweiAiccUploader
from ivrsync.providers.tencent_ccc import TencentCccSettings
from ivrsync.providers.tencent_ccc_client import TencentCccUploader

CLIENTS: dict[ModuleType, type[Uploader]] = {
    huawei_aicc: HuaweiAiccUploader,
    tencent_ccc: TencentCccUploader,
}


def test_the_manifest_accepts_exactly_the_registered_provider_types() -> None:
    union = get_args(Manifest.model_fields["providers"].annotation)[1]
    members = get_args(get_args(union)[0])
    assert members == tuple(provider.SETTINGS for provider in PROVIDER_TYPES.values())
    for type_name, provider in PROVIDER_TYPES.items():
        assert get_args(provider.SETTINGS.model_fields["type"].annotation) == (type_name,)


def test_the_providers_do_not_import_the_manifest() -> None:
    code = (
        "import sys, ivrsync.providers, ivrsync.providers.huawei_aicc_client, "
        "ivrsync.providers.tencent_ccc_client; "
        "print(sorted(m for m in sys.modules if m.startswith('ivrsync.manifest')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_listing_is_declared_once_by_the_provider_type() -> None:
    """CAN_LIST on the provider module; an uploader carries no flag of its own to disagree."""
    assert "can_list" not in Uploader.__annotations__
    for uploader in CLIENTS.values():
        assert not hasattr(uploader, "can_list")


def test_each_client_offers_exactly_what_its_type_declares() -> None:
    """A client has the look-ups, updates and deletes its type declares, and no method that
    exists only to say it cannot (the core asks for none where the type says no)."""
    for kind, client in CLIENTS.items():
        assert (hasattr(client, "find") and hasattr(client, "files_by_id")) is kind.CAN_LIST
        assert hasattr(client, "update") is kind.CAN_UPDATE
        assert hasattr(client, "delete") is kind.CAN_DELETE


def test_each_provider_module_is_typed_with_its_own_settings() -> None:
    """mypy checks these assignments (the tests are type-checked): each module satisfies the
    protocol with its own settings model, not `Any`."""
    huawei: ProviderType[HuaweiAiccSettings] = huawei_aicc
    tencent: ProviderType[TencentCccSettings] = tencent_ccc
    assert {huawei, tencent} <= set(PROVIDER_TYPES.values())
