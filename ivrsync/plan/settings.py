"""What changed in a provider's settings, and which changes decide where credentials or audio go.

Used twice: a plan shows the settings against those of the last upload to the provider (kept
in the state), and apply names the settings that differ from those a saved plan was made with.
Both compare secret-free settings (`Project.public_settings`): a secret never reaches a diff.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from ivrsync.plan.model import SettingChange
from ivrsync.providers import PROVIDER_TYPES

# Settings holding a URL or host: a new host there is where credentials, tokens or review
# results are sent (`callback_url` carries its token; `reviews_url` is sent the review token).
_HOST_SETTINGS = {
    ("endpoint",): "credentials are sent to",
    ("callback_url",): "review results and the callback's token are sent to",
    ("reviews_url",): "the review server's token is sent to",
}
# Settings whose any change decides where uploads or audio go: the audio's source, and those
# each provider type declares (`DECIDING` on its settings model).
_WHOLE_SETTINGS = {
    **{
        (key,): what
        for kind in PROVIDER_TYPES.values()
        for key, what in kind.SETTINGS.DECIDING.items()
    },
    ("audio_source",): "the audio is published from another place",
}


def dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in path)


Difference = tuple[tuple[str | int, ...], Any, Any]  # path, before, after (None: absent)


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[Difference]:
    """Every value that differs between two nested mappings, by path (deepdiff finds them:
    changed, added, removed, of another type), sorted by path."""
    if before == after:
        return []
    from deepdiff import DeepDiff

    tree = DeepDiff(before, after, view="tree", verbose_level=2)
    found: dict[str, Difference] = {}
    for levels in tree.values():
        for level in levels:
            path = tuple(level.path(output_format="list"))
            old = None if _absent(level.t1) else level.t1
            new = None if _absent(level.t2) else level.t2
            found[dotted(path)] = (path, old, new)
    return [found[key] for key in sorted(found)]


def diff_settings(before: dict[str, Any], after: dict[str, Any]) -> list[SettingChange]:
    """One change per setting that differs, nested settings included, sorted by path."""
    return [_change(path, old, new) for path, old, new in differences(before, after)]


def _absent(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _change(path: tuple[str | int, ...], before: Any, after: Any) -> SettingChange:
    caution = None
    for prefix, what in _HOST_SETTINGS.items():
        if path[: len(prefix)] == prefix and _host(before) != _host(after):
            caution = f"{what} {_host(after) or '(none)'} (was {_host(before) or '(none)'})"
    for prefix, what in _WHOLE_SETTINGS.items():
        if path[: len(prefix)] == prefix:
            caution = what
    return SettingChange(
        path=dotted(path),
        before=_text(before),
        after=_text(after),
        caution=caution is not None,
        why=caution or "",
    )


def _host(value: Any) -> str | None:
    """The host of a URL, or of `host[:port]` (Tencent's endpoint)."""
    if not isinstance(value, str):
        return None
    text = value if "://" in value else f"//{value}"
    try:
        return urlsplit(text).hostname
    except ValueError:
        return value


def _text(value: Any) -> str | None:
    """A setting's value as a reviewer reads it: strings as they are, the rest as JSON."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def leaf_paths(settings: dict[str, Any]) -> list[tuple[str | int, ...]]:
    """The path of every value in nested settings (for their origins)."""
    paths: list[tuple[str | int, ...]] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        else:
            paths.append(path)

    walk(settings, ())
    return paths
