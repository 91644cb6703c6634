"""The signal checks of `validate` on real signals made here: each check fires where it must and
only there, and the P.56 active level agrees with independent measurements within 0.5 dB."""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from ivrsync.audio_cache import AudioCache
from ivrsync.audio_signal import (
    LEVEL_TOLERANCE_DB,
    TARGET_LEVEL_DBOV,
    active_speech_level,
    measure,
    measure_file,
    signal_findings,
)
from ivrsync.validate import validate_repository
from tests.conftest import EXAMPLES, RunCli

Signal = npt.NDArray[np.float64]
RATE = 8000


def amplitude(dbov: float) -> float:
    """The peak of a sine whose RMS is `dbov` (0 dBov: the RMS of a full-scale square)."""
    return float(10 ** (dbov / 20) * math.sqrt(2))


def tone(dbov: float, seconds: float, rate: int = RATE, freq: float = 400.0) -> Signal:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude(dbov) * np.sin(2 * np.pi * freq * t)


def silence(seconds: float, rate: int = RATE) -> Signal:
    return np.zeros(round(seconds * rate))


def noise(dbov: float, seconds: float, rate: int = RATE) -> Signal:
    rng = np.random.default_rng(17)
    x: Signal = rng.normal(0.0, 1.0, round(seconds * rate))
    scaled: Signal = x / np.sqrt(np.mean(x**2)) * 10 ** (dbov / 20)
    return scaled


def mono(x: Signal) -> Signal:
    return x[:, None]


def clicks(x: Signal) -> Signal:
    """A speech-level tone with three runs of four samples at full scale: clipping, no more."""
    y = x.copy()
    for at in (2000, 5000, 9000):
        y[at : at + 4] = 1.0
    return y


