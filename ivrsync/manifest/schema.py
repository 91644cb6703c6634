"""The manifest language: every key a user may write, its type, default and limits.

This module is the only place that knows the YAML shape. The JSON Schema that editors use
(`ivrsync schema`) is generated from these models, so the two cannot disagree.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

ROOT_FILE = "ivrsync.yaml"

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
LOCALE_PATTERN = r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8}){0,2}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# `${NAME}` or `${NAME:-default}` inside provider settings.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

VoiceType = Literal["ivr", "prompt_tone", "fault_tone", "voice_notification"]
VOICE_TYPES: tuple[str, ...] = ("ivr", "prompt_tone", "fault_tone", "voice_notification")


def _pattern_check(pattern: str, kind: str, allowed: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError(
                "invalid_name",
                "'{value}' is not a valid {kind}: {allowed}",
                {"value": value, "kind": kind, "allowed": allowed},
            )
        return value

    return AfterValidator(check)


def _no_hidden_characters(value: str) -> None:
    """A value from `${VAR}` may end in a newline (a secret read from a file): urlsplit
    would drop it silently, and the provider would get it. Refused without echoing it."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise PydanticCustomError(
            "hidden_characters",
            "the URL contains spaces, a newline or control characters (from an environment "
            "variable?); remove them",
        )


def _as_checked(value: str) -> str | None:
    """The text to check of a value that may still name secrets: a `${NAME}` left in a
    setting is one (the loader resolved the rest), filled in only when it is sent. Each is
    checked as a plain word would be; a value that starts with one is checked only then."""
    if "${" not in value:
        return value
    if ENV_REFERENCE.match(value):
        return None
    return ENV_REFERENCE.sub("x", value)


