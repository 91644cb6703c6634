"""`ivrsync state pull|push|list-versions|rollback|migrate`, and the unsaved state an apply
keeps when the state cannot be written: nothing an upload returned is lost, and `state push`
puts it back."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.emulator.common import Request
from ivrsync.emulator.huawei import UPLOAD_PATH, HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.state.model import State
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli, credentials_env, use_env
from tests.repo_factory import huawei_repository

KEY, SECRET = "statecli-app-key", "statecli-app-secret"
TC_ID, TC_KEY = "AKIDstatecli000000000000000000000001", "statecli-tencent-key"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, credentials_env(KEY, SECRET, TC_ID, TC_KEY))


@pytest.fixture
def huawei() -> Iterator[HuaweiEmulator]:
    config = HuaweiEmulatorConfig(app_key=KEY, app_secret=SECRET, review_delay=60)
    with HuaweiEmulator(config) as running:
        yield running


def stored(path: Path) -> State:
    state = LocalStateStore(path).read()
    assert state is not None
    return state


def file_ids(state: State) -> dict[str, str]:
    return {address: entry.file_id for address, entry in state.resources.items()}


@pytest.fixture
def applied(run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator) -> Path:
    """A repository with 2 prompts applied (state serial 2 or more)."""
    repo = huawei_repository(tmp_path / "prompts", 2, endpoint=huawei.url)
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    return repo


def another_lineage(path: Path, serial: int = 0) -> State:
    """A state of another lineage written at `path`, at `serial` (+ 1)."""
    other = State.new().model_copy(update={"serial": serial})
    store = LocalStateStore(path)
    path.unlink(missing_ok=True)
    assert store.read() is None
    return store.write(other)


def test_pull_prints_the_state_as_stored_or_writes_it_to_a_file(
    run_cli: RunCli, applied: Path
) -> None:
    code, out, err = run_cli("-C", str(applied), "state", "pull")
    assert code == 0, err
    assert out.encode() == (applied / "ivrsync.state.json").read_bytes()
    copy = applied.parent / "copy.json"
    assert run_cli("-C", str(applied), "state", "pull", str(copy))[0] == 0
    assert copy.read_bytes() == (applied / "ivrsync.state.json").read_bytes()


def test_push_refuses_another_lineage_or_an_older_serial_naming_both_unless_forced(
    run_cli: RunCli, applied: Path
) -> None:
    state_file = applied / "ivrsync.state.json"
    current = stored(state_file)
    older = applied.parent / "older.json"
    older.write_bytes(stored(Path(str(state_file) + ".backup")).to_json())
    before = state_file.read_bytes()

    code, _, err = run_cli("-C", str(applied), "state", "push", str(older))
    assert code == 1
    assert f"is at serial {current.serial}, newer than {older} (serial " in err
    assert "pass --force" in err
    other = applied.parent / "other.json"
    stranger = State.new()
    other.write_bytes(stranger.to_json())
    code, _, err = run_cli("-C", str(applied), "state", "push", str(other))
    assert code == 1
    assert f"(lineage {current.lineage}, serial {current.serial})" in err
    assert f"(lineage {stranger.lineage}, serial 0)" in err
    assert state_file.read_bytes() == before  # nothing written by a refused push
    assert "Traceback" not in err

    code, _, err = run_cli("-C", str(applied), "state", "push", "--force", str(other))
    assert code == 0, err
    assert "WARNING: --force:" in err
    # The FileIds the replaced state recorded are named: the state forgets them.
    for address, file_id in file_ids(current).items():
        assert f"{address} (FileId {file_id})" in err
    pushed = stored(state_file)
    assert (pushed.lineage, pushed.serial, pushed.resources) == (
        current.lineage,
        current.serial + 1,
        {},
    )


def test_push_of_the_same_state_writes_it_at_serial_plus_one_under_the_lock(
    run_cli: RunCli, applied: Path
) -> None:
    state_file = applied / "ivrsync.state.json"
    current = stored(state_file)
    copy = applied.parent / "copy.json"
    copy.write_bytes(state_file.read_bytes())
    store = LocalStateStore(state_file)
    lock = store.lock("test holds it", 0)
    try:
        code, _, err = run_cli("-C", str(applied), "state", "push", str(copy))
        assert code == 1
        assert f"force-unlock {lock.id}" in err
    finally:
        store.unlock(lock)
    code, _, err = run_cli("-C", str(applied), "state", "push", str(copy))
    assert code == 0, err
    assert "WARNING" not in err
    assert f"state serial {current.serial + 1}" in err
    assert file_ids(stored(state_file)) == file_ids(current)


def test_list_versions_and_rollback_to_the_backup_as_a_new_serial(
    run_cli: RunCli, applied: Path
) -> None:
    state_file = applied / "ivrsync.state.json"
    current = stored(state_file)
    backup = stored(Path(str(state_file) + ".backup"))
    code, out, err = run_cli("-C", str(applied), "state", "list-versions")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["id", "serial", "written", "(UTC)"]
    assert lines[1].split()[:2] == ["current", str(current.serial)]
    assert lines[1].split()[-1] == "current"
    assert lines[2].split()[:2] == ["backup", str(backup.serial)]
    code, out, _ = run_cli("-C", str(applied), "state", "list-versions", "--json")
    versions = json.loads(out)
    assert [(v["id"], v["serial"], v["current"]) for v in versions] == [
        ("current", current.serial, True),
        ("backup", backup.serial, False),
    ]
    assert all(v["lineage"] == current.lineage and v["written"] for v in versions)

    code, _, err = run_cli("-C", str(applied), "state", "rollback", "backup")
    assert code == 0, err
    rolled = stored(state_file)
    assert (rolled.lineage, rolled.serial) == (current.lineage, current.serial + 1)
    assert file_ids(rolled) == file_ids(backup)
    dropped = set(file_ids(current)) - set(file_ids(backup))
    assert dropped and all(address in err for address in dropped)
    # The version rolled back from is the backup now: nothing is lost.
    assert file_ids(stored(Path(str(state_file) + ".backup"))) == file_ids(current)

    code, _, err = run_cli("-C", str(applied), "state", "rollback", "yesterday")
    assert code == 1
    assert "keeps the versions 'current' and 'backup', not 'yesterday'" in err


def test_rollback_refuses_a_version_of_another_lineage(run_cli: RunCli, applied: Path) -> None:
    state_file = applied / "ivrsync.state.json"
    stranger = another_lineage(state_file)  # the backup is of the applied lineage now
    code, _, err = run_cli("-C", str(applied), "state", "rollback", "backup")
    assert code == 1
    assert "rollback only goes back within one state" in err
    assert stored(state_file) == stranger


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_migrate_copies_the_state_from_the_committed_manifests_backend_keeping_lineage(
    run_cli: RunCli, applied: Path
) -> None:
    _git(applied, "init", "-q")
    _git(applied, "add", "ivrsync.yaml")
    _git(applied, "commit", "-q", "-m", "prompts")
    old_file, new_file = applied / "ivrsync.state.json", applied / "state" / "prompts.json"
    source = stored(old_file)
    code, _, err = run_cli("-C", str(applied), "state", "migrate")
    assert code == 1
    assert "nothing to migrate" in err

    manifest = applied / "ivrsync.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "version: 1\n", "version: 1\nstate:\n  path: state/prompts.json\n"
        )
    )
    # The target holds another state: refused, naming both.
    new_file.parent.mkdir()
    stranger = another_lineage(new_file, serial=7)
    code, _, err = run_cli("-C", str(applied), "state", "migrate")
    assert code == 1
    assert f"(lineage {stranger.lineage}, serial 8)" in err
    assert f"(lineage {source.lineage}, serial {source.serial})" in err
    new_file.unlink()

    code, _, err = run_cli("-C", str(applied), "state", "migrate")
    assert code == 0, err
    assert f"Migrated the state from {old_file} to {new_file}" in err
    migrated = stored(new_file)
    assert (migrated.lineage, migrated.serial) == (source.lineage, source.serial + 1)
    assert file_ids(migrated) == file_ids(source)
    assert stored(old_file) == source  # left as it was
    # The old copy is older than the migrated state: pushing it by mistake is refused.
    code, _, err = run_cli("-C", str(applied), "state", "push", str(old_file))
    assert code == 1
    assert "newer than" in err
    # Plan reads the migrated state: nothing to do.
    code, out, _ = run_cli("-C", str(applied), "plan", "--detailed-exitcode")
    assert code == 0, out


def test_migrate_needs_the_revision_that_had_the_old_backend(
    run_cli: RunCli, applied: Path
) -> None:
    code, _, err = run_cli("-C", str(applied), "state", "migrate")
    assert code == 1
    assert "git has no ivrsync.yaml at revision 'HEAD'" in err
    assert "Traceback" not in err


def _replace_state_at_upload(huawei: HuaweiEmulator, number: int, replace: object) -> None:
    """Call `replace()` when upload request `number` (from 1) reaches the emulator: after the
    earlier uploads were recorded, before this one's answer is."""
    uploads = itertools.count(1)

    def hook(request: Request) -> None:
        if request.path == UPLOAD_PATH and next(uploads) == number:
            assert callable(replace)
            replace()

    huawei.on_request = hook


