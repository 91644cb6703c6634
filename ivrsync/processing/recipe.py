"""What processing makes of a source file: a recipe, its digest and its description.

The digest, with the source's sha256, decides whether an upload is needed; the output bytes
never do, so a new libsndfile or soxr (different rounding, same recipe) re-uploads nothing.
`PIPELINE` is bumped only when ivrsync changes what a recipe means.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from ivrsync.audio import AudioInfo

# The meaning of a recipe; part of its digest. Not a library version (see the docstring).
PIPELINE = "1"


@dataclass(frozen=True, slots=True)
class NativeAudio:
    """The format a provider plays without transcoding, declared in its module
    (`NATIVE_AUDIO`): what `convert` makes."""

    container: str  # "wav"
    encoding: str  # "alaw", "mulaw", "pcm_s16le": named as audio.probe names codecs
    sample_rate: int  # Hz
    channels: int

    def describe(self) -> str:
        channels = "mono" if self.channels == 1 else f"{self.channels} channels"
        return f"{self.container.upper()} {self.encoding}, {self.sample_rate} Hz, {channels}"

    def matches(self, info: AudioInfo) -> bool:
        return (
            info.format == self.container
            and info.codec == self.encoding
            and info.sample_rate == self.sample_rate
            and info.channels == self.channels
        )


@dataclass(frozen=True, slots=True)
class Recipe:
    """One resource's processing, resolved from the manifest (manifest/loader.py)."""

    target: NativeAudio | None  # convert to this; None: keep the source's format
    normalize: float | None = None  # active speech level target, dBov; None: level kept
    lead: float | None = None  # leading silence set to this many seconds; None: kept
    trail: float | None = None  # trailing silence, likewise

    def described(self) -> dict[str, str]:
        """The recipe as the plan and the state show it: one entry per step."""
        return dict(_described(self))

    def digest(self) -> str:
        return _digest(self)

    @property
    def suffix(self) -> str:
        """The processed file's extension: the target container, else WAV (lossless)."""
        return f".{self.target.container}" if self.target is not None else ".wav"


# A repository has a handful of recipes and thousands of resources: each is worked out once.
@functools.cache
def _described(recipe: Recipe) -> dict[str, str]:
    steps = {"pipeline": PIPELINE}
    if recipe.target is not None:
        steps["convert"] = recipe.target.describe()
    if recipe.normalize is not None:
        steps["normalize"] = f"{recipe.normalize:g} dBov"
    if recipe.lead is not None:
        steps["trim.lead"] = f"{recipe.lead:g} s"
    if recipe.trail is not None:
        steps["trim.trail"] = f"{recipe.trail:g} s"
    return steps


@functools.cache
def _digest(recipe: Recipe) -> str:
    return recipe_digest(_described(recipe))


def recipe_digest(described: dict[str, str]) -> str:
    canonical = json.dumps(described, sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()


def content_id(source_sha256: str, recipe: Recipe | None) -> str:
    """What names an upload's content where a provider puts it in the remote name (to find an
    upload in doubt by name): the source's sha256, or with processing a sha256 of it and the
    recipe's digest, so that two recipes of one recording are never taken for each other."""
    if recipe is None:
        return source_sha256
    return hashlib.sha256(f"{source_sha256}:{recipe.digest()}".encode()).hexdigest()
