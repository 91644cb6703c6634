"""Processed audio, cached by the key that decides an upload: sha256(source) + digest(recipe).

A warm plan reads a small JSON record per processed file, never the audio; `apply` uploads the
cached file itself (its sha256 checked against the record as it is read), so what was planned
and previewed is what is sent. The output's own sha256 is recorded in the state; it never
decides an upload, so new library versions re-upload nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ivrsync.audio import AudioInfo, probe_bytes
from ivrsync.audio_cache import FileFacts
from ivrsync.audio_signal import MEASUREMENT_VERSION, SignalFacts, measure_file
from ivrsync.files import write_atomically
from ivrsync.processing.recipe import Recipe, recipe_digest
from ivrsync.processing.work import Made, produce

CACHE_DIR = ".ivrsync/cache/processed"
INDEX = "index.json"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessedFacts:
    source_sha256: str
    recipe: Recipe
    sha256: str  # of the processed bytes
    info: AudioInfo  # of the processed bytes: what is uploaded
    file: str  # the cached file, absolute (a str: a warm plan makes thousands, unused)
    notes: tuple[str, ...]  # what processing found (channels that cancel, a capped gain)
    signal: SignalFacts | None  # measured on these bytes; None: not yet (an older record)

    @property
    def path(self) -> Path:
        return Path(self.file)


def cache_key(source_sha256: str, recipe: Recipe) -> str:
    return f"{source_sha256[:32]}-{recipe.digest()[:32]}"  # as `find` makes it


class ProcessedCache:
    """Processes each (source, recipe) once per repository; `made` counts real processing."""

    def __init__(self, root: Path, source: Callable[[str], FileFacts]) -> None:
        self.root = root
        self.dir = root / CACHE_DIR
        self._prefix = f"{self.dir}{os.sep}"
        self.source = source
        self.made = 0
        self.hits = 0
        self._this_run: dict[tuple[str, Recipe], ProcessedFacts] = {}
        # Every record in one file, read once: a warm plan of thousands of processed prompts
        # must not open a record per prompt. The per-file records stay the truth (a run that
        # does not `save()`, such as validate, still leaves them).
        self._index: dict[str, dict[str, Any]] | None = None
        self._dirty = False
        self._shards: set[Path] = set()  # directories made in this run

    def path_for(self, source_sha256: str, recipe: Recipe) -> Path:
        return Path(self._file(source_sha256, recipe))

    def _file(self, source_sha256: str, recipe: Recipe) -> str:
        """The path as a str: a warm plan makes thousands, and pathlib is slow to build."""
        return self._at(cache_key(source_sha256, recipe) + recipe.suffix)

    def _at(self, name: str) -> str:
        """Files spread over 256 directories by their first two hex digits, as git's objects
        are: a directory of 100,000 files is slow to list and to write in."""
        return f"{self._prefix}{name[:2]}{os.sep}{name}"

    def facts(self, audio_path: str, recipe: Recipe) -> ProcessedFacts:
        """The processed audio of a repository file; AudioError when it cannot be processed."""
        known = self._this_run.get((audio_path, recipe))
        if known is not None:
            return known
        source = self.source(audio_path)
        facts = self._cached(source.sha256, recipe)
        if facts is None:
            facts = self.make(audio_path, source.sha256, recipe)
        else:
            self.hits += 1
        self._this_run[(audio_path, recipe)] = facts
        return facts

    def checked(self, audio_path: str, recipe: Recipe) -> ProcessedFacts:
        """As `facts`, with the cached file read and its sha256 checked against its record, so
        that apply never uploads a cache file damaged since the plan: made again if it is."""
        facts = self.facts(audio_path, recipe)
        try:
            if hashlib.sha256(facts.path.read_bytes()).hexdigest() == facts.sha256:
                return facts
        except FileNotFoundError:
            pass  # removed from the cache since its record was indexed
        facts = self.make(audio_path, facts.source_sha256, recipe)
        self._this_run[(audio_path, recipe)] = facts
        return facts

    def make(self, audio_path: str, source_sha256: str, recipe: Recipe) -> ProcessedFacts:
        """Process the file again and cache the result (apply does this for a missing file)."""
        made = produce(self.root / audio_path, recipe)
        return self.keep(audio_path, source_sha256, recipe, made)

    def find(self, source_sha256: str, described: dict[str, str]) -> Path | None:
        """The cached output of a recipe known only as the plan and state describe it (an
        earlier upload's), if this cache still holds it."""
        key = f"{source_sha256[:32]}-{recipe_digest(described)[:32]}"
        shard = Path(self._at(key)).parent
        found = [p for p in shard.glob(f"{key}.*") if p.suffix != ".json"]
        return found[0] if found else None

    def is_cached(self, source_sha256: str, recipe: Recipe) -> bool:
        return self._cached(source_sha256, recipe) is not None

    def keep(
        self, audio_path: str, source_sha256: str, recipe: Recipe, made: Made
    ) -> ProcessedFacts:
        """Cache what processing made (here, or in a worker process: `prepare`)."""
        self.made += 1
        data = made.data
        facts = ProcessedFacts(
            source_sha256,
            recipe,
            hashlib.sha256(data).hexdigest(),
            probe_bytes(data),
            self._file(source_sha256, recipe),
            made.notes,
            made.signal,
        )
        shard = facts.path.parent
        if shard not in self._shards:
            shard.mkdir(parents=True, exist_ok=True)
            self._shards.add(shard)
        # Not durable: apply checks the bytes against the record's sha256 (`checked`).
        write_atomically(facts.path, data, durable=False)
        self._record(facts)
        self._this_run[(audio_path, recipe)] = facts
        return facts

    def signal(self, facts: ProcessedFacts) -> SignalFacts:
        """The processed file's measurements: from its record, else measured now and recorded
        (AudioError when its bytes cannot be decoded)."""
        if facts.signal is not None:
            return facts.signal
        signal = measure_file(facts.path)
        facts = dataclasses.replace(facts, signal=signal)
        self._record(facts)
        for key, known in self._this_run.items():
            if known.file == facts.file:
                self._this_run[key] = facts
        return signal

    def _record(self, facts: ProcessedFacts) -> None:
        record: dict[str, Any] = {
            "sha256": facts.sha256,
            "info": dataclasses.asdict(facts.info),
            "notes": list(facts.notes),
        }
        if facts.signal is not None:
            record["signal"] = {"version": MEASUREMENT_VERSION, "facts": facts.signal.to_json()}
        write_atomically(facts.path.with_suffix(".json"), orjson.dumps(record), durable=False)
        self.index()[facts.path.name] = record
        self._dirty = True

    def index(self) -> dict[str, dict[str, Any]]:
        if self._index is None:
            try:
                data = orjson.loads((self.dir / INDEX).read_bytes())
            except (OSError, ValueError):
                data = None
            self._index = data if isinstance(data, dict) else {}
        return self._index

    def save(self) -> None:
        """Write the index of records; failing to is harmless (it is only a cache)."""
        if not self._dirty:
            return
        try:
            write_atomically(self.dir / INDEX, orjson.dumps(self.index()))
            self._dirty = False
        except OSError as exc:
            logger.warning("could not write the processed-audio index %s: %s", self.dir, exc)

    def _cached(self, source_sha256: str, recipe: Recipe) -> ProcessedFacts | None:
        name = cache_key(source_sha256, recipe) + recipe.suffix
        file = self._at(name)
        try:
            record = self.index().get(name)
            if record is None:
                path = Path(file)
                record = orjson.loads(path.with_suffix(".json").read_bytes())
                if not path.is_file():
                    return None
                self.index()[name] = record
                self._dirty = True
            # An indexed record's file is not looked at: apply reads and checks it (`checked`).
            return ProcessedFacts(
                source_sha256,
                recipe,
                str(record["sha256"]),
                AudioInfo(**record["info"]),
                file,
                tuple(record.get("notes", ())),
                _signal(record.get("signal")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no record, or an unreadable one: it is only a cache


def _signal(entry: Any) -> SignalFacts | None:
    """A recorded measurement, unless made by another version of the measurements."""
    if not isinstance(entry, dict) or entry.get("version") != MEASUREMENT_VERSION:
        return None
    return SignalFacts.from_json(entry["facts"])
