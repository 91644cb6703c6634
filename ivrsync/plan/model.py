"""A plan as data: saved by `plan --out`, rendered by `show`, applied by `apply`.

Nothing here knows about terminals. The JSON form is versioned (docs/plan-format.md): fields are
only added within a major version, and a reader refuses a newer major version.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ivrsync.errors import IvrsyncError

PLAN_FORMAT_VERSION = "1.5"
# The reason of a plain create, left unsaid where the action says it already.
NEW_REASON = "new in the manifests"


class PlanFileError(IvrsyncError):
    """A file given as a saved plan cannot be read as one."""

    error_code = "invalid_plan"


class Action(enum.StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    # New audio or a new name on the same FileId, where the provider updates in place (1.3).
    UPDATE = "update"
    MOVE = "move"
    FORGET = "forget"
    # The remote file is deleted: only where the provider can, and the manifests opt in (1.3).
    DELETE = "delete"
    NOOP = "no-op"


class _Model(BaseModel):
    # cache_strings: reading a saved plan, caching only keys (not 100,000 unique paths and
    # hashes) makes `Plan.model_validate_json` a fifth faster.
    model_config = ConfigDict(extra="forbid", frozen=True, cache_strings="keys")


class Reason(_Model):
    """Why a resource changes: an attribute from `before` to `after`, or a sentence."""

    message: str
    attribute: str | None = None
    before: str | None = None
    after: str | None = None


class Desired(_Model):
    """What the manifests ask for: the upload apply would make."""

    audio_path: str
    sha256: str
    size: int
    remote_name: str
    attributes: dict[str, str]
    # What a reviewer checks of the audio (added in 1.2; None in older plans).
    duration: float | None = None  # seconds
    format: str | None = None  # the container: wav, mp3
    codec: str | None = None  # pcm_s16le, pcm_mulaw, mp3, ...
    sample_rate: int | None = None  # Hz
    channels: int | None = None
    # Processing (added in 1.4): the recipe's steps, and the processed bytes that are uploaded
    # (cached under .ivrsync/cache/processed/). `sha256` and `size` stay the source file's:
    # they and the recipe decide an upload; the audio facts above are the processed audio's.
    process: dict[str, str] | None = None
    processed_sha256: str | None = None
    processed_size: int | None = None
    processed_path: str | None = None  # the cached processed file, relative to the root, POSIX


class Recorded(_Model):
    """What the state holds for the address before the change."""

    file_id: str
    audio_path: str
    sha256: str
    size: int
    remote_name: str
    attributes: dict[str, str]
    review_status: str
    process: dict[str, str] | None = None  # the recipe it was uploaded with (1.4)


class ResourceChange(_Model):
    address: str
    previous_address: str | None = None
    provider: str
    provider_type: str
    action: Action
    reasons: list[Reason] = Field(default_factory=list)
    before: Recorded | None = None
    after: Desired | None = None
    # A replacement's FileId that IVR flows keep using until the new upload is approved: the
    # current one if approved, else the last approved one; None if none was (added in 1.2).
    live_file_id: str | None = None

    @property
    def uploads(self) -> bool:
        """A new remote file (and FileId): spends quota, and may land twice if an answer is lost."""
        return self.action in (Action.CREATE, Action.REPLACE)

    @property
    def sends(self) -> bool:
        """A request to the provider: an upload, an update in place or a delete."""
        return self.action in (Action.CREATE, Action.REPLACE, Action.UPDATE, Action.DELETE)

    @property
    def sends_audio(self) -> bool:
        """The request carries the audio: apply refuses the plan once the file differs."""
        if self.uploads:
            return True
        before, after = self.before, self.after
        if self.action is not Action.UPDATE or before is None or after is None:
            return False
        return after.sha256 != before.sha256 or after.process != before.process


class AcknowledgedBy(_Model):
    """The `acknowledge:` entry that accepts a warning (added in 1.2)."""

    where: str  # file:line of the entry
    reason: str | None = None


class PlanWarning(_Model):
    code: str
    message: str
    provider: str | None = None
    addresses: list[str] = Field(default_factory=list)
    # Set when the manifests accept this warning: counted, not listed, in text and Markdown.
    acknowledged: AcknowledgedBy | None = None


class Finding(_Model):
    """A warning `validate` made of the manifests or the audio (added in 1.5): the plan carries
    it so that a review (the Markdown comment, the review page, a script) sees what the
    terminal showed before the plan."""

    code: str
    message: str
    where: str | None = None  # file:line:column of the manifest entry
    address: str | None = None  # the resource it is about, where it is about one
    acknowledged: AcknowledgedBy | None = None


class StateRef(_Model):
    """The state a plan was made against: apply refuses the plan once it has changed."""

    lineage: str | None
    serial: int


class SettingChange(_Model):
    """A provider setting that differs: `before` and `after` as text (None: not set)."""

    path: str  # dotted, e.g. "endpoint", "audio_source.bucket"
    before: str | None
    after: str | None
    # It decides where credentials or audio go (another endpoint host, sdk_app_id, the
    # callback's host, the audio source): shown as loudly as a destructive change.
    caution: bool = False
    why: str = ""  # what the caution is about


class ProviderRef(_Model):
    type: str
    # sha256 of the provider's settings (which hold no secrets): apply refuses the plan when the
    # settings it would upload with are not the ones the plan was made with.
    settings_sha256: str
    # Added in 1.2. The settings (secrets masked) and where each came from (dotted path ->
    # "ivrsync.yaml:7", the environment variable it read, or "the default").
    settings: dict[str, Any] = Field(default_factory=dict)
    origins: dict[str, str] = Field(default_factory=dict)
    # What the settings are compared with: those the state records for the provider
    # ("recorded"), none ever uploaded ("none"), or a state older than these records that
    # holds resources of the provider ("unknown", until an apply records them).
    settings_before: Literal["recorded", "unknown", "none"] = "none"
    setting_changes: list[SettingChange] = Field(default_factory=list)
    # Apply records these settings in the state: they differ from the recorded ones, or none
    # are recorded for a provider the state holds resources of. A change in itself, counted in
    # `Summary.settings`; a targeted plan records only those of providers it uploads to.
    record_settings: bool = False

    @property
    def settings_differ(self) -> bool:
        """The settings are not those the state records (or it records none, "unknown")."""
        return self.settings_before == "unknown" or bool(self.setting_changes)

    @property
    def cautions(self) -> list[SettingChange]:
        return [c for c in self.setting_changes if c.caution]


class Pending(_Model):
    """An upload in doubt apply will not settle alone: the user decides (replace or import)."""

    address: str
    provider: str
    provider_type: str
    since: datetime  # when the upload in doubt was sent
    message: str  # what happened, and the commands that decide


class Summary(_Model):
    create: int = 0
    replace: int = 0
    update: int = 0  # added in 1.3
    move: int = 0
    forget: int = 0
    delete: int = 0  # added in 1.3
    no_op: int = 0
    # Uploads in doubt waiting for the user's decision (`pending`): not changes, but the
    # state does not match the manifests until they are decided.
    pending: int = 0
    # Providers whose settings apply records in the state (`ProviderRef.record_settings`).
    settings: int = 0

    @property
    def changes(self) -> int:
        """Everything apply would change: resources, and providers' recorded settings."""
        return (
            self.create
            + self.replace
            + self.update
            + self.move
            + self.forget
            + self.delete
            + self.settings
        )


