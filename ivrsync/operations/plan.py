"""`plan`: validate, read the state under its lock, diff, keep the cache; save it if asked.

The CLI renders what this returns (plan/render.py); `apply` loads the same `Plan` from a file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ivrsync.audio_cache import AudioCache
from ivrsync.errors import Severity
from ivrsync.plan.model import AcknowledgedBy, Finding, Plan
from ivrsync.plan.planner import PlanOptions, make_plan
from ivrsync.plan.workflow import write_document
from ivrsync.processing.cache import ProcessedCache
from ivrsync.state.backends import open_store
from ivrsync.state.store import locked
from ivrsync.validate import ValidationReport, validate_repository


@dataclass
class PlanOutcome:
    report: ValidationReport
    plan: Plan | None  # None when the manifests are not valid
    notes: list[str] = field(default_factory=list)  # what a refresh could not find out


def plan_repository(
    root: Path,
    options: PlanOptions,
    *,
    lock: bool | None = None,
    lock_timeout: float = 0.0,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    refresh: bool = False,
) -> PlanOutcome:
    """Needs no credentials and no network (it runs on pull requests from forks), unless
    `refresh` asks the providers first (in memory: the state file is not written), or the
    state is remote (read access only). `lock` None: as the store's `readers_lock` says."""
    cache = AudioCache(root)
    processed = ProcessedCache(root, cache.facts)
    report = validate_repository(root, env, cache, processed)
    project = report.project
    if project is None or not report.valid:
        return PlanOutcome(report, None)
    store = open_store(project.root, project.manifest.state)
    take_lock = store.readers_lock if lock is None else lock
    guard = locked(store, "plan", lock_timeout) if take_lock else contextlib.nullcontext()
    with guard:
        state = store.read()
    now = now or datetime.now(UTC)
    notes: list[str] = []
    if refresh and state is not None:
        from ivrsync.refresh import refresh_state

        notes = refresh_state(project, state, os.environ if env is None else env, now).notes
    plan = make_plan(project, state, cache.facts, options, now, processed.facts)
    plan = plan.model_copy(update={"findings": findings(report)})
    cache.save()
    processed.save()
    return PlanOutcome(report, plan, notes)


def findings(report: ValidationReport) -> list[Finding]:
    """validate's warnings, as the plan carries them (its errors stop a plan being made)."""
    return [
        Finding(
            code=problem.code,
            message=problem.message,
            where=str(problem.location) if problem.location else None,
            address=problem.address,
            acknowledged=AcknowledgedBy(
                where=str(problem.acknowledged.where), reason=problem.acknowledged.reason
            )
            if problem.acknowledged
            else None,
        )
        for problem in report.problems
        if problem.severity is Severity.WARNING
    ]


def save_plan(plan: Plan, path: Path) -> None:
    """A half-written plan must never be applied."""
    write_document(path, plan.to_json(), "the plan")
