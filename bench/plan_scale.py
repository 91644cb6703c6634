"""Benchmark: a no-op plan with a warm hash cache, against the floor any Python tool pays.

The floor is a fresh Python process loading the same manifests with PyYAML's C loader.
Targets (issue 9): at most 2x the floor at 10,000 resources; from 10,000 to 100,000, time
and peak memory growing no worse than linearly. With matplotlib (the `bench` extra) it also
draws docs/performance-plan.png from the same figures.

    .venv/bin/python bench/plan_scale.py [--sizes 1000 10000 100000] [--plot PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, flat_repository, peak_rss_mb, run_seconds, verdict

from tests.repo_factory import record_applied

FLOOR = (
    "import glob, yaml\n"
    "for f in ['ivrsync.yaml', *sorted(glob.glob('prompts/*.yaml'))]:\n"
    "    yaml.load(open(f, 'rb'), Loader=yaml.CSafeLoader)\n"
)
Row = tuple[int, float, float, float]  # resources, plan seconds, floor seconds, peak RSS MB


def measure(size: int, scratch: Path) -> Row:
    repo = flat_repository(scratch / f"r{size}", size)
    record_applied(repo)
    plan = [PYTHON, "-m", "ivrsync", "plan", "--no-lock", "--detailed-exitcode"]
    floor = run_seconds([PYTHON, "-c", FLOOR], cwd=repo)
    seconds = run_seconds(plan, cwd=repo)
    _, rss = peak_rss_mb(plan, cwd=repo)
    return size, seconds, floor, rss


def check(rows: list[Row]) -> bool:
    ok = True
    by_size = {row[0]: row for row in rows}
    if 10_000 in by_size:
        _, seconds, floor, _ = by_size[10_000]
        ratio = seconds / floor
        ok &= ratio <= 2.0
        print(
            f"no-op plan, warm cache, 10,000 resources: {seconds:.2f} s vs {floor:.2f} s for "
            f"PyYAML's C loader alone = {ratio:.1f}x (target <= 2x): {verdict(ratio <= 2.0)}"
        )
    if 10_000 in by_size and 100_000 in by_size:
        (_, t1, _, m1), (_, t2, _, m2) = by_size[10_000], by_size[100_000]
        growth, memory_growth = (t2 / t1) / 10, (m2 / m1) / 10
        linear = growth <= 1.2 and memory_growth <= 1.2  # 20% for noise
        ok &= linear
        print(
            f"growth 10,000 -> 100,000 resources: time x{t2 / t1:.1f} ({t2:.2f} s), memory "
            f"x{m2 / m1:.1f} ({m2:.0f} MB) for x10 (per resource: time x{growth:.2f}, memory "
            f"x{memory_growth:.2f}; target <= linear): {verdict(linear)}"
        )
    return ok


def plot(rows: list[Row], out: Path) -> None:
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
    figure.savefig(out)
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000, 3_000, 10_000, 30_000, 100_000]
    )
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "performance-plan.png")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            row = measure(size, Path(scratch))
            rows.append(row)
            _, seconds, floor, rss = row
            print(
                f"{size:>7,} resources: no-op plan {seconds:6.2f} s, YAML floor {floor:5.2f} s "
                f"({seconds / floor:.1f}x), peak RSS {rss:4.0f} MB",
                flush=True,
            )
    ok = check(rows)
    try:
        plot(rows, args.plot)
    except ImportError:
        print("no plot: matplotlib is not installed (pip install -e '.[bench]')")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
