"""What a caller will hear, measured: level, clipping, silence, DC offset, channels.

`decode` reads a file once into float samples (libsndfile through soundfile: WAV, MP3, FLAC,
Ogg); `measure` is a pure function of those samples; `signal_findings` turns a measurement into
the warnings `validate` shows. numpy and soundfile are imported inside the functions that use
them, so commands that measure nothing (or find every measurement cached) never load them.

Levels are in dBov: 0 dBov is the RMS of a full-scale square wave, so a full-scale sine is
-3.01 dBov (ITU-T G.100.1). The active speech level follows ITU-T P.56 (12/2011) method B:

- envelope: |x| smoothed twice by a first-order filter with a 30 ms time constant;
- activity at each of 16 thresholds c_j = 2^-15 .. 2^0 of full scale: samples whose envelope is
  at or above c_j, plus a hangover of 200 ms after each;
- A_j = energy / active samples at c_j; the level is where A_j - 20 log10(c_j) falls to the
  margin M = 15.9 dB, interpolated between the two thresholds around it.

The rest of P.56 (the analogue calibration, method A's filters) is left out: the files are
digital and their full scale is 0 dBov.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ivrsync.audio import AudioError
from ivrsync.errors import Severity

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Samples = npt.NDArray[np.float64]

__all__ = [
    "MEASUREMENT_VERSION",
    "SignalFacts",
    "SignalFinding",
    "active_speech_level",
    "decode",
    "measure",
    "measure_file",
    "signal_findings",
]

# Bumped when a measurement changes, so cached measurements are made again.
MEASUREMENT_VERSION = 1

# P.56 method B constants.
P56_TIME_CONSTANT = 0.03  # s, envelope smoothing
P56_HANGOVER = 0.2  # s
P56_MARGIN_DB = 15.9
_P56_THRESHOLDS = 16  # 2^-15 .. 2^0

# The checks' defaults (docs/audio.md says where each comes from).
# RFC 7874 section 4 (after ITU-T G.169 and G.115): active speech at -19 dBm0, an RMS of 2600
# in 16-bit PCM, i.e. -22.0 dBov, within +/- 6 dB where gain is not controlled end to end.
TARGET_LEVEL_DBOV = round(20 * math.log10(2600 / 32767), 1)
LEVEL_TOLERANCE_DB = 6.0
CLIP_RUN = 3  # consecutive samples at the peak that count as a clipped run
CLIP_FLOOR = 0.97  # a flat top below this is a limiter, not clipping (A-law max is 0.984)
MAX_LEADING_SILENCE = 1.0  # s
MAX_TRAILING_SILENCE = 1.5  # s
MAX_DC_OFFSET = 0.01  # of full scale: -40 dBov
MIN_SAMPLE_RATE = 8000  # Hz, the telephone network's rate
MAX_DOWNMIX_LOSS_DB = 6.0  # uncorrelated channels lose 3 dB; cancelling ones much more


@dataclass(frozen=True, slots=True)
class SignalFacts:
    """The measurements of one file; plain numbers, so they are cached as JSON."""

    sample_rate: int
    channels: int
    duration: float  # s
    peak_dbov: float | None  # None: digital silence
    clipped_runs: int  # runs of CLIP_RUN+ samples at a full-scale peak
    clipped_at: float | None  # s, the first run
    active_level_dbov: float | None  # P.56 method B of the mono downmix; None: no activity
    activity: float  # the active fraction of the file, 0..1
    leading_silence: float | None  # s before the first active sample; None: no activity
    trailing_silence: float | None  # s after the last active sample
    dc_offset: float  # the largest channel mean, as a fraction of full scale (signed)
    downmix_loss_db: float | None  # mean channel level minus the downmix's; None: mono

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignalFacts:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class SignalFinding:
    """A check that fired: its code (without the `audio-` prefix) and what it measured."""

    code: str
    message: str
    severity: Severity = Severity.WARNING


def decode(path: Path | BinaryIO) -> tuple[Samples, int]:
    """The file's samples as float64 frames x channels in [-1, 1], and its sample rate."""
    import soundfile

    try:
        samples: Samples
        samples, rate = soundfile.read(path, dtype="float64", always_2d=True)
    except soundfile.LibsndfileError as exc:  # its str() names the path: the caller does
        raise AudioError(f"libsndfile cannot decode it: {exc.error_string.rstrip('.')}") from exc
    except (RuntimeError, OSError) as exc:
        raise AudioError(f"cannot decode it: {exc}") from exc
    return samples, int(rate)


def measure_file(path: Path) -> SignalFacts:
    """Decode once and measure."""
    samples, rate = decode(path)
    return measure(samples, rate)


def _db(power: float) -> float | None:
    return 10 * math.log10(power) if power > 0 else None


