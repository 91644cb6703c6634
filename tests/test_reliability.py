"""What happens when things go wrong: lost answers, killed runs, stale locks, token expiry,
two applies at once. Nothing an upload returned may be lost, and nothing uploaded twice
unless the user chose it."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.apply.cancel import Cancellation
from ivrsync.apply.ratelimit import RateLimiter
from ivrsync.emulator.common import Request
from ivrsync.emulator.huawei import UPLOAD_PATH, HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.model import InDoubt, State
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli, credentials_env, use_env
from tests.repo_factory import huawei_repository, tencent_repository
from tests.static_server import static_files

KEY, SECRET = "rel-app-key", "rel-app-secret"
TC_ID, TC_KEY = "AKIDrel00000000000000000000000000001", "rel-tencent-key"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, credentials_env(KEY, SECRET, TC_ID, TC_KEY))


@pytest.fixture
def huawei() -> Iterator[HuaweiEmulator]:
    config = HuaweiEmulatorConfig(app_key=KEY, app_secret=SECRET, review_delay=60)
    with HuaweiEmulator(config) as running:
        yield running


def state_of(repo: Path) -> State:
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    return state


def test_a_huawei_upload_in_doubt_is_recorded_held_back_and_resolved_by_the_users_choice(
    run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 2, endpoint=huawei.url)
    huawei.faults.lost_response_rate = 1.0
    code, _, _ = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 3
    assert set(state_of(repo).in_doubt) == {"aicc.p00000.en_US", "aicc.p00001.en_US"}
    huawei.faults.lost_response_rate = 0.0

    # The plan does not send them again on its own, shows them as waiting for a decision
    # (not "no changes"), and says how to choose, in each of its forms.
    code, out, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2
    assert "No changes. The state matches the manifests." not in out
    assert "  ? aicc.p00000.en_US" in out
    assert out.rstrip().endswith(
        "No changes to apply, but 2 upload(s) in doubt pending a decision (see above)."
    )
    assert "--replace aicc.p00000.en_US" in out
    assert "ivrsync import aicc.p00001.en_US FILE_ID" in out
    code, out, _ = run_cli("-C", str(repo), "plan", "--format", "markdown")
    assert "2 upload(s) in doubt need a decision" in out
    assert "ivrsync import aicc.p00001.en_US FILE_ID" in out
    code, out, _ = run_cli("-C", str(repo), "plan", "--json")
    plan = json.loads(out)
    assert plan["summary"]["pending"] == 2
    assert [p["address"] for p in plan["pending"]] == ["aicc.p00000.en_US", "aicc.p00001.en_US"]
    # apply does not call that done: exit 3, and it says what waits.
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 3
    assert "2 upload(s) in doubt wait for your decision" in err
    # output says which prompts have no FileId, on stderr; stdout stays JSON.
    code, out, err = run_cli("-C", str(repo), "output")
    assert (code, json.loads(out)) == (0, {})
    assert "aicc.p00000.en_US has no FileId here: its upload is in doubt" in err
    assert len(huawei.uploads) == 2

    # Choice 1: upload again (the user accepts a duplicate if the first one landed).
    code, out, _ = run_cli(
        "-C", str(repo), "apply", "--auto-approve", "--replace", "aicc.p00000.en_US"
    )
    assert code == 3  # done, but aicc.p00001.en_US still waits for a decision
    assert "Apply complete: 1 uploaded" in out
    assert len(huawei.uploads) == 3

    # Choice 2: record the FileId the console shows.
    landed = next(u for u in huawei.uploads if u.voice_file_name == "P00001EnUS")
    code, _, err = run_cli("-C", str(repo), "import", "aicc.p00001.en_US", landed.file_id)
    assert code == 0, err
    state = state_of(repo)
    assert state.in_doubt == {}
    assert state.resources["aicc.p00001.en_US"].file_id == landed.file_id
    code, out, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes. The state matches the manifests.")
    assert len(huawei.uploads) == 3  # the one duplicate the user chose


def test_a_tencent_upload_left_in_doubt_by_a_killed_run_is_found_not_sent_again(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = TencentEmulatorConfig(secret_id=TC_ID, secret_key=TC_KEY, review_delay=60)
    root = tmp_path / "prompts"
    root.mkdir()
    with TencentEmulator(config) as tencent, static_files(root) as audio_url:
        repo = tencent_repository(root, 3, endpoint=tencent.url, audio_base_url=audio_url)
        assert run_cli("-C", str(repo), "apply", "--auto-approve")[0] == 0
        # As a run killed after sending leaves it: the upload landed, the state only knows
        # it was sent.
        store = LocalStateStore(repo / "ivrsync.state.json")
        state = store.read()
        assert state is not None
        entry = state.resources.pop("ccc.p00001.en_US")
        state.in_doubt["ccc.p00001.en_US"] = InDoubt(
            audio_path=entry.audio_path,
            provider="ccc",
            provider_type="tencent-ccc",
            reason="sent, and no answer was recorded",
            remote_name=entry.remote_name,
            sha256=entry.sha256,
            since=entry.uploaded_at,
            size=entry.size,
        )
        store.write(state)
        code, out, _ = run_cli("-C", str(repo), "plan")
        assert "apply looks it up by name first" in out
        # No pause for Tencent's 1 request/s here: the apply spaces itself from the last
        # upload the state records.
        code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        assert "ccc.p00001.en_US: found (an earlier run lost the answer)" in err
        assert len(tencent.uploads) == 3
        assert state_of(repo).resources["ccc.p00001.en_US"].file_id == entry.file_id
        assert tencent.rate_limited == 0


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_notice(
    run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 1, endpoint=huawei.url)
    helper = Path(__file__).parent / "state_lock_helper.py"
    holder = subprocess.Popen(
        [sys.executable, str(helper), "hold", str(repo / "ivrsync.state.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    lock_id = holder.stdout.readline().split()[1]
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate()
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert f"pid {holder.pid}" in err
    assert lock_id in err
    assert "is no longer running on this host" in err
    assert not (repo / "ivrsync.state.json.lock").exists()


def test_a_token_expiring_in_the_middle_of_a_huawei_apply_fails_no_upload(
    run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 25, endpoint=huawei.url)
    huawei.faults.expire_tokens_every = 4  # counted in requests: 6 or more expiries
    uploads_sent = itertools.count()

    def count_uploads(request: Request) -> None:
        if request.path == UPLOAD_PATH:
            next(uploads_sent)

    huawei.on_request = count_uploads
    slots_taken = itertools.count()
    acquire = RateLimiter.acquire

    def counted(limiter: RateLimiter, cancel: Cancellation | None = None) -> bool:
        granted = acquire(limiter, cancel)
        if granted:
            next(slots_taken)
        return granted

    monkeypatch.setattr(RateLimiter, "acquire", counted)
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 25 uploaded, 0 replaced, 0 forgotten, 0 failed." in out
    assert len(huawei.uploads) == 25
    assert huawei.requests > 25  # the requests that met an expired token were sent again
    assert huawei.throttled == 0
    # A refused request's resend takes a rate-limit slot of its own (spaced 1/(rate x
    # headroom) after the one before), like every other upload request: counted, not timed.
    sent = next(uploads_sent)
    assert sent > 25
    assert next(slots_taken) == sent


def test_two_applies_at_once_one_runs_the_other_stops_naming_it(
    tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 15, endpoint=huawei.url)
    saved = tmp_path / "plan.json"
    env = {**os.environ}
    plan = subprocess.run(
        [sys.executable, "-m", "ivrsync", "-C", str(repo), "plan", "--out", str(saved)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plan.returncode == 0, plan.stderr
    apply = [sys.executable, "-m", "ivrsync", "-C", str(repo), "apply", "--auto-approve"]
    # The first apply's first upload is held at the emulator until the second has run: the
    # first certainly holds the lock then, however slowly either process starts.
    arrived, release = threading.Event(), threading.Event()

    def hold(request: Request) -> None:
        arrived.set()
        release.wait(60)

    huawei.on_request = hold
    first = subprocess.Popen(apply, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert arrived.wait(60)
        huawei.on_request = None
        second = subprocess.run(apply, env=env, capture_output=True, text=True, check=False)
    finally:
        release.set()
        first.communicate(timeout=60)
    assert first.returncode == 0
    assert second.returncode == 1
    assert "is locked by" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert len(huawei.uploads) == 15
    # The plan saved before the apply is refused now: the state moved on.
    late = subprocess.run(
        [sys.executable, "-m", "ivrsync", "-C", str(repo), "apply", str(saved)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert late.returncode == 1
    assert "is stale" in late.stderr
    assert len(huawei.uploads) == 15


def test_the_in_doubt_advice_follows_what_each_provider_can_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Apply's advice on uploads in doubt comes from the registry's capabilities (CAN_LIST),
    so a new provider type is named on the right side without touching the CLI."""
    from ivrsync.providers import PROVIDER_TYPES, tencent_ccc
    from ivrsync.views.apply import in_doubt_policy

    assert in_doubt_policy() == (
        "looks Amazon and Tencent ones up by name; Huawei ones are held back until you choose"
    )
    monkeypatch.setitem(PROVIDER_TYPES, "huawei-aicc", tencent_ccc)
    assert in_doubt_policy() == "looks Amazon and Tencent ones up by name"
