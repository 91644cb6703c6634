"""Tests for ivrsync.audio: what probe reports, and how it refuses bad files.

WAV variants are built byte by byte here (the stdlib ``wave`` module only
writes integer PCM), so each test shows exactly which header it is about.
The MP3 and sox-made A-law fixtures in tests/data come from
scripts/make_example_audio.py.
"""

from __future__ import annotations

import random
import struct
import wave
from pathlib import Path

import pytest

from ivrsync.audio import AudioError, AudioInfo, probe, sniff_format
from ivrsync.providers import huawei_aicc

DATA = Path(__file__).parent / "data"

PCM, FLOAT, ALAW, MULAW, EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUIDs share this tail after the 2-byte format tag.
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    """One RIFF chunk, padded to an even length as the format requires."""
    pad = b"\0" if len(body) % 2 else b""
    return chunk_id + struct.pack("<I", len(body)) + body + pad


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, extra: bytes = b"") -> bytes:
    """A fmt chunk with consistent block align and byte rate."""
    block_align = channels * ((bits + 7) // 8)
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    return chunk(b"fmt ", body + extra)


def extensible_fmt(sub_tag: int, channels: int, rate: int, bits: int) -> bytes:
    """WAVE_FORMAT_EXTENSIBLE fmt chunk whose sub-format GUID names sub_tag."""
    extra = struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", sub_tag) + GUID_TAIL
    return fmt_chunk(EXTENSIBLE, channels, rate, bits, extra)


def riff(*chunks: bytes) -> bytes:
    """A RIFF/WAVE file from ready-made chunks."""
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def id3_tag(title: str) -> bytes:
    """A minimal ID3v2.4 tag with one TIT2 frame (sizes below 128 need no syncsafe care)."""
    text = b"\x03" + title.encode()
    frame = b"TIT2" + bytes([0, 0, 0, len(text)]) + b"\0\0" + text
    return b"ID3\x04\x00\x00" + bytes([0, 0, 0, len(frame)]) + frame


def probe_error(path: Path) -> str:
    with pytest.raises(AudioError) as excinfo:
        probe(path)
    return str(excinfo.value)


# --- WAV that probe accepts ------------------------------------------------


def test_alaw_8k_mono_wav_is_huawei_native(tmp_path: Path) -> None:
    # No fact chunk, like Huawei's own sample prompt.
    path = write(tmp_path / "p.wav", riff(fmt_chunk(ALAW, 1, 8000, 8), chunk(b"data", bytes(8000))))
    info = probe(path)
    assert info == AudioInfo(
        format="wav",
        codec="alaw",
        sample_rate=8000,
        channels=1,
        bits_per_sample=8,
        duration=1.0,
        size=path.stat().st_size,
    )
    assert huawei_aicc.is_native(info)


def test_sox_made_alaw_fixture_is_huawei_native() -> None:
    # sox writes an 18-byte fmt chunk and a fact chunk before data.
    info = probe(DATA / "alaw_8k_mono.wav")
    assert (info.codec, info.sample_rate, info.channels) == ("alaw", 8000, 1)
    assert info.duration == pytest.approx(1.0)
    assert huawei_aicc.is_native(info)


def test_pcm16_44k_stereo_is_read_and_not_native(tmp_path: Path) -> None:
    path = tmp_path / "music.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(bytes(4 * 22050))
    info = probe(path)
    assert info.format == "wav"
    assert info.codec == "pcm_s16le"
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (44100, 2, 16)
    assert info.duration == pytest.approx(0.5)
    assert not huawei_aicc.is_native(info)


@pytest.mark.parametrize(
    ("fmt", "codec"),
    [
        (fmt_chunk(PCM, 1, 8000, 8), "pcm_u8"),
        (fmt_chunk(MULAW, 1, 8000, 8), "mulaw"),
        (fmt_chunk(FLOAT, 1, 8000, 32), "pcm_f32le"),
        (fmt_chunk(PCM, 1, 8000, 24), "pcm_s24le"),
        (extensible_fmt(PCM, 1, 8000, 24), "pcm_s24le"),
        (extensible_fmt(FLOAT, 1, 8000, 32), "pcm_f32le"),
        (extensible_fmt(ALAW, 1, 8000, 8), "alaw"),
        (fmt_chunk(0x0011, 1, 8000, 4), "wav_tag_0x0011"),
    ],
)
def test_wav_codec_comes_from_fmt_tag(tmp_path: Path, fmt: bytes, codec: str) -> None:
    path = write(tmp_path / "p.wav", riff(fmt, chunk(b"data", bytes(1200))))
    assert probe(path).codec == codec


def test_extensible_alaw_8k_mono_counts_as_native(tmp_path: Path) -> None:
    content = riff(extensible_fmt(ALAW, 1, 8000, 8), chunk(b"data", bytes(800)))
    assert huawei_aicc.is_native(probe(write(tmp_path / "p.wav", content)))


@pytest.mark.parametrize(
    "fmt",
    [
        fmt_chunk(ALAW, 1, 16000, 8),  # wrong rate
        fmt_chunk(ALAW, 2, 8000, 8),  # stereo
        fmt_chunk(MULAW, 1, 8000, 8),  # mu-law, the US telephony law
        fmt_chunk(PCM, 1, 8000, 16),
    ],
)
def test_anything_but_alaw_8k_mono_is_not_native(tmp_path: Path, fmt: bytes) -> None:
    path = write(tmp_path / "p.wav", riff(fmt, chunk(b"data", bytes(1600))))
    assert not huawei_aicc.is_native(probe(path))


def test_chunks_before_fmt_and_odd_sized_chunks_are_skipped(tmp_path: Path) -> None:
    content = riff(
        chunk(b"LIST", b"INFOISFT\x03\0\0\0ab\0"),  # odd length, padded
        fmt_chunk(ALAW, 1, 8000, 8),
        chunk(b"fact", struct.pack("<I", 4000)),
        chunk(b"data", bytes(4000)),
    )
    assert probe(write(tmp_path / "p.wav", content)).duration == pytest.approx(0.5)


def test_unknown_codec_duration_comes_from_fact_chunk(tmp_path: Path) -> None:
    content = riff(
        fmt_chunk(0x0011, 1, 8000, 4),
        chunk(b"fact", struct.pack("<I", 16000)),
        chunk(b"data", bytes(4000)),
    )
    assert probe(write(tmp_path / "p.wav", content)).duration == pytest.approx(2.0)


def test_streaming_placeholder_data_size_uses_rest_of_file(tmp_path: Path) -> None:
    # Writers that stream to a pipe cannot go back to fill in the size.
    head = riff(fmt_chunk(ALAW, 1, 8000, 8)) + b"data" + struct.pack("<I", 0xFFFFFFFF)
    assert probe(write(tmp_path / "p.wav", head + bytes(2000))).duration == pytest.approx(0.25)


def test_big_wav_is_probed_from_headers_only(tmp_path: Path) -> None:
    # A sparse 1 GB file: probing it must seek past the data, not read it.
    data_size = 1 << 30
    path = tmp_path / "big.wav"
    with path.open("wb") as f:
        f.write(riff(fmt_chunk(ALAW, 1, 8000, 8)) + b"data" + struct.pack("<I", data_size))
        f.truncate(f.tell() + data_size)
    assert probe(path).duration == pytest.approx(data_size / 8000)


# --- MP3 that probe accepts ------------------------------------------------


def test_mp3_facts_come_from_the_frames() -> None:
    path = DATA / "tone.mp3"
    info = probe(path)
    assert (info.format, info.codec) == ("mp3", "mp3")
    assert (info.sample_rate, info.channels) == (22050, 1)
    assert info.bits_per_sample is None
    assert 0.9 < info.duration < 1.2
    assert info.size == path.stat().st_size
    assert not huawei_aicc.is_native(info)


def test_mp3_with_id3_tag_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "tagged.mp3", id3_tag("Hold music") + (DATA / "tone.mp3").read_bytes())
    info = probe(path)
    assert (info.format, info.sample_rate, info.channels) == ("mp3", 22050, 1)