def _endpoint_url(value: str) -> str:
    _no_hidden_characters(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "invalid_endpoint",
            "'{value}' is not an endpoint: write scheme://host[:port], e.g. "
            "https://service.besclouds.com",
            {"value": value},
        )
    if parts.username or parts.password:
        raise PydanticCustomError(
            "endpoint_credentials",
            "endpoints may not carry credentials; name environment variables instead",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise PydanticCustomError(
            "invalid_endpoint",
            "'{value}' has a path or query; write only scheme://host[:port]",
            {"value": value},
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise PydanticCustomError(
            "invalid_endpoint", "'{value}' has an invalid port", {"value": value}
        ) from None
    return value.rstrip("/")


def _host_or_url(value: str) -> str:
    """Tencent takes `host[:port]`; a scheme may be given to point at an emulator."""
    if "://" in value:
        return _endpoint_url(value)
    return _endpoint_url(f"https://{value}").removeprefix("https://")


def _http_url(value: str) -> str:
    checked = _as_checked(value)
    if checked is None:
        return value
    _no_hidden_characters(checked)
    parts = urlsplit(checked)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "invalid_url", "'{value}' is not an http(s) URL", {"value": value}
        )
    return value


def _url_template(value: str) -> str:
    checked = _as_checked(value)
    if checked is None:
        return value
    fields = {name for _, name, _, _ in string.Formatter().parse(checked) if name is not None}
    unknown = sorted(fields - set(URL_TEMPLATE_FIELDS))
    if unknown or not fields:
        raise PydanticCustomError(
            "invalid_template",
            "the template must use {path} or {sha256} and no other placeholder "
            "(allowed: {allowed}; found: {found})",
            {"allowed": ", ".join(URL_TEMPLATE_FIELDS), "found": ", ".join(unknown) or "none"},
        )
    _http_url(checked.format_map(dict.fromkeys(URL_TEMPLATE_FIELDS, "x")))
    return value


URL_TEMPLATE_FIELDS = ("path", "sha256", "sha256_short", "filename")

Name = Annotated[
    str,
    _pattern_check(
        NAME_PATTERN, "name", "start with a letter, then letters, digits, '_' or '-' (at most 64)"
    ),
    WithJsonSchema({"type": "string", "pattern": NAME_PATTERN}),
]
Locale = Annotated[
    str,
    _pattern_check(LOCALE_PATTERN, "locale", "write it like en_US, zh_CN or pt_BR"),
    WithJsonSchema({"type": "string", "pattern": LOCALE_PATTERN}),
]
EnvName = Annotated[
    str,
    _pattern_check(
        ENV_NAME_PATTERN,
        "environment variable name",
        "letters, digits and '_', not starting with a digit (the name, never the value)",
    ),
    WithJsonSchema({"type": "string", "pattern": ENV_NAME_PATTERN}),
]
EndpointUrl = Annotated[str, AfterValidator(_endpoint_url)]
HostOrUrl = Annotated[str, AfterValidator(_host_or_url)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
# Integers that may also be given as `${ENV}` (interpolated before validation).
EnvInt = Annotated[
    int,
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\$\{.+\}$"}]}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The warnings the manifests may acknowledge, and the key of an acknowledgement that names
# what the warning is about, so that a new occurrence (other audio, another kept name) still
# shows. Other warnings are about a run (quota, --target), not something the manifests accept.
AcknowledgeableCode = Literal["audio-transcoded", "remote-name-changed"]
ACKNOWLEDGEABLE: dict[AcknowledgeableCode, str] = {
    "audio-transcoded": "audio",
    "remote-name-changed": "remote_name",
}


class Acknowledgement(_Model):
    """A known, accepted warning: still counted and in the plan JSON, no longer listed, and
    no failure of `validate --strict`. One that matches no warning is reported."""

    warning: AcknowledgeableCode = Field(description="the code of the warning accepted")
    audio: str | None = Field(
        None,
        description="audio-transcoded: the audio as the warning describes it, "
        "e.g. 'WAV pcm_s16le, 16000 Hz, mono'",
    )
    remote_name: str | None = Field(
        None, description="remote-name-changed: the remote name kept, as the warning names it"
    )
    reason: str | None = Field(None, description="why it is accepted, for reviewers")

    @property
    def subject(self) -> str:
        """What the acknowledged warning is about (its audio, its kept name)."""
        value = getattr(self, ACKNOWLEDGEABLE[self.warning])
        assert isinstance(value, str)
        return value

    @model_validator(mode="after")
    def _names_its_subject(self) -> Acknowledgement:
        key = ACKNOWLEDGEABLE[self.warning]
        others = [k for k in set(ACKNOWLEDGEABLE.values()) - {key} if getattr(self, k)]
        if getattr(self, key) is None or others:
            raise PydanticCustomError(
                "acknowledgement_subject",
                "an acknowledgement of {warning} names `{key}:` (what the warning names) and "
                "no other of: {keys}",
                {
                    "warning": self.warning,
                    "key": key,
                    "keys": ", ".join(sorted(set(ACKNOWLEDGEABLE.values()))),
                },
            )
        return self


def _acknowledge_field(scope: str) -> Any:
    # Not a setting: left out of model_dump, so the settings digest and diff ignore it.
    return Field(
        default_factory=list,
        exclude=True,
        description=f"warnings accepted for {scope} (allowed: {', '.join(ACKNOWLEDGEABLE)})",
    )


class UrlAudioSource(_Model):
    """The audio is already published; Tencent fetches it from a URL made by a template."""

    type: Literal["url"]
    template: Annotated[str, AfterValidator(_url_template)] = Field(
        description="URL with {path} (relative to the repository root), {sha256}, "
        "{sha256_short} or {filename}, e.g. https://cdn.example.com/ivr/{path}"
    )


class S3AudioSource(_Model):
    """Stage audio in S3-compatible storage (COS, OBS, MinIO, S3) and hand out presigned URLs."""

    type: Literal["s3"]
    endpoint: EndpointUrl | None = Field(None, description="omit for AWS S3")
    bucket: Annotated[str, Field(min_length=3, max_length=63, description="the bucket name")]
    prefix: str = Field("ivrsync/", description="keys are prefix + sha256 + extension")
    region: str | None = Field(None, description="the storage region, where it needs one")
    url_expires: int = Field(3600, ge=60, le=604800, description="seconds a presigned URL lives")
    access_key_id_env: EnvName = Field(
        "AWS_ACCESS_KEY_ID", description="the variable holding the storage access key id"
    )
    secret_access_key_env: EnvName = Field(
        "AWS_SECRET_ACCESS_KEY", description="the variable holding the storage secret key"
    )


AudioSource = Annotated[UrlAudioSource | S3AudioSource, Field(discriminator="type")]


class HuaweiAiccSettings(_Model):
    """Huawei Cloud AICC (`importVoiceFile/upload`)."""

    type: Literal["huawei-aicc"]
    endpoint: EndpointUrl = Field(description="scheme://host[:port] of the tenant's API gateway")
    app_key_env: EnvName = Field(
        "AICC_APP_KEY", description="the variable holding the app key (never the key itself)"
    )
    app_secret_env: EnvName = Field(
        "AICC_APP_SECRET", description="the variable holding the app secret"
    )
    callback_url: HttpUrl | None = Field(
        None, description="where Huawei posts review results; may use ${ENV} for its secret"
    )
    rate_limit: float = Field(10, gt=0, le=10, description="requests per second (documented: 10)")
    reviews_url: HttpUrl | None = Field(
        None,
        description="the `ivrsync review-server` that receives the review callbacks: "
        "`ivrsync refresh` reads the results there",
    )
    reviews_token_env: EnvName = Field(
        "IVRSYNC_REVIEW_TOKEN", description="the variable holding the review server's token"
    )
    size_limit_of: Literal["base64", "file"] = Field(
        "base64",
        description="whether the 8 MB limit applies to the base64 text (stricter, default) "
        "or to the file itself",
    )
    acknowledge: list[Acknowledgement] = _acknowledge_field("every prompt of this provider")


class TencentCccSettings(_Model):
    """Tencent Cloud CCC (`UploadIvrAudio`, `DescribeIvrAudioList`)."""

    type: Literal["tencent-ccc"]
    sdk_app_id: Annotated[EnvInt, Field(gt=0, lt=2**63, description="the CCC application id")]
    endpoint: HostOrUrl = Field(
        "ccc.tencentcloudapi.com",
        description="host[:port], or http://host:port for an emulator",
    )
    region: str = Field("", description="not required by CCC")
    secret_id_env: EnvName = Field(
        "TENCENTCLOUD_SECRET_ID", description="the variable holding the SecretId"
    )
    secret_key_env: EnvName = Field(
        "TENCENTCLOUD_SECRET_KEY", description="the variable holding the SecretKey"
    )
    daily_quota: int = Field(50, ge=1, le=50, description="uploads per day (documented: 50)")
    rate_limit: float = Field(1, gt=0, le=1, description="requests per second (documented: 1)")
    batch_size: int = Field(10, ge=1, le=50, description="files per UploadIvrAudio request")
    content_hash_in_name: bool = Field(
        True,
        description="end each CustomFileName with 8 hex digits of the audio's sha256, so a "
        "lost upload can be found again instead of uploaded twice",
    )
    audio_source: AudioSource = Field(description="how Tencent gets each file's URL")
    acknowledge: list[Acknowledgement] = _acknowledge_field("every prompt of this provider")


ProviderSettings = Annotated[HuaweiAiccSettings | TencentCccSettings, Field(discriminator="type")]
PROVIDER_TYPES: tuple[str, ...] = ("huawei-aicc", "tencent-ccc")


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


class StateSettings(_Model):
    """Where the state file lives."""

    path: Annotated[str, AfterValidator(_file_path)] = Field(
        "ivrsync.state.json", description="the state file, relative to ivrsync.yaml"
    )


class Defaults(_Model):
    """What a prompt gets unless it says otherwise."""

    providers: list[Name] | None = Field(
        None, min_length=1, description="providers a prompt goes to unless it says; default all"
    )
    voice_type: VoiceType = Field("ivr", description="the kind of prompt (Huawei's voiceType)")


class PromptSpec(_Model):
    """One prompt: its audio per locale, and where it goes."""

    description: str | None = Field(None, description="for people; not uploaded")
    audio: dict[Locale, str] = Field(
        min_length=1, description="locale -> audio file, relative to the file that names it"
    )
    providers: list[Name] | None = Field(
        None, min_length=1, description="overrides defaults.providers"
    )
    voice_type: VoiceType | None = Field(None, description="overrides defaults.voice_type")
    remote_name: str | dict[Locale, str] | None = Field(
        None,
        description="a base name used instead of the prompt name (the locale is appended), "
        "or an exact name per locale",
    )
    acknowledge: list[Acknowledgement] = _acknowledge_field("this prompt")


class MovedEntry(_Model):
    """A rename: the resource keeps its FileId under the new address, with no upload."""

    from_: str = Field(
        alias="from",
        description="the old address (provider.prompt.locale) or prompt name",
    )
    to: str = Field(description="the new address or prompt name")


class PromptsFile(_Model):
    """A file named by `include:`; it holds prompts and the renames that concern them."""

    prompts: dict[Name, PromptSpec] = Field(
        default_factory=dict, description="prompt names -> prompts"
    )
    moved: list[MovedEntry] = Field(
        default_factory=list, description="renames: keep FileIds when prompts are renamed"
    )


class Manifest(_Model):
    """`ivrsync.yaml`, the root of a prompt repository."""

    version: Literal[1] = Field(description="the manifest format; always 1")
    state: StateSettings = Field(default_factory=StateSettings)
    providers: dict[Name, ProviderSettings] = Field(
        min_length=1, description="provider names of your choosing -> settings, by `type`"
    )
    defaults: Defaults = Field(default_factory=Defaults)
    include: list[str] = Field(default_factory=list, description="globs of files with prompts")
    prompts: dict[Name, PromptSpec] = Field(
        default_factory=dict, description="prompt names -> prompts"
    )
    moved: list[MovedEntry] = Field(
        default_factory=list, description="renames: keep FileIds when prompts are renamed"
    )


def json_schema(kind: Literal["root", "prompts"] = "root") -> dict[str, Any]:
    model = Manifest if kind == "root" else PromptsFile
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
