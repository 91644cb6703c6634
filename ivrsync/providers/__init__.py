"""Provider types by the manifest's `type:` value."""

from __future__ import annotations

from ivrsync.providers import huawei_aicc, tencent_ccc
from ivrsync.providers.base import ProviderType

PROVIDER_TYPES: dict[str, ProviderType] = {
    huawei_aicc.TYPE: huawei_aicc,
    tencent_ccc.TYPE: tencent_ccc,
}
