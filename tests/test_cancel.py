"""Cancelling an apply with real signals, and re-running it at once: nothing lost, nothing
uploaded twice, no hang, no traceback, the lock released (issue 14, sections 2 and 4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from ivrsync.emulator.common import Request, Response
from ivrsync.emulator.huawei import UPLOAD_PATH, HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.model import State
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli, credentials_env, use_env
from tests.repo_factory import huawei_repository, tencent_repository
from tests.static_server import static_files

KEY, SECRET = "cancel-app-key", "cancel-app-secret"
TC_ID, TC_KEY = "AKIDcancel0000000000000000000000000001", "cancel-tencent-key"
ENV = credentials_env(KEY, SECRET, TC_ID, TC_KEY)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, ENV)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for something observable (a request count, a line of output), never a guess."""
    event = threading.Event()
    deadline = 0.0
    while not condition():
        event.wait(0.01)
        deadline += 0.01
        if deadline > timeout:
            raise AssertionError(f"timed out waiting for {what}")


class Apply:
    """`python -m ivrsync apply` in a subprocess, its stderr read line by line as it comes."""

    def __init__(self, repo: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivrsync", "-C", str(repo), "apply", "--auto-approve", *args],
            env={**os.environ, **ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.out: list[str] = []
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.lines), daemon=True
            ),
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = 20.0) -> tuple[int, str, str]:
        """Exit code, stdout, stderr; fails (rather than hangs) when the process hangs."""
        self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return self.process.returncode, "".join(self.out), "".join(self.lines)


def state_of(repo: Path) -> State:
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    return state


@pytest.fixture
def huawei() -> Iterator[HuaweiEmulator]:
    config = HuaweiEmulatorConfig(app_key=KEY, app_secret=SECRET, review_delay=600)
    with HuaweiEmulator(config) as running:
        yield running


def test_sigint_starts_nothing_new_records_the_answers_in_flight_and_exits_130(
    tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 40, endpoint=huawei.url)
    huawei.faults.latency = 1.0  # answers take a second: some are always in flight
    run = Apply(repo, "--json-out", str(tmp_path / "result.json"))
    wait_until(lambda: huawei.requests >= 3, "the first uploads")
    run.signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, err
    assert "Traceback" not in out + err
    assert "SIGINT: stopping" in err
    assert "Cancelled:" in err
    assert "Apply partial" in out
    # Every upload the emulator stored has its FileId in the state: nothing in doubt.
    state = state_of(repo)
    stored = {u.file_id for u in huawei.uploads}
    assert {r.file_id for r in state.resources.values()} == stored
    assert state.in_doubt == {}
    assert 3 <= len(stored) < 40  # what was queued was not sent
    assert err.count(": cancelled: not sent: the apply was cancelled") == 40 - len(stored)
    assert not (repo / "ivrsync.state.json.lock").exists()
    # The result says the same, for CI.
    result = json.loads((tmp_path / "result.json").read_text())
    assert (result["outcome"], result["exit_code"]) == ("cancelled", 130)
    assert result["summary"]["cancelled"] == 40 - len(stored)
    assert {r["file_id"] for r in result["resources"] if r["status"] == "done"} == stored


def test_a_second_sigint_stops_waiting_leaves_the_uploads_in_flight_in_doubt_and_exits_at_once(
    tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 20, endpoint=huawei.url)
    answers = threading.Event()  # no upload is answered until the test is over
    handle = huawei.handle

    def held(request: Request) -> Response | None:
        response = handle(request)
        if request.path == UPLOAD_PATH:
            answers.wait(60)
        return response

    huawei.handle = held  # type: ignore[method-assign]
    run = Apply(repo)
    wait_until(lambda: huawei.requests >= 2, "the first uploads")
    run.signal(signal.SIGINT)
    wait_until(lambda: run.said("SIGINT: stopping"), "the first signal's notice")
    run.signal(signal.SIGINT)
    wait_until(lambda: run.said("not waiting any more"), "the second signal's notice")
    run.signal(signal.SIGINT)  # a third changes nothing, and prints no traceback
    try:
        code, out, err = run.finish(timeout=15)
    finally:
        answers.set()
    assert code == 130, err
    assert "Traceback" not in out + err
    state = state_of(repo)
    sent = huawei.requests
    assert len(state.in_doubt) == sent
    assert all("cancelled before the answer came" in d.reason for d in state.in_doubt.values())
    assert state.resources == {}
    assert not (repo / "ivrsync.state.json.lock").exists()


