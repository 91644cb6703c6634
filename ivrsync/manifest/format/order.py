"""The canonical key order `fmt` writes, read from the manifest models in schema.py.

Declared once: a field added to a model takes its place in formatted files by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, get_args, get_origin

from ivrsync.manifest.schema import (
    AudioFile,
    Defaults,
    Manifest,
    MovedEntry,
    PromptSpec,
    ProviderSettings,
    StateSettings,
)
from ivrsync.settings import AudioSource


def _keys(model: Any) -> tuple[str, ...]:
    """The keys a model declares, as written in YAML (aliases such as `from`), in order."""
    return tuple(info.alias or name for name, info in model.model_fields.items())


def _by_type(union: Any, tag: str = "type") -> dict[str, tuple[str, ...]]:
    """`tag` value -> key order, for a discriminated union such as ProviderSettings."""
    while get_origin(union) is Annotated:  # Annotated[A | B, ...] -> A | B
        union = get_args(union)[0]
    members = get_args(union)
    return {get_args(model.model_fields[tag].annotation)[0]: _keys(model) for model in members}


ROOT_ORDER = _keys(Manifest)
STATE_ORDER = _by_type(StateSettings, "backend")
DEFAULTS_ORDER = _keys(Defaults)
PROVIDER_ORDER = _by_type(ProviderSettings)
AUDIO_SOURCE_ORDER = _by_type(AudioSource)
_AFTER_AUDIO = ("audio", "acknowledge")
PROMPT_ORDER = (*(key for key in _keys(PromptSpec) if key not in _AFTER_AUDIO), *_AFTER_AUDIO)
MOVED_ORDER = _keys(MovedEntry)
AUDIO_FILE_ORDER = _keys(AudioFile)


def canonical_keys(keys: Sequence[Any], order: Sequence[str] | None) -> list[Any]:
    """`keys` with the known ones (in `order`) sorted among the places they hold.

    Unknown keys keep their index. With `order` None every key is known and sorted by text.
    """
    if order is None:
        return sorted(keys, key=str)
    rank = {key: index for index, key in enumerate(order)}
    places = [i for i, key in enumerate(keys) if isinstance(key, str) and key in rank]
    known = sorted((keys[i] for i in places), key=lambda key: rank[key])
    result = list(keys)
    for place, key in zip(places, known, strict=True):
        result[place] = key
    return result


def _reorder(node: Any, order: Sequence[str] | None) -> None:
    if not isinstance(node, dict) or getattr(node, "merge", None):
        return
    mapping: Any = node  # a ruamel CommentedMap, an ordered dict
    keys = list(mapping)
    wanted = canonical_keys(keys, order)
    if wanted != keys:
        for key in wanted:
            mapping.move_to_end(key)


def _reorder_by_type(
    node: dict[Any, Any],
    orders: Mapping[str, tuple[str, ...]],
    tag: str = "type",
    default: str = "",
) -> None:
    """A map told apart by its `type:` (a provider, an audio source) or another `tag` (the
    state's `backend:`, `default` when absent), in that type's order."""
    kind = node.get(tag, default)
    _reorder(node, orders.get(kind, (tag,)) if isinstance(kind, str) else (tag,))


def reorder_manifest(data: Any) -> None:
    """Put a round-trip manifest (root or included file) in canonical key order, in place."""
    if not isinstance(data, dict):
        return
    _reorder(data, ROOT_ORDER)
    state = data.get("state")
    if isinstance(state, dict):
        _reorder_by_type(state, STATE_ORDER, "backend", "local")
    _reorder(data.get("defaults"), DEFAULTS_ORDER)
    providers = data.get("providers")
    if isinstance(providers, dict):
        for settings in providers.values():
            if not isinstance(settings, dict):
                continue
            _reorder_by_type(settings, PROVIDER_ORDER)
            source = settings.get("audio_source")
            if isinstance(source, dict):
                _reorder_by_type(source, AUDIO_SOURCE_ORDER)
    prompts = data.get("prompts")
    if isinstance(prompts, dict):
        for prompt in prompts.values():
            if not isinstance(prompt, dict):
                continue
            _reorder(prompt, PROMPT_ORDER)
            audio = prompt.get("audio")
            _reorder(audio, None)
            if isinstance(audio, dict):
                for entry in audio.values():
                    _reorder(entry, AUDIO_FILE_ORDER)
            _reorder(prompt.get("remote_name"), None)
    moved = data.get("moved")
    if isinstance(moved, list):
        for entry in moved:
            _reorder(entry, MOVED_ORDER)
