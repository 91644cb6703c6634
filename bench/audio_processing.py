"""Benchmark: processing 1,000 prompts cold, and the cost of processing to a warm plan.

Targets (issue 17, section 4), on this 2-core machine:

- 1,000 prompts of 5 s each (half MP3, half 44.1 kHz stereo 16-bit WAV, all 44.1 kHz stereo),
  converted to Huawei AICC's 8 kHz mono A-law WAV, normalised and trimmed: a cold plan (no
  cache at all) within 20 s. Printed beside it: the same with one worker
  (IVRSYNC_AUDIO_WORKERS=1), timed alternately with it (medians of 3), whose ratio is the
  speed-up the workers give.
- The warm plan of that repository within 1.2x the warm plan of the same repository without
  `process:` (medians of 5 pairs, timed alternately).

The sources (about 500 MB) are made once, in parallel, into bench/.corpus/ (not committed):
speech-like syllables and pauses, a different voice per file, so every file is processed.

    .venv/bin/python bench/audio_processing.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import PYTHON, _compile_once, verdict

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".corpus" / "processing-v1"
PROMPTS = 1000
SECONDS = 5.0
RATE = 44100
COLD_TARGET_S = 20.0
WARM_TARGET = 1.2
PAIRS = 5

PROVIDER = (
    "version: 1\nproviders:\n  aicc:\n    type: huawei-aicc\n"
    "    endpoint: https://service.besclouds.com\n"
)
PROCESS = "process:\n  aicc: {convert: true, normalize: -22, trim: {lead: 0.2, trail: 0.3}}\n"


def speech_like(seed: int) -> object:
    """Syllables (a voiced pitch with three formant-like partials, each with an attack and a
    decay) between pauses, 0.3 s of silence either side: what the level, silence and trim steps
    see in real prompts. Stereo, the right channel a little quieter and later."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frames = int(SECONDS * RATE)
    mono = np.zeros(frames)
    pitch = 90 + 140 * rng.random()
    at = 0.3
    while at < SECONDS - 0.6:
        length = 0.12 + 0.25 * rng.random()
        start, count = int(at * RATE), int(length * RATE)
        t = np.arange(count) / RATE
        voice = sum(
            amplitude * np.sin(2 * np.pi * pitch * harmonic * t + rng.random())
            for harmonic, amplitude in ((1, 1.0), (3, 0.5), (7, 0.25))
        )
        envelope = np.minimum(1.0, t / 0.02) * np.exp(-t / (length * 0.7))
        mono[start : start + count] += 0.25 * (0.5 + rng.random()) * voice * envelope
        at += length + (0.05 + 0.3 * rng.random() if rng.random() < 0.8 else 0.5)
    mono += 0.0005 * rng.standard_normal(frames)  # a room's noise floor
    right = np.concatenate([np.zeros(20), mono[:-20]]) * 0.8
    return np.clip(np.stack([mono, right], axis=1), -1.0, 1.0)


def make_source(number: int) -> None:
    import soundfile as sf

    name = f"p{number:04d}"
    samples = speech_like(number)
    audio = CORPUS / "audio"
    if number % 2:
        sf.write(audio / f"{name}.mp3", samples, RATE, format="MP3")
    else:
        sf.write(audio / f"{name}.wav", samples, RATE, subtype="PCM_16")


def source_name(number: int) -> str:
    return f"p{number:04d}.{'mp3' if number % 2 else 'wav'}"


def make_corpus() -> None:
    done = CORPUS / "done"
    if done.exists():
        return
    shutil.rmtree(CORPUS, ignore_errors=True)
    (CORPUS / "audio").mkdir(parents=True)
    started = time.perf_counter()
    with ProcessPoolExecutor() as pool:
        list(pool.map(make_source, range(PROMPTS), chunksize=16))
    done.touch()
    print(f"made {PROMPTS} sources in {time.perf_counter() - started:.1f} s (kept in {CORPUS})")


def repository(name: str, processing: bool) -> Path:
    """A repository of the corpus's sources (hard links: the same inodes, not copies)."""
    root = CORPUS / name
    if root.exists():
        shutil.rmtree(root)
    (root / "audio").mkdir(parents=True)
    prompts = ["prompts:\n"]
    for number in range(PROMPTS):
        source = source_name(number)
        os.link(CORPUS / "audio" / source, root / "audio" / source)
        prompts.append(f"  p{number:04d}:\n    audio:\n      en_US: audio/{source}\n")
    manifest = PROVIDER + (PROCESS if processing else "") + "".join(prompts)
    (root / "ivrsync.yaml").write_text(manifest)
    return root


def plan_seconds(root: Path, *, cold: bool, workers: int | None = None) -> float:
    if cold:
        shutil.rmtree(root / ".ivrsync", ignore_errors=True)
    env = dict(os.environ)
    if workers is not None:
        env["IVRSYNC_AUDIO_WORKERS"] = str(workers)
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "ivrsync", "plan", "--no-lock"],
        cwd=root,
        env=env,
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2):
        sys.exit(f"plan failed in {root}:\n{done.stderr.decode()}")
    return seconds


def main() -> int:
    _compile_once()
    make_corpus()
    processed = repository("processed", processing=True)
    plain = repository("plain", processing=False)
    cores = len(os.sched_getaffinity(0))

    parallel, alone = [], []
    for _ in range(3):  # alternately, so that both see the same machine
        parallel.append(plan_seconds(processed, cold=True))
        alone.append(plan_seconds(processed, cold=True, workers=1))
    cold, one_worker = statistics.median(parallel), statistics.median(alone)
    plan_seconds(processed, cold=False)  # warm both caches
    plan_seconds(plain, cold=True)
    warm, warm_plain = [], []
    for _ in range(PAIRS):
        warm.append(plan_seconds(processed, cold=False))
        warm_plain.append(plan_seconds(plain, cold=False))
    with_processing, without = statistics.median(warm), statistics.median(warm_plain)

    cold_ok = cold <= COLD_TARGET_S
    ratio = with_processing / without
    warm_ok = ratio <= WARM_TARGET
    print(
        f"cold plan, {PROMPTS} prompts processed on {cores} cores: {cold:.1f} s "
        f"(target <= {COLD_TARGET_S:g} s): {verdict(cold_ok)}\n"
        f"  with one worker: {one_worker:.1f} s, so the workers give {one_worker / cold:.2f}x\n"
        f"warm plan with processing {with_processing:.2f} s vs without {without:.2f} s "
        f"= {ratio:.2f}x (target <= {WARM_TARGET:g}x): {verdict(warm_ok)}"
    )
    return 0 if cold_ok and warm_ok else 1


if __name__ == "__main__":
    sys.exit(main())
