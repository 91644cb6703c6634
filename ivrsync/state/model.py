"""What ivrsync remembers about its uploads: the state file's content and JSON form.

The JSON is meant to be committed and reviewed: sorted keys, two-space indent, one block per
resource, datetimes in UTC with `Z`, and FileIds always as strings (Huawei's are 19 digits,
which a JSON reader that uses doubles would silently round).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
    ValidationError,
    field_validator,
)
from pydantic_core import core_schema

from ivrsync import __version__
from ivrsync.address import Address
from ivrsync.gc_pause import paused_gc
from ivrsync.providers import quota_time_zone
from ivrsync.secrets import redact
from ivrsync.state.errors import StateCorruptError, StateVersionError

# 2 adds `providers` (the settings last applied to each provider); a state of format 1 reads
# as one without them, and is written as 2.
# 3 adds `process` and `processed_sha256` to resources (processed audio): an older ivrsync,
# which knows no such keys, refuses it as newer instead of calling it corrupt. Formats 1 and 2
# read as states without processed uploads.
STATE_FORMAT_VERSION = 3
_READABLE_FORMAT_VERSIONS = (1, 2, 3)

# Upload counts older than this are dropped: enough for any daily or monthly quota report.
UPLOAD_HISTORY_DAYS = 35

ReviewStatus = Literal["pending", "approved", "rejected"]

_NEEDS_A_ZONE = "a datetime with a time zone is required (e.g. 2026-11-20T16:30:00Z)"


def _to_utc(value: datetime) -> datetime:
    """Refuse naive datetimes: a local time taken for UTC would shift every record by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(_NEEDS_A_ZONE)
    return value.astimezone(UTC)


# A datetime is parsed by pydantic-core (with its own error messages); one at UTC offset 0,
# as the state file writes all of them (100,000 in a big state), is then accepted there too,
# and only another offset goes through Python, to become UTC; a naive one is refused with
# the error `_to_utc` raises. Every value is therefore UTC, which pydantic and orjson both
# write with `Z`.
UtcDateTime = Annotated[
    datetime,
    GetPydanticSchema(
        lambda _source, _handler: core_schema.chain_schema(
            [
                core_schema.datetime_schema(),
                core_schema.custom_error_schema(
                    core_schema.union_schema(
                        [
                            core_schema.datetime_schema(tz_constraint=0),
                            core_schema.no_info_after_validator_function(
                                _to_utc, core_schema.datetime_schema(tz_constraint="aware")
                            ),
                        ],
                        mode="left_to_right",
                    ),
                    "value_error",
                    custom_error_context={"error": _NEEDS_A_ZONE},
                ),
            ]
        )
    ),
]


def provider_day(provider_type: str, now: datetime) -> date:
    """The calendar day in which a provider counts an upload made at `now` (for quotas): in
    the time zone the provider declares for its quota day, UTC for one with no daily quota."""
    try:
        zone = quota_time_zone(provider_type)
    except KeyError:
        raise ValueError(f"unknown provider type {provider_type!r}") from None
    return _to_utc(now).astimezone(zone).date()


# Text a provider or a reviewer wrote (an error, a review comment): it may quote what it was
# sent, a token or a signature included. The state is committed to git, so every such field
# is masked whenever it is set, whoever sets it.
ProviderText = Annotated[str, AfterValidator(redact)]


class _Model(BaseModel):
    # Fields are declared in alphabetical order, as the file lists them (`to_json` sorts keys).
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Review(_Model):
    comment: ProviderText | None = None
    status: ReviewStatus = "pending"
    updated_at: UtcDateTime | None = None


class ApprovedUpload(_Model):
    """The upload live flows can still use while a newer one is pending or was rejected."""

    approved_at: UtcDateTime | None = None
    file_id: str
    remote_name: str
    sha256: str
    size: int = Field(ge=0)
    uploaded_at: UtcDateTime


