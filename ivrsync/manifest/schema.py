"""The manifest language: every key a user may write, its type, default and limits.

This module is the only place that knows the YAML shape; each provider's settings model is
in its provider module, and the union of them is built from the registry. The JSON Schema that
editors use (`ivrsync schema`) is generated from these models, so the two cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticCustomError

from ivrsync.providers import PROVIDER_TYPES
from ivrsync.settings import (
    Acknowledgement,
    EndpointUrl,
    PromptOption,
    ProviderSettingsBase,
    SettingsModel,
    acknowledge_field,
    pattern_check,
)

ROOT_FILE = "ivrsync.yaml"

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
LOCALE_PATTERN = r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8}){0,2}$"

Name = Annotated[
    str,
    pattern_check(
        NAME_PATTERN, "name", "start with a letter, then letters, digits, '_' or '-' (at most 64)"
    ),
    WithJsonSchema({"type": "string", "pattern": NAME_PATTERN}),
]
Locale = Annotated[
    str,
    pattern_check(LOCALE_PATTERN, "locale", "write it like en_US, zh_CN or pt_BR"),
    WithJsonSchema({"type": "string", "pattern": LOCALE_PATTERN}),
]

if TYPE_CHECKING:
    ProviderSettings = ProviderSettingsBase
else:
    # One member per registered provider type, told apart by `type:`.
    ProviderSettings = Annotated[
        Union[tuple(provider.SETTINGS for provider in PROVIDER_TYPES.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]


def _file_path(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("invalid_path", "the path is empty")
    if not value.isprintable():
        raise PydanticCustomError(
            "invalid_path",
            "'{value}' contains a control character (NUL, newline, ...); write a plain path",
            {"value": value.encode("unicode_escape").decode("ascii")},
        )
    return value


# Versions of a remote state kept besides the current one, unless `history:` says.
DEFAULT_STATE_HISTORY = 20
# S3's rules for a bucket name (COS and OBS follow them): 3-63 lower-case letters, digits,
# dots and hyphens, starting and ending with a letter or digit.
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


def _object_key(value: str) -> str:
    """An object key the state and the objects next to it (`KEY.lock`, ...) can share."""
    _file_path(value)
    if value.startswith("/") or value.endswith("/"):
        raise PydanticCustomError(
            "invalid_key",
            "'{value}' starts or ends with '/': write a key such as team/ivrsync.state.json",
            {"value": value},
        )
    return value


class LocalStateSettings(SettingsModel):
    """The state in a file next to the manifests (the default)."""

    backend: Literal["local"] = Field("local", description="the state in a local file")
    path: Annotated[str, AfterValidator(_file_path)] = Field(
        "ivrsync.state.json", description="the state file, relative to ivrsync.yaml"
    )


class S3StateSettings(SettingsModel):
    """The state in S3-compatible object storage (S3, COS, OBS, MinIO), with its lock there;
    credentials from the standard AWS chain, never from here (docs/state-backends.md)."""

    backend: Literal["s3"] = Field(description="the state in an S3-compatible bucket")
    bucket: Annotated[
        str,
        pattern_check(
            BUCKET_PATTERN,
            "bucket name",
            "3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter "
            "or digit",
        ),
        WithJsonSchema({"type": "string", "pattern": BUCKET_PATTERN}),
    ] = Field(description="the bucket holding the state")
    key: Annotated[str, AfterValidator(_object_key)] = Field(
        description="the state object's key, e.g. contact-center/ivrsync.state.json"
    )
    endpoint: EndpointUrl | None = Field(
        None, description="the storage endpoint (COS, OBS, MinIO); omit for AWS S3"
    )
    region: str | None = Field(None, description="the storage region, where it needs one")
    history: int = Field(
        DEFAULT_STATE_HISTORY,
        ge=0,
        le=1000,
        description="versions kept besides the current one (KEY.history/)",
    )

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _local_by_default(value: Any) -> Any:
    """`state:` without `backend:` is the local file, as before backends existed."""
    if isinstance(value, dict) and "backend" not in value:
        return {"backend": "local", **value}
    return value


# Where the state lives, told apart by `backend:` (absent: local).
StateSettings = Annotated[
    Annotated[LocalStateSettings | S3StateSettings, Field(discriminator="backend")],
    BeforeValidator(_local_by_default),
]
STATE_BACKENDS = ("local", "s3")


def prompt_options() -> dict[str, PromptOption]:
    """The prompt-level settings of every registered provider type, by key; two types may
    share a key only with one declaration (the manifest has one `defaults.<key>`)."""
    options: dict[str, PromptOption] = {}
    for provider in PROVIDER_TYPES.values():
        for key, option in provider.PROMPT_OPTIONS.items():
            if options.setdefault(key, option) != option:
                raise TypeError(f"{provider.TYPE} declares prompt option {key!r} differently")
    return options


def _with_options(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    """`model` with `fields` declared right after its `providers`: where they stand is their
    place in the JSON Schema and in `fmt`'s key order."""
    declared: dict[str, Any] = {}
    for key, info in model.model_fields.items():
        declared[key] = (info.annotation, info)
        if key == "providers":
            declared.update(fields)
    return create_model(
        model.__name__,
        __base__=SettingsModel,
        __doc__=model.__doc__,
        __module__=__name__,
        **declared,
    )


