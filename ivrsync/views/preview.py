"""How `preview` reads: one line per file written."""

from __future__ import annotations

from ivrsync.audio import AudioInfo
from ivrsync.operations.preview import Previewed


def _facts(info: AudioInfo) -> str:
    channels = "mono" if info.channels == 1 else f"{info.channels} channels"
    kind = f"{info.format.upper()} {info.codec}"
    return f"{kind}, {info.sample_rate} Hz, {channels}, {info.duration:.2f} s"


def preview_lines(previews: list[Previewed]) -> list[str]:
    lines = []
    for p in previews:
        what = "processed" if p.processed else "uploaded as it is"
        lines.append(f"{p.address}: {p.path} ({what}: {_facts(p.info)})")
        if p.transcoded is not None and p.transcoded_info is not None:
            lines.append(
                f"{p.address}: {p.transcoded} (the provider's transcode, simulated: "
                f"{_facts(p.transcoded_info)})"
            )
    lines.append(f"{len(previews)} resource(s) previewed")
    return lines
