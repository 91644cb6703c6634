"""The audio a review page embeds: what each change uploads, and the version it replaces.

Reads the repository's files and its git history (local only, bounded); the page itself is
drawn by views/plan_html.py from what this returns. numpy and soundfile are imported only
here, when a page is made.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from ivrsync.audio import sniff_format
from ivrsync.git_history import HISTORY_DEPTH, recorded_version
from ivrsync.plan.model import Action, Plan, ResourceChange

# A page for a big plan stays one a browser opens: players for the first changes only, and
# no more audio than this (bytes, before base64: 30 MB is about 40 MB of page).
MAX_PLAYERS = 200
MAX_AUDIO_BYTES = 30_000_000
# Columns of a waveform: one min/max pair per pixel of the drawn SVG.
WAVEFORM_COLUMNS = 480

_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg"}

Peaks = list[tuple[float, float]]


@dataclass(frozen=True)
class Clip:
    """One playable version of a file: its bytes as a data: URI and its waveform."""

    path: str
    data_uri: str
    peaks: Peaks  # empty when the bytes could not be decoded
    origin: str  # where the bytes came from: "the working tree", "commit 1a2b3c4d"


@dataclass(frozen=True)
class ChangeAudio:
    current: Clip | None = None
    previous: Clip | None = None
    note: str = ""  # why a version cannot be played


@dataclass
class ReviewAudio:
    changes: dict[str, ChangeAudio] = field(default_factory=dict)  # by address
    left_out: list[str] = field(default_factory=list)  # addresses without players (the caps)
    limit: int = MAX_PLAYERS
    max_bytes: int = MAX_AUDIO_BYTES


def upload_source(change: ResourceChange, root: Path) -> Path | None:
    """The file whose bytes the change uploads: the processed file where the manifest
    processes the audio (what callers will hear), else the repository's."""
    if change.after is None or not (change.uploads or change.sends_audio):
        return None
    return root / (change.after.processed_path or change.after.audio_path)


def waveform(data: bytes, columns: int = WAVEFORM_COLUMNS) -> Peaks:
    """Min and max of the (channel-mixed) samples per column, in -1..1; empty if undecodable."""
    import numpy as np
    import soundfile

    try:
        samples, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return []
    mono = samples.mean(axis=1)
    if mono.size == 0:
        return []
    edges = np.linspace(0, mono.size, min(columns, mono.size) + 1).astype(int)
    return [
        (float(mono[a:b].min()), float(mono[a:b].max()))
        for a, b in itertools.pairwise(edges)
        if b > a
    ]


def clip(path: str, data: bytes, origin: str) -> Clip:
    mime = _MIME.get(sniff_format(data[:64]) or "", "application/octet-stream")
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return Clip(path, uri, waveform(data), origin)


def _previous(change: ResourceChange, root: Path) -> tuple[Clip | None, str]:
    """The version uploaded now, when the change uploads another: as processed then, where
    the processed-audio cache still holds it; else the source, from git history."""
    before, after = change.before, change.after
    if before is None or after is None:
        return None, ""
    if (before.sha256, before.process) == (after.sha256, after.process):
        return None, ""
    if before.process is not None:
        from ivrsync.audio_cache import AudioCache
        from ivrsync.processing.cache import ProcessedCache

        cached = ProcessedCache(root, AudioCache(root).facts).find(before.sha256, before.process)
        if cached is not None:
            try:
                return clip(before.audio_path, cached.read_bytes(), "processed, as uploaded"), ""
            except OSError:
                pass  # removed meanwhile: the source, from git, below
    if before.sha256 == after.sha256:
        return None, (
            f"the audio uploaded now ({before.audio_path} as processed by its earlier recipe) "
            "is no longer in the processed-audio cache"
        )
    found = recorded_version(root, before.audio_path, before.sha256)
    if found is None:
        return None, (
            f"the uploaded version of {before.audio_path} (sha256 {before.sha256[:16]}) is not "
            f"in the last {HISTORY_DEPTH} commits of its git history"
        )
    data, commit = found
    origin = f"commit {commit[:8]}"
    if before.process is not None:
        origin += ", the source before processing"
    return clip(before.audio_path, data, origin), ""


def review_audio(
    plan: Plan, root: Path, limit: int = MAX_PLAYERS, max_bytes: int = MAX_AUDIO_BYTES
) -> ReviewAudio:
    """The clips of the first `limit` changes that send audio, up to `max_bytes` of audio in
    all (as the plan records their sizes); the others are named."""
    result = ReviewAudio(limit=limit, max_bytes=max_bytes)
    seen: dict[tuple[str, str], Clip] = {}
    embedded = 0
    for change in plan.changes:
        source = upload_source(change, root)
        if source is None or change.after is None or change.action is Action.DELETE:
            continue
        after = change.after
        shown = after.processed_path or after.audio_path
        # The sha256 the bytes must have: the processed file's, or the one the plan recorded.
        expected = after.processed_sha256 or plan.files.get(after.audio_path)
        key = (shown, after.processed_sha256 or after.sha256)
        before = change.before
        cost = 0 if key in seen else (after.processed_size or after.size)
        if before is not None and (before.sha256, before.process) != (after.sha256, after.process):
            cost += before.size
        if len(result.changes) >= limit or embedded + cost > max_bytes:
            result.left_out.append(change.address)
            continue
        embedded += cost
        try:
            data = source.read_bytes()
        except OSError as error:
            note = f"{source.name} cannot be read: {error.strerror}"
            result.changes[change.address] = ChangeAudio(note=note)
            continue
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            note = (
                f"{shown} has changed since the plan was made (apply refuses "
                "this plan): make a new plan to hear it"
            )
            result.changes[change.address] = ChangeAudio(note=note)
            continue
        previous, note = _previous(change, root)
        if key not in seen:  # one file used by many resources is decoded once
            origin = "processed, as uploaded" if after.processed_path else "the working tree"
            seen[key] = clip(shown, data, origin)
        result.changes[change.address] = ChangeAudio(seen[key], previous, note)
    return result
