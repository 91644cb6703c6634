"""`apply`: upload what a plan says, under the state lock, asking first where asked to.

The operation decides and the one who runs it (the CLI) is told through an `ApplyListener`:
the validation's warnings, the plan before approval, the approval itself, each upload as it
finishes. Signals stop the engine through `Stopping`, which the CLI's signal handling is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivrsync.apply.cancel import Cancellation
from ivrsync.apply.engine import ApplyOptions, ApplyResult, Reporter
from ivrsync.apply.report import ApplyReport, applied, declined
from ivrsync.apply.workflow import ApplySession, ApprovalRequiredError
from ivrsync.errors import IvrsyncError, Problem
from ivrsync.plan.model import Plan
from ivrsync.plan.planner import PlanOptions
from ivrsync.plan.workflow import write_document
from ivrsync.secrets import redact


class ApplyListener(Reporter, Protocol):
    """Told what apply finds as it goes (while it holds the lock), and asked to approve."""

    def validated(self, warnings: list[Problem], acknowledged: int) -> None: ...

    # A new plan with changes, before it is approved (or applied with auto-approve).
    def planned(self, plan: Plan) -> None: ...

    # Only at a terminal without auto-approve: True to apply the plan shown.
    def approve(self, plan: Plan) -> bool: ...

    # The plan the engine starts on, new or saved: which of its changes send a request.
    def applying(self, plan: Plan) -> None: ...


class Stopping(Protocol):
    """How signals reach the engine: cli/signals.py's SignalHandling is one."""

    def armed_for_engine(self) -> AbstractContextManager[Cancellation]: ...

    @property
    def exit_code(self) -> int | None: ...


class NoStopping:
    """Nothing stops the engine but its own cancellation (tests, and callers without signals)."""

    exit_code: int | None = None

    @contextmanager
    def armed_for_engine(self) -> Iterator[Cancellation]:
        yield Cancellation()


@dataclass(frozen=True)
class ApplyRequest:
    plan_file: Path | None  # a saved plan, applied as it is; None plans now
    options: PlanOptions  # --target and --replace, for a new plan only
    parallelism: int
    lock_timeout: float
    auto_approve: bool
    interactive: bool  # a person can be asked (a terminal, not CI)


@dataclass(frozen=True)
class ApplyOutcome:
    report: ApplyReport
    plan: Plan
    result: ApplyResult | None  # None when nothing was applied: no changes, or declined
    declined: bool = False


def apply(
    root: Path, request: ApplyRequest, listener: ApplyListener, stopping: Stopping
) -> ApplyOutcome:
    """Plan (or load), approve and apply under one hold of the lock, so the plan approved is
    the plan applied; the lock is released on every way out, approval refused included."""
    if request.plan_file and (request.options.targets or request.options.replace):
        raise IvrsyncError(
            "--target and --replace shape a new plan; a saved plan is applied as it is"
        )
    with ApplySession(root, lock_timeout=request.lock_timeout) as session:
        listener.validated(session.warnings, session.acknowledged)
        if request.plan_file:
            plan = session.saved_plan(request.plan_file)
        else:
            plan = session.new_plan(request.options)
            if plan.has_changes:
                listener.planned(plan)
                if not request.auto_approve:
                    if not request.interactive:
                        raise ApprovalRequiredError(
                            "not at a terminal (or CI is set): apply a saved plan "
                            "(`ivrsync plan --out FILE`, then `ivrsync apply FILE`) or pass "
                            "--auto-approve"
                        )
                    if not listener.approve(plan):
                        return ApplyOutcome(declined(session.state), plan, None, declined=True)
        if not plan.has_changes:
            return ApplyOutcome(applied(plan, None, session.state), plan, None)
        listener.applying(plan)
        with stopping.armed_for_engine() as cancel:
            result = session.apply(
                plan, ApplyOptions(parallelism=request.parallelism), listener, cancel
            )
    report = applied(plan, result, result.state, cancelled_by=stopping.exit_code)
    return ApplyOutcome(report, plan, result)


def save_result(report: ApplyReport, path: Path) -> None:
    """`--json-out`: the result for CI, written atomically, secrets redacted."""
    write_document(path, redact(report.to_json()), "the apply result")
