"""`type: folder`: an ivrsync provider, installed as a plug-in, that keeps prompts in a folder.

Each upload is a file `<FileId><extension>` in the folder the settings name, under a FileId
this module makes (a UUID); `index.json` beside them says which name each FileId has and which
file holds it. Both are replaced atomically (ivrsync.files.write_atomically), so a job killed at
any moment leaves the old upload or the new one. It can list, update in place and delete; it
reviews nothing and counts no daily quota. One module is the whole provider: the module itself
satisfies ivrsync.providers.base.ProviderType, and the package's entry point in the group
`ivrsync.providers` names it (docs/plugins.md).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from ivrsync.audio import AudioInfo
from ivrsync.files import write_atomically
from ivrsync.processing.recipe import NativeAudio
from ivrsync.providers.base import (
    Finding,
    ItemOutcome,
    ProviderType,
    RemoteFile,
    ReviewReport,
    Starter,
    Uploaded,
    UploadItem,
    planned_bytes,
)
from ivrsync.providers.errors import PermanentError
from ivrsync.settings import (
    Acknowledgement,
    PromptOption,
    ProviderSettingsBase,
    acknowledge_field,
)

TYPE = "folder"
VENDOR = "Folder"
LOCALES: frozenset[str] | None = None
QUOTA_TIME_ZONE: tzinfo | None = None  # no daily quota
CAN_LIST = True
CAN_UPDATE = True
CAN_DELETE = True
REVIEWS = False
REVIEW_CALLBACKS: str | None = None
# No prompt-level settings, no emulator (the folder is its own), no entry in `ivrsync init`.
PROMPT_OPTIONS: Mapping[str, PromptOption] = {}
EMULATOR: str | None = None
# What `process: native` makes for a folder: 16-bit PCM at the telephone rate.
NATIVE_AUDIO = NativeAudio("wav", "pcm_s16le", 8000, 1)
STARTER: Starter | None = None
INDEX = "index.json"


def _absolute(value: str) -> str:
    if not Path(value).is_absolute():
        raise ValueError(f"'{value}' is not an absolute path (write /srv/prompts or ${{HOME}}/p)")
    return value


class FolderSettings(ProviderSettingsBase):
    """A local folder that holds the uploads."""

    DECIDING: ClassVar[dict[str, str]] = {"directory": "uploads go to another folder"}

    type: Literal["folder"]
    directory: Annotated[str, AfterValidator(_absolute)] = Field(
        description="the folder the uploads are kept in (absolute; created when needed)"
    )
    acknowledge: list[Acknowledgement] = acknowledge_field("every prompt of this provider")


SETTINGS = FolderSettings


def derive_remote_name(prompt: str, locale: str, base: str | None) -> str:
    return f"{base if base is not None else prompt}.{locale}"


def remote_name_problem(name: str) -> str | None:
    if name.strip() and name.isprintable():
        return None
    return f"'{name}' is not a usable name: give printable text"


def audio_findings(settings: FolderSettings, audio: AudioInfo) -> list[Finding]:
    return []  # the folder keeps any audio ivrsync reads, as it is


def uploaded_attributes(options: Mapping[str, Any], audio: AudioInfo) -> dict[str, str]:
    return {}  # only the bytes and the name are kept


def daily_quota(settings: FolderSettings) -> int | None:
    return None


def uploaded_name(settings: FolderSettings, remote_name: str, sha256: str) -> str:
    return remote_name


def file_id_problem(file_id: str) -> str | None:
    try:
        if str(uuid.UUID(file_id)) == file_id:
            return None
    except ValueError:
        pass
    return f"'{file_id}' is not a folder FileId: those are UUIDs in lower case"


def content_problem(settings: FolderSettings, remote_name: str, sha256: str) -> str | None:
    return None  # names say nothing of the content


def uploader(name: str, settings: FolderSettings, env: Mapping[str, str]) -> FolderStore:
    return FolderStore(name, Path(settings.directory))


def reviews(
    name: str, settings: FolderSettings, env: Mapping[str, str], file_ids: list[str]
) -> ReviewReport:
    """Nothing is reviewed: every stored file is approved; what the index lacks is drift."""
    listed = set(FolderStore(name, Path(settings.directory)).index())
    return ReviewReport(dict.fromkeys(listed, ("approved", None)), listed)


class FolderStore:
    """The client: an Uploader, Lister, Updater and Deleter on one folder."""

    rate_limit = 1000.0
    batch_size = 1
    max_concurrency = 1
    daily_quota: int | None = None
    # A write is done (or failed) when the call returns: a look-up that finds nothing is final.
    landing_window = 0.0

    def __init__(self, provider: str, directory: Path) -> None:
        self.provider = provider
        self.directory = directory
        self._lock = threading.Lock()

    def index(self) -> dict[str, dict[str, str]]:
        """FileId -> {"name", "file", "sha256"}; empty while the folder has none."""
        path = self.directory / INDEX
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise PermanentError(f"{self.provider}: cannot read {path}: {error}") from None
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            raise PermanentError(f"{self.provider}: {path} is not a folder index")
        return files

    def _save(self, files: dict[str, dict[str, str]]) -> None:
        text = json.dumps({"version": 1, "files": files}, indent=2, sort_keys=True) + "\n"
        write_atomically(self.directory / INDEX, text)

    def _store(
        self, item: UploadItem, file_id: str, content: bool, ready: Callable[[], None]
    ) -> Uploaded:
        """Put the item (its bytes when `content`) under `file_id`, then record it."""
        with self._lock:
            data = planned_bytes(item) if content else None
            ready()
            files = self.index()
            old = files.get(file_id)
            entry = dict(old) if old is not None else {}
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                if data is not None:
                    entry["file"] = f"{file_id}{item.path.suffix.lower()}"
                    entry["sha256"] = item.sha256
                    write_atomically(self.directory / entry["file"], data)
                entry["name"] = item.remote_name
                files[file_id] = entry
                self._save(files)
            except OSError as error:
                if old is None and "file" in entry:  # a new upload the index does not hold
                    (self.directory / entry["file"]).unlink(missing_ok=True)
                raise PermanentError(
                    f"{self.provider}: cannot write in {self.directory}: {error}"
                ) from error
            if old is not None and old["file"] != entry["file"]:
                (self.directory / old["file"]).unlink(missing_ok=True)
            return Uploaded(item.address, file_id, item.remote_name)

    def upload(self, batch: list[UploadItem], ready: Callable[[], None]) -> list[ItemOutcome]:
        outcomes: list[ItemOutcome] = []
        for item in batch:
            try:
                outcomes.append(self._store(item, str(uuid.uuid4()), True, ready))
            except PermanentError as error:
                outcomes.append(error)
        return outcomes

    def update(
        self, item: UploadItem, file_id: str, content: bool, ready: Callable[[], None]
    ) -> Uploaded:
        if file_id not in self.index():
            raise PermanentError(
                f"{self.provider}: no upload {file_id} in {self.directory} (removed by hand?)"
            )
        return self._store(item, file_id, content, ready)

    def delete(self, file_id: str, ready: Callable[[], None]) -> None:
        with self._lock:
            ready()
            files = self.index()
            entry = files.pop(file_id, None)
            if entry is None:
                return  # already gone
            try:
                self._save(files)
                (self.directory / entry["file"]).unlink(missing_ok=True)
            except OSError as error:
                raise PermanentError(
                    f"{self.provider}: cannot delete in {self.directory}: {error}"
                ) from error

    def find(self, batch: list[UploadItem]) -> list[Uploaded | None]:
        by_name = {entry["name"]: file_id for file_id, entry in self.index().items()}
        return [
            Uploaded(item.address, by_name[item.remote_name], item.remote_name)
            if item.remote_name in by_name
            else None
            for item in batch
        ]

    def files_by_id(self, file_ids: list[str]) -> list[RemoteFile]:
        files = self.index()
        return [
            RemoteFile(file_id, files[file_id]["name"], "approved")
            for file_id in file_ids
            if file_id in files
        ]

    def close(self) -> None:
        pass


if TYPE_CHECKING:
    # mypy checks this module against the protocol, with its own settings model.
    import ivrsync_folder

    _CHECKED: ProviderType[FolderSettings] = ivrsync_folder
