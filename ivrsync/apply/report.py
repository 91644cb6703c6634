"""What an apply did, as data: the document `apply --json` writes and CI reads.

CI must not read apply's terminal text (a rewording would break it silently), so the result
is built here, from the plan and the engine's outcomes, or from the error that stopped apply
before any upload; the CLI only serialises it. Versioned like the plan (docs/apply-result.md,
schema/apply-result.schema.json): fields are only added within a major version.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ivrsync import __version__
from ivrsync.apply.engine import ApplyResult, Status
from ivrsync.errors import IvrsyncError, ManifestError
from ivrsync.plan.model import AcknowledgedBy, Action, Pending, Plan, StateRef
from ivrsync.state.model import State

APPLY_RESULT_FORMAT_VERSION = "1.2"

# Exit codes (docs/cli.md); the result carries the meaning of the one it ends with.
EXIT_COMPLETE = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3
EXIT_MEANINGS = {
    EXIT_COMPLETE: "complete: everything the plan says was done",
    EXIT_FAILED: "failed: nothing was done (every change failed, or apply stopped before any)",
    EXIT_PARTIAL: (
        "partial: what succeeded is in the state; the rest failed, was deferred by a quota, "
        "is in doubt, or an upload in doubt waits for a decision"
    ),
    130: "cancelled (SIGINT): what finished is in the state; run apply again for the rest",
    143: "cancelled (SIGTERM): what finished is in the state; run apply again for the rest",
}

Outcome = Literal["complete", "partial", "failed", "cancelled"]
_OUTCOMES: dict[str, Outcome] = {"complete": "complete", "partial": "partial"}
_EXIT_CODES = {"complete": EXIT_COMPLETE, "partial": EXIT_PARTIAL, "failed": EXIT_FAILED}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourceResult(_Model):
    """One change of the plan, as the engine left it."""

    address: str
    provider: str
    provider_type: str
    action: Action
    # done, failed, deferred (quota spent: the next apply goes on), in-doubt (sent, no
    # answer), unrecorded (uploaded, the state not written: keep the FileId), cancelled.
    status: Status
    file_id: str | None  # the upload's FileId (the kept one for a move or a forget)
    reason: str  # what was done, or why not
    seconds: float


class SettingsResult(_Model):
    """The settings of a provider the plan records in the state (`record_settings`, plan
    format 1.2): no upload, one state write with the plan's moves and forgets."""

    provider: str
    provider_type: str
    status: Status  # done (recorded) or failed (the state could not be written)
    reason: str  # which settings changed, or why it failed


class ResultSummary(_Model):
    uploaded: int = 0
    replaced: int = 0
    updated: int = 0  # added in 1.1: updates in place (the FileId stays)
    moved: int = 0
    forgotten: int = 0
    deleted: int = 0  # added in 1.1: remote files deleted
    failed: int = 0
    deferred: int = 0
    in_doubt: int = 0
    unrecorded: int = 0
    cancelled: int = 0
    # Uploads in doubt from an earlier apply that wait for a decision (as in the plan).
    pending: int = 0
    # Providers whose settings were recorded in the state.
    settings: int = 0


class ResultProblem(_Model):
    """A problem in the manifests (ivrsync.errors.Problem), where it is."""

    severity: str
    code: str
    message: str
    file: str | None
    line: int | None
    column: int | None
    # As in `validate --json`; apply refuses only for problems nobody acknowledged.
    acknowledged: AcknowledgedBy | None = None


class ResultError(_Model):
    """Why apply stopped before it uploaded anything."""

    # Stable: stale_plan, invalid_manifest, missing_credentials, locked, invalid_plan,
    # approval_required, declined, state_corrupt, ..., interrupted, internal_error.
    code: str
    message: str
    problems: list[ResultProblem] = []
    # Each cause on its own: for `stale_plan`, every reason the plan is stale (the message
    # shows the first five).
    reasons: list[str] = []


class UnsavedStateResult(_Model):
    """Added in 1.2: the state could not be written (a conflict, a network error); what this
    apply did is kept in `path`, to be put back with `push_command`."""

    path: str | None  # null when even that file could not be written (`error` says)
    push_command: str
    error: str


class ApplyReport(_Model):
    format_version: str = APPLY_RESULT_FORMAT_VERSION
    ivrsync_version: str = __version__
    outcome: Outcome
    exit_code: int
    exit_meaning: str
    # The state after the apply (what the next plan is made against); null when apply
    # stopped before reading it, or there is none yet.
    state: StateRef | None = None
    summary: ResultSummary = ResultSummary()
    resources: list[ResourceResult] = []
    settings: list[SettingsResult] = []
    pending: list[Pending] = []
    error: ResultError | None = None
    unsaved_state: UnsavedStateResult | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def not_done(self) -> list[ResourceResult]:
        return [r for r in self.resources if r.status is not Status.DONE]


