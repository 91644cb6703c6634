"""The provider protocol: what ivrsync must know about each provider type.

Each provider type is a module that satisfies `ProviderType` (as pre-commit's languages do);
`ivrsync.providers.PROVIDER_TYPES` maps the manifest's `type:` to it. What every provider
shares lives here beside the protocol.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from ivrsync.audio import AudioInfo
from ivrsync.errors import ManifestError, Problem, Severity
from ivrsync.processing.recipe import NativeAudio
from ivrsync.providers.errors import (
    ContentChangedError,
    CredentialsMissingError,
    ProviderError,
)
from ivrsync.secrets import register as register_secret
from ivrsync.settings import PromptOption, ProviderSettingsBase


@dataclass(frozen=True, slots=True)
class Finding:
    """What a provider would refuse, or change, about one resource; the caller adds where."""

    code: str
    message: str
    severity: Severity = Severity.ERROR
    # What an acknowledgement of this warning names (settings.ACKNOWLEDGEABLE), if any.
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Starter:
    """A provider type's entry in the manifest `ivrsync init` writes, which validates and
    plans with nothing set: the first registered type's is active, the others commented out."""

    title: str  # "Huawei Cloud AICC", in the entry's heading comment
    name: str  # the provider name the entry gives it, e.g. `aicc`
    # The YAML under `NAME:`, indented by four spaces, a comment on every setting.
    settings: str
    # What a user sets before `ivrsync apply` uploads, e.g. "set AICC_APP_KEY and ...".
    to_upload: str


@dataclass(frozen=True, slots=True)
class UploadItem:
    """One file to upload, as the plan describes it."""

    address: str
    path: Path  # absolute
    audio_path: str  # relative to the repository root, POSIX
    sha256: str
    size: int
    remote_name: str
    locale: str
    attributes: dict[str, str]  # as planned (uploaded_attributes)


@dataclass(frozen=True, slots=True)
class Uploaded:
    """The provider confirmed an upload: the FileId must reach the state."""

    address: str
    file_id: str
    remote_name: str


ItemOutcome = Uploaded | ProviderError


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """An upload as the provider lists it."""

    file_id: str
    remote_name: str
    review_status: str  # pending | approved | rejected


@dataclass
class ReviewReport:
    """What a provider says of some uploads: review results, and which it still lists."""

    # FileId -> (pending | approved | rejected, the reviewer's comment)
    results: dict[str, tuple[str, str | None]]
    # Every FileId the provider lists, or None where it cannot list (no drift is detectable).
    listed: set[str] | None
    # Why results may be missing (no review server configured, ...).
    note: str | None = None


class Uploader(Protocol):
    """A provider's client, configured and holding credentials, ready to upload."""

    # Requests per second the engine must never exceed.
    rate_limit: float
    # Files per request (1 where the API takes one file per call).
    batch_size: int
    # Requests that may be in flight at once.
    max_concurrency: int
    # Uploads allowed per provider day (the engine defers the rest), or None for no limit.
    daily_quota: int | None
    # Seconds after a request goes out by which it has landed or never will: the client's
    # timeout plus the time the provider may take to store it. Until then, a look-up that
    # finds nothing proves nothing.
    landing_window: float

    # Upload a batch; one outcome per item, in order. A failure of the whole request raises.
    # `ready()` is called just before each request goes out (after any preparation, such as
    # staging the audio): it waits for the rate limit and records the request as in flight,
    # and raises when the request must not go out (whatever it raises propagates).
    # The bytes sent are hashed as they go; ones that differ from `sha256` are not sent whole.
    def upload(self, batch: list[UploadItem], ready: Callable[[], None]) -> list[ItemOutcome]: ...

    def close(self) -> None: ...


# What a client offers beyond uploading, as its provider type declares it (CAN_LIST,
# CAN_UPDATE, CAN_DELETE): the core asks for it only where the capability is declared.


class Lister(Uploader, Protocol):
    # Look up uploads that may have landed (by name); None for each one not found.
    def find(self, batch: list[UploadItem]) -> list[Uploaded | None]: ...

    # The listed uploads with these FileIds.
    def files_by_id(self, file_ids: list[str]) -> list[RemoteFile]: ...


class Updater(Uploader, Protocol):
    # Put the item's name (and its audio, when `content`) on the upload `file_id`, which stays
    # its id. Doing it twice is harmless, so one whose answer was lost is simply sent again.
    # `ready` as for `upload`. Returns the upload as the provider now has it.
    def update(
        self, item: UploadItem, file_id: str, content: bool, ready: Callable[[], None]
    ) -> Uploaded: ...