class TrimSpec(SettingsModel):
    """Leading and trailing silence set to these lengths (cut or padded); unset: kept."""

    lead: float | None = Field(
        None, ge=0, le=10, description="seconds of silence before the speech"
    )
    trail: float | None = Field(
        None, ge=0, le=10, description="seconds of silence after the speech"
    )


class ProcessSteps(SettingsModel):
    """What processing does to a prompt's audio before it is uploaded (docs/manifest.md)."""

    convert: bool = Field(
        True, description="convert to the provider's native format (rate, channels, encoding)"
    )
    normalize: float | None = Field(
        None, ge=-60, le=0, description="speech level target in dBov (-26 is usual); unset: kept"
    )
    trim: TrimSpec | None = Field(None, description="leading and trailing silence lengths")


# `native` (or true): convert only; `off` (or false: YAML reads a bare `off` so): the file as
# it is; or the steps.
Process = Literal["native", "off"] | bool | ProcessSteps


class AudioFile(SettingsModel):
    """One locale's audio file with settings of its own (the plain form is the path alone)."""

    file: str = Field(description="the audio file, relative to the file that names it")
    process: Process | None = Field(
        None,
        description="processing of this file: overrides the prompt's and the provider's "
        "keys (`native` and `off` replace them whole)",
    )


class Defaults(SettingsModel):
    """What a prompt gets unless it says otherwise."""

    providers: list[Name] | None = Field(
        None, min_length=1, description="providers a prompt goes to unless it says; default all"
    )


class PromptSpec(SettingsModel):
    """One prompt: its audio per locale, and where it goes."""

    description: str | None = Field(None, description="for people; not uploaded")
    audio: dict[Locale, str | AudioFile] = Field(
        min_length=1,
        description="locale -> audio file, relative to the file that names it, or "
        "{file, process} for a file processed otherwise",
    )
    providers: list[Name] | None = Field(
        None, min_length=1, description="overrides defaults.providers"
    )
    remote_name: str | dict[Locale, str] | None = Field(
        None,
        description="a base name used instead of the prompt name (the locale is appended), "
        "or an exact name per locale",
    )
    process: Process | None = Field(
        None, description="overrides the provider's `process:` for this prompt (keys it sets)"
    )
    acknowledge: list[Acknowledgement] = acknowledge_field("this prompt")


if not TYPE_CHECKING:
    # Each provider type's prompt options (a voice type, ...), under defaults and per prompt.
    Defaults = _with_options(
        Defaults,
        {
            key: (option.annotation, Field(option.default, description=option.description))
            for key, option in prompt_options().items()
        },
    )
    PromptSpec = _with_options(
        PromptSpec,
        {
            key: (option.annotation | None, Field(None, description=f"overrides defaults.{key}"))
            for key, option in prompt_options().items()
        },
    )


class MovedEntry(SettingsModel):
    """A rename: the resource keeps its FileId under the new address, with no upload."""

    from_: str = Field(
        alias="from",
        description="the old address (provider.prompt.locale) or prompt name",
    )
    to: str = Field(description="the new address or prompt name")


class RemovedEntry(SettingsModel):
    """What becomes of resources gone from the manifests, as Terraform's `removed` block: they
    are forgotten (their remote files stay) unless `delete: true` opts in to deleting them,
    where the provider can delete. Pruning is opt-in, as in Argo CD and Flux."""

    from_: str = Field(
        alias="from",
        description="an address (provider.prompt.locale) or a glob of addresses: 'connect.*' "
        "is every resource of provider connect",
    )
    delete: bool = Field(
        False, description="delete the remote file (the provider must be able to); false: forget"
    )


class PromptsFile(SettingsModel):
    """A file named by `include:`; it holds prompts and the renames that concern them."""

    prompts: dict[Name, PromptSpec] = Field(
        default_factory=dict, description="prompt names -> prompts"
    )
    moved: list[MovedEntry] = Field(
        default_factory=list, description="renames: keep FileIds when prompts are renamed"
    )
    removed: list[RemovedEntry] = Field(
        default_factory=list,
        description="what becomes of resources gone from the manifests (default: forgotten)",
    )


class Manifest(SettingsModel):
    """`ivrsync.yaml`, the root of a prompt repository."""

    version: Literal[1] = Field(description="the manifest format; always 1")
    state: StateSettings = Field(
        default_factory=LocalStateSettings,
        description="where the state lives: `backend: local` (default) or `s3`",
    )
    providers: dict[Name, ProviderSettings] = Field(
        min_length=1, description="provider names of your choosing -> settings, by `type`"
    )
    defaults: Defaults = Field(default_factory=Defaults)
    process: dict[Name, Process] = Field(
        default_factory=dict,
        description="provider names -> processing of their prompts' audio (default: off)",
    )
    include: list[str] = Field(default_factory=list, description="globs of files with prompts")
    prompts: dict[Name, PromptSpec] = Field(
        default_factory=dict, description="prompt names -> prompts"
    )
    moved: list[MovedEntry] = Field(
        default_factory=list, description="renames: keep FileIds when prompts are renamed"
    )
    removed: list[RemovedEntry] = Field(
        default_factory=list,
        description="what becomes of resources gone from the manifests (default: forgotten)",
    )


def json_schema(kind: Literal["root", "prompts"] = "root") -> dict[str, Any]:
    model = Manifest if kind == "root" else PromptsFile
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
