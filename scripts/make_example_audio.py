#!/usr/bin/env python3
"""Regenerate the example prompts and the test audio fixtures.

Run by hand from anywhere:  python scripts/make_example_audio.py

The audio is committed, so nobody needs this to build or test; it exists so
the files can be remade (new wording, another voice) instead of being opaque
binaries.  It needs espeak-ng (speech), sox (conversion, tones) and lame
(MP3); on Debian/Ubuntu: apt-get install espeak-ng sox lame.

Every file is checked with ivrsync.audio.probe afterwards, so a sox default
that changes (say, WAVE_FORMAT_EXTENSIBLE instead of plain A-law) is caught
here rather than by a confused user.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "examples" / "manifests" / "audio"
TEST_DATA = ROOT / "tests" / "data"
TOOLS = ("espeak-ng", "sox", "lame")
SIZE_LIMIT = 1_000_000  # the examples folder is read by people; keep it small

# espeak-ng 1.51 (Debian 12) has a bug in its "cmn" voice: it turns hanzi into
# pinyin with tone digits, then reads the digits as English numbers ("huan one").
# "cmn-latn-pinyin" reads that internal pinyin as Mandarin, and still takes hanzi.
MANDARIN = "cmn-latn-pinyin"

# sox output options: what Huawei AICC plays without transcoding.
ALAW_8K_MONO = ("-e", "a-law", "-r", "8000", "-c", "1")
# What Amazon Connect plays (it transcodes nothing): WAV, 8 kHz, mono, U-Law.
MULAW_8K_MONO = ("-e", "u-law", "-r", "8000", "-c", "1")
# Deliberately not A-law, to show the "platform transcodes" warning.
PCM16_16K_MONO = ("-e", "signed-integer", "-b", "16", "-r", "16000", "-c", "1")
# Trim leading and trailing silence (sox can only trim the start, hence reverse).
TRIM = ("silence", "1", "0.05", "0.5%", "reverse", "silence", "1", "0.05", "0.5%", "reverse")

# A gentle hold melody: (note, seconds); about 3 s in all.
MELODY = (("C5", 0.5), ("E5", 0.5), ("G5", 0.5), ("E5", 0.5), ("C5", 1.0))


@dataclass(frozen=True)
class Speech:
    """One spoken prompt: where it goes, what it says, how it is encoded."""

    out: Path
    voice: str
    text: str
    encoding: tuple[str, ...] = ALAW_8K_MONO


SPEECH = (
    Speech(AUDIO / "en_US" / "welcome.wav", "en-us", "Welcome to Example Telecom."),
    Speech(AUDIO / "zh_CN" / "welcome.wav", MANDARIN, "欢迎致电示例电信。"),
    Speech(
        AUDIO / "en_US" / "main_menu.wav",
        "en-us",
        "For billing, press 1. For support, press 2.",
    ),
    Speech(AUDIO / "zh_CN" / "main_menu.wav", MANDARIN, "账单查询请按1，技术支持请按2。"),
    Speech(AUDIO / "en_US" / "goodbye.wav", "en-us", "Thank you for calling. Goodbye."),
    Speech(AUDIO / "zh_CN" / "goodbye.wav", MANDARIN, "感谢来电，再见。"),
    Speech(
        AUDIO / "en_US" / "welcome.ulaw.wav", "en-us", "Welcome to Example Telecom.", MULAW_8K_MONO
    ),
    Speech(
        AUDIO / "en_US" / "goodbye.ulaw.wav",
        "en-us",
        "Thank you for calling. Goodbye.",
        MULAW_8K_MONO,
    ),
    Speech(
        AUDIO / "en_US" / "survey.wav",
        "en-us",
        "Please stay on the line for a short survey.",
        PCM16_16K_MONO,
    ),
)


def run(*args: str) -> None:
    """Run a tool, showing its own error output if it fails."""
    if args[0] == "sox":
        # -R: fixed random seed (dither, pluck), so regenerated files are identical.
        args = ("sox", "-R", *args[1:])
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(args)}\n{result.stderr}")


def make_speech(item: Speech, tmp: Path) -> None:
    """Speak the text with espeak-ng, then trim and convert it with sox."""
    raw = tmp / "speech.wav"
    run("espeak-ng", "-v", item.voice, "-s", "150", "-w", str(raw), item.text)
    item.out.parent.mkdir(parents=True, exist_ok=True)
    run("sox", str(raw), *item.encoding, str(item.out), *TRIM)


def make_melody(out: Path, tmp: Path) -> None:
    """Synthesise soft plucked notes and encode them as 32 kbps mono MP3."""
    notes = []
    for i, (note, seconds) in enumerate(MELODY):
        path = tmp / f"note{i}.wav"
        run(
            "sox", "-n", "-r", "22050", "-c", "1", "-b", "16", str(path),
            "synth", str(seconds), "pluck", note,
            "fade", "q", "0.02", str(seconds), "0.2",
            "vol", "0.4",
        )  # fmt: skip
        notes.append(str(path))
    melody = tmp / "melody.wav"
    run("sox", *notes, str(melody), "lowpass", "2500")  # soften the pluck's harmonics
    encode_mp3(melody, out)


def encode_mp3(wav: Path, out: Path) -> None:
    """Encode mono 22.05 kHz MP3 at 32 kbps, without ID3 tags (lame adds none)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run("lame", "--quiet", "-m", "m", "-b", "32", "--resample", "22.05", str(wav), str(out))