class Deleter(Uploader, Protocol):
    # Delete the upload `file_id`; one already gone counts as deleted. `ready` as for `upload`.
    def delete(self, file_id: str, ready: Callable[[], None]) -> None: ...


# A provider type's own settings model: each function of the protocol takes that model.
SettingsT = TypeVar("SettingsT", bound=ProviderSettingsBase)


class ProviderType(Protocol[SettingsT]):
    """A provider type, generic in its settings model; the registry holds `ProviderType[Any]`
    (the manifest's union), and each module is checked against its own model (providers/
    __init__.py)."""

    # The `type:` value in the manifest.
    TYPE: str
    # The company, as messages name its uploads ("Huawei ones are held back").
    VENDOR: str
    # The model of this provider's settings in the manifest (its `type` is Literal[TYPE]).
    SETTINGS: type[SettingsT]
    # Locales the API accepts, or None when it takes any.
    LOCALES: frozenset[str] | None
    # The time zone of the day a daily quota counts in; None when there is no daily quota
    # (the state then counts uploads by the UTC day). Its name is shown with quota warnings.
    QUOTA_TIME_ZONE: tzinfo | None
    # Whether uploads can be looked up (so an upload in doubt is checked, not guessed at):
    # said here only; the core asks for a `Lister` only where it is True.
    CAN_LIST: bool
    # Whether an upload can take new audio or a new name and keep its id (an `Updater`): the
    # planner then updates in place instead of replacing (a new FileId flows must be moved to).
    CAN_UPDATE: bool
    # Whether an upload can be deleted (a `Deleter`): the planner deletes what is gone from the
    # manifests only where a `removed:` entry opts in; otherwise it is forgotten.
    CAN_DELETE: bool
    # Whether uploads are reviewed before flows may use them (refresh then fetches the
    # results); where not, an upload is recorded as approved as soon as it is stored.
    REVIEWS: bool
    # Where its review results (REVIEWS) are POSTed to a callback URL, the one `ivrsync
    # review-server` receives at (rather than read from the API by `reviews`): "module:
    # attribute" of its `ivrsync.reviews.callbacks.CallbackFormat` (what a callback says, how it
    # is answered), imported by the review server only; None where it does not call back.
    REVIEW_CALLBACKS: str | None
    # Prompt-level settings this type takes (keys of each prompt and of `defaults:`), by key.
    PROMPT_OPTIONS: Mapping[str, PromptOption]
    # "module:attribute" of its emulator's `ivrsync.emulator.command.Emulation`, or None: read
    # by `ivrsync emulator` only, so that the registry imports no emulator.
    EMULATOR: str | None
    # Its entry in the manifest `ivrsync init` writes, or None to leave it out.
    STARTER: Starter | None
    # The format it plays without transcoding: what `process: {convert: true}` makes.
    NATIVE_AUDIO: NativeAudio

    # The remote name for (prompt, locale) by the documented rule; `base` replaces the prompt.
    def derive_remote_name(self, prompt: str, locale: str, base: str | None) -> str: ...

    # Why a remote name would be refused, or None when it is allowed.
    def remote_name_problem(self, name: str) -> str | None: ...

    # What the provider would refuse or transcode in this audio, known before any upload.
    def audio_findings(self, settings: SettingsT, audio: AudioInfo) -> list[Finding]: ...

    # What an upload sends besides the bytes and the name; a change to one means a re-upload
    # (an update, where the type updates in place). `options` holds the resolved value of each
    # of PROMPT_OPTIONS for the prompt, and under `description` the prompt's description (None
    # without one), for an API that stores one with the upload.
    def uploaded_attributes(
        self, options: Mapping[str, Any], audio: AudioInfo
    ) -> dict[str, str]: ...

    # Uploads allowed per provider day, or None when the provider documents no such limit.
    def daily_quota(self, settings: SettingsT) -> int | None: ...

    # The name an upload of this content carries (Tencent adds a short hash of the content).
    def uploaded_name(self, settings: SettingsT, remote_name: str, sha256: str) -> str: ...

    # Why `file_id` cannot be one of this provider's FileIds, or None when it may be.
    def file_id_problem(self, file_id: str) -> str | None: ...

    # Why a listed upload named `remote_name` cannot hold audio of this sha256 (its name
    # says other content), or None when nothing in the name says so.
    def content_problem(self, settings: SettingsT, remote_name: str, sha256: str) -> str | None: ...

    # A client for provider `name`, with credentials from the variables the settings name.
    def uploader(self, name: str, settings: SettingsT, env: Mapping[str, str]) -> Uploader: ...

    # Review results of these uploads, and what the provider still lists (for `refresh`).
    def reviews(
        self, name: str, settings: SettingsT, env: Mapping[str, str], file_ids: list[str]
    ) -> ReviewReport: ...


