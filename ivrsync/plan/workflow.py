"""Where a plan's files live: saved plans, written atomically, read back for `apply PLANFILE`
and `show`. The `plan` command itself is operations/plan.py; the state's store is opened by
state/backends.py."""

from __future__ import annotations

from pathlib import Path

from ivrsync.errors import IvrsyncError
from ivrsync.files import write_atomically
from ivrsync.plan.model import Plan, PlanFileError


def write_document(path: Path, text: str, what: str) -> None:
    """Write atomically: a reader never sees half of it."""
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise IvrsyncError(f"cannot write {what} to {path}: {exc.strerror}") from None


def load_plan(path: Path) -> Plan:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PlanFileError(f"cannot read the plan {path}: {exc.strerror}") from None
    return Plan.from_json(text, str(path))
