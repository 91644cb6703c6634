"""Field types of provider settings, shared by the manifest and the providers.

A provider module declares its settings model with these (`${ENV}` references, endpoints,
variable names, acknowledgements, audio sources); the manifest (manifest/schema.py) builds its
provider union from the registry. Neither imports the other for them: the dependency runs
manifest -> providers -> this module.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
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

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# `${NAME}` or `${NAME:-default}` inside provider settings.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def pattern_check(pattern: str, kind: str, allowed: str) -> AfterValidator:
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

EnvName = Annotated[
    str,
    pattern_check(
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


class SettingsModel(BaseModel):
    """Settings are exactly what is written (no unknown key) and never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# The warnings the manifests may acknowledge, and the key of an acknowledgement that names
# what the warning is about, so that a new occurrence (other audio, another kept name) still
# shows. Other warnings are about a run (quota, --target), not something the manifests accept.
# The signal checks (audio_signal.signal_findings, docs/audio.md) name the file they measured.
AcknowledgeableCode = Literal[
    "audio-transcoded",
    "remote-name-changed",
    "audio-clipping",
    "audio-level",
    "audio-leading-silence",
    "audio-trailing-silence",
    "audio-dc-offset",
    "audio-low-sample-rate",
    "audio-channels-cancel",
]
ACKNOWLEDGEABLE: dict[AcknowledgeableCode, str] = {
    "audio-transcoded": "audio",
    "remote-name-changed": "remote_name",
    "audio-clipping": "file",
    "audio-level": "file",
    "audio-leading-silence": "file",
    "audio-trailing-silence": "file",
    "audio-dc-offset": "file",
    "audio-low-sample-rate": "file",
    "audio-channels-cancel": "file",
}
# The codes of the signal checks, as `validate` reports them.
SIGNAL_CODES: tuple[AcknowledgeableCode, ...] = tuple(
    code for code, key in ACKNOWLEDGEABLE.items() if key == "file"
)


class Acknowledgement(SettingsModel):
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
    file: str | None = Field(
        None,
        description="the audio checks (audio-level, audio-clipping, ...): the file as the "
        "warning names it, from the repository root, e.g. 'audio/en_US/welcome.wav'",
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


def acknowledge_field(scope: str) -> Any:
    # Not a setting: left out of model_dump, so the settings digest and diff ignore it.
    return Field(
        default_factory=list,
        exclude=True,
        description=f"warnings accepted for {scope} (allowed: {', '.join(ACKNOWLEDGEABLE)})",
    )


class UrlAudioSource(SettingsModel):
    """The audio is already published; Tencent fetches it from a URL made by a template."""

    type: Literal["url"]
    template: Annotated[str, AfterValidator(_url_template)] = Field(
        description="URL with {path} (relative to the repository root), {sha256}, "
        "{sha256_short} or {filename}, e.g. https://cdn.example.com/ivr/{path}"
    )


class S3AudioSource(SettingsModel):
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


class ProviderSettingsBase(SettingsModel):
    """What every provider's settings model has: the manifest's `type:` (a Literal in each),
    and `acknowledge:` (warnings accepted for every prompt of the provider)."""

    type: str
    # Settings whose any change decides where uploads go, with what the change means (shown
    # with the change in plans): {"sdk_app_id": "uploads go to another CCC application"}.
    DECIDING: ClassVar[dict[str, str]] = {}
    if TYPE_CHECKING:
        # Declared by each provider, last, so that it stays last in the schema and in `fmt`
        # (a field declared here would come second).
        acknowledge: list[Acknowledgement]


@dataclass(frozen=True, slots=True)
class PromptOption:
    """A prompt-level setting a provider type takes (`PROMPT_OPTIONS` in its module): a key
    of each prompt, and of `defaults:`, that the manifest's models gain from the registry.

    The prompt's value overrides the default's; the resolved value reaches the provider's
    `uploaded_attributes`.
    """

    annotation: Any  # the type a value must have, e.g. Literal["ivr", "prompt_tone"]
    default: Any  # the value under `defaults:` when the manifest says nothing
    description: str  # for `defaults:`; a prompt's says it overrides this one
