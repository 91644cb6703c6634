"""What ivrsync knows about each audio file (sha256 and probe), cached by file identity.

A no-op plan over thousands of prompts must not re-read gigabytes of audio. An entry is reused
only while the file's (size, mtime_ns, inode, ctime_ns) are those it was made from. mtime
alone can be put back (`touch -d`, `cp -p`, an editor or a sync tool restoring it) after a
rewrite in place of the same size; ctime cannot be set by anyone, and every write changes it.
A file that changed while it was read is not cached: its key would not say which bytes it had.

Signal measurements (audio_signal.py: level, clipping, silence) are kept beside, by sha256 and
measurement version: they cost a decode, and the same bytes measure the same wherever they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ivrsync.audio import AudioInfo, probe
from ivrsync.audio_signal import MEASUREMENT_VERSION, SignalFacts, measure_file
from ivrsync.files import write_atomically
from ivrsync.gc_pause import paused_gc

logger = logging.getLogger(__name__)

CACHE_FILE = ".ivrsync/cache/audio.json"
_CACHE_VERSION = 2  # 2: ctime in the key
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileFacts:
    sha256: str
    info: AudioInfo


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(stat: os.stat_result) -> list[int]:
    """What must be unchanged for a cached hash to still be the file's (see the docstring)."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]


class AudioCache:
    """Facts about the audio files of one repository; `save()` keeps them for the next run."""

    def __init__(self, root: Path, cache_path: Path | None = None) -> None:
        self.root = root
        self.path = cache_path or root / CACHE_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self.signals: dict[str, dict[str, Any]] = {}  # sha256: measurements
        self._load()
        self.root_prefix = os.path.join(root, "")  # the root and a separator
        self.hits = 0
        self.misses = 0
        self.decodes = 0  # files decoded to be measured in this run
        self._dirty = False
        self._this_run: dict[str, FileFacts] = {}

    def _load(self) -> None:
        try:
            with paused_gc():
                data = orjson.loads(self.path.read_bytes())
        except (OSError, ValueError):  # orjson.JSONDecodeError is a ValueError
            return  # no cache, or an unreadable one: it is only a cache
        if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
            return
        entries, signals = data.get("files"), data.get("signals")
        self.entries = entries if isinstance(entries, dict) else {}
        self.signals = signals if isinstance(signals, dict) else {}

    def facts(self, relative: str) -> FileFacts:
        """sha256 and probe of a repository file; raises AudioError for unusable audio.

        Asked twice a file in one run (validate, then plan): the second answer comes from
        memory, the first from the cache file when the file's identity is unchanged.
        """
        known = self._this_run.get(relative)
        if known is not None:
            return known
        path = self.root_prefix + relative
        key = _identity(os.stat(path))
        entry = self.entries.get(relative)
        if entry is not None and entry.get("key") == key:
            try:
                facts = FileFacts(entry["sha256"], AudioInfo(**entry["info"]))
            except (KeyError, TypeError):
                pass  # an entry of another shape: read the file again
            else:
                self.hits += 1
                self._this_run[relative] = facts
                return facts
        self.misses += 1
        info = probe(Path(path))
        facts = FileFacts(sha256_file(Path(path)), info)
        self._this_run[relative] = facts
        if _identity(os.stat(path)) != key:
            self.entries.pop(relative, None)  # written while read: read it again next run
            return facts
        self.entries[relative] = {
            "key": key,
            "sha256": facts.sha256,
            "info": dataclasses.asdict(info),
        }
        self._dirty = True
        return facts

    def signal(self, relative: str) -> SignalFacts:
        """The signal measurements of a repository file, decoded only when its bytes were
        never measured; raises AudioError for audio that cannot be decoded."""
        sha256 = self.facts(relative).sha256
        known = self.measured(sha256)
        if known is not None:
            return known
        facts = measure_file(Path(self.root_prefix + relative))
        self.keep_signal(sha256, facts)
        return facts

    def measured(self, sha256: str) -> SignalFacts | None:
        """The measurements of these bytes, if they were measured (by this measurement
        version)."""
        entry = self.signals.get(sha256)
        if entry is not None and entry.get("version") == MEASUREMENT_VERSION:
            try:
                return SignalFacts.from_json(entry["facts"])
            except (KeyError, TypeError):
                pass  # an entry of another shape: measure again
        return None

    def keep_signal(self, sha256: str, facts: SignalFacts) -> None:
        """Record measurements made here or in a worker process."""
        self.decodes += 1
        self.signals[sha256] = {"version": MEASUREMENT_VERSION, "facts": facts.to_json()}
        self._dirty = True

    def save(self) -> None:
        """Write the cache atomically; a failure to write it is logged, never fatal."""
        if not self._dirty:
            return
        live = {entry.get("sha256") for entry in self.entries.values()}
        signals = {k: v for k, v in self.signals.items() if k in live}  # none of gone bytes
        data = {"version": _CACHE_VERSION, "files": self.entries, "signals": signals}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
            self._dirty = False
        except OSError as exc:
            logger.warning("could not write the audio cache %s: %s", self.path, exc)
