"""`state: {backend: ...}` in the manifest, the one factory (state/backends.py), and the
commands on a remote state: plan without the lock, a stale saved plan refused, force-unlock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.emulator.s3 import (
    DEMO_ACCESS_KEY_ID,
    DEMO_SECRET_ACCESS_KEY,
    S3Emulator,
    S3EmulatorConfig,
)
from ivrsync.errors import ManifestError
from ivrsync.manifest.loader import read_state_settings
from ivrsync.manifest.schema import LocalStateSettings, S3StateSettings
from ivrsync.state import s3 as s3_module
from ivrsync.state.backends import open_store
from ivrsync.state.model import State
from ivrsync.state.s3 import S3StateStore
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli
from tests.repo_factory import huawei_repository
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_server
from tests.test_state_s3 import with_upload

BUCKET = "ivr-prompts-state"
KEY = "contact-center/ivrsync.state.json"


def with_state(repo: Path, settings: str) -> Path:
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1\n", f"version: 1\n{settings}", 1))
    return repo


def s3_state(endpoint: str, key: str = KEY) -> str:
    return f"state:\n  backend: s3\n  bucket: {BUCKET}\n  key: {key}\n  endpoint: {endpoint}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return huawei_repository(tmp_path / "repo", 2, endpoint="http://127.0.0.1:9")


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS settings of the machine running the tests; the probe not yet run."""
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(s3_module, "_probed", {})


# -- the settings ----------------------------------------------------------------------------


def test_without_state_settings_the_state_is_the_local_file(repo: Path) -> None:
    settings = read_state_settings(repo)
    assert settings == LocalStateSettings()
    store = open_store(repo, settings)
    assert isinstance(store, LocalStateStore)
    assert store.location == str(repo / "ivrsync.state.json")


def test_s3_settings_open_the_remote_store(repo: Path) -> None:
    with_state(repo, s3_state("https://cos.ap-guangzhou.myqcloud.com") + "  history: 5\n")
    settings = read_state_settings(repo)
    assert isinstance(settings, S3StateSettings)
    store = open_store(repo, settings)
    assert isinstance(store, S3StateStore)
    assert store.location == f"s3://{BUCKET}/{KEY}"
    assert (store.endpoint, store.history) == ("https://cos.ap-guangzhou.myqcloud.com", 5)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            "state:\n  backend: gcs\n",
            "ivrsync.yaml:3:12: error: state: unknown backend 'gcs'; allowed: 'local', 's3'",
        ),
        (
            f"state:\n  backend: s3\n  bucket: {BUCKET}\n",
            "ivrsync.yaml:2:1: error: missing required key 'key' in state",
        ),
        (
            f"state:\n  backend: s3\n  bucket: Ivr_Prompts\n  key: {KEY}\n",
            "ivrsync.yaml:4:3: error: state.bucket: 'Ivr_Prompts' is not a valid bucket name",
        ),
        (
            f"state:\n  backend: s3\n  bucket: {BUCKET}\n  key: /{KEY}\n",
            "ivrsync.yaml:5:8: error: state.key: '/contact-center/ivrsync.state.json' starts or "
            "ends with '/'",
        ),
        (
            f"state:\n  backend: s3\n  bucket: {BUCKET}\n  key: {KEY}\n  history: -1\n",
            "ivrsync.yaml:6:12: error: state.history: must be at least 0 (got -1)",
        ),
        (
            "state:\n  path: x.json\n  bucket: b\n",
            "ivrsync.yaml:4:3: error: unknown key 'bucket' in state",
        ),
    ],
)
def test_wrong_state_settings_are_errors_at_their_line(
    run_cli: RunCli, repo: Path, settings: str, expected: str
) -> None:
    with_state(repo, settings)
    code, _, err = run_cli("-C", str(repo), "validate")
    assert code == 1
    assert expected in err
    # The state commands read `state:` alone, and stop on the same error, without a traceback.
    code, _, err = run_cli("-C", str(repo), "force-unlock", "some-id")
    assert code == 1 and expected in err and "Traceback" not in err


def test_the_state_settings_are_read_while_the_prompts_are_broken(repo: Path) -> None:
    with_state(repo, s3_state("http://127.0.0.1:9"))
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text() + "  broken:\n    audio: {}\n    colour: red\n")
    with pytest.raises(ManifestError):
        from ivrsync.manifest.loader import load_project

        load_project(repo)
    assert isinstance(read_state_settings(repo), S3StateSettings)


def test_fmt_puts_the_state_keys_in_their_order(run_cli: RunCli, repo: Path) -> None:
    with_state(
        repo,
        f"state:\n  history: 3\n  key: {KEY}\n  bucket: {BUCKET}\n  backend: s3\n",
    )
    code, _, err = run_cli("-C", str(repo), "fmt")
    assert code == 0, err
    text = (repo / "ivrsync.yaml").read_text()
    assert f"state:\n  backend: s3\n  bucket: {BUCKET}\n  key: {KEY}\n  history: 3\n" in text


