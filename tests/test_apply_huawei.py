"""`ivrsync apply` end to end against the Huawei AICC emulator, over real loopback sockets."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.apply.engine import ApplyOptions, ResourceOutcome, Status
from ivrsync.apply.retry import RetryPolicy
from ivrsync.apply.workflow import ApplySession
from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.plan.planner import PlanOptions
from ivrsync.state.model import Review, State
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli
from tests.repo_factory import distinct_wav, huawei_repository

APP_KEY = "test-app-key"
APP_SECRET = "test-app-secret-3c9f"


@pytest.fixture
def emulator() -> Iterator[HuaweiEmulator]:
    config = HuaweiEmulatorConfig(
        app_key=APP_KEY, app_secret=APP_SECRET, review_delay=0.05, callback_interval=0.05
    )
    with HuaweiEmulator(config) as running:
        yield running


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICC_APP_KEY", APP_KEY)
    monkeypatch.setenv("AICC_APP_SECRET", APP_SECRET)
    monkeypatch.delenv("CI", raising=False)


def repository(tmp_path: Path, emulator: HuaweiEmulator, count: int, **kw: object) -> Path:
    return huawei_repository(tmp_path / "prompts", count, endpoint=emulator.url, **kw)  # type: ignore[arg-type]


def read_state(repo: Path) -> State:
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    return state


def test_apply_uploads_every_resource_and_records_its_file_id(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 5)
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert out.rstrip().endswith("Apply complete: 5 uploaded, 0 replaced, 0 forgotten, 0 failed.")
    state = read_state(repo)
    uploads = {u.file_id: u for u in emulator.uploads}
    assert len(uploads) == 5
    for address, entry in state.resources.items():
        upload = uploads[entry.file_id]  # the FileId the emulator issued, as a string
        assert len(entry.file_id) == 19
        assert upload.voice_file_name == entry.remote_name
        assert upload.sha256 == hashlib.sha256((repo / entry.audio_path).read_bytes()).hexdigest()
        assert (upload.locale, upload.voice_type, upload.file_type) == ("en_US", "0", "wav")
        assert entry.review.status == "pending"
        assert f"{address}: uploaded, FileId {entry.file_id}" in err
    assert state.uploads["aicc"]  # counted for the provider's day


def test_a_second_apply_right_after_uploads_nothing(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 3)
    assert run_cli("-C", str(repo), "apply", "--auto-approve")[0] == 0
    before = emulator.requests
    code, out, _ = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0
    assert out.strip() == "No changes. The state matches the manifests."
    assert emulator.requests == before
    assert len(emulator.uploads) == 3


def test_a_saved_plan_is_applied_exactly_then_refused_as_stale(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 2)
    saved = tmp_path / "plan.json"
    assert run_cli("-C", str(repo), "plan", "--out", str(saved))[0] == 0
    code, out, _ = run_cli("-C", str(repo), "apply", str(saved))
    assert code == 0
    assert "Apply complete: 2 uploaded" in out
    code, _, err = run_cli("-C", str(repo), "apply", str(saved))
    assert code == 1
    assert "is stale: the state changed since the plan was made (it was created" in err
    assert len(emulator.uploads) == 2


def test_a_saved_plan_is_refused_when_an_audio_file_changed(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 2)
    saved = tmp_path / "plan.json"
    assert run_cli("-C", str(repo), "plan", "--out", str(saved))[0] == 0
    (repo / "audio/p00001.wav").write_bytes(distinct_wav(999))
    code, _, err = run_cli("-C", str(repo), "apply", str(saved))
    assert code == 1
    assert "audio/p00001.wav changed since the plan was made" in err
    assert emulator.uploads == []


def test_in_ci_apply_needs_a_saved_plan_or_auto_approve(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repository(tmp_path, emulator, 2)
    monkeypatch.setenv("CI", "true")
    code, _, err = run_cli("-C", str(repo), "apply")
    assert code == 1
    assert "apply a saved plan" in err
    assert "--auto-approve" in err
    assert emulator.uploads == []


def test_missing_credentials_stop_apply_before_any_request(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repository(tmp_path, emulator, 2)
    monkeypatch.delenv("AICC_APP_SECRET")
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    assert "the environment variable AICC_APP_SECRET is not set" in err
    assert emulator.requests == 0


def test_wrong_credentials_fail_every_upload_after_one_token_request(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repository(tmp_path, emulator, 4)
    monkeypatch.setenv("AICC_APP_SECRET", "not-the-secret")
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--parallelism", "1")
    assert code == 1
    assert "Apply failed: 0 uploaded, 0 replaced, 0 forgotten, 4 failed." in out
    assert "refused the app key and secret" in err
    assert emulator.requests == 0  # no upload was attempted with a token it never got
    assert "not-the-secret" not in out + err


def test_a_replaced_resource_keeps_the_previous_approved_upload(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 1)
    assert run_cli("-C", str(repo), "apply", "--auto-approve")[0] == 0
    store = LocalStateStore(repo / "ivrsync.state.json")
    state = store.read()
    assert state is not None
    first = state.resources["aicc.p00000.en_US"]
    state.resources["aicc.p00000.en_US"] = first.model_copy(
        update={"review": Review(status="approved")}
    )
    store.write(state)  # as a review result would
    (repo / "audio/p00000.wav").write_bytes(distinct_wav(12345))
    code, out, _ = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0
    assert "Apply complete: 0 uploaded, 1 replaced" in out
    entry = read_state(repo).resources["aicc.p00000.en_US"]
    assert entry.file_id != first.file_id
    assert entry.review.status == "pending"
    assert entry.last_approved is not None
    assert entry.last_approved.file_id == first.file_id


def test_throttled_and_unavailable_requests_are_retried(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 3)
    emulator.faults.throttle_next = 2
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--parallelism", "1")
    assert code == 0, err
    assert "Apply complete: 3 uploaded" in out
    assert len(emulator.uploads) == 3
    assert emulator.throttled == 2


class _Quiet:
    def begin(self, uploads: int) -> None:
        pass

    def finished(self, outcome: ResourceOutcome) -> None:
        pass


@pytest.mark.parametrize(("refusals", "uploaded"), [(7, True), (10, False)])
def test_throttling_gets_ten_tries_of_its_own(
    tmp_path: Path, emulator: HuaweiEmulator, refusals: int, uploaded: bool
) -> None:
    """A burst of traffic-control refusals costs time, not the upload: five tries are for
    failing servers, and a provider that only asks to slow down gets ten."""
    repo = repository(tmp_path, emulator, 1)
    emulator.faults.throttle_next = refusals
    quick = ApplyOptions(parallelism=1, retry=RetryPolicy(base=0.01, cap=0.02), seed=1)
    with ApplySession(repo) as session:
        result = session.apply(session.new_plan(PlanOptions()), quick, _Quiet())
    [outcome] = result.outcomes
    assert emulator.throttled == min(refusals, 10)
    if uploaded:
        assert outcome.status is Status.DONE
        assert len(emulator.uploads) == 1
    else:
        assert outcome.status is Status.FAILED
        assert "gave up after 10 tries" in outcome.message
        assert emulator.uploads == []


def test_a_lost_response_is_in_doubt_and_never_sent_twice(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 2)
    emulator.faults.lost_response_rate = 1.0
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 3  # partial: they may well have landed
    assert "2 in-doubt" in out
    assert "no answer came back" in err
    assert len(emulator.uploads) == 2  # stored by the server, each exactly once


def test_a_file_the_provider_refuses_fails_alone_and_the_apply_is_partial(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """The manifest relaxes the size rule (`size_limit_of: file`); the platform does not."""
    config = HuaweiEmulatorConfig(app_key=APP_KEY, app_secret=APP_SECRET, review_delay=60)
    with HuaweiEmulator(config) as strict:
        repo = repository(tmp_path, strict, 3)
        manifest = repo / "ivrsync.yaml"
        manifest.write_text(
            manifest.read_text().replace(
                "    rate_limit: 10\n", "    rate_limit: 10\n    size_limit_of: file\n"
            )
        )
        big = repo / "audio/p00001.wav"
        big.write_bytes(distinct_wav(1, size=6_500_000))  # base64: 8.67 MB > 8 MB
        code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 3
        assert "Apply partial: 2 uploaded, 0 replaced, 0 forgotten, 1 failed." in out
        assert "aicc.p00001.en_US: failed: aicc.p00001.en_US: HTTP 500" in err
        assert len(strict.uploads) == 2
    assert set(read_state(repo).resources) == {"aicc.p00000.en_US", "aicc.p00002.en_US"}


def test_the_callback_url_and_app_key_header_reach_the_provider(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = HuaweiEmulatorConfig(
        app_key=APP_KEY, app_secret=APP_SECRET, require_app_key_header=True, review_delay=60
    )
    with HuaweiEmulator(config) as emulator:
        repo = repository(tmp_path, emulator, 1, callback_url="https://hooks.example.com/aicc")
        code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        [upload] = emulator.uploads
    assert upload.callback_url == "https://hooks.example.com/aicc"


def test_100_uploads_at_10_per_second_are_never_throttled(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 100)
    started = time.monotonic()
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--parallelism", "10")
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert "Apply complete: 100 uploaded" in out
    assert emulator.throttled == 0
    assert len(emulator.uploads) == 100
    assert elapsed >= 9.9  # 100 requests 0.1 s apart: the limit is never exceeded
    assert len(read_state(repo).resources) == 100


def test_apply_output_and_state_hold_no_secret(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = repository(tmp_path, emulator, 2)
    saved = tmp_path / "plan.json"
    outputs = [run_cli("-C", str(repo), "plan", "--out", str(saved))]
    outputs.append(run_cli("-C", str(repo), "-v", "-v", "apply", str(saved)))
    text = json.dumps(outputs) + saved.read_text() + (repo / "ivrsync.state.json").read_text()
    assert APP_SECRET not in text