def _smooth(x: Samples, g: float) -> Samples:
    """y[n] = g y[n-1] + (1-g) x[n], vectorised by blocks of 32 time constants: within a block
    y is a cumulative sum of x[k] g^-k scaled back by g^n (g^-k stays below e^32, far from
    overflow, and the scaling back keeps the error relative to y)."""
    import numpy as np

    n = len(x)
    block = max(1, min(n, int(-32 / math.log(g)) if 0 < g < 1 else 1))
    count = -(-n // block)
    padded = np.zeros(count * block)
    padded[:n] = x
    k = np.arange(block)
    rise = g ** (k + 1)  # how the state before a block decays through it
    inner = np.cumsum(padded.reshape(count, block) * g ** (-k), axis=1) * (g**k) * (1 - g)
    out: Samples = np.empty_like(inner)
    state = 0.0
    for i in range(count):
        out[i] = inner[i] + rise * state
        state = float(out[i, -1])
    return out.reshape(-1)[:n]


def _envelope(mono: Samples, rate: int) -> Samples:
    g = math.exp(-1 / (rate * P56_TIME_CONSTANT))
    return _smooth(_smooth(abs(mono), g), g)


def _trailing_max(x: Samples, window: int) -> Samples:
    """max(x[n-window+1 .. n]) for every n, in O(n) (van Herk / Gil-Werman by blocks)."""
    import numpy as np

    n = len(x)
    count = -(-(n + window - 1) // window)
    padded = np.zeros(count * window)  # the envelope is >= 0: zeros before change no maximum
    padded[window - 1 : window - 1 + n] = x
    blocks = padded.reshape(count, window)
    prefix = np.maximum.accumulate(blocks, axis=1).reshape(-1)
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    end = np.arange(window - 1, window - 1 + n)  # where x[n] is in padded
    result: Samples = np.maximum(suffix[end - window + 1], prefix[end])
    return result


def _active_counts(envelope: Samples, rate: int, thresholds: Samples) -> list[int]:
    """Samples active at each threshold: at or above it, or within the hangover after one that
    was, i.e. the envelope's maximum over the hangover reaches the threshold."""
    import numpy as np

    reach = _trailing_max(envelope, round(P56_HANGOVER * rate) + 1)
    return [int(np.count_nonzero(reach >= c)) for c in thresholds]


def active_speech_level(
    mono: Samples, rate: int, envelope: Samples | None = None
) -> tuple[float | None, float, float | None]:
    """P.56 method B: (active level in dBov or None, activity 0..1, threshold in dBov).

    The threshold is the level at which samples counted as active speech (the level less the
    margin), which the silence measurements use too.
    """
    import numpy as np

    n = len(mono)
    energy = float(np.einsum("i,i->", mono, mono))  # not np.dot: BLAS threads for one sum
    if n == 0 or energy == 0:
        return None, 0.0, None
    if envelope is None:
        envelope = _envelope(mono, rate)
    thresholds: Samples = 2.0 ** np.arange(-15, 1, dtype=np.float64)
    counts = _active_counts(envelope, rate, thresholds)
    a_db = [10 * math.log10(energy / c) if c else math.inf for c in counts]
    c_db = [20 * math.log10(float(c)) for c in thresholds]
    delta = [a - c for a, c in zip(a_db, c_db, strict=True)]
    for j in range(_P56_THRESHOLDS):
        if delta[j] <= P56_MARGIN_DB:
            if j == 0:  # even the lowest threshold is within the margin: all is speech
                return a_db[0], counts[0] / n, c_db[0]
            # Interpolate in dB between thresholds j-1 and j, where delta crosses M.
            span = delta[j - 1] - delta[j]
            t = 0.0 if span == 0 or math.isinf(span) else (delta[j - 1] - P56_MARGIN_DB) / span
            c_cross = c_db[j - 1] + t * (c_db[j] - c_db[j - 1])
            level = c_cross + P56_MARGIN_DB
            active = counts[j - 1] + t * (counts[j] - counts[j - 1])
            return level, active / n, c_cross
    return None, 0.0, None  # no activity at any threshold within the margin


def _clipping(samples: Samples, rate: int) -> tuple[int, float | None]:
    """Runs of CLIP_RUN or more consecutive samples at the file's peak, when that peak is at
    full scale: a flat top. A sine's samples near its peak differ, a clipped wave's do not."""
    import numpy as np

    magnitude = np.abs(samples)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak < CLIP_FLOOR:
        return 0, None
    runs = 0
    first: int | None = None
    for channel in magnitude.T:
        at_peak = np.concatenate(([False], channel >= peak - 1e-9, [False]))
        edges = np.flatnonzero(np.diff(at_peak.astype(np.int8)))
        starts, ends = edges[::2], edges[1::2]
        long = (ends - starts) >= CLIP_RUN
        runs += int(np.count_nonzero(long))
        if long.any():
            start = int(starts[long][0])
            first = start if first is None else min(first, start)
    return runs, None if first is None else first / rate


def measure(samples: Samples, rate: int) -> SignalFacts:
    """Every measurement of one file's samples (frames x channels, floats in [-1, 1])."""
    import numpy as np

    frames, channels = samples.shape
    mono = samples.mean(axis=1) if channels > 1 else samples[:, 0]
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    runs, clipped_at = _clipping(samples, rate)
    envelope = _envelope(mono, rate)
    level, activity, threshold = active_speech_level(mono, rate, envelope)
    leading = trailing = None
    if threshold is not None:
        active = np.flatnonzero(envelope >= 10 ** (threshold / 20))
        if active.size:
            leading = float(active[0]) / rate
            trailing = float(frames - 1 - active[-1]) / rate
    means = samples.mean(axis=0) if frames else np.zeros(channels)
    dc = float(means[np.argmax(np.abs(means))]) if channels else 0.0
    loss = None
    if channels > 1 and frames:
        channel_power = float(np.mean(samples**2))
        mono_power = float(np.mean(mono**2))
        if channel_power > 0:  # a floor 120 dB down: a total cancellation stays a number
            loss = 10 * math.log10(channel_power / max(mono_power, channel_power * 1e-12))
    peak_db = 20 * math.log10(peak) if peak > 0 else None
    return SignalFacts(
        sample_rate=rate,
        channels=channels,
        duration=frames / rate if rate else 0.0,
        peak_dbov=peak_db,
        clipped_runs=runs,
        clipped_at=clipped_at,
        active_level_dbov=level,
        activity=activity,
        leading_silence=leading,
        trailing_silence=trailing,
        dc_offset=dc,
        downmix_loss_db=loss,
    )


def signal_findings(facts: SignalFacts, source_rate: int | None = None) -> list[SignalFinding]:
    """The checks a telephony engineer makes, each naming its measurement and its limit.

    `source_rate`: the rate of the source the measured (processed) audio was made from, since
    resampling up cannot bring back what a source below 8 kHz never had.
    """
    found: list[SignalFinding] = []
    if facts.clipped_runs:
        found.append(
            SignalFinding(
                "clipping",
                f"clipped: {facts.clipped_runs} run(s) of {CLIP_RUN}+ samples at full scale "
                f"(peak {facts.peak_dbov or 0:.1f} dBov), the first at {facts.clipped_at:.2f} s",
            )
        )
    target = f"target {TARGET_LEVEL_DBOV:g} +/- {LEVEL_TOLERANCE_DB:g}"
    level = facts.active_level_dbov
    if level is None:
        found.append(SignalFinding("level", f"no active speech (silent), {target} dBov"))
    elif abs(level - TARGET_LEVEL_DBOV) > LEVEL_TOLERANCE_DB:
        found.append(SignalFinding("level", f"active speech level {level:.1f} dBov, {target}"))
    if facts.leading_silence is not None and facts.leading_silence > MAX_LEADING_SILENCE:
        found.append(
            SignalFinding(
                "leading-silence",
                f"leading silence {facts.leading_silence:.2f} s, at most {MAX_LEADING_SILENCE:g} s",
            )
        )
    if facts.trailing_silence is not None and facts.trailing_silence > MAX_TRAILING_SILENCE:
        found.append(
            SignalFinding(
                "trailing-silence",
                f"trailing silence {facts.trailing_silence:.2f} s, at most "
                f"{MAX_TRAILING_SILENCE:g} s",
            )
        )
    if abs(facts.dc_offset) > MAX_DC_OFFSET:
        found.append(
            SignalFinding(
                "dc-offset",
                f"DC offset {facts.dc_offset * 100:+.1f}% of full scale, at most "
                f"{MAX_DC_OFFSET * 100:g}%",
            )
        )
    rate, whose = facts.sample_rate, "sample rate"
    if source_rate is not None and source_rate < rate:
        rate, whose = source_rate, "the source's sample rate"
    if rate < MIN_SAMPLE_RATE:
        found.append(
            SignalFinding(
                "low-sample-rate",
                f"{whose} {rate} Hz, below the telephone network's "
                f"{MIN_SAMPLE_RATE} Hz: the audio lacks what callers expect to hear",
            )
        )
    loss = facts.downmix_loss_db
    if loss is not None and loss > MAX_DOWNMIX_LOSS_DB:
        found.append(
            SignalFinding(
                "channels-cancel",
                f"the channels cancel when mixed to mono: the downmix loses {loss:.1f} dB of their "
                f"level (at most {MAX_DOWNMIX_LOSS_DB:g} dB)",
            )
        )
    return found
