"""Shared by the benchmarks: generated repositories, timing of fresh processes."""

from __future__ import annotations

import compileall
import functools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.repo_factory import alaw_wav  # noqa: E402

PYTHON = sys.executable


def flat_repository(root: Path, count: int, *, per_file: int = 1000) -> Path:
    """`count` Huawei resources: prompts spread over include files of `per_file` prompts."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    for start in range(0, count, per_file):
        lines = ["prompts:\n"]
        for number in range(start, min(count, start + per_file)):
            name = f"p{number:06d}"
            (audio / f"{name}.wav").write_bytes(alaw_wav(number.to_bytes(4, "big") * 50))
            lines.append(f"  {name}:\n    audio:\n      en_US: ../audio/{name}.wav\n")
        (root / "prompts" / f"part{start // per_file:04d}.yaml").write_text("".join(lines))
    (root / "ivrsync.yaml").write_text(
        "version: 1\nproviders:\n  aicc:\n    type: huawei-aicc\n"
        "    endpoint: https://service.besclouds.com\ninclude:\n  - prompts/*.yaml\n"
    )
    return root


def run_seconds(args: list[str], *, cwd: Path | None = None, repeat: int = 3) -> float:
    """The median wall time of a fresh process (the first run is a warm-up)."""
    _compile_once()
    times = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        subprocess.run(args, cwd=cwd, check=True, capture_output=True, env=os.environ)
        if attempt:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


@functools.cache
def _compile_once() -> None:
    """Measure ivrsync as installed: pip compiles the bytecode, whereas a checkout edited since
    (or run with PYTHONDONTWRITEBYTECODE) would compile every changed module on every run
    (25 ms at start-up)."""
    compileall.compile_dir(ROOT / "ivrsync", quiet=1)


def peak_rss_mb(
    args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one fresh process.

    Measured by a wrapper process whose only child is `args`: RUSAGE_CHILDREN of this
    process would also hold every earlier child's peak.
    """
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, capture_output=True)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", wrapper, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    seconds, kilobytes = done.stdout.split()
    return float(seconds), int(kilobytes) / 1024


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