def test_apply_keeps_the_state_it_could_not_write_and_push_force_restores_every_upload(
    run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    """The state file is replaced by another lineage (a git checkout, another pipeline)
    between two uploads: apply stops sending, keeps what it holds, and names the push."""
    repo = huawei_repository(tmp_path / "prompts", 5, endpoint=huawei.url)
    state_file = repo / "ivrsync.state.json"
    _replace_state_at_upload(huawei, 2, lambda: another_lineage(state_file))
    code, out, err = run_cli(
        "-C", str(repo), "apply", "--auto-approve", "--parallelism", "1", "--json"
    )
    huawei.on_request = None
    assert code == 3, err
    assert len(huawei.uploads) == 2  # no upload sent after the state could not be written
    unsaved = repo / "ivrsync.state.unsaved.json"
    report = json.loads(out)
    assert report["unsaved_state"]["path"] == str(unsaved)
    assert report["unsaved_state"]["push_command"] == (
        "ivrsync state push --force ivrsync.state.unsaved.json"
    )
    assert "now holds a different state" in report["unsaved_state"]["error"]
    assert report["summary"]["unrecorded"] == 1
    assert "Error: the state could not be written" in err
    assert "`ivrsync state push --force ivrsync.state.unsaved.json`" in err
    kept = stored(unsaved)
    assert {u.file_id for u in huawei.uploads} == set(file_ids(kept).values())

    # Applying again before pushing would upload those again: refused.
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    assert "push it first" in err
    assert len(huawei.uploads) == 2

    code, _, err = run_cli(
        "-C", str(repo), "state", "push", "--force", "ivrsync.state.unsaved.json"
    )
    assert code == 0, err
    assert not unsaved.exists()
    assert file_ids(stored(state_file)) == file_ids(kept)
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 3 uploaded" in out
    assert len(huawei.uploads) == 5  # nothing uploaded twice
    assert set(file_ids(stored(state_file)).values()) == {u.file_id for u in huawei.uploads}


def test_apply_keeps_the_state_after_a_write_error_and_push_needs_no_force(
    run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    """The store fails to write (here: the backup's place is taken by a directory, as a
    network error would fail an upload of the state): the stored state is unchanged, so
    the unsaved one is pushed without --force once the store works again."""
    repo = huawei_repository(tmp_path / "prompts", 3, endpoint=huawei.url)
    state_file = repo / "ivrsync.state.json"
    blocker = Path(str(state_file) + ".backup")

    def break_the_store() -> None:
        blocker.unlink(missing_ok=True)
        (blocker / "in-the-way").mkdir(parents=True)

    _replace_state_at_upload(huawei, 2, break_the_store)
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--parallelism", "1")
    huawei.on_request = None
    assert code == 3, err
    assert "`ivrsync state push ivrsync.state.unsaved.json`" in err
    assert "cannot write the state file" in err
    (blocker / "in-the-way").rmdir()
    blocker.rmdir()
    code, _, err = run_cli("-C", str(repo), "state", "push", "ivrsync.state.unsaved.json")
    assert code == 0, err
    assert "WARNING" not in err
    assert set(file_ids(stored(state_file)).values()) == {u.file_id for u in huawei.uploads}
    assert run_cli("-C", str(repo), "apply", "--auto-approve")[0] == 0
    assert len(huawei.uploads) == 3


def test_an_apply_whose_only_upload_went_unrecorded_is_partial_not_failed() -> None:
    """Something was uploaded: "failed" (nothing done, exit 1) would tell CI the opposite."""
    from ivrsync.apply.engine import ApplyResult, ResourceOutcome, Status
    from ivrsync.plan.model import Action

    outcome = ResourceOutcome("aicc.p.en_US", Action.CREATE, Status.UNRECORDED, "kept", "123")
    assert ApplyResult([outcome], State.new()).status == "partial"


# -- with the remote state (moto's S3 server on loopback) --------------------------------------

from tests.test_state_backends import (  # noqa: E402 - fixtures of the remote state's tests
    BUCKET,
    fresh_process,  # noqa: F401 - autouse: no AWS settings of the machine
    key,  # noqa: F401
    moto,  # noqa: F401
    s3_state,
    with_state,
)


def test_migrate_from_the_local_file_to_s3_then_versions_and_rollback_there(
    run_cli: RunCli,
    applied: Path,
    moto: str,  # noqa: F811
    key: str,  # noqa: F811
) -> None:
    from ivrsync.state.s3 import S3StateStore

    _git(applied, "init", "-q")
    _git(applied, "add", "ivrsync.yaml")
    _git(applied, "commit", "-q", "-m", "prompts")
    source = stored(applied / "ivrsync.state.json")
    with_state(applied, s3_state(moto, key))
    code, _, err = run_cli("-C", str(applied), "state", "migrate")
    assert code == 0, err
    assert f"to s3://{BUCKET}/{key}: state serial {source.serial + 1}" in err
    remote = S3StateStore(BUCKET, key, endpoint=moto)
    migrated = remote.read()
    assert migrated is not None
    assert (migrated.lineage, file_ids(migrated)) == (source.lineage, file_ids(source))
    assert remote.current_lock() is None
    # The local copy left behind is older: pushing it to the remote state is refused.
    code, _, err = run_cli("-C", str(applied), "state", "push", "ivrsync.state.json")
    assert code == 1
    assert f"s3://{BUCKET}/{key} is at serial {source.serial + 1}, newer than" in err

    code, _, err = run_cli("-C", str(applied), "state", "rm", "aicc.p00001.en_US")
    assert code == 0, err
    code, out, _ = run_cli("-C", str(applied), "state", "list-versions", "--json")
    versions = json.loads(out)
    assert [(v["serial"], v["current"]) for v in versions] == [
        (source.serial + 2, True),
        (source.serial + 1, False),
    ]
    code, _, err = run_cli("-C", str(applied), "state", "rollback", versions[1]["id"])
    assert code == 0, err
    rolled = remote.read()
    assert rolled is not None
    assert (rolled.serial, file_ids(rolled)) == (source.serial + 3, file_ids(source))


def test_an_apply_whose_remote_state_moved_keeps_its_state_and_push_force_restores_it(
    run_cli: RunCli,
    tmp_path: Path,
    huawei: HuaweiEmulator,
    moto: str,  # noqa: F811
    key: str,  # noqa: F811
) -> None:
    """Another writer (its lock broken) wrote the remote state between two uploads: the
    If-Match write fails, and nothing this apply uploaded is lost."""
    from ivrsync.state.s3 import S3StateStore

    repo = with_state(
        huawei_repository(tmp_path / "prompts", 4, endpoint=huawei.url), s3_state(moto, key)
    )
    remote = S3StateStore(BUCKET, key, endpoint=moto)

    def another_writer() -> None:
        other = S3StateStore(BUCKET, key, endpoint=moto)
        state = other.read()
        assert state is not None
        other.write(state)

    _replace_state_at_upload(huawei, 2, another_writer)
    code, out, err = run_cli(
        "-C", str(repo), "apply", "--auto-approve", "--parallelism", "1", "--json"
    )
    huawei.on_request = None
    assert code == 3, err
    assert json.loads(out)["unsaved_state"]["push_command"] == (
        "ivrsync state push --force ivrsync.state.unsaved.json"
    )
    assert len(huawei.uploads) == 2
    assert remote.current_lock() is None
    code, _, err = run_cli(
        "-C", str(repo), "state", "push", "--force", "ivrsync.state.unsaved.json"
    )
    assert code == 0, err
    assert "no longer records" not in err  # the other writer's state held nothing more
    assert run_cli("-C", str(repo), "apply", "--auto-approve")[0] == 0
    assert len(huawei.uploads) == 4
    final = remote.read()
    assert final is not None
    assert set(file_ids(final).values()) == {u.file_id for u in huawei.uploads}