# -- the commands on a remote state ----------------------------------------------------------


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Emulator]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_ACCESS_KEY)
    server = S3Emulator(S3EmulatorConfig(buckets=[BUCKET])).start()
    try:
        yield server
    finally:
        server.stop()


def test_plan_reads_a_remote_state_with_one_get_and_no_lock(
    run_cli: RunCli, repo: Path, emulator: S3Emulator
) -> None:
    """No probe, no lock, no write: read access is all a pull request's plan needs."""
    state = with_upload(State.new(), 1).model_copy(update={"serial": 7})
    emulator.put(BUCKET, KEY, state.to_json(), "application/json")
    with_state(repo, s3_state(emulator.url))
    code, _, err = run_cli("-C", str(repo), "plan", "--out", "planned.json")
    assert code == 0, err
    assert emulator.requests == 1  # the GET of the state
    assert list(emulator.objects(BUCKET)) == [KEY]
    saved = (repo / "planned.json").read_text()
    assert '"serial": 7' in saved and state.lineage in saved


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's server; its objects are the process's (shared by every server it starts), so
    each test has a key of its own."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    with s3_server(BUCKET) as url:
        yield url


@pytest.fixture
def key() -> str:
    return f"{uuid.uuid4()}/ivrsync.state.json"


def test_a_plan_saved_before_the_remote_state_moved_is_refused_as_stale(
    run_cli: RunCli, repo: Path, moto: str, key: str
) -> None:
    with_state(repo, s3_state(moto, key))
    remote = S3StateStore(BUCKET, key, endpoint=moto)
    remote.write(with_upload(State.new(), 1))
    code, _, err = run_cli("-C", str(repo), "plan", "--out", "planned.json")
    assert code == 0, err
    state = remote.read()
    assert state is not None
    remote.write(with_upload(state, 2))  # another pipeline applied meanwhile
    code, _, err = run_cli("-C", str(repo), "apply", "planned.json")
    assert code == 1
    assert "is stale: the state changed since the plan was made (serial 1 -> 2)" in err
    assert remote.current_lock() is None  # the lock taken by apply is released


def test_force_unlock_removes_a_remote_lock_left_by_a_dead_job(
    run_cli: RunCli, repo: Path, moto: str, key: str
) -> None:
    with_state(repo, s3_state(moto, key))
    left = S3StateStore(BUCKET, key, endpoint=moto).lock("apply", timeout=0)
    code, _, err = run_cli("-C", str(repo), "plan", "--lock")
    assert code == 1
    assert f"the state s3://{BUCKET}/{key} is locked by" in err
    assert f"ivrsync force-unlock {left.id}" in err
    code, _, err = run_cli("-C", str(repo), "force-unlock", left.id)
    assert code == 0, err
    assert f"Lock {left.id} (held by {left.who}, apply, since {left.since}) removed." in err
    assert S3StateStore(BUCKET, key, endpoint=moto).current_lock() is None


def test_apply_with_a_remote_state_records_every_upload_there(
    run_cli: RunCli, tmp_path: Path, moto: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each confirmed upload is written at once (a serial each), the history keeps them, the
    lock is released, and nothing is written next to the manifests."""
    from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig

    monkeypatch.setenv("AICC_APP_KEY", "test-app-key")
    monkeypatch.setenv("AICC_APP_SECRET", "test-app-secret-3c9f")
    config = HuaweiEmulatorConfig(app_key="test-app-key", app_secret="test-app-secret-3c9f")
    with HuaweiEmulator(config) as huawei:
        repo = huawei_repository(tmp_path / "prompts", 3, endpoint=huawei.url)
        with_state(repo, s3_state(moto, key))
        code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        uploaded = {upload.file_id for upload in huawei.uploads}
    assert "Apply complete: 3 uploaded" in out
    remote = S3StateStore(BUCKET, key, endpoint=moto)
    state = remote.read()
    assert state is not None
    assert {entry.file_id for entry in state.resources.values()} == uploaded
    assert [version.serial for version in remote.versions()] == list(range(state.serial, 0, -1))
    assert state.serial >= 3  # one write per confirmed upload, at least
    assert remote.current_lock() is None
    assert not (repo / "ivrsync.state.json").exists()


@pytest.mark.skipif(
    "honour_conditions" not in S3EmulatorConfig.__dataclass_fields__,
    reason="the bundled S3 emulator learns conditional writes in part s3emu",
)
def test_apply_refuses_a_store_that_ignores_conditional_writes(
    run_cli: RunCli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled emulator playing a store that writes whatever the conditions say: the
    probe finds it out before the lock or the state is written."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_ACCESS_KEY)
    config = S3EmulatorConfig(buckets=[BUCKET], honour_conditions=False)  # type: ignore[call-arg,unused-ignore]
    server = S3Emulator(config).start()
    try:
        with_state(repo, s3_state(server.url))
        code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        objects = server.objects(BUCKET)
    finally:
        server.stop()
    assert code == 1
    assert (
        "this store ignores If-None-Match: conditional writes are needed for the state lock" in err
    )
    assert "Traceback" not in err
    assert objects == {}  # no lock, no state; the probe object deleted
