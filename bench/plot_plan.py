"""Measure no-op plan time and peak memory at several repository sizes; draw
docs/performance-plan.png (needs the `bench` extra: matplotlib).

    .venv/bin/python bench/plot_plan.py [--sizes 1000 3000 10000 30000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, flat_repository, peak_rss_mb, run_seconds
from plan_scale import FLOOR

from tests.repo_factory import record_applied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 30000])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance-plan.png")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            repo = flat_repository(Path(scratch) / f"r{size}", size)
            record_applied(repo)
            plan = [PYTHON, "-m", "ivrsync", "plan", "--no-lock"]
            seconds = run_seconds(plan, cwd=repo, repeat=2)
            floor = run_seconds([PYTHON, "-c", FLOOR], cwd=repo, repeat=2)
            _, rss = peak_rss_mb(plan, cwd=repo)
            rows.append((size, seconds, floor, rss))
            print(
                f"{size:>7,} resources: plan {seconds:6.2f} s, YAML floor {floor:5.2f} s, "
                f"peak RSS {rss:5.0f} MB",
                flush=True,
            )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r[0] for r in rows]
    figure, axis = plt.subplots(figsize=(7, 4), dpi=110)
    axis.plot(sizes, [r[1] for r in rows], "o-", label="ivrsync plan (no-op, warm cache)")
    axis.plot(sizes, [r[2] for r in rows], "s--", label="PyYAML C loader alone (floor)")
    axis.plot(sizes, [2 * r[2] for r in rows], ":", color="grey", label="target: 2x the floor")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("resources in the repository")
    axis.set_ylabel("seconds (fresh process)")
    axis.set_title("No-op plan time against repository size")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(args.out)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
