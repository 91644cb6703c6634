"""Prompt repositories of any size, with real (tiny) audio, for tests and benchmarks."""

from __future__ import annotations

import bisect
import functools
import math
import struct
import textwrap
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from ivrsync.audio_cache import AudioCache
from ivrsync.emulator.amazon_connect import DEMO_INSTANCE_ID
from ivrsync.manifest.loader import load_project
from ivrsync.plan.model import Action, Desired, Plan, PlanWarning, ResourceChange, StateRef, Summary
from ivrsync.plan.planner import desired_upload
from ivrsync.state.model import ProviderRecord, ResourceState, Review, State
from ivrsync.state.store import LocalStateStore

UPLOADED_AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def alaw_wav(samples: bytes) -> bytes:
    """A valid WAV: A-law, 8000 Hz, mono (what Huawei AICC plays without transcoding)."""
    fmt = struct.pack("<HHIIHH", 0x0006, 1, 8000, 8000, 1, 8)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(samples)) + samples
    if len(samples) % 2:
        chunks += b"\0"
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _alaw_value(code: int) -> int:
    """The 16-bit value of an A-law code (ITU-T G.711)."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = t + 8 if segment == 0 else (t + 0x108) << (segment - 1)
    return t if a & 0x80 else -t


def _mulaw_value(code: int) -> int:
    """The 16-bit value of a mu-law code (ITU-T G.711)."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


@functools.cache
def _tone(law: str, size: int) -> bytes:
    """A 400 Hz tone at -22 dBov (the level the signal checks expect), G.711-encoded by the
    nearest code: clean audio, so that only the warnings a test is about show."""
    value = _alaw_value if law == "alaw" else _mulaw_value
    codes = sorted(range(256), key=value)
    values = [value(c) for c in codes]
    peak = 32768 * 10 ** (-22 / 20) * math.sqrt(2)
    out = bytearray()
    for n in range(size):
        target = peak * math.sin(2 * math.pi * 400 * n / 8000)
        i = bisect.bisect_left(values, target)
        near = min((j for j in (i - 1, i) if 0 <= j < 256), key=lambda j: abs(values[j] - target))
        out.append(codes[near])
    return bytes(out)


def _tagged(law: str, number: int, size: int) -> bytes:
    """The tone with `number` in its first 8 samples, a nibble each at the quietest codes
    (under -40 dBov): every number has its own bytes, and none is heard."""
    nibbles = [(number >> shift) & 0x0F for shift in range(28, -4, -4)]
    # Segment 0, positive, mantissa = the nibble: A-law inverts even bits, mu-law all bits.
    tag = bytes((0x80 | v) ^ 0x55 if law == "alaw" else ~(0x80 | v) & 0xFF for v in nibbles)
    return (tag + _tone(law, size)[len(tag) :])[:size]


def alaw_tone(size: int) -> bytes:
    """`size` bytes of the tone, A-law: whole periods (20 samples) repeated, fast at any size."""
    period = _tone("alaw", 20)
    return (period * (size // 20 + 1))[:size]


def distinct_wav(number: int, size: int = 800) -> bytes:
    """A different A-law WAV for every `number` (so every file has its own sha256)."""
    return alaw_wav(_tagged("alaw", number, size))


def mulaw_wav(number: int, size: int = 800) -> bytes:
    """A different WAV, mu-law, 8000 Hz, mono (what Amazon Connect plays) for every `number`."""
    samples = _tagged("mulaw", number, size)
    fmt = struct.pack("<HHIIHH", 0x0007, 1, 8000, 8000, 1, 8)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def huawei_repository(
    root: Path,
    count: int,
    *,
    endpoint: str,
    callback_url: str | None = None,
    rate_limit: float = 10,
) -> Path:
    """`count` prompts in en_US for one Huawei provider `aicc`, one distinct file each."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    prompts = []
    for number in range(count):
        (audio / f"p{number:05d}.wav").write_bytes(distinct_wav(number))
        prompts.append(f"  p{number:05d}:\n    audio:\n      en_US: audio/p{number:05d}.wav\n")
    callback = f"    callback_url: {callback_url}\n" if callback_url else ""
    (root / "ivrsync.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            providers:
              aicc:
                type: huawei-aicc
                endpoint: {endpoint}
                rate_limit: {rate_limit}
            """
        )
        + callback
        + "prompts:\n"
        + "".join(prompts)
    )
    return root


