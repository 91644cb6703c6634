"""`make bench`: every benchmark, each printing its figures against its target with PASS/FAIL.

Figures are ratios measured in one run on this machine (shared machines are noisy: compare
ratios, not seconds across runs). docs/performance.md records the latest figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "plan_scale.py",
    "cold_plan.py",
    "startup_and_files.py",
    "apply_huawei.py",
    "apply_tencent.py",
    "rates_under_jitter.py",
    "upload_memory.py",
    "audio_processing.py",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], cwd=HERE, check=False).returncode:
            failed.append(name)
    print(f"\n{len(BENCHMARKS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
