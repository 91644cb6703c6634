"""Turn pydantic's validation errors into problems a person can act on, at file:line:column."""

from __future__ import annotations

import datetime
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ivrsync.errors import Problem
from ivrsync.manifest.schema import STATE_BACKENDS
from ivrsync.manifest.yaml_source import DataPath, YamlDocument
from ivrsync.providers import PROVIDER_TYPES, UNUSABLE

# Keys people try when they mean to give a secret; the manifest only names variables.
_SECRET_HINTS = {
    "app_key": "app_key_env",
    "app_secret": "app_secret_env",
    "secret_id": "secret_id_env",
    "secret_key": "secret_key_env",
    "access_key_id": "access_key_id_env",
    "secret_access_key": "secret_access_key_env",
}


# Entries of these maps are independent: one with errors is left out and the rest checked.
_SEPARABLE = ("prompts", "providers")
# What a salvage pass writes in place of a required key the user got wrong.
_STAND_INS = {"version": 1}


@dataclass
class Checked:
    """The validated model (None when nothing usable is left) and what was left out."""

    model: BaseModel | None
    problems: list[Problem]
    left_out: dict[str, set[str]] = field(default_factory=dict)


def validate(model: type[BaseModel], data: Any, document: YamlDocument) -> Checked:
    """Validate `data`, reporting every error, and salvage what the errors do not touch.

    A prompt or provider with errors is left out, a wrong optional setting falls back to its
    default, so that the rest (other prompts, paths, audio) is still checked in the same run.
    """
    try:
        return Checked(model.model_validate(data), [])
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    problems = _problems(model, document, errors)
    salvaged = _salvage(model, data, [error["loc"] for error in errors])
    if salvaged is None:
        return Checked(None, problems)
    data, left_out = salvaged
    try:
        return Checked(model.model_validate(data), problems, left_out)
    except ValidationError:
        return Checked(None, problems)


def _salvage(
    model: type[BaseModel], data: Any, locs: list[tuple[int | str, ...]]
) -> tuple[dict[str, Any], dict[str, set[str]]] | None:
    if not isinstance(data, dict):
        return None
    data = dict(data)
    left_out: dict[str, set[str]] = {}
    for loc in locs:
        top = str(loc[0]) if loc else ""
        if top in _SEPARABLE and len(loc) >= 2 and isinstance(data.get(top), dict):
            left_out.setdefault(top, set()).add(str(loc[1]))
        elif top in _STAND_INS:
            data[top] = _STAND_INS[top]
        elif top in data and (top not in model.model_fields or not _required(model, top)):
            del data[top]  # an unknown key, or an optional one that falls back to its default
        else:
            return None
    for section, names in left_out.items():
        data[section] = {k: v for k, v in data[section].items() if k not in names}
    if "providers" in model.model_fields and not data.get("providers"):
        return None
    return data, left_out


def _required(model: type[BaseModel], key: str) -> bool:
    return model.model_fields[key].is_required()


def _problems(
    model: type[BaseModel], document: YamlDocument, errors: list[ErrorDetails]
) -> list[Problem]:
    """One problem per error, except that the type errors of a union at one place become one."""
    problems: list[Problem] = []
    wrong_types: dict[DataPath, tuple[int, list[str]]] = {}
    paths = [_data_path(document.data, error["loc"])[0] for error in errors]
    # A union member that took the value's shape (a map for `str | dict`) reports errors
    # inside it (a key missing from the map counts); the other members' "wrong type" at the
    # value itself is noise then.
    inside = {path[:depth] for path in paths for depth in range(len(path))}
    inside |= {path for path, e in zip(paths, errors, strict=True) if e["type"] == "missing"}
    for error, path in zip(errors, paths, strict=True):
        kind = error["type"]
        if kind in _TYPE_WORDS:
            if path in inside:
                continue
            if path in wrong_types:
                wrong_types[path][1].append(_TYPE_WORDS[kind])
                continue
            wrong_types[path] = (len(problems), [_TYPE_WORDS[kind]])
        problems.append(_problem(model, document, error))
    for path, (index, words) in wrong_types.items():
        if len(words) > 1:
            first = problems[index]
            unique = list(dict.fromkeys(words))
            expected = ", ".join(unique[:-1]) + " or " * (len(unique) > 1) + unique[-1]
            got = _shown(_value_at(document.data, path))
            message = f"{_dotted(path)}: must be {expected} (got {got})"
            problems[index] = Problem(first.code, message, first.location)
    return problems


