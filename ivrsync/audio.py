"""Inspect IVR prompt audio before it is uploaded.

Both platforms reject or silently mangle files they cannot decode, and the
error comes back late (after an upload and an approval round).  ``probe``
reads only the headers of a local file and reports what it really contains,
so ``ivrsync validate`` can fail early with a message naming the problem.

WAV is parsed here with a small RIFF chunk walk, because the WAVE format tag
(PCM, A-law, mu-law, float, or the sub-format of WAVE_FORMAT_EXTENSIBLE) is
what decides whether Huawei AICC must transcode, and mutagen does not expose
it as a documented attribute.  MP3 is handed to mutagen, which knows the
frame headers, Xing/VBRI headers and ID3 tags far better than a hand parser.
mutagen is imported only when an MP3 is probed: it costs `validate` several milliseconds
of start-up, and many repositories hold WAV only.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

__all__ = ["AudioError", "AudioFormat", "AudioInfo", "probe", "probe_bytes", "sniff_format"]

AudioFormat = Literal["wav", "mp3"]

# How many bytes ``probe`` reads to decide the container; enough for every
# signature below and for a short preview of a text file.
_HEAD_SIZE = 64

# WAVE format tags we name; anything else becomes "wav_tag_0x....".
_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_ALAW = 0x0006
_WAVE_FORMAT_MULAW = 0x0007
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE

# A fmt chunk is 16, 18 or 40 bytes; never read more than this of it, so a
# corrupt size field cannot make us allocate gigabytes.
_FMT_READ_LIMIT = 4096

# Streaming writers (pipes) leave these placeholders in the data chunk size.
_STREAMING_SIZES = (0, 0xFFFFFFFF)

# Known magic numbers, so the error says what the file actually is.
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"fLaC", "FLAC"),
    (b"OggS", "Ogg"),
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"RF64", "RF64 (64-bit WAV, not supported)"),
    (b"RIFX", "big-endian RIFF (not supported)"),
    (b"FORM", "AIFF"),
    (b"#!AMR", "AMR"),
    (b"caff", "Core Audio"),
    (b".snd", "Sun/NeXT AU"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM"),
    (b"MAC ", "Monkey's Audio"),
    (b"wvpk", "WavPack"),
)


@dataclass(frozen=True)
class AudioInfo:
    """What a prompt file contains, as far as the platforms care."""

    format: AudioFormat
    codec: str
    sample_rate: int
    channels: int
    bits_per_sample: int | None
    duration: float
    size: int


class AudioError(Exception):
    """The file is not usable audio; the message says why.

    The message never names the path: the caller adds the file and the
    manifest line, so the same text reads well in every report.
    """


def sniff_format(head: bytes) -> AudioFormat | None:
    """Guess the container from the first bytes, so a misnamed file is caught.

    File extensions lie (a text file saved as ``.wav``); magic bytes do not.
    Returns None for anything that is neither RIFF/WAVE nor MP3.
    """
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if _is_mpeg_frame_header(head):
        return "mp3"
    return None


def _is_mpeg_frame_header(head: bytes) -> bool:
    """Check for an MPEG audio frame sync with plausible header fields.

    Only the sync (11 set bits) and a valid layer are required, but when the
    third byte is present we also refuse the reserved bitrate and sample
    rate values, which cuts down false hits on random binary data.
    """
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0x03
    layer = (head[1] >> 1) & 0x03
    if version == 0b01 or layer == 0b00:  # reserved values (layer 00 is AAC ADTS)
        return False
    if len(head) >= 3:
        bitrate_index = head[2] >> 4
        rate_index = (head[2] >> 2) & 0x03
        if bitrate_index == 0x0F or rate_index == 0x03:
            return False
    return True


def probe(path: Path) -> AudioInfo:
    """Read a prompt file's headers and describe its audio.

    Raises AudioError for anything that is not playable WAV or MP3 audio,
    including read errors, so callers need only one except clause.
    """
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise AudioError("file is empty (0 bytes)")
            head = f.read(_HEAD_SIZE)
            kind = sniff_format(head)
            if kind == "wav":
                return _probe_wav(f, size)
            if kind == "mp3":
                return _probe_mp3(f, size, head)
            raise AudioError(_describe_unknown(head))
    except AudioError:
        raise
    except OSError as e:
        raise AudioError(f"cannot read: {e.strerror or e}") from e
    except (struct.error, ValueError) as e:
        # Last line of defence: a malformed file must never crash validate.
        raise AudioError(f"malformed audio file: {e}") from e


def probe_bytes(data: bytes) -> AudioInfo:
    """Describe audio held in memory, exactly as ``probe`` describes a file.

    The provider emulators receive prompts as base64 in a request body; checking them with
    the same parser as ``validate`` means both sides agree on what counts as audio.
    """
    if not data:
        raise AudioError("file is empty (0 bytes)")
    head = data[:_HEAD_SIZE]
    f = io.BytesIO(data)
    try:
        kind = sniff_format(head)
        if kind == "wav":
            return _probe_wav(f, len(data))
        if kind == "mp3":
            return _probe_mp3(f, len(data), head)
        raise AudioError(_describe_unknown(head))
    except AudioError:
        raise
    except (struct.error, ValueError) as e:
        raise AudioError(f"malformed audio file: {e}") from e


def _describe_unknown(head: bytes) -> str:
    """Say what a non-audio file looks like, so the user sees the mix-up."""
    if head[:4] == b"RIFF":
        if len(head) < 12:
            return f"truncated WAV header (only {len(head)} bytes)"
        form = head[8:12].decode("latin-1")
        return f"not WAV or MP3 data (RIFF file of type {form!r}, not 'WAVE')"
    for magic, name in _OTHER_SIGNATURES:
        if head.startswith(magic):
            shown = magic.decode("latin-1")
            return f"not WAV or MP3 data (starts with {shown!r}: {name}?)"
    if head[4:8] == b"ftyp":
        return "not WAV or MP3 data (starts like MP4/M4A: MP4 audio?)"
    text = _as_text(head)
    if text is not None:
        preview = " ".join(text.split())[:24]
        return f"not WAV or MP3 data (looks like text: {preview!r})"
    return f"not WAV or MP3 data (first bytes: {head[:8].hex(' ')})"


def _as_text(head: bytes) -> str | None:
    """Decode head as UTF-8 text if it plausibly is text, else None."""
    # A multi-byte character may be cut at the end of the sample.
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text and all(c.isprintable() or c in "\t\r\n" for c in text):
            return text
        return None
    return None


def _probe_wav(f: BinaryIO, size: int) -> AudioInfo:
    """Walk the RIFF chunks (headers only) and describe the WAVE audio."""
    fmt: bytes | None = None
    fact_frames: int | None = None
    data_size: int | None = None
    offset = 12
    while offset + 8 <= size and (fmt is None or data_size is None):
        f.seek(offset)
        header = f.read(8)
        if len(header) < 8:
            break
        chunk_id, chunk_size = struct.unpack("<4sI", header)
        body_offset = offset + 8
        available = size - body_offset
        if chunk_id == b"fmt ":
            if chunk_size < 16:
                raise AudioError(f"fmt chunk too short ({chunk_size} bytes, need 16)")
            if available < 16:
                raise AudioError(
                    f"truncated WAV header: fmt chunk declares {chunk_size} bytes, "
                    f"file has {max(available, 0)}"
                )
            fmt = f.read(min(chunk_size, _FMT_READ_LIMIT))
        elif chunk_id == b"fact" and chunk_size >= 4 and available >= 4:
            (fact_frames,) = struct.unpack("<I", f.read(4))
        elif chunk_id == b"data":
            if chunk_size in _STREAMING_SIZES:
                data_size = available
            elif chunk_size > available:
                raise AudioError(
                    f"data chunk is truncated: header declares {chunk_size} bytes, "
                    f"file has {available}"
                )
            else:
                data_size = chunk_size
        offset = body_offset + chunk_size + (chunk_size & 1)

    if fmt is None:
        if size < 20:
            raise AudioError(f"truncated WAV header (only {size} bytes)")
        raise AudioError("WAV has no 'fmt ' chunk")
    if data_size is None:
        raise AudioError("WAV has no 'data' chunk (no audio)")
    if data_size == 0:
        raise AudioError("WAV data chunk is empty (no audio)")
    return _wav_info(fmt, data_size, fact_frames, size)


def _wav_info(fmt: bytes, data_size: int, fact_frames: int | None, size: int) -> AudioInfo:
    """Turn a fmt chunk and the data size into AudioInfo."""
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        # WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) GUID(16);
        # the GUID's first two bytes are the real format tag.
        if len(fmt) < 26:
            raise AudioError("WAVE_FORMAT_EXTENSIBLE fmt chunk is truncated")
        (tag,) = struct.unpack("<H", fmt[24:26])
    if channels == 0:
        raise AudioError("WAV fmt chunk says 0 channels")
    if rate == 0:
        raise AudioError("WAV fmt chunk says sample rate 0 Hz")

    codec = _wav_codec(tag, bits)
    if tag in (
        _WAVE_FORMAT_PCM,
        _WAVE_FORMAT_IEEE_FLOAT,
        _WAVE_FORMAT_ALAW,
        _WAVE_FORMAT_MULAW,
    ):
        # Uncompressed: one block per sample frame, so this is exact.
        if block_align == 0:
            raise AudioError("WAV fmt chunk says block align 0")
        duration = (data_size // block_align) / rate
    elif fact_frames:
        duration = fact_frames / rate
    elif byte_rate:
        duration = data_size / byte_rate
    else:
        raise AudioError(f"cannot work out the duration of {codec} audio")
    return AudioInfo(
        format="wav",
        codec=codec,
        sample_rate=rate,
        channels=channels,
        bits_per_sample=bits or None,
        duration=duration,
        size=size,
    )


def _wav_codec(tag: int, bits: int) -> str:
    """Name a WAVE format tag the way ffmpeg does, for familiar messages."""
    if tag == _WAVE_FORMAT_ALAW:
        return "alaw"
    if tag == _WAVE_FORMAT_MULAW:
        return "mulaw"
    width = (bits + 7) // 8 * 8
    if tag == _WAVE_FORMAT_PCM:
        return "pcm_u8" if width == 8 else f"pcm_s{width}le"
    if tag == _WAVE_FORMAT_IEEE_FLOAT:
        return f"pcm_f{width}le"
    return f"wav_tag_0x{tag:04x}"


def _probe_mp3(f: BinaryIO, size: int, head: bytes) -> AudioInfo:
    """Let mutagen find the first frame and compute duration (it seeks).

    Every mutagen error is turned into an AudioError here, so no other code needs mutagen.
    """
    import mutagen
    import mutagen.mp3

    f.seek(0)
    try:
        # mutagen's constructors are unannotated; its results are checked below.
        mp3 = mutagen.mp3.MP3(f)  # type: ignore[no-untyped-call]
    except mutagen.mp3.HeaderNotFoundError as e:
        if head.startswith(b"ID3"):
            raise AudioError("MP3 has an ID3 tag but no MPEG audio frames") from e
        raise AudioError("no valid MPEG audio frame found") from e
    except mutagen.MutagenError as e:
        raise AudioError(f"unreadable MP3: {e}") from e
    info: Any = mp3.info
    layer = int(info.layer)
    rate = int(info.sample_rate)
    channels = int(info.channels)
    duration = float(info.length)
    if rate <= 0 or channels <= 0 or duration <= 0:
        raise AudioError("MP3 has no playable audio frames")
    return AudioInfo(
        format="mp3",
        codec="mp3" if layer == 3 else f"mp{layer}",
        sample_rate=rate,
        channels=channels,
        bits_per_sample=None,
        duration=duration,
        size=size,
    )
