"""Benchmark: an upload's request body is streamed, so memory does not grow with file size.

Target (issue 9): peak RSS of an apply of 10 files of 8 MB with parallelism 10 within 1.2x
that of 10 files of 1 MB (against the Huawei emulator, in this process; the apply runs in
its own, measured, process).

    .venv/bin/python bench/upload_memory.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from cold_plan import wav
from common import PYTHON, peak_rss_mb, verdict

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig


def apply_peak(emulator: HuaweiEmulator, size: int, scratch: Path) -> float:
    repo = scratch / f"r{size}"
    (repo / "audio").mkdir(parents=True)
    prompts = []
    for n in range(10):
        wav(repo / "audio" / f"p{n}.wav", size, n + size)
        prompts.append(f"  p{n}:\n    audio:\n      en_US: audio/p{n}.wav\n")
    (repo / "ivrsync.yaml").write_text(
        "version: 1\nproviders:\n  aicc:\n    type: huawei-aicc\n"
        f"    endpoint: {emulator.url}\n    size_limit_of: file\nprompts:\n" + "".join(prompts)
    )
    env = {**os.environ, "AICC_APP_KEY": "k", "AICC_APP_SECRET": "s"}
    env.pop("CI", None)
    apply = [
        PYTHON,
        "-m",
        "ivrsync",
        "-C",
        str(repo),
        "apply",
        "--auto-approve",
        "--parallelism",
        "10",
    ]
    _, rss = peak_rss_mb(apply, env=env)
    return rss


def main() -> int:
    config = HuaweiEmulatorConfig(
        app_key="k", app_secret="s", size_limit_of="file", review_delay=600
    )
    with tempfile.TemporaryDirectory() as scratch, HuaweiEmulator(config) as emulator:
        small = apply_peak(emulator, 1_000_000, Path(scratch))
        big = apply_peak(emulator, 7_800_000, Path(scratch))
    ratio = big / small
    ok = ratio <= 1.2
    print(
        f"apply peak RSS: 10 x 7.8 MB files {big:.0f} MB vs 10 x 1 MB files {small:.0f} MB = "
        f"{ratio:.2f}x (target <= 1.2x; parallelism 10): {verdict(ok)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
