"""`write_atomically`, the one way ivrsync replaces a file, and the writers that use it."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ivrsync import files
from ivrsync.audio_cache import AudioCache
from ivrsync.ci.git import take_state_from_branch
from ivrsync.files import write_atomically
from ivrsync.plan.workflow import write_document

DATA = Path(__file__).parent / "data"
OLD = b"the old content, longer than the new one\n" * 100


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "file.json"
    path.write_bytes(OLD)
    return path


def test_the_content_is_replaced_whole_and_a_reader_keeps_the_old_one(target: Path) -> None:
    with target.open("rb") as reader:
        write_atomically(target, "new: é\n")
        assert reader.read() == OLD  # a reader that had it open never sees a mix
    assert target.read_bytes() == "new: é\n".encode()
    write_atomically(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert leftovers(target.parent) == []


@pytest.mark.parametrize("interruption", [OSError(errno.ENOSPC, "full"), KeyboardInterrupt()])
def test_a_failure_mid_write_leaves_the_old_file_and_no_temp_file(
    target: Path, monkeypatch: pytest.MonkeyPatch, interruption: BaseException
) -> None:
    def fail(_: int) -> None:
        raise interruption

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(type(interruption)):
        write_atomically(target, b"new")
    assert target.read_bytes() == OLD
    assert leftovers(target.parent) == []


def test_a_failure_just_before_the_rename_leaves_the_old_file_and_no_temp_file(
    target: Path,
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, b"new", before_replace=interrupted)
    assert target.read_bytes() == OLD
    assert leftovers(target.parent) == []


def test_the_file_and_its_directory_are_synced(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    write_atomically(target, b"new")
    # the content, before the rename makes it the file; then the rename
    assert synced == [target.stat().st_ino, target.parent.stat().st_ino]


def test_the_permissions_are_kept_or_set(target: Path) -> None:
    target.chmod(0o640)
    write_atomically(target, b"new")
    assert target.stat().st_mode & 0o7777 == 0o640
    write_atomically(target, b"newer", mode=0o600)
    assert target.stat().st_mode & 0o7777 == 0o600
    fresh = target.with_name("fresh.json")
    umask = os.umask(0o022)
    try:
        write_atomically(fresh, b"{}")
    finally:
        os.umask(umask)
    assert fresh.stat().st_mode & 0o7777 == 0o644  # as open() would make it, not mkstemp's 0o600


def test_a_link_is_replaced_not_the_file_it_points_to(target: Path) -> None:
    link = target.with_name("link.json")
    link.symlink_to(target.name)
    write_atomically(link, b"new")
    assert not link.is_symlink()
    assert link.read_bytes() == b"new"
    assert target.read_bytes() == OLD


def test_temp_files_of_killed_writers_are_removed_by_the_next_write(target: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    dead = target.with_name(f".file.json.{files.HOST_TAG}.{gone.pid}.0123abcd.tmp")
    live = target.with_name(f".file.json.{files.HOST_TAG}.{os.getpid()}.0123abcd.tmp")
    other = target.with_name(f".other.json.{files.HOST_TAG}.{gone.pid}.0123abcd.tmp")
    for temp in (dead, live, other):
        temp.write_bytes(b"{")
    write_atomically(target, b"new")
    assert leftovers(target.parent) == sorted(p.name for p in (live, other))


# -- the writers -------------------------------------------------------------------------


def test_a_plan_interrupted_mid_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while `plan --out` (or `apply --json-out`) writes: the old file, nothing else."""
    out = tmp_path / "tfplan.json"
    out.write_bytes(OLD)

    def interrupted(_: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_document(out, "{}", "the plan")
    assert out.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_the_audio_cache_is_synced_and_interruptions_leave_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(DATA / "alaw_8k_mono.wav", tmp_path / "a.wav")
    cache = AudioCache(tmp_path, tmp_path / ".ivrsync" / "cache.json")
    cache.facts("a.wav")
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    cache.save()
    assert len(synced) == 2  # the file and its directory: a power cut leaves it whole
    (tmp_path / ".ivrsync" / "cache.json").unlink()
    cache = AudioCache(tmp_path, tmp_path / ".ivrsync" / "cache.json")
    cache.facts("a.wav")

    def interrupted(_: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.save()
    assert leftovers(tmp_path / ".ivrsync") == []


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def test_the_state_taken_from_the_branch_keeps_the_checkouts_permissions(tmp_path: Path) -> None:
    """It was written through a NamedTemporaryFile, and so became readable by its owner only."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    state = work / "ivrsync.state.json"
    state.write_text('{"serial": 2}\n')
    git("add", ".", cwd=work)
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    git(*ident, "commit", "-qm", "state", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    state.write_text('{"serial": 1}\n')
    state.chmod(0o644)
    message = take_state_from_branch(state, "main", str(work))
    assert message.startswith("took ivrsync.state.json from the tip of main")
    assert state.read_text() == '{"serial": 2}\n'
    assert state.stat().st_mode & 0o7777 == 0o644
    assert leftovers(work) == []


def test_init_force_on_a_full_disk_leaves_the_users_files_whole(tmp_path: Path) -> None:
    """`ivrsync init --force` that runs out of space: a clear error, the old files as they were
    (it used to truncate the file, then fail half-way through writing the new one)."""
    mine = b"# my own manifest\n" * 10
    (tmp_path / "ivrsync.yaml").write_bytes(mine)
    limit = len(mine) + 64  # less than the scaffolded manifest: writing it fails mid-way
    full_disk = (
        "import resource, runpy, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past the limit: EFBIG
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        f"sys.argv = ['ivrsync', 'init', '--force', {str(tmp_path)!r}]\n"
        "runpy.run_module('ivrsync', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", full_disk], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "File too large" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "ivrsync.yaml").read_bytes() == mine
    assert leftovers(tmp_path) == []
