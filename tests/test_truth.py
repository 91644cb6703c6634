"""What ivrsync says is true: the audio it hashes is the audio on disk, an import adopts only
what can be the prompt's upload, addresses and patterns that name nothing say so, output
variables never collide, and errors name what is missing or unreachable."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli
from tests.repo_factory import (
    distinct_wav,
    huawei_repository,
    record_applied,
    tencent_repository,
    two_provider_repository,
)
from tests.static_server import static_files

TC_ID, TC_KEY = "AKIDtruth000000000000000000000000001", "truth-tencent-key"
RECORDED = "1182733043937561600"  # what record_applied gives the first prompt


@pytest.fixture(autouse=True)
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    for name in ("AICC_APP_KEY", "AICC_APP_SECRET", "TENCENTCLOUD_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TENCENTCLOUD_SECRET_KEY", raising=False)


@pytest.fixture
def huawei_repo(tmp_path: Path) -> Path:
    repo = huawei_repository(tmp_path / "prompts", 2, endpoint="http://127.0.0.1:9")
    record_applied(repo)
    return repo


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the audio cache ---------------------------------------------------------------------


def test_a_file_rewritten_in_place_with_its_mtime_put_back_is_read_again(
    run_cli: RunCli, huawei_repo: Path
) -> None:
    audio = huawei_repo / "audio/p00000.wav"
    assert run_cli("-C", str(huawei_repo), "plan", "--detailed-exitcode")[0] == 0  # cache warm
    before = audio.stat()
    new = distinct_wav(99)
    assert len(new) == before.st_size
    with audio.open("r+b") as file:  # same inode, same size
        file.write(new)
    os.utime(audio, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    after = audio.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert after.st_ctime_ns != before.st_ctime_ns  # what nobody can put back
    code, out, _ = run_cli("-C", str(huawei_repo), "plan", "--detailed-exitcode")
    assert code == 2
    assert "aicc.p00000.en_US will be uploaded again" in out
    assert "~ sha256:" in out


# -- import ------------------------------------------------------------------------------


def test_import_refuses_what_cannot_be_a_huawei_file_id(run_cli: RunCli, huawei_repo: Path) -> None:
    LocalStateStore(huawei_repo / "ivrsync.state.json")
    code, _, err = run_cli("-C", str(huawei_repo), "import", "aicc.p00000.en_US", "12345")
    assert code == 1
    assert "'12345' is not a Huawei AICC FileId: those are 19-digit numbers" in err


def test_import_over_a_recorded_file_id_needs_force_and_says_what_it_replaced(
    run_cli: RunCli, huawei_repo: Path
) -> None:
    store = LocalStateStore(huawei_repo / "ivrsync.state.json")
    other = "1323606152730207249"
    code, _, err = run_cli("-C", str(huawei_repo), "import", "aicc.p00000.en_US", other)
    assert code == 1
    assert f"records FileId {RECORDED} (review approved)" in err
    assert "--force" in err
    state = store.read()
    assert state is not None
    assert state.resources["aicc.p00000.en_US"].file_id == RECORDED
    code, _, err = run_cli("-C", str(huawei_repo), "import", "aicc.p00000.en_US", other, "--force")
    assert code == 0, err
    assert f"replacing FileId {RECORDED}" in err
    state = store.read()
    assert state is not None
    assert state.resources["aicc.p00000.en_US"].file_id == other


@pytest.fixture
def tencent(monkeypatch: pytest.MonkeyPatch) -> Iterator[TencentEmulator]:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", TC_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", TC_KEY)
    config = TencentEmulatorConfig(secret_id=TC_ID, secret_key=TC_KEY, review_delay=60)
    with TencentEmulator(config) as running:
        yield running


def test_import_refuses_a_tencent_file_of_other_audio(
    run_cli: RunCli, tmp_path: Path, tencent: TencentEmulator
) -> None:
    root = tmp_path / "prompts"
    root.mkdir()
    with static_files(root) as audio_url:
        repo = tencent_repository(root, 2, endpoint=tencent.url, audio_base_url=audio_url)
        assert run_cli("-C", str(repo), "apply", "--auto-approve")[0] == 0
    store = LocalStateStore(repo / "ivrsync.state.json")
    state = store.read()
    assert state is not None
    others = state.resources["ccc.p00001.en_US"].file_id
    assert run_cli("-C", str(repo), "state", "rm", "ccc.p00000.en_US")[0] == 0
    code, _, err = run_cli("-C", str(repo), "import", "ccc.p00000.en_US", others)
    assert code == 1
    assert f"FileId {others} cannot be ccc.p00000.en_US" in err
    assert "it is the upload of other audio" in err
    state = store.read()
    assert state is not None
    assert "ccc.p00000.en_US" not in state.resources


# -- addresses and patterns --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["state", "mv", "bogus", "nothing"],
        ["state", "mv", "aicc.p00000.en_US", "nothing"],
        ["import", "bogus", "1182733043937561608"],
    ],
)
def test_a_malformed_address_is_a_user_error(
    run_cli: RunCli, huawei_repo: Path, args: list[str]
) -> None:
    code, _, err = run_cli("-C", str(huawei_repo), *args)
    assert code == 1
    assert "is not a resource address; write provider.prompt.locale" in err
    assert "internal error" not in err
    assert not (huawei_repo / "ivrsync.state.json.lock").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["plan", "--target", "aicc.p0000.en_US"], "--target aicc.p0000.en_US"),
        (["plan", "--replace", "aicc.p00009.en_US"], "--replace aicc.p00009.en_US"),
        (["apply", "--auto-approve", "--target", "ccc.*"], "--target ccc.*"),
    ],
)
def test_a_target_or_replace_that_matches_nothing_says_so(
    run_cli: RunCli, huawei_repo: Path, args: list[str], named: str
) -> None:
    code, out, err = run_cli("-C", str(huawei_repo), *args)
    assert code == 1
    assert named in err
    assert "matches no resource in the manifests or the state" in err
    if "p000" in named:
        assert "did you mean aicc.p0000" in err
    assert out == ""


# -- output --format env -----------------------------------------------------------------


def test_validate_refuses_prompts_whose_env_variables_collide(
    run_cli: RunCli, tmp_path: Path
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 1, endpoint="http://127.0.0.1:9")
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(
        manifest.read_text()
        + "  main-menu:\n    audio:\n      en_US: audio/p00000.wav\n"
        + "    remote_name: MainMenuA\n"
        + "  main_menu:\n    audio:\n      en_US: audio/p00000.wav\n"
        + "    remote_name: MainMenuB\n"
    )
    code, _, err = run_cli("-C", str(repo), "validate")
    assert code == 1, err
    line = next(x for x in err.splitlines() if "IVRSYNC_AICC_MAIN_MENU_EN_US" in x)
    assert "aicc.main_menu.en_US and aicc.main-menu.en_US" in line
    assert line.startswith("ivrsync.yaml:")
    assert "(at ivrsync.yaml:" in line


# -- credentials and connections ---------------------------------------------------------


def test_every_missing_credential_is_named_in_one_run(run_cli: RunCli, tmp_path: Path) -> None:
    repo = two_provider_repository(
        tmp_path / "prompts",
        1,
        huawei_endpoint="http://127.0.0.1:9",
        tencent_endpoint="http://127.0.0.1:9",
        audio_base_url="http://127.0.0.1:9",
    )
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    error = err.strip().splitlines()[-1]
    assert error.startswith("Error: 4 environment variables are not set")
    for variable in (
        "AICC_APP_KEY",
        "AICC_APP_SECRET",
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
    ):
        assert variable in error


def test_connection_errors_name_the_endpoint(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AICC_APP_KEY", "AICC_APP_SECRET", "TENCENTCLOUD_SECRET_ID"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "x")
    port = closed_port()
    endpoint = f"http://127.0.0.1:{port}"
    repo = two_provider_repository(
        tmp_path / "prompts",
        1,
        huawei_endpoint=endpoint,
        tencent_endpoint=endpoint,
        audio_base_url="http://127.0.0.1:9",
    )
    code, _, err = run_cli("-C", str(repo), "refresh")  # nothing recorded: no request
    assert code == 0
    record_applied(repo)
    # Tencent: DescribeIvrAudioList, one request, no upload.
    code, _, err = run_cli("-C", str(repo), "refresh")
    assert code == 1
    assert f"cannot reach {endpoint}" in err
    # Huawei: the token request of an upload.
    (repo / "audio/h00000.wav").write_bytes(distinct_wav(7))
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--target", "aicc.*")
    assert f"(POST {endpoint}/apigovernance/api/oauth/tokenByAkSk)" in out + err


def test_unset_secrets_and_credentials_are_named_in_the_same_run(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IVRSYNC_REVIEW_TOKEN", raising=False)
    repo = two_provider_repository(
        tmp_path / "prompts",
        1,
        huawei_endpoint="http://127.0.0.1:9",
        tencent_endpoint="http://127.0.0.1:9",
        audio_base_url="http://127.0.0.1:9",
    )
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "    type: huawei-aicc\n",
            "    type: huawei-aicc\n"
            "    callback_url: https://hooks.example.com/cb/${IVRSYNC_REVIEW_TOKEN}\n",
        )
    )
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    assert "ivrsync.yaml:" in err and "IVRSYNC_REVIEW_TOKEN is not set" in err
    assert "4 environment variables are not set" in err, err
