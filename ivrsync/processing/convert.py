"""The processing itself: decode, downmix, resample, level, silence, encode.

numpy, soundfile and soxr are imported inside the functions: a plan of a repository without
processing must not pay for them (`python -X importtime -m ivrsync --help` shows none).
Deterministic: no dither, no randomness; the same source and recipe give the same bytes with
the same libraries.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivrsync.audio import AudioError
from ivrsync.processing.recipe import Recipe

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Samples = NDArray[np.float64]

# libsndfile subtypes by the codec names audio.probe gives.
_SUBTYPES = {
    "alaw": "ALAW",
    "mulaw": "ULAW",
    "pcm_s16le": "PCM_16",
    "pcm_s24le": "PCM_24",
    "mp3": "MPEG_LAYER_III",
}
_CONTAINERS = {"wav": "WAV", "mp3": "MP3"}

# Downmixing channels whose mix is this much quieter than the channels are (dB) means they
# cancel (one is phase-inverted): said, since callers would hear little or nothing.
CANCEL_DB = 6.0
# Silence, for trimming: 10 ms frames whose RMS is below this level (dBov). -50 dBov is under
# the noise floor of a clean studio recording at telephone levels, above dither.
SILENCE_DBOV = -50.0
_FRAME_SECONDS = 0.010
# Normalising never raises a peak above this (full scale 1.0): A-law and mu-law clip at it.
_PEAK_CEILING = 10 ** (-1.0 / 20)  # -1 dBFS


@dataclass
class Processed:
    data: bytes
    notes: list[str] = field(default_factory=list)  # what a user should know (cancelling, ...)


def process_file(path: Path, recipe: Recipe) -> Processed:
    """The processed bytes of the audio at `path`; AudioError when it cannot be decoded."""
    import numpy as np
    import soundfile as sf

    try:
        samples, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"cannot decode it: {exc}") from exc
    notes: list[str] = []
    if recipe.target is not None:
        if samples.shape[1] != recipe.target.channels:
            samples = downmix(samples, recipe.target.channels, notes)
        if rate != recipe.target.sample_rate:
            samples = resample(samples, rate, recipe.target.sample_rate)
            rate = recipe.target.sample_rate
    if recipe.lead is not None or recipe.trail is not None:
        samples = set_silence(samples, rate, recipe.lead, recipe.trail)
    if recipe.normalize is not None:
        samples = normalize(samples, rate, recipe.normalize, notes)
    samples = np.clip(samples, -1.0, 1.0)
    return Processed(encode(samples, rate, recipe), notes)


def downmix(samples: Samples, channels: int, notes: list[str]) -> Samples:
    """To mono: the mean of the channels, noting when they cancel."""
    import numpy as np

    if channels != 1:
        raise AudioError(f"cannot mix {samples.shape[1]} channels to {channels}")
    # Column by column, and each power as one dot product (einsum, not BLAS): a mean along
    # the short axis of a frames x channels array is several times slower.
    mixed = samples[:, 0].copy()
    for channel in range(1, samples.shape[1]):
        mixed += samples[:, channel]
    mixed /= samples.shape[1]
    each = max(_power_db(samples[:, c]) for c in range(samples.shape[1]))
    mix = _power_db(mixed)
    if each > -math.inf and each - mix > CANCEL_DB:
        notes.append(
            f"its {samples.shape[1]} channels cancel when mixed to mono: the mix is "
            f"{each - mix:.1f} dB quieter than the loudest channel (one phase-inverted?)"
        )
    return np.asarray(mixed.reshape(-1, 1), dtype=np.float64)


def resample(samples: Samples, rate: int, target: int) -> Samples:
    """soxr at its very high quality (VHQ): a steep, linear-phase anti-alias filter."""
    import numpy as np
    import soxr

    out = soxr.resample(samples, rate, target, quality="VHQ")
    return np.asarray(out, dtype=np.float64).reshape(-1, samples.shape[1])


def speech_level(samples: Samples, rate: int) -> float:
    """The level normalising aims at, in dBov: the ITU-T P.56 active speech level of the
    channels mixed (pauses left out), as `validate` measures it (audio_signal)."""
    from ivrsync.audio_signal import active_speech_level

    level, _, _ = active_speech_level(samples.mean(axis=1), rate)
    return -math.inf if level is None else level


def normalize(samples: Samples, rate: int, target: float, notes: list[str]) -> Samples:
    level = speech_level(samples, rate)
    if level == -math.inf:
        return samples  # silence stays silence
    import numpy as np

    gain_db = target - level
    peak = float(np.max(np.abs(samples)))
    if peak > 0 and peak * 10 ** (gain_db / 20) > _PEAK_CEILING:
        capped = 20 * math.log10(_PEAK_CEILING / peak)
        notes.append(
            f"normalising to {target:g} dBov would clip: the gain is held at {capped:+.1f} dB "
            f"(level {level + capped:.1f} dBov)"
        )
        gain_db = capped
    return samples * 10 ** (gain_db / 20)


def set_silence(samples: Samples, rate: int, lead: float | None, trail: float | None) -> Samples:
    """Leading and trailing silence cut or padded to `lead` and `trail` seconds."""
    import numpy as np

    frame = max(1, round(rate * _FRAME_SECONDS))
    count = samples.shape[0] // frame
    if count == 0:
        return samples
    frames = samples[: count * frame].reshape(count, frame, samples.shape[1])
    power = np.mean(frames**2, axis=(1, 2))
    loud = np.flatnonzero(power > 10 ** (SILENCE_DBOV / 10))
    if loud.size == 0:
        return samples  # all silence: nothing to align to
    start = int(loud[0]) * frame
    end = min(samples.shape[0], (int(loud[-1]) + 1) * frame)
    body = samples[start:end]
    parts = []
    if lead is not None:
        parts.append(np.zeros((round(lead * rate), samples.shape[1])))
    else:
        parts.append(samples[:start])
    parts.append(body)
    if trail is not None:
        parts.append(np.zeros((round(trail * rate), samples.shape[1])))
    else:
        parts.append(samples[end:])
    return np.concatenate(parts)


def encode(samples: Samples, rate: int, recipe: Recipe) -> bytes:
    import soundfile as sf

    target = recipe.target
    container = target.container if target is not None else "wav"
    encoding = target.encoding if target is not None else "pcm_s16le"
    out = io.BytesIO()
    sf.write(out, samples, rate, format=_CONTAINERS[container], subtype=_SUBTYPES[encoding])
    return out.getvalue()


def _power_db(samples: Any) -> float:
    """The RMS level in dB of full scale; -inf for silence."""
    import numpy as np

    power = float(np.einsum("i,i->", samples, samples)) / samples.size if samples.size else 0.0
    return 10 * math.log10(power) if power > 0 else -math.inf