def _state_ref(state: State | None) -> StateRef | None:
    return StateRef(lineage=state.lineage, serial=state.serial) if state else None


def applied(
    plan: Plan,
    result: ApplyResult | None,
    state: State | None,
    *,
    cancelled_by: int | None = None,
) -> ApplyReport:
    """The result of applying `plan` (`result` is None when it had no changes to make);
    `cancelled_by` is the exit code of the signal that cancelled it."""
    outcomes = result.outcomes if result else []
    changes = {c.address: c for c in plan.changes}
    resources = [
        ResourceResult(
            address=o.address,
            provider=changes[o.address].provider,
            provider_type=changes[o.address].provider_type,
            action=o.action,
            status=o.status,
            file_id=o.file_id,
            reason=o.message,
            seconds=round(o.seconds, 3),
        )
        for o in outcomes
    ]

    settings = [
        SettingsResult(
            provider=s.provider,
            provider_type=plan.providers[s.provider].type,
            status=s.status,
            reason=s.message,
        )
        for s in (result.settings if result else [])
    ]

    def done(action: Action) -> int:
        return sum(1 for r in resources if r.status is Status.DONE and r.action is action)

    def counted(status: Status) -> int:
        return sum(1 for r in resources if r.status is status)

    summary = ResultSummary(
        uploaded=done(Action.CREATE),
        replaced=done(Action.REPLACE),
        updated=done(Action.UPDATE),
        moved=done(Action.MOVE),
        forgotten=done(Action.FORGET),
        deleted=done(Action.DELETE),
        failed=counted(Status.FAILED) + sum(1 for s in settings if s.status is Status.FAILED),
        deferred=counted(Status.DEFERRED),
        in_doubt=counted(Status.IN_DOUBT),
        unrecorded=counted(Status.UNRECORDED),
        cancelled=counted(Status.CANCELLED),
        pending=len(plan.pending),
        settings=sum(1 for s in settings if s.status is Status.DONE),
    )
    status = result.status if result else "complete"
    code = _EXIT_CODES[status]
    outcome: Outcome = _OUTCOMES.get(status, "failed")
    if cancelled_by is not None:
        code, outcome = cancelled_by, "cancelled"
    elif plan.pending and code == EXIT_COMPLETE:  # the state does not match the manifests yet
        code, outcome = EXIT_PARTIAL, "partial"
    unsaved = result.unsaved if result else None
    meaning = EXIT_MEANINGS.get(code, f"exit {code}")
    if unsaved is not None:
        # Not "in the state", whatever the code: the store refused the state.
        if code == EXIT_COMPLETE:
            code, outcome = EXIT_PARTIAL, "partial"
        meaning = f"{outcome}: the state could not be written; {unsaved.push_command} puts it back"
    return ApplyReport(
        outcome=outcome,
        exit_code=code,
        exit_meaning=meaning,
        state=_state_ref(state),
        summary=summary,
        resources=resources,
        settings=settings,
        pending=plan.pending,
        unsaved_state=None
        if unsaved is None
        else UnsavedStateResult(
            path=str(unsaved.path) if unsaved.path else None,
            push_command=unsaved.push_command,
            error=unsaved.error
            + (f"; and it could not be kept: {unsaved.kept_error}" if unsaved.kept_error else ""),
        ),
    )


def refused(error: BaseException) -> ApplyReport:
    """Apply stopped before any upload (or, for a bug, wherever it was): the error, with its
    stable code. An interrupt (an exception with an `exit_code`, cli/app.py) ends with its
    own code."""
    problems: list[ResultProblem] = []
    reasons: list[str] = []
    outcome: Outcome
    code, outcome, interrupt = EXIT_FAILED, "failed", getattr(error, "exit_code", None)
    if isinstance(error, IvrsyncError):
        kind, message, reasons = error.error_code, str(error), list(error.reasons)
        if isinstance(error, ManifestError):
            problems = [ResultProblem.model_validate(p.to_json()) for p in error.problems]
    elif isinstance(interrupt, int):
        kind, message = "interrupted", f"interrupted ({error}) before any upload"
        code, outcome = interrupt, "cancelled"
    else:
        kind = "internal_error"
        message = f"internal error ({type(error).__name__}); this is a bug"
    return ApplyReport(
        outcome=outcome,
        exit_code=code,
        exit_meaning=EXIT_MEANINGS.get(code, f"exit {code}"),
        error=ResultError(code=kind, message=message, problems=problems, reasons=reasons),
    )


def declined(state: State | None) -> ApplyReport:
    """Asked at a terminal, the user did not answer 'yes'."""
    return ApplyReport(
        outcome="failed",
        exit_code=EXIT_FAILED,
        exit_meaning=EXIT_MEANINGS[EXIT_FAILED],
        state=_state_ref(state),
        error=ResultError(code="declined", message="Apply cancelled: nothing was uploaded."),
    )
