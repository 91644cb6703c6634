"""Benchmark: `ivrsync apply` against the Tencent CCC emulator: batches, rate, quota.

Targets (issue 9): uploads per request equal to the batch size, at most 1 request/s, zero
rate-limit errors.

    .venv/bin/python bench/apply_tencent.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PYTHON, verdict

from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from tests.repo_factory import tencent_repository
from tests.static_server import static_files

COUNT, BATCH = 50, 10
SECRET_ID, SECRET_KEY = "AKIDbench000000000000000000000000001", "bench-tencent-key"


def main() -> int:
    config = TencentEmulatorConfig(secret_id=SECRET_ID, secret_key=SECRET_KEY, review_delay=600)
    with tempfile.TemporaryDirectory() as scratch, TencentEmulator(config) as emulator:
        root = Path(scratch) / "prompts"
        root.mkdir()
        with static_files(root) as audio:
            repo = tencent_repository(
                root, COUNT, endpoint=emulator.url, audio_base_url=audio, batch_size=BATCH
            )
            env = {
                **os.environ,
                "TENCENTCLOUD_SECRET_ID": SECRET_ID,
                "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
            }
            env.pop("CI", None)
            started = time.monotonic()
            done = subprocess.run(
                [PYTHON, "-m", "ivrsync", "-C", str(repo), "apply", "--auto-approve"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.monotonic() - started
        requests = emulator.requests.get("UploadIvrAudio", 0)
        refused = emulator.rate_limited
        stored = len(emulator.uploads)
    per_request = stored / requests if requests else 0.0
    ok = done.returncode == 0 and per_request == BATCH and refused == 0
    print(
        f"tencent apply: {stored} files in {requests} requests = {per_request:g} per request "
        f"(batch size {BATCH}), {refused} rate-limit errors (the emulator refuses a request "
        f"within 0.95 s of the previous; target 0), {wall:.1f} s: {verdict(ok)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
