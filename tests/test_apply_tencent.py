"""`ivrsync apply` end to end against the Tencent CCC emulator, through the official SDK."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.manifest.loader import load_project
from ivrsync.providers.tencent_ccc import TencentCccSettings, make_uploader
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli
from tests.repo_factory import tencent_repository
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_server
from tests.static_server import static_files

SECRET_ID = "AKIDtest0000000000000000000000000001"
SECRET = "tencent-test-secret-77"


@pytest.fixture
def emulator() -> Iterator[TencentEmulator]:
    config = TencentEmulatorConfig(secret_id=SECRET_ID, secret_key=SECRET, review_delay=0.05)
    with TencentEmulator(config) as running:
        yield running
        # No apply may ever break the 1 request/s limit, whatever the test was about.
        assert running.rate_limited == 0


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET)
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture
def audio_host(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Where Tencent fetches the audio: the repository's folder, over HTTP."""
    root = tmp_path / "prompts"
    root.mkdir()
    with static_files(root) as url:
        yield root, url


def repository(
    audio_host: tuple[Path, str], emulator: TencentEmulator, count: int, batch_size: int = 10
) -> Path:
    root, url = audio_host
    return tencent_repository(
        root, count, endpoint=emulator.url, audio_base_url=url, batch_size=batch_size
    )


def test_apply_uploads_in_batches_under_names_that_identify_the_content(
    run_cli: RunCli, audio_host: tuple[Path, str], emulator: TencentEmulator
) -> None:
    repo = repository(audio_host, emulator, 12, batch_size=5)
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 12 uploaded, 0 replaced, 0 forgotten, 0 failed." in out
    assert emulator.requests["UploadIvrAudio"] == 3  # 5 + 5 + 2
    assert emulator.rate_limited == 0
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    by_name = {u.custom_file_name: u for u in emulator.uploads}
    for address, entry in state.resources.items():
        prompt = address.split(".")[1]
        assert entry.remote_name == f"{prompt}.en_US.{entry.sha256[:8]}"
        assert by_name[entry.remote_name].file_id == int(entry.file_id)
        assert isinstance(entry.file_id, str)


def test_quota_stops_at_50_defers_the_rest_and_the_next_day_continues(
    run_cli: RunCli, audio_host: tuple[Path, str], emulator: TencentEmulator
) -> None:
    repo = repository(audio_host, emulator, 60, batch_size=20)
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 3, err
    assert "Apply partial: 50 uploaded, 0 replaced, 0 forgotten, 0 failed, 10 deferred." in out
    assert "today's upload quota is spent" in err
    assert len(emulator.uploads) == 50
    code, plan_out, _ = run_cli("-C", str(repo), "plan")
    assert "ccc: 10 uploads needed, 0 left today" in plan_out
    emulator.next_day()
    run_cli("-C", str(repo), "plan")  # the planner's day is real time: the state still says 50
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    # The state counted 50 for today (Beijing time): apply defers without asking the server.
    assert code == 3
    assert len(emulator.uploads) == 50
    state_path = repo / "ivrsync.state.json"
    store = LocalStateStore(state_path)
    state = store.read()
    assert state is not None
    state.uploads["ccc"] = {}  # as on the next real day: the day's count starts again
    store.write(state)
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 10 uploaded" in out
    names = [u.custom_file_name for u in emulator.uploads]
    assert len(names) == 60
    assert len(set(names)) == 60  # no duplicates
    assert emulator.rate_limited == 0


def test_a_quota_spent_by_others_stops_the_provider_cleanly(
    run_cli: RunCli, audio_host: tuple[Path, str], emulator: TencentEmulator
) -> None:
    repo = repository(audio_host, emulator, 8, batch_size=4)
    emulator.set_quota_used(46)  # someone uploaded in the console today
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 3, err
    assert "1 uploaded" not in out
    assert "8 deferred" in out or "4 uploaded" in out
    assert "FailedOperation.UploadFileOverflow" in err
    code, plan_out, _ = run_cli("-C", str(repo), "plan")
    assert "0 left today" in plan_out  # the state learned the day is spent


def test_a_wrong_secret_key_is_a_signature_failure_and_nothing_is_stored(
    run_cli: RunCli,
    audio_host: tuple[Path, str],
    emulator: TencentEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = repository(audio_host, emulator, 3)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-key")
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    assert "AuthFailure.SignatureFailure" in err
    assert "Apply failed" in out
    assert emulator.uploads == []
    assert "not-the-key" not in out + err


def test_a_file_tencent_cannot_fetch_fails_alone_with_its_message(
    run_cli: RunCli, tmp_path: Path, emulator: TencentEmulator
) -> None:
    served = tmp_path / "cdn"
    repo = tencent_repository(tmp_path / "prompts", 3, endpoint=emulator.url, audio_base_url="")
    shutil.copytree(repo / "audio", served / "audio")
    (served / "audio/p00001.wav").unlink()  # not published
    with static_files(served) as url:
        manifest = repo / "ivrsync.yaml"
        manifest.write_text(
            manifest.read_text().replace("template: /{path}", f"template: {url}/{{path}}")
        )
        code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 3, err
    assert "Apply partial: 2 uploaded, 0 replaced, 0 forgotten, 1 failed." in out
    assert "ccc.p00001.en_US: failed: ccc.p00001.en_US: Tencent refused it:" in err
    assert len(emulator.uploads) == 2


def test_a_lost_answer_is_looked_up_and_adopted_without_uploading_twice(
    run_cli: RunCli, audio_host: tuple[Path, str], emulator: TencentEmulator
) -> None:
    repo = repository(audio_host, emulator, 4, batch_size=4)
    emulator.faults.lost_response_rate = 1.0
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 4 uploaded" in out
    assert len(emulator.uploads) == 4
    assert emulator.requests["DescribeIvrAudioList"] >= 1
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    assert {int(e.file_id) for e in state.resources.values()} == {
        u.file_id for u in emulator.uploads
    }


def test_describe_pages_through_more_than_50_files(
    run_cli: RunCli, audio_host: tuple[Path, str], emulator: TencentEmulator
) -> None:
    repo = repository(audio_host, emulator, 55, batch_size=50)
    emulator.set_quota_used(0)
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--target", "ccc.p0000*")
    assert code == 0, err
    emulator.next_day()
    state_store = LocalStateStore(repo / "ivrsync.state.json")
    state = state_store.read()
    assert state is not None
    state.uploads["ccc"] = {}
    state_store.write(state)
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err  # the other 45, on the next day
    settings = load_project(repo).providers["ccc"]
    assert isinstance(settings, TencentCccSettings)
    uploader = make_uploader(
        "ccc", settings, {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET}
    )
    files = uploader.describe()
    assert len(files) == len(emulator.uploads) > 50
    assert len({f.file_id for f in files}) == len(files)
    one = files[7]
    assert uploader.describe(custom_file_names=[one.custom_file_name]) == [one]
    assert uploader.describe(file_ids=[one.file_id]) == [one]


def test_staging_in_s3_hands_tencent_a_presigned_url_it_fetches(
    run_cli: RunCli, tmp_path: Path, emulator: TencentEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    with s3_server("ivr-prompts") as endpoint:
        source = (
            f"      type: s3\n      endpoint: {endpoint}\n      bucket: ivr-prompts\n"
            "      prefix: staged/\n      url_expires: 600\n"
        )
        repo = tencent_repository(
            tmp_path / "prompts", 3, endpoint=emulator.url, audio_base_url="", audio_source=source
        )
        code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 3 uploaded" in out
    assert all("X-Amz-Signature=" in u.audio_url for u in emulator.uploads)
