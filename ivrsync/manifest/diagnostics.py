"""Turn pydantic's validation errors into problems a person can act on, at file:line:column."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ivrsync.errors import Problem
from ivrsync.manifest.schema import PROVIDER_TYPES
from ivrsync.manifest.yaml_source import DataPath, YamlDocument

# Keys people try when they mean to give a secret; the manifest only names variables.
_SECRET_HINTS = {
    "app_key": "app_key_env",
    "app_secret": "app_secret_env",
    "secret_id": "secret_id_env",
    "secret_key": "secret_key_env",
    "access_key_id": "access_key_id_env",
    "secret_access_key": "secret_access_key_env",
}


def validate(
    model: type[BaseModel], data: Any, document: YamlDocument
) -> tuple[BaseModel | None, list[Problem]]:
    """Validate `data`; a prompt with errors is reported and left out so the rest is checked."""
    problems: list[Problem] = []
    while True:
        try:
            return model.model_validate(data), problems
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        problems.extend(_problem(model, document, error) for error in errors)
        in_prompts = [e["loc"] for e in errors if len(e["loc"]) >= 2 and e["loc"][0] == "prompts"]
        if len(in_prompts) < len(errors) or not isinstance(data, dict):
            return None, problems
        bad_prompts = {loc[1] for loc in in_prompts}
        # Every error is inside some prompts: drop them and check everything else.
        data = {
            **data,
            "prompts": {k: v for k, v in data["prompts"].items() if k not in bad_prompts},
        }


def _problem(model: type[BaseModel], document: YamlDocument, error: ErrorDetails) -> Problem:
    kind = error["type"]
    path, rest = _data_path(document.data, error["loc"])
    key = str(rest[0]) if rest else (str(path[-1]) if path else "")
    where_key = kind in ("extra_forbidden", "missing", "invalid_name") or "[key]" in rest
    location = document.location(
        (*path, key) if kind == "extra_forbidden" else path, at_key=where_key
    )
    subject = _dotted(path)
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        message = _unknown_key_message(model, error["loc"], key, subject)
    elif kind == "missing":
        message = f"missing required key '{key}'" + (f" in {subject}" if subject else "")
        if key == "audio":
            message += " (a prompt needs `audio:` mapping each locale to a file)"
    elif kind == "union_tag_invalid":
        message = f"{subject}: unknown type '{ctx.get('tag')}'; allowed: {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        allowed = ", ".join(PROVIDER_TYPES) if path[:1] == ("providers",) else "url, s3"
        message = f"{subject}: missing required key 'type' (one of: {allowed})"
    elif kind == "literal_error":
        message = f"{subject}: must be one of {ctx.get('expected')} (got {error['input']!r})"
    elif kind in ("model_type", "dict_type") and path[:1] == ("prompts",) and len(path) == 2:
        message = (
            f"prompt '{path[1]}' is empty or not a map: give it `audio:` with a file per locale"
        )
    elif kind == "too_short" and subject.endswith(".audio"):
        message = f"{subject} is empty: list at least one locale and its audio file"
    else:
        message = f"{subject}: {error['msg']}" if subject else error["msg"]
    return Problem(f"schema-{kind.replace('_', '-')}", message, location)


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
            and (part in PROVIDER_TYPES or part in ("url", "s3"))
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
        return list(current.model_fields)
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
                type_field = member.model_fields.get("type")
                if type_field and get_origin(type_field.annotation) is Literal:
                    if part in get_args(type_field.annotation):
                        return member
                elif str(part) in member.model_fields:
                    return _step(member, part)
            elif get_origin(member) is dict:
                return _step(member, part)
    return None