TARGET = TARGET_LEVEL_DBOV
CASES: dict[str, tuple[Callable[[], tuple[Signal, int]], set[str]]] = {
    "tone at the target": (lambda: (mono(tone(TARGET, 2)), RATE), set()),
    "noise at the target": (lambda: (mono(noise(TARGET, 2)), RATE), set()),
    "identical stereo": (lambda: (np.stack([tone(TARGET, 2)] * 2, axis=1), RATE), set()),
    "uncorrelated stereo": (
        lambda: (np.stack([tone(TARGET, 2), noise(TARGET, 2)], axis=1), RATE),
        set(),
    ),
    "silence": (lambda: (mono(silence(2)), RATE), {"level"}),
    "quiet": (lambda: (mono(tone(TARGET - LEVEL_TOLERANCE_DB - 2, 2)), RATE), {"level"}),
    "loud": (lambda: (mono(tone(TARGET + LEVEL_TOLERANCE_DB + 2, 2)), RATE), {"level"}),
    "clipped": (lambda: (mono(clicks(tone(TARGET, 2))), RATE), {"clipping"}),
    "leading silence": (
        lambda: (mono(np.concatenate([silence(1.5), tone(TARGET, 1.5)])), RATE),
        {"leading-silence"},
    ),
    "trailing silence": (
        lambda: (mono(np.concatenate([tone(TARGET, 1.5), silence(2.5)])), RATE),
        {"trailing-silence"},
    ),
    "short pauses": (
        lambda: (mono(np.concatenate([silence(0.4), tone(TARGET, 1.5), silence(0.8)])), RATE),
        set(),
    ),
    "dc offset": (lambda: (mono(tone(TARGET, 2) + 0.03), RATE), {"dc-offset"}),
    "low rate": (lambda: (mono(tone(TARGET, 2, rate=6000)), 6000), {"low-sample-rate"}),
    # What a caller hears of it is the downmix: silence, so the level check fires too.
    "phase-inverted stereo": (
        lambda: (np.stack([tone(TARGET, 2), -tone(TARGET, 2)], axis=1), RATE),
        {"channels-cancel", "level"},
    ),
    "half-cancelling stereo": (
        lambda: (np.stack([tone(-10, 2), -0.5 * tone(-10, 2)], axis=1), RATE),
        {"channels-cancel"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_check_fires_where_it_must_and_only_there(case: str, tmp_path: Path) -> None:
    make, expected = CASES[case]
    samples, rate = make()
    path = tmp_path / "prompt.wav"
    soundfile.write(path, samples, rate, subtype="PCM_16")
    assert {f.code for f in signal_findings(measure_file(path))} == expected


@pytest.mark.parametrize("dbov", [-10.0, -22.0, -35.0, -50.0])
@pytest.mark.parametrize("freq", [200.0, 1000.0, 3000.0])
def test_a_tones_active_level_is_its_rms(dbov: float, freq: float) -> None:
    level, activity, _ = active_speech_level(tone(dbov, 1.0, freq=freq), RATE)
    assert level is not None
    assert abs(level - dbov) < 0.5
    assert activity > 0.95


def test_speech_like_bursts_are_measured_over_their_active_part_only() -> None:
    """Bursts of noise and tone between pauses: the level is the RMS of the bursts (known by
    construction), not of the file; the pauses lower the activity, not the level. (P.56 counts
    200 ms of hangover after each burst: bursts of seconds keep that under 0.5 dB.)"""
    parts = [silence(2), noise(-20, 3), silence(2), tone(-20, 3), silence(2)]
    x = np.concatenate(parts)
    level, activity, _ = active_speech_level(x, RATE)
    assert level is not None
    assert abs(level - -20) < 0.5
    whole_file = 10 * math.log10(float(np.mean(x**2)))
    assert whole_file < -22  # what a plain RMS would have said
    assert 0.3 < activity < 0.6


def independent_p56(x: Signal, rate: int) -> float:
    """P.56 method B written out sample by sample as ITU-T G.191's sv56 does, for comparison."""
    g = math.exp(-1 / (rate * 0.03))
    hangover = round(0.2 * rate)
    thresholds = [2.0**j for j in range(-15, 1)]
    counts = [0] * 16
    holds = [hangover] * 16
    p = q = 0.0
    energy = 0.0
    for sample in x.tolist():
        energy += sample * sample
        p = g * p + (1 - g) * abs(sample)
        q = g * q + (1 - g) * p
        for j, c in enumerate(thresholds):
            if q >= c:
                counts[j] += 1
                holds[j] = 0
            elif holds[j] < hangover:
                counts[j] += 1
                holds[j] += 1
    a = [10 * math.log10(energy / n) if n else math.inf for n in counts]
    c_db = [20 * math.log10(c) for c in thresholds]
    for j in range(1, 16):
        if a[j] - c_db[j] <= 15.9:
            d0, d1 = a[j - 1] - c_db[j - 1], a[j] - c_db[j]
            t = (d0 - 15.9) / (d0 - d1)
            return c_db[j - 1] + t * (c_db[j] - c_db[j - 1]) + 15.9
    raise AssertionError("no level")


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.concatenate([silence(0.3), noise(-28, 0.6), silence(0.4), tone(-24, 0.4)]),
        lambda: np.concatenate([tone(-15, 0.3, freq=250), silence(0.5), noise(-30, 0.5)]),
    ],
    ids=["quiet-bursts", "mixed"],
)
def test_the_level_agrees_with_an_independent_p56(make: Callable[[], Signal]) -> None:
    x = make()
    level, _, _ = active_speech_level(x, RATE)
    assert level is not None
    assert abs(level - independent_p56(x, RATE)) < 0.5


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [("WAV", "ALAW"), ("WAV", "ULAW"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", None)],
)
def test_every_container_decodes_to_the_same_level(
    fmt: str, subtype: str | None, tmp_path: Path
) -> None:
    path = tmp_path / f"prompt.{fmt.lower()}"
    soundfile.write(path, tone(-22, 2), RATE, format=fmt, subtype=subtype)
    facts = measure_file(path)
    assert facts.active_level_dbov is not None
    assert abs(facts.active_level_dbov - -22) < 0.5


def test_the_measurement_names_the_measured_value_and_the_target() -> None:
    facts = measure(mono(tone(-41.2, 2)), RATE)
    assert facts.active_level_dbov is not None
    assert abs(facts.active_level_dbov - -41.2) < 0.5
    [finding] = signal_findings(facts)
    assert finding.message == (
        f"active speech level {facts.active_level_dbov:.1f} dBov, target {TARGET:g} +/- 6"
    )


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_speech_from_espeak_is_measured_and_only_its_level_can_fire(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(path), "For billing, press 1. For support, 2."],
        check=True,
    )
    facts = measure_file(path)
    assert facts.active_level_dbov is not None
    assert 0.4 < facts.activity < 1.0  # speech has pauses, unlike a tone
    assert {f.code for f in signal_findings(facts)} <= {"level"}
    samples, rate = soundfile.read(path, always_2d=True)
    scaled = samples * 10 ** ((TARGET - facts.active_level_dbov) / 20)
    rescaled = measure(scaled, rate)
    assert rescaled.active_level_dbov is not None
    assert abs(rescaled.active_level_dbov - TARGET) < 0.5
    assert signal_findings(rescaled) == []


# --- in validate -----------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".ivrsync"))
    return target


def make_quiet(repo: Path) -> str:
    """The example's en_US welcome, 20 dB quieter (A-law, as before)."""
    path = repo / "audio/en_US/welcome.wav"
    samples, rate = soundfile.read(path, always_2d=True)
    soundfile.write(path, samples * 0.1, rate, subtype="ALAW")
    return "audio/en_US/welcome.wav"


def test_validate_names_the_file_and_the_measurement(run_cli: RunCli, repo: Path) -> None:
    quiet = make_quiet(repo)
    code, out, _ = run_cli("-C", str(repo), "validate", "--json")
    assert code == 0
    found = [p for p in json.loads(out)["problems"] if p["code"] == "audio-level"]
    assert {p["message"].split(":")[0] for p in found} == {
        "aicc.welcome.en_US",
        "ccc.welcome.en_US",
    }
    for problem in found:
        assert f": {quiet}: active speech level -4" in problem["message"]
        assert problem["message"].endswith(f"dBov, target {TARGET:g} +/- 6")
        assert problem["severity"] == "warning"


def test_a_signal_warning_is_acknowledged_per_prompt_by_its_file(
    run_cli: RunCli, repo: Path
) -> None:
    quiet = make_quiet(repo)
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text()
    audio = "      zh_CN: audio/zh_CN/welcome.wav\n"
    assert text.count(audio) == 1
    ack = (
        "    acknowledge:\n      - warning: audio-level\n"
        f"        file: {quiet}\n        reason: a whispered greeting, on purpose\n"
    )
    manifest.write_text(text.replace(audio, audio + ack))
    code, out, err = run_cli("-C", str(repo), "validate", "--strict")
    assert (code, err) == (0, ""), out
    assert "(3 acknowledged warnings not shown)" in out
    # Another file of the same prompt is not covered: the acknowledgement names its file.
    soundfile.write(repo / "audio/zh_CN/welcome.wav", tone(-45, 1), RATE, subtype="ALAW")
    code, out, err = run_cli("-C", str(repo), "validate", "--strict")
    assert code == 1
    assert "aicc.welcome.zh_CN: audio/zh_CN/welcome.wav: active speech level -4" in err + out


def test_an_acknowledgement_of_a_check_that_no_longer_fires_is_reported(
    run_cli: RunCli, repo: Path
) -> None:
    manifest = repo / "prompts/menus.yaml"
    text = manifest.read_text()
    text = text.replace(
        "    acknowledge:                    # accepted warnings: counted, not listed\n",
        "    acknowledge:                    # accepted warnings: counted, not listed\n"
        "      - warning: audio-clipping\n        file: audio/en_US/survey.wav\n",
    )
    manifest.write_text(text)
    code, out, err = run_cli("-C", str(repo), "validate")
    assert code == 0
    assert "the acknowledgement of audio-clipping (file: 'audio/en_US/survey.wav') matches no " in (
        out + err
    )


def test_a_warm_validate_decodes_nothing_and_imports_no_signal_library(repo: Path) -> None:
    make_quiet(repo)
    cold = AudioCache(repo)
    first = validate_repository(repo, cache=cold)
    cold.save()
    # Each distinct content once: 18 resources use 11 files, and both hold.mp3 are the same.
    assert cold.decodes == 10
    warm = AudioCache(repo)
    second = validate_repository(repo, cache=warm)
    assert warm.decodes == 0
    assert [p.message for p in second.problems] == [p.message for p in first.problems]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ivrsync", "-C", str(repo), "validate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "ivrsync" in imported
    assert imported & {"numpy", "soundfile", "soxr"} == set()


def test_changed_bytes_are_measured_again(repo: Path) -> None:
    validate_repository(repo)  # measures and saves
    make_quiet(repo)
    cache = AudioCache(repo)
    report = validate_repository(repo, cache=cache)
    assert cache.decodes == 1
    assert any(p.code == "audio-level" for p in report.problems)


def test_plan_shows_the_finding_as_validate_does(run_cli: RunCli, repo: Path) -> None:
    quiet = make_quiet(repo)
    code, _, err = run_cli("-C", str(repo), "plan")
    assert code == 0
    assert f"warning: aicc.welcome.en_US: {quiet}: active speech level -4" in err


def test_the_plan_carries_the_findings_for_its_reviews(run_cli: RunCli, repo: Path) -> None:
    """A pull request's reviewers read the plan's comment and page, not the job's stderr."""
    quiet = make_quiet(repo)
    code, out, err = run_cli("-C", str(repo), "plan", "--json")
    assert code == 0, err
    plan = json.loads(out)
    found = [f for f in plan["findings"] if f["code"] == "audio-level"]
    assert {f["address"] for f in found} == {"aicc.welcome.en_US", "ccc.welcome.en_US"}
    assert all(f["where"].startswith("ivrsync.yaml:") and quiet in f["message"] for f in found)
    assert all(f["acknowledged"] is None for f in found)
    assert any(f["acknowledged"] for f in plan["findings"])  # the examples acknowledge one

    code, markdown, err = run_cli("-C", str(repo), "plan", "--format", "markdown")
    assert code == 0, err
    folded = markdown.split("<details><summary>", 1)[1].split("</details>", 1)[0]
    assert folded.startswith(f"{len(plan['findings']) - 1} warning(s) from validate")
    assert f"{quiet}: active speech level -4" in folded

    code, page, err = run_cli("-C", str(repo), "plan", "--format", "html")
    assert code == 0, err
    section = page.split('id="aicc.welcome.en_US"', 1)[1].split("</section>", 1)[0]
    assert f'<div class="warning">audio-level: aicc.welcome.en_US: {quiet}: active' in section


def test_audio_libsndfile_cannot_decode_is_a_warning_naming_it_once(
    run_cli: RunCli, repo: Path
) -> None:
    """A WAV whose headers are sound but whose codec libsndfile does not know (here tag 0x1234):
    the platform may still play it, so validate warns that it was not measured, and goes on."""
    fmt = struct.pack("<HHIIHH", 0x1234, 1, 8000, 8000, 1, 8)
    data = bytes(800)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(data)) + data
    wav = b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
    (repo / "audio/en_US/welcome.wav").write_bytes(wav)
    code, out, _ = run_cli("-C", str(repo), "validate", "--json")
    assert code == 0
    [problem] = [p for p in json.loads(out)["problems"] if p["code"] == "audio-unmeasured"]
    assert problem["severity"] == "warning"
    assert problem["message"] == (
        "audio/en_US/welcome.wav: libsndfile cannot decode it: Error in WAV/W64/RF64 file. "
        "Malformed 'fmt ' chunk; its level, clipping and silence are not checked"
    )