# What a person calls the type pydantic expected, by its error type.
_MAP = "a map (`key: value` lines)"
_TYPE_WORDS = {
    "dict_type": _MAP,
    "model_type": _MAP,
    "model_attributes_type": _MAP,
    "list_type": "a list (`[a, b]` or `- a` lines)",
    "string_type": "text",
    "string_unicode": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


# Number limits: pydantic's error type -> (words, ctx key).
_BOUNDS = {
    "greater_than": ("more than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def _value_at(data: Any, path: DataPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _shown(value: Any) -> str:
    """A value as the user wrote it, and what YAML read it as when that is a surprise."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a map" if value else "an empty map"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, bool | int | float | datetime.date | bytes):
        kind = {bool: "true/false", bytes: "binary data"}.get(type(value))
        if isinstance(value, datetime.date):
            kind = "a date"
        return f"{value!r}" if kind is None else f"{value!s}, which YAML reads as {kind}"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _problem(model: type[BaseModel], document: YamlDocument, error: ErrorDetails) -> Problem:
    kind = error["type"]
    path, rest = _data_path(document.data, error["loc"])
    key = str(rest[0]) if rest else (str(path[-1]) if path else "")
    if kind == "extra_forbidden":
        # The unknown key is in the data, so `path` ends with it.
        key_path = (*path, key) if rest else path
        location = document.location(key_path, at_key=True)
        message = _unknown_key_message(model, error["loc"], key, _dotted(key_path[:-1]))
        return Problem("schema-extra-forbidden", message, location)
    is_prompt = path[:1] == ("prompts",) and len(path) == 2
    where_key = (
        kind in ("missing", "invalid_name")
        or "[key]" in rest
        or (is_prompt and kind in ("model_type", "dict_type"))
    )
    if kind == "union_tag_invalid":
        location = document.location((*path, _tag_key(error)))
    else:
        location = document.location(path, at_key=where_key)
    message = _message(error, path, key)
    return Problem(f"schema-{kind.replace('_', '-')}", message, location)


def _message(error: ErrorDetails, path: DataPath, key: str) -> str:
    """What is wrong at `path` and what is allowed there, in the manifest's own words."""
    kind = error["type"]
    subject = _dotted(path)
    ctx = error.get("ctx", {})
    got = f"(got {_shown(error['input'])})"
    if kind == "missing":
        message = f"missing required key '{key}'" + (f" in {subject}" if subject else "")
        if key == "audio":
            message += " (a prompt needs `audio:` mapping each locale to a file)"
        elif key == "version" and not path:
            message += " (write `version: 1` at the top of the file)"
        return message
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        message = (
            f"{subject}: unknown {_tag_key(error)} '{tag}'; allowed: {ctx.get('expected_tags')}"
        )
        if path[:1] == ("providers",):
            if tag in UNUSABLE:
                return f"{subject}: {UNUSABLE[tag]}"
            message += " (or a type of a provider plug-in: install its package; docs/plugins.md)"
        return message
    if kind == "union_tag_not_found":
        is_provider = path[:1] == ("providers",) and len(path) == 2
        allowed = ", ".join(PROVIDER_TYPES) if is_provider else "url, s3"
        return f"{subject}: missing required key 'type' (one of: {allowed})"
    if kind == "literal_error":
        expected = str(ctx.get("expected"))
        choice = "one of " if " or " in expected else ""
        note = ", the manifest format this ivrsync reads" if path == ("version",) else ""
        return f"{subject}: must be {choice}{expected}{note} {got}"
    if kind in ("model_type", "dict_type") and path[:1] == ("prompts",) and len(path) == 2:
        return f"prompt '{path[1]}' is empty or not a map: give it `audio:` with a file per locale"
    if kind == "too_short" and subject.endswith(".audio"):
        return f"{subject} is empty: list at least one locale and its audio file"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        size = ctx.get("min_length", ctx.get("max_length"))
        bound = "at least" if "short" in kind else "at most"
        if kind.startswith("string"):
            units = "character" if size == 1 else "characters"
        else:
            units = "entry" if size == 1 else "entries"
        return f"{subject}: must have {bound} {size} {units} {got}"
    if kind in _BOUNDS:
        word, limit = _BOUNDS[kind]
        return f"{subject}: must be {word} {ctx.get(limit)} {got}"
    if kind in _TYPE_WORDS:
        message = f"{subject}: must be {_TYPE_WORDS[kind]} {got}"
        value = error["input"]
        if kind == "string_type" and isinstance(value, bool | int | float | datetime.date):
            message += "; put it in quotes to make it text"
        return message
    return f"{subject}: {error['msg']}" if subject else error["msg"]


def _tag_key(error: ErrorDetails) -> str:
    """The key that tells a union's members apart: `type`, or `backend` for the state."""
    return str(error.get("ctx", {}).get("discriminator", "'type'")).strip("'")


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[DataPath, tuple[Any, ...]]:
    """The part of pydantic's `loc` that exists in the data, and what is left of it.

    pydantic adds union tags and `[key]` markers to `loc` that are not in the data.
    """
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and part in current:  # noqa: SIM114 - types differ
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif (
            isinstance(current, dict)
            and isinstance(part, str)
            and (
                part in PROVIDER_TYPES
                or part in ("url", "s3", *STATE_BACKENDS)
                # a union member's name, such as 'dict[...]', before a key of the data,
                # or a model's ('AudioFile') before the key it lacks
                or (index + 1 < len(loc) and (loc[index + 1] in current or part[:1].isupper()))
            )
        ):
            continue
        else:
            return tuple(path), tuple(loc[index:])
        path.append(part)
    return tuple(path), ()


def _dotted(path: DataPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unknown_key_message(
    model: type[BaseModel], loc: tuple[int | str, ...], key: str, subject: str
) -> str:
    allowed = _allowed_keys(model, loc[:-1])
    where = f" in {subject}" if subject else ""
    message = f"unknown key '{key}'{where}"
    if key in _SECRET_HINTS:
        return (
            f"{message}: secrets never go in a manifest; set `{_SECRET_HINTS[key]}` to the "
            "name of the environment variable that holds it"
        )
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        message += f" (did you mean '{close[0]}'?)"
    if allowed:
        message += f"; allowed: {', '.join(allowed)}"
    return message


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys of the model found by following `loc` through the manifest's types."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _step(tp: Any, part: int | str) -> Any:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        return field.annotation if field else None
    if origin is dict:
        return get_args(tp)[1]
    if origin is list:
        return get_args(tp)[0]
    if origin in (Union, types.UnionType):
        for annotated_member in get_args(tp):
            member = _unwrap(annotated_member)
            if member is type(None):
                continue
            if isinstance(member, type) and issubclass(member, BaseModel):
                fields = member.model_fields
                type_field = fields.get("type") or fields.get("backend")  # the union's tag
                if type_field and get_origin(type_field.annotation) is Literal:
                    if part in get_args(type_field.annotation):
                        return member
                elif str(part) in member.model_fields:
                    return _step(member, part)
            elif get_origin(member) is dict:
                return _step(member, part)
    return None
