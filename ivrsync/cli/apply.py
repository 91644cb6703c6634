"""`ivrsync apply [PLANFILE]`: upload what the plan says, the way a careful operator would."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from ivrsync.apply.engine import ApplyOptions, ResourceOutcome, Status
from ivrsync.apply.report import ApplyReport, applied, declined, refused
from ivrsync.apply.workflow import ApplySession, ApprovalRequiredError
from ivrsync.cli.options import common_options, console, lock_timeout_option
from ivrsync.cli.output import Console
from ivrsync.cli.signals import announce_to, handling_signals
from ivrsync.errors import IvrsyncError
from ivrsync.plan.model import Plan
from ivrsync.plan.planner import PlanOptions
from ivrsync.plan.render import acknowledged_line, render_text, summary_line
from ivrsync.plan.workflow import write_document
from ivrsync.secrets import redact

_STATUS_COLOURS = {
    Status.DONE: "green",
    Status.FAILED: "red",
    Status.DEFERRED: "yellow",
    Status.IN_DOUBT: "yellow",
    Status.UNRECORDED: "red",
    Status.CANCELLED: "yellow",
}


def _line(out: Console, outcome: ResourceOutcome) -> str:
    status = out.style(
        outcome.message if outcome.status is Status.DONE else outcome.status.value,
        sys.stderr,
        fg=_STATUS_COLOURS[outcome.status],
    )
    text = f"{outcome.address}: {status}"
    if outcome.status is not Status.DONE:
        text += f": {outcome.message}"
    if outcome.file_id and outcome.action.value in ("create", "replace"):
        text += f", FileId {outcome.file_id}"
    if outcome.seconds:
        text += f" ({outcome.seconds:.2f} s)"
    return text


class ProgressReporter:
    """One line per resource; on a terminal, also a progress bar redrawn under them."""

    def __init__(self, out: Console, bar: bool) -> None:
        self.out = out
        self.bar = bar
        self.total = 0
        self.finished_uploads = 0
        self.lock = threading.Lock()

    def begin(self, uploads: int) -> None:
        self.total = uploads
        self._draw()

    def finished(self, outcome: ResourceOutcome) -> None:
        with self.lock:
            if outcome.action.value in ("create", "replace"):
                self.finished_uploads += 1
            prefix = "\r\x1b[K" if self.bar else ""
            self.out.message(prefix + _line(self.out, outcome))
            self._draw()

    def _draw(self) -> None:
        if not self.bar or not self.total:
            return
        width = 30
        filled = width * self.finished_uploads // self.total
        sys.stderr.write(
            f"[{'#' * filled}{'.' * (width - filled)}] {self.finished_uploads}/{self.total} uploads"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar and self.total:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


@click.command()
@common_options
@click.argument("plan_file", required=False, metavar="[PLANFILE]")
@click.option(
    "--auto-approve", is_flag=True, help="Apply without asking (needed in CI without a saved plan)."
)
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=10,
    show_default=True,
    help="Uploads in flight at once, where the provider allows it; its rate limit still holds.",
)
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="As for plan.")
@click.option("--replace", "replace", multiple=True, metavar="ADDR", help="As for plan.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON (docs/apply-result.md) on stdout; the rest goes to stderr.",
)
@click.option(
    "--json-out",
    "json_out",
    metavar="FILE",
    help="Also write the result as JSON to FILE, keeping the usual output (for CI).",
)
@lock_timeout_option
def apply(
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    targets: tuple[str, ...],
    replace: tuple[str, ...],
    as_json: bool,
    json_out: str | None,
    lock_timeout: float,
) -> int:
    """Upload what the plan says and record every FileId in the state.

    With PLANFILE (saved by `plan --out`) it applies exactly that plan, and refuses it if the
    state or an audio file changed since. Without it, it plans now, shows the plan and asks;
    in CI (CI set, or no terminal) it needs PLANFILE or --auto-approve.

    Exit codes: 0 complete, 1 failed (nothing done), 3 partial (the rest failed, was deferred
    by a quota, is in doubt, or an earlier upload in doubt waits for your decision: see the
    lines above the summary), 130 (SIGINT) or 143 (SIGTERM): cancelled. A first signal
    starts no new upload and waits up to 10 s for those in flight; a second stops waiting
    (they stay in doubt). With --json or --json-out, the result says the same as data,
    errors before any upload included (with a stable code, e.g. stale_plan).
    """
    out = console()
    # With --json, stdout is the result alone: the plan and the summary go to stderr.
    human, stream = (out.message, sys.stderr) if as_json else (out.data, sys.stdout)
    try:
        report = _apply(
            out,
            human,
            stream,
            plan_file,
            auto_approve,
            PlanOptions(targets, replace),
            parallelism,
            lock_timeout,
        )
    except click.exceptions.Abort:  # a prompt closed at a terminal: click says so
        raise
    except BaseException as exc:
        if as_json or json_out:
            _write_result(out, refused(exc), as_json, json_out)
        raise
    _write_result(out, report, as_json, json_out)
    return report.exit_code


def _write_result(out: Console, report: ApplyReport, as_json: bool, json_out: str | None) -> None:
    if json_out:
        write_document(Path(json_out), redact(report.to_json()), "the apply result")
    if as_json:
        out.data(report.to_json().rstrip("\n"))


def _apply(
    out: Console,
    human: Callable[[str], None],
    stream: TextIO,
    plan_file: str | None,
    auto_approve: bool,
    options: PlanOptions,
    parallelism: int,
    lock_timeout: float,
) -> ApplyReport:
    if plan_file and (options.targets or options.replace):
        raise IvrsyncError(
            "--target and --replace shape a new plan; a saved plan is applied as it is"
        )
    interactive = sys.stdin.isatty() and not os.environ.get("CI")

    def show(plan: Plan) -> None:
        human(render_text(plan, lambda text, **kw: out.style(text, stream, **kw)))

    with (
        handling_signals(announce_to(out)) as signals,
        ApplySession(Path.cwd(), lock_timeout=lock_timeout) as session,
    ):
        for warning in session.warnings:
            out.problem(warning)
        if session.acknowledged:
            out.message(acknowledged_line(session.acknowledged))
        if plan_file:
            plan = session.saved_plan(Path(plan_file))
        else:
            plan = session.new_plan(options)
            if plan.has_changes:
                show(plan)
                if not auto_approve:
                    if not interactive:
                        raise ApprovalRequiredError(
                            "not at a terminal (or CI is set): apply a saved plan "
                            "(`ivrsync plan --out FILE`, then `ivrsync apply FILE`) or pass "
                            "--auto-approve"
                        )
                    # A plan of moves, forgets or settings only uploads nothing.
                    uploads = any(c.uploads for c in plan.changes)
                    answer = click.prompt(
                        f"\n{'Upload these' if uploads else 'Apply these changes'}? Only "
                        "'yes' is accepted",
                        default="",
                        show_default=False,
                        err=stream is sys.stderr,
                    )
                    if answer.strip() != "yes":
                        report = declined(session.state)
                        assert report.error is not None
                        out.message(report.error.message)
                        return report
        if not plan.has_changes:
            if plan.pending:
                show(plan)
                out.message(_undecided(len(plan.pending)))
            else:
                human(summary_line(plan.summary))
            return applied(plan, None, session.state)
        reporter = ProgressReporter(out, bar=sys.stderr.isatty())
        try:
            with signals.armed_for_engine() as cancel:
                result = session.apply(
                    plan, ApplyOptions(parallelism=parallelism), reporter, cancel
                )
        finally:
            reporter.close()
    for recorded in result.settings:
        colour = _STATUS_COLOURS[recorded.status]
        status = recorded.message if recorded.status is Status.DONE else "failed"
        failed = f": {recorded.message}" if recorded.status is not Status.DONE else ""
        out.message(f"{recorded.provider}: {out.style(status, sys.stderr, fg=colour)}{failed}")
    human(out.style(result.summary_line(), stream, bold=True))
    report = applied(plan, result, result.state, cancelled_by=signals.exit_code)
    if signals.exit_code is not None:
        out.message(
            f"Cancelled: {report.summary.cancelled} upload(s) not sent, "
            f"{report.summary.in_doubt} in doubt (listed above). Run apply again to finish."
        )
        return report
    if report.summary.in_doubt:
        out.message(
            f"{report.summary.in_doubt} upload(s) are in doubt: sent, with no answer. The next "
            f"apply {_in_doubt_policy()}: "
            "`--replace ADDRESS` to upload again, or `ivrsync import ADDRESS FILE_ID` "
            "(docs/reliability.md)."
        )
    if plan.pending and not report.not_done():
        out.message(_undecided(len(plan.pending)))
    return report


def _undecided(count: int) -> str:
    return (
        f"{count} upload(s) in doubt wait for your decision (listed above): the state does not "
        "match the manifests until you choose `--replace ADDRESS` or `ivrsync import ADDRESS "
        "FILE_ID` (docs/reliability.md)."
    )


def _in_doubt_policy() -> str:
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