# --- sniff_format ------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\0\0\0WAVEfmt ", "wav"),
        (b"ID3\x04\0\0", "mp3"),
        (b"\xff\xfb\x90\x64", "mp3"),  # MPEG-1 layer III
        (b"\xff\xf3\x48\xc4", "mp3"),  # MPEG-2 layer III
        (b"\xff\xf1\x50\x80", None),  # AAC ADTS: sync, but layer 00
        (b"\xff\xfb\xf0\x00", None),  # bitrate index 15 is invalid
        (b"RIFF\x24\0\0\0AVI LIST", None),
        (b"fLaC\0\0\0\x22", None),
        (b"", None),
    ],
)
def test_sniff_format_reads_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


# --- files probe refuses -----------------------------------------------------


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    assert "file is empty (0 bytes)" in probe_error(write(tmp_path / "p.wav", b""))


def test_text_file_named_wav_is_rejected(tmp_path: Path) -> None:
    message = probe_error(write(tmp_path / "p.wav", b"Welcome to Example Telecom.\n"))
    assert "not WAV or MP3 data" in message
    assert "looks like text: 'Welcome to Example Telec'" in message


def test_png_bytes_are_rejected(tmp_path: Path) -> None:
    content = b"\x89PNG\r\n\x1a\n" + bytes(100)
    assert "PNG?" in probe_error(write(tmp_path / "p.wav", content))


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"fLaC\0\0\0\x22" + bytes(40), "starts with 'fLaC': FLAC?"),
        (b"OggS\0\x02" + bytes(40), "Ogg?"),
        (b"RIFF\x24\0\0\0AVI LIST" + bytes(40), "RIFF file of type 'AVI '"),
        (b"\0\0\0\x20ftypM4A " + bytes(40), "MP4"),
    ],
)
def test_other_formats_are_named(tmp_path: Path, content: bytes, found: str) -> None:
    message = probe_error(write(tmp_path / "p.wav", content))
    assert "not WAV or MP3 data" in message
    assert found in message


