"""Benchmark: `ivrsync apply` to both providers at the default settings, against emulators
whose traffic control counts requests in any sliding 1-second window, with seeded network
jitter (each request arrives up to JITTER late).

Targets (issue 14): zero refusals, and at least 90% of each documented rate (Huawei 10/s,
Tencent 1/s) measured between the first and the last accepted upload.

    .venv/bin/python bench/rates_under_jitter.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import PYTHON, verdict

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from tests.repo_factory import two_provider_repository
from tests.static_server import static_files

COUNT, BATCH, JITTER = 50, 5, 0.05
KEY, SECRET = "bench-app-key", "bench-app-secret"
SECRET_ID, SECRET_KEY = "AKIDbench000000000000000000000000001", "bench-tencent-key"


def rate(arrivals: list[float]) -> float:
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0


def main() -> int:
    huawei_config = HuaweiEmulatorConfig(
        app_key=KEY, app_secret=SECRET, review_delay=600, traffic_control="sliding-window"
    )
    tencent_config = TencentEmulatorConfig(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        review_delay=600,
        traffic_control="sliding-window",
    )
    with (
        tempfile.TemporaryDirectory() as scratch,
        HuaweiEmulator(huawei_config) as huawei,
        TencentEmulator(tencent_config) as tencent,
    ):
        for emulator, seed in ((huawei, 1), (tencent, 2)):
            emulator.faults.jitter, emulator.faults.seed = JITTER, seed
        root = Path(scratch) / "prompts"
        root.mkdir()
        with static_files(root) as audio:
            repo = two_provider_repository(
                root,
                COUNT,
                huawei_endpoint=huawei.url,
                tencent_endpoint=tencent.url,
                audio_base_url=audio,
                batch_size=BATCH,
            )
            env = {
                **os.environ,
                "AICC_APP_KEY": KEY,
                "AICC_APP_SECRET": SECRET,
                "TENCENTCLOUD_SECRET_ID": SECRET_ID,
                "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
            }
            env.pop("CI", None)
            done = subprocess.run(
                [PYTHON, "-m", "ivrsync", "-C", str(repo), "apply", "--auto-approve"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        figures = [
            ("huawei", huawei.throttled, rate(huawei.accepted_at), 10.0),
            ("tencent", tencent.rate_limited, rate(tencent.accepted_at), 1.0),
        ]
    ok = done.returncode == 0
    for name, refused, achieved, documented in figures:
        good = refused == 0 and achieved >= 0.9 * documented
        ok = ok and good
        print(
            f"{name} apply under {JITTER * 1000:.0f} ms of jitter, sliding 1 s window: "
            f"{refused} refusals (target 0), {achieved:.2f} requests/s = "
            f"{100 * achieved / documented:.1f}% of the documented {documented:g}/s "
            f"(target >= 90%): {verdict(good)}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