def lister(kind: ProviderType[Any], uploader: Uploader) -> Lister | None:
    """The client's look-ups, where its type declares them."""
    return cast(Lister, uploader) if kind.CAN_LIST else None


def updater(kind: ProviderType[Any], uploader: Uploader) -> Updater | None:
    """The client's updates in place, where its type declares them."""
    return cast(Updater, uploader) if kind.CAN_UPDATE else None


def deleter(kind: ProviderType[Any], uploader: Uploader) -> Deleter | None:
    """The client's deletes, where its type declares them."""
    return cast(Deleter, uploader) if kind.CAN_DELETE else None


def check_content(item: UploadItem, size: int, sha256: str) -> None:
    """Refuse bytes read to be sent that are not the ones the plan recorded: the state would
    record the plan's sha256 for other audio."""
    if size != item.size or sha256 != item.sha256:
        raise ContentChangedError(
            f"{item.address}: {item.audio_path} changed since the plan ({size:,} bytes, "
            f"sha256 {sha256[:12]}...; the plan has {item.size:,} bytes, {item.sha256[:12]}...): "
            "not uploaded; make a new plan"
        )


def planned_bytes(item: UploadItem) -> bytes:
    """The item's file, read once, if it is still what the plan recorded."""
    data = item.path.read_bytes()
    check_content(item, len(data), hashlib.sha256(data).hexdigest())
    return data


def base64_size(size: int) -> int:
    return 4 * math.ceil(size / 3)


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB ({size:,} bytes)"


# While `credentials_checked` runs: (provider, settings key, variable) of each missing one.
_MISSING: ContextVar[list[tuple[str, str, str]] | None] = ContextVar("missing", default=None)


def credential(env: Mapping[str, str], provider: str, key: str, variable: str) -> str:
    """The value of a credential's environment variable; missing is an error before uploads.

    Inside `credentials_checked`, a missing one is noted and "" returned, so that one error
    can name every missing variable instead of one per run.
    """
    value = env.get(variable, "")
    if value:
        register_secret(value)
        return value
    missing = _MISSING.get()
    if missing is None:
        raise _missing_error([(provider, key, variable)])
    missing.append((provider, key, variable))
    return value


@contextmanager
def credentials_checked() -> Iterator[None]:
    """Read every credential of one client in the block (no network, no client yet); then
    raise one error naming every variable that is not set."""
    token = _MISSING.set([])
    try:
        yield
        missing = _MISSING.get() or []
    finally:
        _MISSING.reset(token)
    if missing:
        raise _missing_error(missing)


def _missing_error(missing: list[tuple[str, str, str]]) -> CredentialsMissingError:
    missing = list(dict.fromkeys(missing))
    if len(missing) == 1:
        provider, key, variable = missing[0]
        return CredentialsMissingError(
            f"{provider}: the environment variable {variable} is not set ({key} in "
            "ivrsync.yaml names it); set it to the credential",
            missing,
        )
    by_provider: dict[str, list[str]] = {}
    for provider, key, variable in missing:
        by_provider.setdefault(provider, []).append(f"{variable} ({key})")
    listed = "; ".join(f"{p}: {', '.join(names)}" for p, names in by_provider.items())
    return CredentialsMissingError(
        f"{len(missing)} environment variables are not set: {listed}. ivrsync.yaml names "
        "them; set each to its credential",
        missing,
    )


def missing_credentials_together(
    errors: list[CredentialsMissingError], unresolved: Sequence[Problem] = ()
) -> None:
    """Raise one error for the missing credentials of several providers: each provider's
    client names all of its own (`credentials_checked`); the caller goes on to the next
    provider and names them all at the end, with the secrets the manifest names that could
    not be filled in (`unresolved`, from `Project.resolve_providers`)."""
    combined = None
    if len(errors) == 1:
        combined = errors[0]
    elif errors:
        combined = _missing_error([item for error in errors for item in error.missing])
    if unresolved:
        extra = [Problem("credentials-missing", str(combined))] if combined else []
        raise ManifestError([*unresolved, *extra])
    if combined is not None:
        raise combined
