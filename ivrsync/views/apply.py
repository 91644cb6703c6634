"""`apply` shown: a line per finished change, the settings recorded, and what to do next
(docs/cli.md, docs/reliability.md); the result as JSON is apply/report.py's document."""

from __future__ import annotations

from ivrsync.apply.engine import ResourceOutcome, SettingsOutcome, Status
from ivrsync.apply.report import ApplyReport
from ivrsync.plan.model import Action, Plan
from ivrsync.plan.render import Style

STATUS_COLOURS = {
    Status.DONE: "green",
    Status.FAILED: "red",
    Status.DEFERRED: "yellow",
    Status.IN_DOUBT: "yellow",
    Status.UNRECORDED: "red",
    Status.CANCELLED: "yellow",
}


# The actions whose line names the FileId they made, changed or deleted.
_SHOWS_FILE_ID = (Action.CREATE, Action.REPLACE, Action.UPDATE, Action.DELETE)


def outcome_line(outcome: ResourceOutcome, style: Style) -> str:
    status = style(
        outcome.message if outcome.status is Status.DONE else outcome.status.value,
        fg=STATUS_COLOURS[outcome.status],
    )
    text = f"{outcome.address}: {status}"
    if outcome.status is not Status.DONE:
        text += f": {outcome.message}"
    if outcome.file_id and outcome.action in _SHOWS_FILE_ID:
        text += f", FileId {outcome.file_id}"
    if outcome.seconds:
        text += f" ({outcome.seconds:.2f} s)"
    return text


def settings_line(recorded: SettingsOutcome, style: Style) -> str:
    colour = STATUS_COLOURS[recorded.status]
    status = recorded.message if recorded.status is Status.DONE else "failed"
    failed = f": {recorded.message}" if recorded.status is not Status.DONE else ""
    return f"{recorded.provider}: {style(status, fg=colour)}{failed}"


def approval_question(plan: Plan) -> str:
    # A plan of moves, forgets or settings only uploads nothing; a delete is said first.
    deletes = sum(1 for c in plan.changes if c.action is Action.DELETE)
    if deletes:
        files = "remote file" if deletes == 1 else "remote files"
        return (
            f"\nApply these changes, DELETING {deletes} {files}? This cannot be undone. "
            "Only 'yes' is accepted"
        )
    sends = any(c.uploads for c in plan.changes)
    return f"\n{'Upload these' if sends else 'Apply these changes'}? Only 'yes' is accepted"


def next_steps(plan: Plan, report: ApplyReport) -> list[str]:
    """What the user is told after the engine ran: a cancel, uploads in doubt, decisions,
    and first of all a state that could not be written."""
    unsaved = report.unsaved_state
    if unsaved is not None:
        where = (
            f"Everything this apply did is kept in {unsaved.path}: run `{unsaved.push_command}` "
            "(docs/reliability.md)."
            if unsaved.path
            else "The FileIds are listed above: keep them."
        )
        first = [f"Error: the state could not be written: {unsaved.error}. {where}"]
        return first + _other_steps(plan, report)
    return _other_steps(plan, report)


def _other_steps(plan: Plan, report: ApplyReport) -> list[str]:
    summary = report.summary
    if report.outcome == "cancelled":
        return [
            f"Cancelled: {summary.cancelled} upload(s) not sent, "
            f"{summary.in_doubt} in doubt (listed above). Run apply again to finish."
        ]
    lines = []
    if summary.in_doubt:
        lines.append(
            f"{summary.in_doubt} upload(s) are in doubt: sent, with no answer. The next "
            f"apply {in_doubt_policy()}: "
            "`--replace ADDRESS` to upload again, or `ivrsync import ADDRESS FILE_ID` "
            "(docs/reliability.md)."
        )
    if plan.pending and not report.not_done():
        lines.append(undecided(len(plan.pending)))
    return lines


def undecided(count: int) -> str:
    return (
        f"{count} upload(s) in doubt wait for your decision (listed above): the state does not "
        "match the manifests until you choose `--replace ADDRESS` or `ivrsync import ADDRESS "
        "FILE_ID` (docs/reliability.md)."
    )


def in_doubt_policy() -> str:
    """What the next apply does with uploads in doubt, by the providers' capabilities: "looks
    Tencent ones up by name; Huawei ones are held back until you choose"."""
    from ivrsync.providers import vendors

    listing, not_listing = vendors(can_list=True), vendors(can_list=False)
    clauses = []
    if listing:
        clauses.append(f"looks {' and '.join(listing)} ones up by name")
    if not_listing:
        clauses.append(f"{' and '.join(not_listing)} ones are held back until you choose")
    return "; ".join(clauses)
