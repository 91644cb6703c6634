"""Provider types by the manifest's `type:` value."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any

from ivrsync.providers import huawei_aicc, tencent_ccc
from ivrsync.providers.base import ProviderType

PROVIDER_TYPES: dict[str, ProviderType[Any]] = {
    huawei_aicc.TYPE: huawei_aicc,
    tencent_ccc.TYPE: tencent_ccc,
}


def quota_time_zone(provider_type: str) -> tzinfo:
    """The zone of the day a provider's uploads are counted by: the one its daily quota
    counts in, or UTC where it has none. Raises KeyError for an unregistered type."""
    return PROVIDER_TYPES[provider_type].QUOTA_TIME_ZONE or UTC


def vendors(*, can_list: bool) -> list[str]:
    """The companies whose provider types can (or cannot) look uploads up, for messages that
    say what apply does with an upload in doubt."""
    return sorted({kind.VENDOR for kind in PROVIDER_TYPES.values() if kind.CAN_LIST is can_list})
