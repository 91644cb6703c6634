"""The operations layer (ivrsync/operations/) on its own: what a command does, as data, with no
terminal, no click context and an injected clock; the views render that data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ivrsync.apply.engine import ResourceOutcome
from ivrsync.errors import Problem
from ivrsync.operations.apply import ApplyRequest, NoStopping, apply
from ivrsync.operations.state import state_file, state_store
from ivrsync.operations.status import status
from ivrsync.plan.model import Plan
from ivrsync.plan.planner import PlanOptions
from ivrsync.views.status import status_json, status_text
from tests.repo_factory import UPLOADED_AT, huawei_repository, record_applied


def test_status_is_data_and_its_ages_come_from_the_clock_given(tmp_path: Path) -> None:
    repo = huawei_repository(tmp_path, 2, endpoint="https://aicc.example.com")
    record_applied(repo, status="pending")

    report = status(repo, UPLOADED_AT + timedelta(hours=26))

    assert [(u.address, u.review) for u in report.uploads] == [
        ("aicc.p00000.en_US", "pending"),
        ("aicc.p00001.en_US", "pending"),
    ]
    assert [row["age"] for row in status_json(report)["resources"]] == ["1d", "1d"]
    text = status_text(report)
    assert text is not None
    assert text.splitlines()[0] == "aicc: 0 approved, 2 pending, 0 rejected"


class _Declining:
    """A listener that records what apply told it and answers no."""

    def __init__(self) -> None:
        self.shown: list[Plan] = []

    def validated(self, warnings: list[Problem], acknowledged: int) -> None:
        pass

    def planned(self, plan: Plan) -> None:
        self.shown.append(plan)

    def approve(self, plan: Plan) -> bool:
        return False

    def applying(self, plan: Plan) -> None:
        raise AssertionError("a declined plan is not applied")

    def begin(self, uploads: int) -> None:
        raise AssertionError("a declined plan starts no upload")

    def finished(self, outcome: ResourceOutcome) -> None:
        raise AssertionError(f"a declined plan changes nothing: {outcome.address}")


def test_a_declined_apply_uploads_nothing_writes_nothing_and_releases_the_lock(
    tmp_path: Path,
) -> None:
    repo = huawei_repository(tmp_path, 3, endpoint="https://aicc.example.com")
    listener = _Declining()
    request = ApplyRequest(
        plan_file=None,
        options=PlanOptions((), ()),
        parallelism=1,
        lock_timeout=0.0,
        auto_approve=False,
        interactive=True,
    )

    outcome = apply(repo, request, listener, NoStopping())

    assert outcome.declined and outcome.result is None
    assert outcome.report.exit_code == 1
    assert [len(plan.changes) for plan in listener.shown] == [3]
    assert state_file(repo).state is None  # nothing recorded
    assert state_store(repo).current_lock() is None  # the lock is free again
