"""Provider types by the manifest's `type:` value: the built-in ones, and those of installed
packages (plug-ins, entry-point group `ivrsync.providers`; docs/plugins.md).

A plug-in that cannot be used (it fails to import, lacks a member of the protocol, or declares
a type another distribution declares too) is left out of `PROVIDER_TYPES` and noted in
`UNUSABLE`: the other providers work, and a manifest that names its type gets the reason.
"""

from __future__ import annotations

import importlib
import logging
import re
from datetime import UTC, tzinfo
from importlib import metadata
from typing import Any, Literal, cast, get_args, get_origin

from ivrsync.providers import amazon_connect, huawei_aicc, tencent_ccc
from ivrsync.providers.base import ProviderType
from ivrsync.settings import ProviderSettingsBase

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ivrsync.providers"
# Who declares the built-in types, as a clash names it.
BUILT_IN = "ivrsync (built in)"

PROVIDER_TYPES: dict[str, ProviderType[Any]] = {
    huawei_aicc.TYPE: huawei_aicc,
    tencent_ccc.TYPE: tencent_ccc,
    amazon_connect.TYPE: amazon_connect,
}
# Types that installed plug-ins declare but that cannot be used, with why (one line).
UNUSABLE: dict[str, str] = {}

# "module:attribute", how a provider type names what the registry must not import itself
# (EMULATOR, REVIEW_CALLBACKS): it is imported only by the command that uses it.
_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")

# What a provider type must have: the protocol's attributes and functions.
PROTOCOL_MEMBERS: tuple[str, ...] = tuple(
    sorted(
        name
        for name in {*ProviderType.__annotations__, *vars(ProviderType)}
        if not name.startswith("_")
    )
)


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def _problem(kind: object, type_name: str) -> str | None:
    """Why `kind` cannot serve as provider type `type_name`, or None when it can. Checked
    before the manifest's union is built from it, which a wrong SETTINGS would break."""
    missing = [name for name in PROTOCOL_MEMBERS if not hasattr(kind, name)]
    if missing:
        return f"it lacks {', '.join(missing)} (see ivrsync.providers.base.ProviderType)"
    declared = getattr(kind, "TYPE", None)
    if declared != type_name:
        return f"its TYPE is {declared!r}, and its entry point names it {type_name!r}"
    for member in ("EMULATOR", "REVIEW_CALLBACKS"):
        value = getattr(kind, member)
        if value is not None and not (isinstance(value, str) and _REFERENCE.fullmatch(value)):
            return f'its {member} must be None or "module:attribute", not {value!r}'
    settings = getattr(kind, "SETTINGS", None)
    if not (isinstance(settings, type) and issubclass(settings, ProviderSettingsBase)):
        return "its SETTINGS is not a model derived from ivrsync.settings.ProviderSettingsBase"
    field = settings.model_fields.get("type")
    annotation = field.annotation if field is not None else None
    if get_origin(annotation) is not Literal or get_args(annotation) != (type_name,):
        return f'its SETTINGS must declare `type: Literal["{type_name}"]`'
    return None


def _load_plugins() -> None:
    """Add each installed plug-in's provider type, or note why it cannot be used."""
    declared_by = dict.fromkeys(PROVIDER_TYPES, BUILT_IN)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        name, source = entry.name, _distribution(entry)
        where = f"the provider plug-in '{name}' of {source} (entry point {entry.value!r})"
        if name in declared_by:
            PROVIDER_TYPES.pop(name, None)
            UNUSABLE[name] = (
                f"the provider type '{name}' is declared by both {declared_by[name]} and "
                f"{source}: uninstall one of them"
            )
            continue
        declared_by[name] = source
        try:
            kind = entry.load()
        except Exception as error:  # any failure is the plug-in's own
            log.debug("%s cannot be imported", where, exc_info=True)
            UNUSABLE[name] = f"{where} cannot be imported: {type(error).__name__}: {error}"
            continue
        problem = _problem(kind, name)
        if problem is not None:
            UNUSABLE[name] = f"{where} cannot be used: {problem}"
            continue
        PROVIDER_TYPES[name] = cast(ProviderType[Any], kind)


_load_plugins()


def load(reference: str) -> object:
    """What a "module:attribute" reference of a provider type names (EMULATOR,
    REVIEW_CALLBACKS), imported now."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def quota_time_zone(provider_type: str) -> tzinfo:
    """The zone of the day a provider's uploads are counted by: the one its daily quota
    counts in, or UTC where it has none. Raises KeyError for an unregistered type."""
    return PROVIDER_TYPES[provider_type].QUOTA_TIME_ZONE or UTC


def vendors(*, can_list: bool) -> list[str]:
    """The companies whose provider types can (or cannot) look uploads up, for messages that
    say what apply does with an upload in doubt."""
    return sorted({kind.VENDOR for kind in PROVIDER_TYPES.values() if kind.CAN_LIST is can_list})
