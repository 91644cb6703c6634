"""`ivrsync apply` at a real (pseudo-)terminal: it shows the plan, asks, and draws progress."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from tests.repo_factory import huawei_repository


@pytest.fixture
def emulator() -> Iterator[HuaweiEmulator]:
    config = HuaweiEmulatorConfig(app_key="k", app_secret="s", review_delay=60)
    with HuaweiEmulator(config) as running:
        yield running


def run_at_terminal(repo: Path, answer: str) -> tuple[int, str]:
    """Run apply with stdin, stdout and stderr on a pty; type `answer` at the prompt."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "AICC_APP_KEY": "k", "AICC_APP_SECRET": "s", "NO_COLOR": "1"}
    env.pop("CI", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ivrsync", "-C", str(repo), "apply"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    seen = b""
    answered = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"Only 'yes' is accepted" in seen:
                os.write(controller, answer.encode() + b"\n")
                answered = True
        elif process.poll() is not None:
            break
    code = process.wait(timeout=10)
    os.close(controller)
    return code, seen.decode(errors="replace")


def test_at_a_terminal_apply_shows_the_plan_asks_and_uploads_on_yes(
    tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 3, endpoint=emulator.url)
    code, screen = run_at_terminal(repo, "yes")
    assert code == 0, screen
    assert screen.index("Plan: 3 to upload") < screen.index("Upload these?")
    assert "[##############################] 3/3 uploads" in screen
    assert "Apply complete: 3 uploaded, 0 replaced, 0 forgotten, 0 failed." in screen
    assert len(emulator.uploads) == 3


def test_at_a_terminal_anything_but_yes_cancels_without_uploading(
    tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 2, endpoint=emulator.url)
    code, screen = run_at_terminal(repo, "y")
    assert code == 1
    assert "Apply cancelled: nothing was uploaded." in screen
    assert emulator.uploads == []
    assert not (repo / "ivrsync.state.json").exists()


def test_the_progress_bar_counts_updates_and_deletes_as_the_engine_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The engine's `begin` counts every change that sends a request; the bar must count the
    same ones as they finish, or a plan with updates in place never reaches N/N."""
    from ivrsync.apply.engine import ResourceOutcome, Status
    from ivrsync.cli.apply import ProgressReporter
    from ivrsync.cli.output import Console
    from ivrsync.plan.model import Action
    from tests.repo_factory import big_plan

    plan = big_plan({"voice": 3})
    create, update, delete = plan.changes
    changes = [
        create,
        update.model_copy(update={"action": Action.UPDATE}),
        delete.model_copy(update={"action": Action.DELETE}),
    ]
    plan = plan.model_copy(update={"changes": changes})
    reporter = ProgressReporter(Console(no_color=True), bar=True)
    reporter.applying(plan)
    reporter.begin(sum(change.sends for change in plan.changes))  # as the engine counts
    for change in plan.changes:
        reporter.finished(ResourceOutcome(change.address, change.action, Status.DONE, "done"))
    reporter.close()

    drawn = capsys.readouterr().err
    assert drawn.rsplit("\x1b[K", 1)[0].endswith("[##############################] 3/3 uploads\r")
