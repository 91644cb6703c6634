"""`plan` as an operation: validate, read the state under its lock, diff, keep the cache.

The CLI renders what this returns; `apply` will load the same `Plan` from a file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ivrsync.audio_cache import AudioCache
from ivrsync.errors import IvrsyncError
from ivrsync.manifest.loader import Project
from ivrsync.plan.model import Plan
from ivrsync.plan.planner import PlanOptions, make_plan
from ivrsync.state.store import LocalStateStore, locked
from ivrsync.validate import ValidationReport, validate_repository


@dataclass
class PlanOutcome:
    report: ValidationReport
    plan: Plan | None  # None when the manifests are not valid


def state_store(project: Project) -> LocalStateStore:
    return LocalStateStore(project.root / project.manifest.state.path)


def plan_repository(
    root: Path,
    options: PlanOptions,
    *,
    lock: bool = True,
    lock_timeout: float = 0.0,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> PlanOutcome:
    """Needs no credentials and no network: it runs on pull requests from forks."""
    cache = AudioCache(root)
    report = validate_repository(root, env, cache)
    project = report.project
    if project is None or not report.valid:
        return PlanOutcome(report, None)
    store = state_store(project)
    guard = locked(store, "plan", lock_timeout) if lock else contextlib.nullcontext()
    with guard:
        state = store.read()
    plan = make_plan(project, state, cache.facts, options, now or datetime.now(UTC))
    cache.save()
    return PlanOutcome(report, plan)


def save_plan(plan: Plan, path: Path) -> None:
    """Write atomically: a half-written plan must never be applied."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("w", encoding="utf-8") as f:
            f.write(plan.to_json())
            f.flush()
            os.fsync(f.fileno())
        temp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise IvrsyncError(f"cannot write the plan to {path}: {exc.strerror}") from None


def load_plan(path: Path) -> Plan:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise IvrsyncError(f"cannot read the plan {path}: {exc.strerror}") from None
    return Plan.from_json(text, str(path))
