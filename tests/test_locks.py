"""The state lock is released on every exit path of every command that takes it, and a lock
whose holder is provably gone is taken over (once, by one process) instead of blocking.

Every command holds the lock through `ivrsync.state.store.locked`; these tests check each
one against each way it can fail: a corrupt state, a provider error, missing credentials,
and a real SIGTERM or SIGINT sent to a real process while it holds the lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli
from tests.repo_factory import distinct_wav, record_applied, tencent_repository

TC_ID, TC_KEY = "AKIDlock0000000000000000000000000001", "lock-tencent-key"
FILE_ID = "1182733043937561600"  # what record_applied gave the first prompt
HELPER = Path(__file__).with_name("state_lock_helper.py")

# Every command that takes the lock, as a user runs it on the repository below.
LOCKING = {
    "apply": ["apply", "--auto-approve"],
    "refresh": ["refresh"],
    "import": ["import", "ccc.p00000.en_US", FILE_ID, "--force"],
    "plan": ["plan"],
    "plan --refresh": ["plan", "--refresh"],
    "state mv": ["state", "mv", "ccc.p00000.en_US", "ccc.moved.en_US"],
    "state rm": ["state", "rm", "ccc.p00001.en_US"],
}
# The commands that talk to the provider.
REMOTE = ["apply", "refresh", "import", "plan --refresh"]


@pytest.fixture
def tencent(monkeypatch: pytest.MonkeyPatch) -> Iterator[TencentEmulator]:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", TC_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", TC_KEY)
    monkeypatch.delenv("CI", raising=False)
    config = TencentEmulatorConfig(secret_id=TC_ID, secret_key=TC_KEY, review_delay=60)
    with TencentEmulator(config) as running:
        yield running


@pytest.fixture
def repo(tmp_path: Path, tencent: TencentEmulator) -> Path:
    """Two prompts recorded in the state, and a third one to upload."""
    root = tencent_repository(
        tmp_path / "prompts", 2, endpoint=tencent.url, audio_base_url="http://127.0.0.1:9"
    )
    record_applied(root)
    manifest = root / "ivrsync.yaml"
    (root / "audio/new.wav").write_bytes(distinct_wav(99))
    manifest.write_text(manifest.read_text() + "  new:\n    audio:\n      en_US: audio/new.wav\n")
    return root


def lock_file(repo: Path) -> Path:
    return repo / "ivrsync.state.json.lock"


@pytest.mark.parametrize("command", LOCKING)
def test_a_corrupt_state_is_reported_and_the_lock_released(
    run_cli: RunCli, repo: Path, command: str
) -> None:
    (repo / "ivrsync.state.json").write_text('{"format_version": 1, "serial": ')
    code, _, err = run_cli("-C", str(repo), *LOCKING[command])
    assert code == 1
    assert "is corrupt" in err
    assert not lock_file(repo).exists()
    # The next command finds no lock: the same error again, nothing about a lock.
    code, _, err = run_cli("-C", str(repo), *LOCKING[command])
    assert code == 1
    assert "locked" not in err


@pytest.mark.parametrize("command", REMOTE)
def test_a_provider_error_releases_the_lock(
    run_cli: RunCli, repo: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-key")  # AuthFailure from Tencent
    code, out, err = run_cli("-C", str(repo), *LOCKING[command])
    assert code == 1, out + err
    assert "AuthFailure" in out + err or "signature" in (out + err).lower()
    assert not lock_file(repo).exists()


@pytest.mark.parametrize("command", REMOTE)
def test_missing_credentials_release_the_lock(
    run_cli: RunCli, repo: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENCENTCLOUD_SECRET_KEY")
    code, out, err = run_cli("-C", str(repo), *LOCKING[command])
    assert code == 1, out + err
    assert "TENCENTCLOUD_SECRET_KEY is not set" in err
    assert not lock_file(repo).exists()


def _open_for_writing(fifo: Path, opened: list[IO[bytes]]) -> None:
    opened.append(fifo.open("wb"))  # returns once the command opens the state to read it


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", LOCKING)
def test_a_signal_while_the_lock_is_held_releases_it(
    repo: Path, command: str, signum: signal.Signals
) -> None:
    """The state file is a named pipe: the command takes the lock, then blocks reading the
    state until the test opens the other end, so the signal arrives while it holds the lock."""
    state = repo / "ivrsync.state.json"
    state.unlink()
    os.mkfifo(state)
    process = subprocess.Popen(
        [sys.executable, "-m", "ivrsync", "-C", str(repo), *LOCKING[command]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    opened: list[IO[bytes]] = []
    writer = threading.Thread(target=_open_for_writing, args=(state, opened), daemon=True)
    writer.start()
    writer.join(timeout=60)
    try:
        assert opened, "the command never read the state"
        assert lock_file(repo).exists()  # held: the lock comes before the read
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        for pipe in opened:
            pipe.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert not lock_file(repo).exists()


def test_a_lock_whose_holder_is_gone_is_taken_over_with_a_notice(
    run_cli: RunCli, repo: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, str(HELPER), "hold", str(repo / "ivrsync.state.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    lock_id = holder.stdout.readline().split()[1]
    holder.kill()  # SIGKILL: nothing runs, the lock stays behind
    holder.communicate()
    code, _, err = run_cli("-C", str(repo), "plan")
    assert code == 0, err
    notice = [line for line in err.splitlines() if "took over the lock" in line]
    assert len(notice) == 1
    assert f"pid {holder.pid}" in notice[0] and lock_id in notice[0]
    assert "no longer running on this host" in notice[0]
    assert not lock_file(repo).exists()


def test_a_lock_from_another_host_still_needs_force_unlock(run_cli: RunCli, repo: Path) -> None:
    store = LocalStateStore(repo / "ivrsync.state.json")
    lock = store.lock("apply", timeout=0)
    record = lock_file(repo).read_text().replace(f'"host": "{lock.host}"', '"host": "ci-runner-7"')
    lock_file(repo).write_text(record)
    code, _, err = run_cli("-C", str(repo), "plan")
    assert code == 1
    assert "ci-runner-7" in err
    assert f"ivrsync force-unlock {lock.id}" in err
    assert lock_file(repo).exists()


def test_two_processes_finding_the_same_dead_lock_take_it_over_once(tmp_path: Path) -> None:
    """Many takers at once: exactly one takes the dead lock over (one notice), and they hold
    the lock one at a time (each records it inside; none finds another's record)."""
    path = tmp_path / "ivrsync.state.json"
    dead = subprocess.Popen(
        [sys.executable, str(HELPER), "hold", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert dead.stdout is not None
    dead.stdout.readline()
    dead.kill()
    dead.communicate()
    takers = [
        subprocess.Popen(
            [sys.executable, str(HELPER), "take", str(path), "30"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [taker.communicate(timeout=60) for taker in takers]
    assert [taker.returncode for taker in takers] == [0] * len(takers), results
    notices = sum(err.count("took over the lock") for _, err in results)
    assert notices == 1
    assert all(out.strip() == "alone" for out, _ in results), results
    assert not path.with_name(path.name + ".lock").exists()
