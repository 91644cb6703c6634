"""`ivrsync apply [PLANFILE]`: upload what the plan says, the way a careful operator would."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from ivrsync.apply.engine import ResourceOutcome
from ivrsync.apply.report import ApplyReport, refused
from ivrsync.cli.options import common_options, console, lock_timeout_option
from ivrsync.cli.output import Console
from ivrsync.cli.signals import announce_to, handling_signals
from ivrsync.errors import Problem
from ivrsync.operations.apply import ApplyRequest, save_result
from ivrsync.operations.apply import apply as run_apply
from ivrsync.plan.model import Plan
from ivrsync.plan.planner import PlanOptions
from ivrsync.plan.render import acknowledged_line, render_text, summary_line
from ivrsync.views.apply import (
    approval_question,
    next_steps,
    outcome_line,
    settings_line,
    undecided,
)


class ProgressReporter:
    """One line per resource; on a terminal, also a progress bar redrawn under them."""

    def __init__(self, out: Console, bar: bool) -> None:
        self.out = out
        self.bar = bar
        self.total = 0
        self.finished_uploads = 0
        self.sending: set[str] = set()
        self.lock = threading.Lock()

    def applying(self, plan: Plan) -> None:
        """The bar counts what the engine counts in `begin`: the changes that send a request
        (uploads, updates in place, deletes), as the plan says (ResourceChange.sends)."""
        self.sending = {change.address for change in plan.changes if change.sends}

    def begin(self, uploads: int) -> None:
        self.total = uploads
        self._draw()

    def finished(self, outcome: ResourceOutcome) -> None:
        with self.lock:
            if outcome.address in self.sending:
                self.finished_uploads += 1
            prefix = "\r\x1b[K" if self.bar else ""
            self.out.message(prefix + outcome_line(outcome, _styled(self.out, sys.stderr)))
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


def _styled(out: Console, stream: TextIO) -> Callable[..., str]:
    def style(text: str, **styles: Any) -> str:
        return out.style(text, stream, **styles)

    return style


class _Terminal(ProgressReporter):
    """What apply tells and asks the user as it goes (operations/apply.py's ApplyListener)."""

    def __init__(self, out: Console, human: Callable[[str], None], stream: TextIO) -> None:
        super().__init__(out, bar=sys.stderr.isatty())
        self.human = human
        self.stream = stream

    def validated(self, warnings: list[Problem], acknowledged: int) -> None:
        for warning in warnings:
            self.out.problem(warning)
        if acknowledged:
            self.out.message(acknowledged_line(acknowledged))

    def planned(self, plan: Plan) -> None:
        self.human(render_text(plan, _styled(self.out, self.stream)))

    def approve(self, plan: Plan) -> bool:
        answer = click.prompt(
            approval_question(plan),
            default="",
            show_default=False,
            err=self.stream is sys.stderr,
        )
        return bool(answer.strip() == "yes")


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
    request = ApplyRequest(
        plan_file=Path(plan_file) if plan_file else None,
        options=PlanOptions(targets, replace),
        parallelism=parallelism,
        lock_timeout=lock_timeout,
        auto_approve=auto_approve,
        interactive=sys.stdin.isatty() and not os.environ.get("CI"),
    )
    try:
        report = _apply(out, human, stream, request)
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
        save_result(report, Path(json_out))
    if as_json:
        out.data(report.to_json().rstrip("\n"))


def _apply(
    out: Console, human: Callable[[str], None], stream: TextIO, request: ApplyRequest
) -> ApplyReport:
    terminal = _Terminal(out, human, stream)
    with handling_signals(announce_to(out)) as signals:
        try:
            outcome = run_apply(Path.cwd(), request, terminal, signals)
        finally:
            terminal.close()
    plan, report, result = outcome.plan, outcome.report, outcome.result
    if outcome.declined:
        assert report.error is not None
        out.message(report.error.message)
        return report
    if result is None:
        if plan.pending:
            terminal.planned(plan)
            out.message(undecided(len(plan.pending)))
        else:
            human(summary_line(plan.summary))
        return report
    for recorded in result.settings:
        out.message(settings_line(recorded, _styled(out, sys.stderr)))
    human(out.style(result.summary_line(), stream, bold=True))
    for line in next_steps(plan, report):
        out.message(line)
    return report
