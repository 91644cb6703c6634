"""Benchmark: a no-op plan with a warm hash cache, against the floor any Python tool pays.

The floor is a fresh Python process loading the same manifests with PyYAML's C loader.
Target (issue 9): at most 2x the floor at 10,000 resources; at 100,000, time and peak memory
growing no worse than linearly.

    .venv/bin/python bench/plan_scale.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import PYTHON, flat_repository, peak_rss_mb, run_seconds, verdict

from tests.repo_factory import record_applied

FLOOR = (
    "import glob, yaml\n"
    "for f in ['ivrsync.yaml', *sorted(glob.glob('prompts/*.yaml'))]:\n"
    "    yaml.load(open(f, 'rb'), Loader=yaml.CSafeLoader)\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    ok = True
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            repo = flat_repository(Path(scratch) / f"r{size}", size)
            record_applied(repo)
            plan = [PYTHON, "-m", "ivrsync", "plan", "--no-lock", "--detailed-exitcode"]
            floor = run_seconds([PYTHON, "-c", FLOOR], cwd=repo)
            seconds = run_seconds(plan, cwd=repo)
            _, rss = peak_rss_mb(plan, cwd=repo)
            ratio = seconds / floor
            rows.append((size, seconds, floor, ratio, rss))
            if size == 10_000:
                ok &= ratio <= 2.0
                print(
                    f"no-op plan, warm cache, {size:,} resources: {seconds:.2f} s vs "
                    f"{floor:.2f} s for PyYAML's C loader alone = {ratio:.1f}x (target <= 2x): "
                    f"{verdict(ratio <= 2.0)}"
                )
            else:
                print(f"no-op plan, {size:,} resources: {seconds:.2f} s, peak RSS {rss:.0f} MB")
    if len(rows) > 1:
        (small, t1, *_, m1), (big, t2, *_, m2) = rows[0], rows[-1]
        growth = (t2 / t1) / (big / small)
        memory_growth = (m2 / m1) / (big / small)
        linear = growth <= 1.2 and memory_growth <= 1.2  # 20% for noise
        ok &= linear
        print(
            f"growth {small:,} -> {big:,}: time x{t2 / t1:.1f}, memory x{m2 / m1:.1f} for "
            f"x{big / small:.0f} resources (per resource: time x{growth:.2f}, memory "
            f"x{memory_growth:.2f}; target <= linear): {verdict(linear)}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
