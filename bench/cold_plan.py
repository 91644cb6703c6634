"""Benchmark: a cold plan (no hash cache) over 1 GB of audio, against `sha256sum`.

Target (issue 9): at most 1.3x the time of `sha256sum` over the same files. Both read the
files from the page cache (written just before), so the ratio compares the work, not the disk.

    .venv/bin/python bench/cold_plan.py
"""

from __future__ import annotations

import shutil
import struct
import sys
import tempfile
from pathlib import Path

from common import PYTHON, run_seconds, verdict

FILES = 128
FILE_BYTES = 7_800_000  # under Huawei's 8,000,000 with size_limit_of: file


def wav(path: Path, size: int, seed: int) -> None:
    """A real A-law WAV header, then `size` bytes of (pseudo-random, incompressible) samples."""
    data = size - 44
    header = (
        b"RIFF"
        + struct.pack("<I", size - 8)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 6, 1, 8000, 8000, 1, 8)
        + b"data"
        + struct.pack("<I", data)
    )
    block = (seed.to_bytes(4, "big") * 16384)[:65536]
    with path.open("wb") as f:
        f.write(header)
        for _ in range(data // len(block)):
            f.write(block)
        f.write(block[: data % len(block)])


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch)
        (repo / "audio").mkdir()
        prompts = []
        for n in range(FILES):
            wav(repo / "audio" / f"p{n:03d}.wav", FILE_BYTES, n)
            prompts.append(f"  p{n:03d}:\n    audio:\n      en_US: audio/p{n:03d}.wav\n")
        (repo / "ivrsync.yaml").write_text(
            "version: 1\nproviders:\n  aicc:\n    type: huawei-aicc\n"
            "    endpoint: https://service.besclouds.com\n    size_limit_of: file\n"
            "prompts:\n" + "".join(prompts)
        )
        files = sorted(str(p) for p in (repo / "audio").iterdir())
        floor = run_seconds(["sha256sum", *files], repeat=3)
        cache = repo / ".ivrsync"
        plan = ["sh", "-c", f"rm -rf {cache} && {PYTHON} -m ivrsync plan --no-lock > /dev/null"]
        seconds = run_seconds(plan, cwd=repo, repeat=3)
        shutil.rmtree(cache, ignore_errors=True)
    gigabytes = FILES * FILE_BYTES / 1e9
    ratio = seconds / floor
    ok = ratio <= 1.3
    print(
        f"cold plan over {gigabytes:.2f} GB ({FILES} files): {seconds:.2f} s vs {floor:.2f} s "
        f"for sha256sum = {ratio:.2f}x (target <= 1.3x): {verdict(ok)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