class ResourceState(_Model):
    """What was uploaded for one address, e.g. `aicc.welcome.en_US`."""

    attributes: dict[str, str]  # what was uploaded besides the bytes (voice_type, locale, ...)
    audio_path: str  # repo-relative POSIX path of the uploaded file
    file_id: str  # always a string: Huawei's 19-digit ids overflow a double
    last_approved: ApprovedUpload | None = None
    # Set by refresh when the provider no longer lists the FileId (deleted in its console?):
    # the next plan uploads the audio again.
    missing_since: UtcDateTime | None = None
    # The processing recipe's steps, when the upload was processed audio, and the sha256 of
    # the bytes uploaded (`sha256` stays the source's: it and the recipe decide re-uploads).
    process: dict[str, str] | None = None
    processed_sha256: str | None = None
    provider: str  # the provider's name in the manifest ("aicc")
    provider_type: str  # a key of ivrsync.providers.PROVIDER_TYPES
    remote_name: str
    review: Review = Field(default_factory=Review)
    sha256: str
    size: int = Field(ge=0)
    uploaded_at: UtcDateTime


class InDoubt(_Model):
    """An upload that may have reached the provider, with no answer recorded.

    Written before the request goes out (so a killed apply leaves it behind) and removed once
    the answer is known. Tencent files are looked up by name before anything is sent again;
    Huawei cannot list, so the user decides: upload again (`--replace`) or `import` a FileId.
    """

    audio_path: str
    provider: str
    provider_type: str
    reason: ProviderText
    remote_name: str
    # When the request went out, and the moment after which it can no longer land (the
    # client's timeout plus the provider's storage delay): a look-up that finds nothing
    # before then proves nothing. None in states written before it was recorded: `since`
    # plus the provider's bound (`settles_at`).
    settled_by: UtcDateTime | None = None
    sha256: str
    since: UtcDateTime
    size: int = Field(ge=0)

    def settles_at(self, window: float) -> datetime:
        """When the request can no longer land; `window` stands in for an unrecorded bound."""
        return self.settled_by or self.since + timedelta(seconds=window)


class ProviderRecord(_Model):
    """The settings last applied to a provider, secrets masked: recorded by its first upload,
    then by each apply of a plan that changes them. Plans show its settings against these,
    and settings that differ are a change to apply."""

    settings: dict[str, Any]
    since: UtcDateTime  # when these settings were recorded
    type: str


