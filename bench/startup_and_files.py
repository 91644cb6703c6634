"""Benchmarks: start-up time, and loading/saving a 100,000-resource state and plan.

Targets (issue 9): `ivrsync --version` and `ivrsync validate` on the examples within 3x a bare
`python -c pass`; a saved plan and a state of 100,000 resources load and save in under 1 s.

    .venv/bin/python bench/startup_and_files.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import PYTHON, ROOT, run_seconds, verdict

from ivrsync.plan.model import Action, Desired, Plan, ResourceChange, StateRef, Summary
from ivrsync.state.model import ResourceState, State
from ivrsync.state.store import LocalStateStore

COUNT = 100_000


def startup() -> bool:
    bare = run_seconds([PYTHON, "-c", "pass"], repeat=7)
    ok = True
    for label, args in (
        ("ivrsync --version", [PYTHON, "-m", "ivrsync", "--version"]),
        (
            "ivrsync validate (examples)",
            [PYTHON, "-m", "ivrsync", "-C", str(ROOT / "examples/manifests"), "validate"],
        ),
    ):
        seconds = run_seconds(args, repeat=7)
        ratio = seconds / bare
        ok &= ratio <= 3.0
        print(
            f"{label}: {seconds * 1000:.0f} ms vs {bare * 1000:.0f} ms for python -c pass = "
            f"{ratio:.1f}x (target <= 3x): {verdict(ratio <= 3.0)}"
        )
    # What `validate` cannot do without: the chosen libraries' own imports, each alone.
    for statement in ("import yaml", "import click", "from pydantic import BaseModel"):
        seconds = run_seconds([PYTHON, "-c", statement], repeat=7)
        print(
            f"  for reference, python -c '{statement}': {seconds * 1000:.0f} ms = "
            f"{seconds / bare:.1f}x python -c pass"
        )
    return ok


def big_state() -> State:
    state = State.new()
    now = datetime.now(UTC)
    for n in range(COUNT):
        state.resources[f"aicc.p{n:06d}.en_US"] = ResourceState.model_construct(
            provider="aicc",
            provider_type="huawei-aicc",
            file_id=str(1_000_000_000_000_000_000 + n),
            remote_name=f"P{n:06d}EnUS",
            audio_path=f"audio/p{n:06d}.wav",
            sha256=f"{n:064x}",
            size=1000 + n,
            attributes={"file_type": "wav", "voice_type": "ivr"},
            uploaded_at=now,
        )
    return state


def big_plan() -> Plan:
    changes = [
        ResourceChange.model_construct(
            address=f"aicc.p{n:06d}.en_US",
            provider="aicc",
            provider_type="huawei-aicc",
            action=Action.CREATE,
            reasons=[],
            after=Desired.model_construct(
                audio_path=f"audio/p{n:06d}.wav",
                sha256=f"{n:064x}",
                size=1000,
                remote_name=f"P{n:06d}EnUS",
                attributes={"voice_type": "ivr"},
            ),
        )
        for n in range(COUNT)
    ]
    return Plan(
        ivrsync_version="bench",
        created_at=datetime.now(UTC),
        state=StateRef(lineage=None, serial=0),
        providers={},
        summary=Summary(create=COUNT),
        changes=changes,
        files={c.after.audio_path: c.after.sha256 for c in changes if c.after},
    )


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` takes. What it returns is freed after the clock stops: freeing
    100,000 resources (0.2 s) is not loading them, and a command keeps its state to the end."""
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    del result
    return seconds


def files() -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        store = LocalStateStore(Path(scratch) / "ivrsync.state.json")
        state = big_state()
        save = timed(lambda: store.write(state))
        load = timed(lambda: LocalStateStore(store.path).read())
        plan = big_plan()
        plan_path = Path(scratch) / "plan.json"
        plan_save = timed(lambda: plan_path.write_text(plan.to_json()))
        plan_load = timed(lambda: Plan.from_json(plan_path.read_bytes(), "plan.json"))
    for label, seconds in (
        ("state save", save),
        ("state load", load),
        ("plan save", plan_save),
        ("plan load", plan_load),
    ):
        ok &= seconds < 1.0
        print(
            f"{label}, {COUNT:,} resources: {seconds:.2f} s (target < 1 s): "
            f"{verdict(seconds < 1.0)}"
        )
    return ok


if __name__ == "__main__":
    sys.exit(0 if startup() & files() else 1)