class Plan(_Model):
    format_version: str = PLAN_FORMAT_VERSION
    ivrsync_version: str
    created_at: datetime
    state: StateRef
    providers: dict[str, ProviderRef]
    targets: list[str] = Field(default_factory=list)
    replace: list[str] = Field(default_factory=list)
    summary: Summary
    # Every change but no-ops (counted in the summary), sorted by address.
    changes: list[ResourceChange]
    warnings: list[PlanWarning] = Field(default_factory=list)
    # validate's warnings, in its order (added in 1.5).
    findings: list[Finding] = Field(default_factory=list)
    # Uploads in doubt that need a decision, sorted by address (added in 1.1).
    pending: list[Pending] = Field(default_factory=list)
    # sha256 of every file an upload in this plan reads: apply refuses the plan if one differs.
    files: dict[str, str] = Field(default_factory=dict)

    @property
    def listed_warnings(self) -> list[PlanWarning]:
        """The warnings a person reads: those the manifests do not acknowledge."""
        return [w for w in self.warnings if w.acknowledged is None]

    @property
    def acknowledged_warnings(self) -> int:
        return len(self.warnings) - len(self.listed_warnings)

    @property
    def has_changes(self) -> bool:
        return self.summary.changes > 0

    @property
    def settled(self) -> bool:
        """Nothing to change and nothing to decide: the state matches the manifests."""
        return not self.has_changes and not self.summary.pending

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, source: str) -> Plan:
        """Read a saved plan: pydantic parses and checks it in one pass, with garbage
        collection paused (a plan of 100,000 changes took 3.5 s with json and collection on).
        A text it refuses is read again as before, to word the error the same way."""
        from pydantic import ValidationError

        from ivrsync.gc_pause import paused_gc

        with paused_gc():
            try:
                plan = cls.model_validate_json(text)
            except ValidationError:
                pass
            else:
                ours = _major(plan.format_version) == _major(PLAN_FORMAT_VERSION)
                if ours and "format_version" in plan.model_fields_set:  # not just the default
                    return plan
            return cls._from_json_with_reasons(text, source)

    @classmethod
    def _from_json_with_reasons(cls, text: str | bytes, source: str) -> Plan:
        """json, then the format version, then the model: each failure in its own words."""
        import json

        from pydantic import ValidationError

        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise PlanFileError(f"{source} is not a saved ivrsync plan (not JSON: {exc})") from None
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if not isinstance(version, str):
            raise PlanFileError(f"{source} is not a saved ivrsync plan (no format_version)")
        major = _major(PLAN_FORMAT_VERSION)
        if _major(version) != major:
            raise PlanFileError(
                f"{source} is a plan of format {version}; this ivrsync reads "
                f"{major}.x: make the plan again, or use the ivrsync that made it"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise PlanFileError(
                f"{source} is not a valid ivrsync plan ({where}: {first['msg']})"
            ) from None


def _major(version: str) -> str:
    return version.split(".", maxsplit=1)[0]