class State(_Model):
    format_version: int = STATE_FORMAT_VERSION
    # address -> an upload that may have landed without its answer being recorded
    in_doubt: dict[str, InDoubt] = Field(default_factory=dict)
    ivrsync_version: str  # the version that last wrote it
    lineage: str  # a UUID fixed at creation: tells this state from any other one
    # provider name -> the settings last applied to it (format 2; absent in older states)
    providers: dict[str, ProviderRecord] = Field(default_factory=dict)
    resources: dict[str, ResourceState] = Field(default_factory=dict)
    serial: int = Field(default=0, ge=0)  # +1 on every write
    # provider name -> day "YYYY-MM-DD" in the provider's time zone -> uploads that day
    uploads: dict[str, dict[str, int]] = Field(default_factory=dict)

    @field_validator("lineage")
    @classmethod
    def _lineage_is_uuid(cls, value: str) -> str:
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError("lineage must be a UUID") from None
        return value

    @field_validator("resources", "in_doubt")
    @classmethod
    def _addresses(cls, value: dict[str, Any]) -> dict[str, Any]:
        """One C-level regex match per key (100,000 in a big state); Address.parse, the
        authority, runs only when one fails, to name it (or accept what the regex is too
        strict for)."""
        if not all(map(_ADDRESS.fullmatch, value)):
            for address in value:
                Address.parse(address)
        return value

    @field_validator("uploads")
    @classmethod
    def _days(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for days in value.values():
            for day, count in days.items():
                try:
                    date.fromisoformat(day)
                except ValueError:
                    raise ValueError(f"'{day}' is not a day (YYYY-MM-DD)") from None
                if count < 0:
                    raise ValueError(f"the upload count of {day} is negative")
        return value

    @classmethod
    def new(cls) -> State:
        """An empty state with a fresh lineage, before its first write."""
        return cls(lineage=str(uuid.uuid4()), ivrsync_version=__version__)

    def uploads_on(self, provider: str, day: date) -> int:
        return self.uploads.get(provider, {}).get(day.isoformat(), 0)

    def record_upload(self, provider: str, day: date) -> None:
        """Count one upload; days long past are dropped so the state does not grow forever."""
        days = self.uploads.setdefault(provider, {})
        days[day.isoformat()] = days.get(day.isoformat(), 0) + 1
        oldest = (day - timedelta(days=UPLOAD_HISTORY_DAYS)).isoformat()
        for old in [d for d in days if d < oldest]:  # ISO dates sort as strings
            del days[old]

    def to_json(self) -> bytes:
        """The file's bytes: stable, so an unchanged state rewrites byte for byte.

        The same bytes as `json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True,
        ensure_ascii=False) + "\n"` (tests/test_state.py checks it), written by orjson in a
        fraction of the time: a 100,000-resource state took 4 s with json.dumps.
        """
        with paused_gc():
            data = self.model_dump()
            try:
                encoded = _encode(data)
            except TypeError:  # an int beyond 64 bits (a hand-edited file): orjson refuses it
                text = json.dumps(
                    self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False
                )
                encoded = (text + "\n").encode()
            del data  # freed within the pause: it leaves nothing to collect
        return encoded

    @classmethod
    def from_json(cls, data: bytes, source: str) -> State:
        """Parse a state file; any doubt about it is an error that names `source`."""
        with paused_gc():
            document = _parse(data, source)
            if not isinstance(document, dict):
                raise StateCorruptError(source, "not a JSON object")
            _check_format_version(document, source)
            try:
                state = cls.model_validate(document)
            except ValidationError as exc:
                raise StateCorruptError(source, _describe(exc)) from None
            del document  # freed before collection resumes, which then has less to walk
        return state


# What Address.parse accepts, as one match per key; see State._addresses.
_ADDRESS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


_CANONICAL = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z


def _encode(data: Any) -> bytes:
    """The state file's layout: sorted keys, two-space indent, UTF-8 text, a final newline."""
    return orjson.dumps(data, option=_CANONICAL) + b"\n"


def _parse(data: bytes, source: str) -> Any:
    """The JSON document in `data`, refusing one that holds a key twice.

    orjson parses several times faster than json but keeps the last of two equal keys
    silently. Bytes that are exactly an encoding of what they parse to cannot hold a key
    twice, as an encoding writes each key once; a file ivrsync wrote is that encoding with
    its keys in the order read (already sorted), so orjson is enough for it, at the cost of
    one encoding. Any other file (hand-edited, merged, not JSON) is read again by json,
    which finds duplicate keys and says what is wrong.
    """
    try:
        document = orjson.loads(data)
        encoded = orjson.dumps(document, option=orjson.OPT_INDENT_2)
        # The file is `encoded` and a newline, compared without copying 60 MB to add one.
        if len(data) == len(encoded) + 1 and data.startswith(encoded) and data.endswith(b"\n"):
            return document
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # (nested deeper than 255)
        pass
    try:
        return json.loads(data.decode(), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as exc:
        raise StateCorruptError(source, f"not UTF-8 text (byte {exc.start})") from None
    except _DuplicateKeyError as exc:
        raise StateCorruptError(source, f"the key '{exc.key}' appears twice") from None
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        if b"<<<<<<< " in data:
            reason = "it holds git merge conflict markers; " + reason
        raise StateCorruptError(source, reason) from None


def _check_format_version(document: dict[str, Any], source: str) -> None:
    version = document.get("format_version")
    if type(version) is not int:  # bool is an int too
        raise StateCorruptError(source, "it has no format_version number")
    if version > STATE_FORMAT_VERSION:
        writer = document.get("ivrsync_version")
        by = f"ivrsync {writer}" if isinstance(writer, str) else "a newer ivrsync"
        raise StateVersionError(
            source,
            f"the state file {source} has format_version {version}, written by {by}; "
            f"this ivrsync ({__version__}) reads format_version {STATE_FORMAT_VERSION}. "
            "Upgrade ivrsync; it will not overwrite the file.",
        )
    if version not in _READABLE_FORMAT_VERSIONS:
        raise StateVersionError(
            source,
            f"the state file {source} has format_version {version}, which this ivrsync "
            f"({__version__}) does not support (it reads "
            f"{', '.join(map(str, _READABLE_FORMAT_VERSIONS))}); "
            "it will not overwrite the file.",
        )


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A hand-resolved merge can leave an address twice; json.loads would keep one silently."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return result


def _describe(exc: ValidationError, limit: int = 3) -> str:
    """The first few problems, each at a path a user can find in the file."""
    parts = []
    for error in exc.errors()[:limit]:
        path = ""
        for item in error["loc"]:
            if isinstance(item, int):
                path += f"[{item}]"
            elif item.isidentifier():
                path += f".{item}" if path else item
            else:
                path += f'["{item}"]'
        parts.append(f"{path or 'the document'}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