def tencent_repository(
    root: Path,
    count: int,
    *,
    endpoint: str,
    audio_base_url: str,
    batch_size: int = 10,
    daily_quota: int = 50,
    audio_source: str | None = None,
) -> Path:
    """`count` prompts in en_US for one Tencent provider `ccc`, one distinct file each.

    Tencent fetches each file from `audio_base_url` + its path, unless `audio_source` (YAML
    lines for the `audio_source:` key, indented 6) says otherwise.
    """
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    prompts = []
    for number in range(count):
        (audio / f"p{number:05d}.wav").write_bytes(distinct_wav(number))
        prompts.append(f"  p{number:05d}:\n    audio:\n      en_US: audio/p{number:05d}.wav\n")
    source = audio_source or f"      type: url\n      template: {audio_base_url}/{{path}}\n"
    (root / "ivrsync.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            providers:
              ccc:
                type: tencent-ccc
                sdk_app_id: 1400000000
                endpoint: {endpoint}
                batch_size: {batch_size}
                daily_quota: {daily_quota}
                audio_source:
            """
        )
        + source
        + "prompts:\n"
        + "".join(prompts)
    )
    return root


def amazon_connect_repository(
    root: Path,
    prompts: Mapping[str, bytes],
    *,
    endpoint: str,
    s3_endpoint: str,
    bucket: str,
    extra: str = "",
    remote_names: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> Path:
    """One Amazon Connect provider `connect` (the emulator's instance), audio staged in
    `bucket`: one prompt in en_US per entry of `prompts` (name -> audio). `extra`: top-level
    YAML before `prompts:` (a `removed:` list)."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, data in prompts.items():
        (audio / f"{name}.wav").write_bytes(data)
        lines.append(f"  {name}:\n")
        if remote_names and name in remote_names:
            lines.append(f"    remote_name: {remote_names[name]}\n")
        if descriptions and name in descriptions:
            lines.append(f"    description: {descriptions[name]}\n")
        lines.append(f"    audio:\n      en_US: audio/{name}.wav\n")
    (root / "ivrsync.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            providers:
              connect:
                type: amazon-connect
                instance_id: ${{CONNECT_INSTANCE_ID:-{DEMO_INSTANCE_ID}}}
                region: us-east-1
                endpoint: {endpoint}
                staging:
                  bucket: {bucket}
                  prefix: staged/
                  endpoint: {s3_endpoint}
                tags:
                  team: ivr
            """
        )
        + extra
        + "prompts:\n"
        + "".join(lines)
    )
    return root


def two_provider_repository(
    root: Path,
    count: int,
    *,
    huawei_endpoint: str,
    tencent_endpoint: str,
    audio_base_url: str,
    batch_size: int = 10,
) -> Path:
    """`count` prompts for Huawei (`h00000`...) and `count` for Tencent (`t00000`...)."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    prompts = []
    for number in range(count):
        for prefix, provider, offset in (("h", "aicc", 0), ("t", "ccc", 500_000)):
            name = f"{prefix}{number:05d}"
            (audio / f"{name}.wav").write_bytes(distinct_wav(number + offset))
            prompts.append(
                f"  {name}:\n    providers: [{provider}]\n    audio:\n"
                f"      en_US: audio/{name}.wav\n"
            )
    (root / "ivrsync.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            providers:
              aicc:
                type: huawei-aicc
                endpoint: {huawei_endpoint}
              ccc:
                type: tencent-ccc
                sdk_app_id: 1400000000
                endpoint: {tencent_endpoint}
                batch_size: {batch_size}
                audio_source:
                  type: url
                  template: {audio_base_url}/{{path}}
            """
        )
        + "prompts:\n"
        + "".join(prompts)
    )
    return root


def record_applied(
    repo: Path, *, status: str = "approved", review: Callable[[int], Review] | None = None
) -> State:
    """Write the state an apply of the repository as it is now would leave behind; each
    resource's review is `review(its number)` if given."""
    project = load_project(repo, env={})
    cache = AudioCache(repo)
    state = State.new()
    for number, resource in enumerate(project.resources):
        upload = desired_upload(project, resource, cache.facts)
        state.resources[str(resource.address)] = ResourceState(
            provider=resource.address.provider,
            provider_type=resource.provider_type,
            file_id=str(1182733043937561600 + number),
            remote_name=upload.remote_name,
            audio_path=upload.audio_path,
            sha256=upload.sha256,
            size=upload.size,
            attributes=upload.attributes,
            uploaded_at=UPLOADED_AT,
            review=review(number) if review else Review.model_validate({"status": status}),
        )
    for name, settings in project.providers.items():  # apply records the settings it used
        if any(r.provider == name for r in state.resources.values()):
            state.providers[name] = ProviderRecord(
                settings=project.public_settings(name), since=UPLOADED_AT, type=settings.type
            )
    cache.save()
    return LocalStateStore(repo / "ivrsync.state.json").write(state)


def big_plan(per_provider: dict[str, int], warnings: int = 0) -> Plan:
    """A plan of `count` uploads per provider (and `warnings` warnings), made without files:
    for the Markdown limits."""
    changes = [
        ResourceChange(
            address=f"{provider}.prompt{n:05d}.en_US",
            provider=provider,
            provider_type="tencent-ccc",
            action=Action.CREATE,
            after=Desired(
                audio_path=f"audio/prompt{n:05d}.wav",
                sha256="ab" * 32,
                size=1000,
                remote_name=f"prompt{n:05d}.en_US",
                attributes={},
            ),
        )
        for provider, count in sorted(per_provider.items())
        for n in range(count)
    ]
    return Plan(
        ivrsync_version="test",
        created_at=UPLOADED_AT,
        state=StateRef(lineage=None, serial=0),
        providers={},
        summary=Summary(create=len(changes)),
        changes=changes,
        warnings=[
            PlanWarning(code="rejected", message=f"warning number {n:03d}") for n in range(warnings)
        ],
    )
