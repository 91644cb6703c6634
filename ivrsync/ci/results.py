"""Running ivrsync from CI and reading what it did, for every CI integration.

What a pipeline decides (changes or not, what was not done, a stale plan, what is left over)
comes from the documents ivrsync writes for machines, never from its terminal text, which is
for people and may be reworded: the saved plan (docs/plan-format.md) and the apply result
(`apply --json-out`, docs/apply-result.md), plus the exit code. The terminal text is copied to
the job's log as it comes, for people to read.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ivrsync.apply.report import ApplyReport, ResourceResult
from ivrsync.ci import CiError
from ivrsync.ci.markdown import fence
from ivrsync.errors import IvrsyncError
from ivrsync.plan.model import Pending, Plan, Summary
from ivrsync.plan.workflow import load_plan


def ivrsync_command(*args: str) -> list[str]:
    """ivrsync as this interpreter runs it: the one the pipeline installed with the glue."""
    return [sys.executable, "-m", "ivrsync", "--no-color", *args]


def run_streamed(command: list[str], cwd: str) -> tuple[int, str]:
    """Run `command`, copying its stdout and stderr (merged) to the log as they come;
    returns the exit code and everything it printed (to show people, not to parse)."""
    print(f"$ ivrsync {' '.join(command[4:])}", flush=True)
    with subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None
        captured: list[str] = []
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            captured.append(line)
        code = process.wait()
    return code, "".join(captured)


def _read_plan(path: Path) -> Plan:
    try:
        return load_plan(path)
    except IvrsyncError as exc:
        raise CiError(f"ivrsync plan succeeded, but its plan file cannot be read: {exc}") from None


@dataclass(frozen=True)
class PlanRun:
    exit_code: int
    log: str
    plan: Plan | None  # the saved plan; None when ivrsync plan failed

    @property
    def has_changes(self) -> bool:
        """Changes to apply, or uploads in doubt to decide: the state does not match."""
        return self.plan is not None and not self.plan.settled


def run_plan(cwd: str, plan_file: str) -> PlanRun:
    """`ivrsync plan --out PLAN_FILE --detailed-exitcode` in `cwd`, streamed to the log; the
    plan is read back from the file it saved."""
    code, log = run_streamed(
        ivrsync_command("plan", "--out", plan_file, "--detailed-exitcode"), cwd
    )
    return PlanRun(code, log, _read_plan(Path(cwd) / plan_file) if code in (0, 2) else None)


def left_over(cwd: str) -> Summary | None:
    """What a plan of the checkout wants now (its summary), or None when the state matches
    the manifests or no plan could be made. Quiet: it reads, without the state lock."""
    with tempfile.TemporaryDirectory(prefix="ivrsync-left-over-") as temp:
        path = Path(temp) / "plan.json"
        made = subprocess.run(
            ivrsync_command("plan", "--no-lock", "--out", str(path)),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            return None
        plan = _read_plan(path)
    return None if plan.settled else plan.summary


@dataclass(frozen=True)
class ApplyRun:
    exit_code: int
    log: str
    # None when ivrsync stopped before it could write one (a usage error, a crash).
    result: ApplyReport | None

    def not_done(self) -> list[ResourceResult]:
        return self.result.not_done() if self.result else []

    def pending(self) -> list[Pending]:
        """Uploads in doubt from earlier applies that wait for a decision."""
        return self.result.pending if self.result else []

    @property
    def error_code(self) -> str | None:
        """Why apply stopped before any upload (`stale_plan`, ...), or None."""
        error = self.result.error if self.result else None
        return error.code if error else None


def unsaved_state_message(run: ApplyRun, kept_as: str) -> str | None:
    """What to do with the state the apply could not write (its result's `unsaved_state`),
    or None when it wrote it: the uploads it confirmed must reach the stored state."""
    unsaved = run.result.unsaved_state if run.result else None
    if unsaved is None:
        return None
    if unsaved.path is None:
        return (
            f"the state could not be written ({unsaved.error}), nor kept in a file: the "
            "FileIds of this run's uploads are only in its log; record them with `ivrsync "
            "import` before the next apply"
        )
    return (
        f"the state could not be written ({unsaved.error}); every upload this run confirmed "
        f"is in {Path(unsaved.path).name}, kept as {kept_as}. Before the next apply, put it "
        f"in the prompt repository and run `{unsaved.push_command}`"
    )


def not_done_lines(run: ApplyRun, limit: int = 10) -> str:
    """What apply did not do, from its result: one line each, at most `limit`."""
    lines = [f"{r.address}: {r.status}: {r.reason}" for r in run.not_done()]
    lines += [f"{p.address}: in doubt, waiting for a decision: {p.message}" for p in run.pending()]
    listed = "\n".join(lines[:limit])
    if len(lines) > limit:
        listed += f"\n... and {len(lines) - limit} more in the log"
    return listed


def run_apply(cwd: str, plan_file: str | None, result_file: Path) -> ApplyRun:
    """`ivrsync apply PLAN_FILE` (or `--auto-approve` without one) in `cwd`, streamed to the
    log, its result written to `result_file` (outside the checkout) and read back."""
    with contextlib.suppress(FileNotFoundError):
        result_file.unlink()  # a result left from before must not pass for this one
    args = ["apply", plan_file] if plan_file else ["apply", "--auto-approve"]
    code, log = run_streamed(ivrsync_command(*args, "--json-out", str(result_file.resolve())), cwd)
    try:
        text = result_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ApplyRun(code, log, None)
    except OSError as exc:
        raise CiError(f"cannot read the apply result {result_file}: {exc.strerror}") from None
    try:
        result = ApplyReport.model_validate_json(text)
    except ValidationError as exc:
        raise CiError(f"{result_file} is not an ivrsync apply result: {exc}") from None
    return ApplyRun(code, log, result)


@dataclass(frozen=True)
class StateWhere:
    """Where the manifest in a working directory keeps the state, as a pipeline needs it:
    a local file is taken from and committed to a branch; a remote backend holds its own
    state, history and lock, and nothing of it is in the repository."""

    backend: str  # "local", or a remote backend ("s3")
    location: str  # the file, or the remote state's URL (s3://bucket/key)
    file: Path | None  # the local state file; None with a remote backend
    unsaved: Path  # where apply leaves a state it could not write (ivrsync.state.unsaved.json)

    @property
    def remote(self) -> bool:
        return self.file is None

    def kept(self) -> list[Path]:
        """What a run keeps as its state artifact: the state file (none with a remote
        backend) and the state apply could not write, those that exist."""
        return [path for path in (self.file, self.unsaved) if path is not None and path.is_file()]


def state_where(workdir: str) -> StateWhere:
    """Where ivrsync keeps the state of the prompt repository in `workdir`, from its
    `state:` settings read by ivrsync's own reader (a wrong `state:` is a ManifestError)."""
    from ivrsync.manifest.loader import read_state_settings
    from ivrsync.state.backends import local_state_path, open_store
    from ivrsync.state.operations import UNSAVED_STATE_FILE

    root = Path(os.path.abspath(workdir))  # noqa: PTH100 - as the loader does
    settings = read_state_settings(root)
    path = local_state_path(root, settings)
    location = str(path) if path is not None else open_store(root, settings).location
    return StateWhere(settings.backend, location, path, root / UNSAVED_STATE_FILE)


def state_version(workdir: str) -> tuple[str, int] | None:
    """Lineage and serial of the state as ivrsync reads it, from whichever backend (without
    the lock); None when there is none yet or it cannot be read. Compared before and after
    an apply: whether the state changed."""
    from ivrsync.operations.state import read_state

    try:
        state = read_state(Path(workdir))
    except IvrsyncError:
        return None
    return (state.lineage, state.serial) if state is not None else None


def plan_markdown(run: PlanRun, cwd: str, plan_file: str) -> str:
    """The body of a plan comment or note: the saved plan as `ivrsync show` renders it in
    Markdown (already cut to fit a comment), or, when planning failed, what it printed."""
    if run.plan is None:
        return f"**ivrsync plan failed** (exit {run.exit_code}):\n\n" + fence(run.log)
    shown = subprocess.run(
        ivrsync_command("show", plan_file, "--format", "markdown"),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        raise CiError(f"ivrsync show failed (exit {shown.returncode}): {shown.stderr.strip()}")
    return shown.stdout.rstrip("\n") + "\n"


# The review page's file name, in the artifacts of both CI integrations.
PAGE_FILE = "ivrsync-review.html"


def write_review_page(cwd: str, plan_file: str, page: Path) -> str | None:
    """`ivrsync show PLAN --format html` into `page` (docs/review-page.md): None when written,
    else why not. A missing page is a warning: the plan and its comment stand without it."""
    page.parent.mkdir(parents=True, exist_ok=True)
    with page.open("wb") as out:
        shown = subprocess.run(
            ivrsync_command("show", plan_file, "--format", "html"),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    if shown.returncode != 0:
        page.unlink(missing_ok=True)
        why = shown.stderr.decode("utf-8", "replace").strip()
        return f"ivrsync show --format html failed (exit {shown.returncode}): {why}"
    return None
