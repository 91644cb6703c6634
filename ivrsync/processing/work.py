"""The audio work a worker process does (ivrsync/workers.py): measuring a source, and
processing one with a recipe, measured as it comes out. Plain inputs and outputs, pickled
between processes; the caches that keep the results are in the parent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from ivrsync.audio_signal import SignalFacts, measure, measure_file
from ivrsync.processing.recipe import Recipe


@dataclass(frozen=True, slots=True)
class Measure:
    """Measure a source file as it is (for prompts uploaded unprocessed)."""

    path: str  # absolute


@dataclass(frozen=True, slots=True)
class Process:
    """Process a source file with a recipe."""

    path: str  # absolute
    recipe: Recipe


@dataclass(frozen=True, slots=True)
class Made:
    """Processed audio: its bytes, what processing found, and its signal measured on the
    bytes themselves (what callers hear after the encoder's rounding)."""

    data: bytes
    notes: tuple[str, ...] = field(default=())
    signal: SignalFacts | None = None  # None: the processed bytes could not be decoded


def produce(path: Path, recipe: Recipe) -> Made:
    """Process and measure; AudioError when the source cannot be decoded."""
    from ivrsync.audio import AudioError
    from ivrsync.audio_signal import decode
    from ivrsync.processing.convert import process_file

    processed = process_file(path, recipe)
    try:
        samples, rate = decode(io.BytesIO(processed.data))
        signal: SignalFacts | None = measure(samples, rate)
    except AudioError:
        signal = None
    return Made(processed.data, tuple(processed.notes), signal)


def run(task: Measure | Process) -> SignalFacts | Made:
    if isinstance(task, Measure):
        return measure_file(Path(task.path))
    return produce(Path(task.path), task.recipe)