def test_random_bytes_are_rejected(tmp_path: Path) -> None:
    content = b"\x8f" + random.Random(0).randbytes(4095)
    assert "not WAV or MP3 data (first bytes: 8f " in probe_error(write(tmp_path / "p", content))


def test_truncated_wav_header_is_rejected(tmp_path: Path) -> None:
    real = riff(fmt_chunk(ALAW, 1, 8000, 8), chunk(b"data", bytes(800)))
    message = probe_error(write(tmp_path / "p.wav", real[:20]))
    assert "truncated WAV header" in message


@pytest.mark.parametrize("cut", [6, 16])
def test_wav_cut_inside_riff_header_is_rejected(tmp_path: Path, cut: int) -> None:
    real = riff(fmt_chunk(ALAW, 1, 8000, 8), chunk(b"data", bytes(800)))
    assert "truncated WAV header (only" in probe_error(write(tmp_path / "p.wav", real[:cut]))


def test_wav_without_data_chunk_is_rejected(tmp_path: Path) -> None:
    content = riff(fmt_chunk(ALAW, 1, 8000, 8), chunk(b"LIST", b"INFO"))
    assert "no 'data' chunk" in probe_error(write(tmp_path / "p.wav", content))


def test_wav_without_fmt_chunk_is_rejected(tmp_path: Path) -> None:
    content = riff(chunk(b"data", bytes(800)))
    assert "no 'fmt ' chunk" in probe_error(write(tmp_path / "p.wav", content))


def test_wav_with_empty_data_chunk_is_rejected(tmp_path: Path) -> None:
    content = riff(fmt_chunk(ALAW, 1, 8000, 8), chunk(b"data", b""))
    assert "data chunk is empty" in probe_error(write(tmp_path / "p.wav", content))


def test_wav_with_cut_off_data_is_rejected(tmp_path: Path) -> None:
    real = riff(fmt_chunk(ALAW, 1, 8000, 8), chunk(b"data", bytes(8000)))
    message = probe_error(write(tmp_path / "p.wav", real[:-1000]))
    assert "data chunk is truncated: header declares 8000 bytes, file has 7000" in message


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        (fmt_chunk(ALAW, 0, 8000, 8), "0 channels"),
        (fmt_chunk(ALAW, 1, 0, 8), "sample rate 0 Hz"),
        (chunk(b"fmt ", bytes(14)), "fmt chunk too short"),
        (chunk(b"fmt ", struct.pack("<HHIIHH", EXTENSIBLE, 1, 8000, 8000, 1, 8)), "EXTENSIBLE"),
    ],
)
def test_wav_with_impossible_fmt_is_rejected(tmp_path: Path, fmt: bytes, problem: str) -> None:
    content = riff(fmt, chunk(b"data", bytes(800)))
    assert problem in probe_error(write(tmp_path / "p.wav", content))


def test_id3_tag_with_no_frames_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "p.mp3", id3_tag("Hold music") + bytes(2000))
    assert "ID3 tag but no MPEG audio frames" in probe_error(path)


def test_mpeg_sync_followed_by_garbage_is_rejected(tmp_path: Path) -> None:
    content = b"\xff\xfb\x90\x64" + random.Random(1).randbytes(4000)
    assert "no valid MPEG audio frame" in probe_error(write(tmp_path / "p.mp3", content))


def test_missing_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    assert "cannot read: No such file or directory" in probe_error(tmp_path / "absent.wav")


def test_directory_is_reported_as_unreadable(tmp_path: Path) -> None:
    assert "cannot read: Is a directory" in probe_error(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello", riff(chunk(b"data", b"x")), id3_tag("t"), b"\xff\xfb\x90\x64" + bytes(99)],
)
def test_error_messages_leave_the_path_to_the_caller(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "secret_name.wav", content)
    message = probe_error(path)
    assert "secret_name" not in message
    assert str(tmp_path) not in message
