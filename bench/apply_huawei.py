"""Benchmark: `ivrsync apply` against the Huawei AICC emulator at the documented 10 requests/s.

Runs the real CLI in a separate process (as CI would) on a generated repository and reads the
arrival times off the emulator. Targets (issue 4): at least 95% of the limit over 200 uploads,
and zero throttled requests.

    .venv/bin/python bench/apply_huawei.py [--uploads 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig  # noqa: E402
from tests.repo_factory import huawei_repository  # noqa: E402

LIMIT = 10.0
TARGET = 0.95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    args = parser.parse_args()
    config = HuaweiEmulatorConfig(app_key="bench-key", app_secret="bench-secret", review_delay=600)
    with tempfile.TemporaryDirectory() as scratch, HuaweiEmulator(config) as emulator:
        repo = huawei_repository(Path(scratch) / "prompts", args.uploads, endpoint=emulator.url)
        env = {**os.environ, "AICC_APP_KEY": "bench-key", "AICC_APP_SECRET": "bench-secret"}
        env.pop("CI", None)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "ivrsync", "-C", str(repo), "apply", "--auto-approve"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
        arrivals = sorted(u.received_at for u in emulator.uploads)
        throttled = emulator.throttled
    if result.returncode != 0 or len(arrivals) != args.uploads:
        print(result.stdout, result.stderr, sep="\n")
        print(f"FAIL: apply exited {result.returncode} with {len(arrivals)} uploads")
        return 1
    span = arrivals[-1] - arrivals[0]
    rate = (len(arrivals) - 1) / span if span > 0 else float("inf")
    ratio = rate / LIMIT
    ok = ratio >= TARGET and ratio <= 1.0 + 1e-3 and throttled == 0
    print(
        f"huawei apply: {len(arrivals)} uploads, {rate:.2f} requests/s between the first and "
        f"last arrival = {ratio:.1%} of the {LIMIT:g}/s limit (target >= {TARGET:.0%}), "
        f"{throttled} throttled (target 0), {wall:.1f} s for the whole command: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