class RefuseFirst:
    """Traffic control that refuses the first `count` requests, then none."""

    def __init__(self, count: int) -> None:
        self.left = count

    def take(self) -> bool:
        self.left -= 1
        return self.left < 0


def tencent_world(tmp_path: Path) -> tuple[TencentEmulatorConfig, Path]:
    config = TencentEmulatorConfig(secret_id=TC_ID, secret_key=TC_KEY, review_delay=600)
    root = tmp_path / "prompts"
    root.mkdir()
    return config, root


def test_sigterm_twice_on_tencent_exits_143_and_the_rerun_finds_the_upload_in_doubt(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config, root = tencent_world(tmp_path)
    with TencentEmulator(config) as tencent, static_files(root) as audio:
        repo = tencent_repository(root, 4, endpoint=tencent.url, audio_base_url=audio, batch_size=2)
        tencent.hold_storing()  # Tencent still fetching when the job is cancelled
        run = Apply(repo)
        wait_until(lambda: tencent.requests.get("UploadIvrAudio", 0) == 1, "the first upload")
        run.signal(signal.SIGTERM)
        wait_until(lambda: run.said("SIGTERM: stopping"), "the first signal's notice")
        run.signal(signal.SIGTERM)
        code, out, err = run.finish(timeout=15)
        assert code == 143, err
        assert "Traceback" not in out + err
        assert set(state_of(repo).in_doubt) == {"ccc.p00000.en_US", "ccc.p00001.en_US"}
        assert not (repo / "ivrsync.state.json.lock").exists()
        tencent.release_storing()
        wait_until(lambda: len(tencent.uploads) == 2, "Tencent to store the first batch")
        code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        assert "ccc.p00000.en_US: found (an earlier run lost the answer)" in err
        assert len(tencent.uploads) == 4  # no duplicate
        assert state_of(repo).in_doubt == {}


def test_a_rerun_right_after_a_kill_does_not_upload_what_tencent_is_still_storing(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config, root = tencent_world(tmp_path)
    with TencentEmulator(config) as tencent, static_files(root) as audio:
        repo = tencent_repository(root, 2, endpoint=tencent.url, audio_base_url=audio, batch_size=2)
        tencent.hold_storing()
        run = Apply(repo)
        wait_until(lambda: tencent.requests.get("UploadIvrAudio", 0) == 1, "the upload")
        run.process.kill()
        run.finish()
        doubt = state_of(repo).in_doubt["ccc.p00000.en_US"]
        assert doubt.settled_by is not None and doubt.settled_by > doubt.since

        # At once (taking over the killed run's lock): the look-up finds nothing, which
        # proves nothing yet. Nothing is sent.
        code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 3, err
        assert "may still be stored until" in err
        assert tencent.requests["UploadIvrAudio"] == 1
        assert set(state_of(repo).in_doubt) == {"ccc.p00000.en_US", "ccc.p00001.en_US"}

        tencent.release_storing()
        wait_until(lambda: len(tencent.uploads) == 2, "Tencent to store the batch")
        # A refused look-up (RequestLimitExceeded) is retried, not left in doubt.
        tencent._describe_limit = RefuseFirst(2)  # type: ignore[assignment]
        code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        assert tencent.rate_limited == 2
        assert len(tencent.uploads) == 2  # no duplicate
        assert tencent.requests["UploadIvrAudio"] == 1
        assert state_of(repo).in_doubt == {}