def make_test_data(tmp: Path) -> list[Path]:
    """Small, stable fixtures for tests/test_audio.py (about 1 s each)."""
    TEST_DATA.mkdir(parents=True, exist_ok=True)
    alaw = TEST_DATA / "alaw_8k_mono.wav"
    # vol 0.11: -22 dBov, the level the signal checks expect, so tests see only what they test
    run("sox", "-n", *ALAW_8K_MONO, str(alaw), "synth", "1", "sine", "440", "vol", "0.11")
    tone = tmp / "tone.wav"
    run("sox", "-n", "-r", "22050", "-c", "1", "-b", "16", str(tone), "synth", "1", "sine", "440")
    mp3 = TEST_DATA / "tone.mp3"
    encode_mp3(tone, mp3)
    return [alaw, mp3]


def report(paths: list[Path]) -> None:
    """Probe every file with ivrsync itself and print what it found."""
    sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not
    from ivrsync.audio import AudioError, probe
    from ivrsync.providers import huawei_aicc

    header = (
        f"{'path':<46} {'fmt':<4} {'codec':<10} {'rate':>6} {'ch':>2} {'dur(s)':>6} {'bytes':>7}"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for path in paths:
        rel = path.relative_to(ROOT)
        try:
            info = probe(path)
        except AudioError as e:
            print(f"{rel}: {e}")
            failed = True
            continue
        print(
            f"{rel!s:<46} {info.format:<4} {info.codec:<10} {info.sample_rate:>6} "
            f"{info.channels:>2} {info.duration:>6.2f} {info.size:>7}"
        )
        expect_native = path.suffix == ".wav" and path.name != "survey.wav"
        if huawei_aicc.is_native(info) != expect_native:
            print(f"  ^ expected huawei_aicc.is_native={expect_native}")
            failed = True
    total = sum(p.stat().st_size for p in AUDIO.rglob("*") if p.is_file())
    print(f"examples/manifests/audio: {total} bytes")
    if total >= SIZE_LIMIT:
        print(f"  ^ over the {SIZE_LIMIT} byte budget: shorten the prompts")
        failed = True
    if failed:
        sys.exit(1)


def main() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"missing tools: {', '.join(missing)}\n"
            "this script needs espeak-ng, sox and lame "
            "(Debian/Ubuntu: apt-get install espeak-ng sox lame)"
        )
    made: list[Path] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for item in SPEECH:
            make_speech(item, tmp)
            made.append(item.out)
        for locale in ("en_US", "zh_CN"):
            hold = AUDIO / locale / "hold.mp3"
            make_melody(hold, tmp)
            made.append(hold)
        made += make_test_data(tmp)
    report(made)


if __name__ == "__main__":
    main()
