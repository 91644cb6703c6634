"""Audio is measured and processed on all cores (ivrsync/workers.py): the same bytes as in one
process, errors reported as ever, and Ctrl-C stops the workers at once."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ivrsync.errors import IvrsyncError
from ivrsync.processing.cache import CACHE_DIR
from ivrsync.workers import WORKERS_ENV, WorkerLost, parallel_map, worker_count
from tests.test_cancel import wait_until

PROMPTS = 6


def stereo_wav(number: int, seconds: float = 1.0) -> bytes:
    """44.1 kHz stereo: each file a different tone, so each is processed."""
    rate = 44100
    t = np.arange(round(rate * seconds)) / rate
    wave = 0.2 * np.sin(2 * np.pi * (300 + 40 * number) * t)
    out = io.BytesIO()
    sf.write(out, np.stack([wave, 0.8 * wave], axis=1), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def repository(root: Path, count: int = PROMPTS, *, broken: bool = False) -> Path:
    (root / "audio").mkdir(parents=True)
    prompts = []
    for number in range(count):
        (root / "audio" / f"p{number}.wav").write_bytes(stereo_wav(number))
        prompts.append(f"  p{number}:\n    audio:\n      en_US: audio/p{number}.wav\n")
    if broken:  # a WAV header over samples libsndfile cannot decode
        data = bytearray(stereo_wav(99))
        data[20:22] = (0x55).to_bytes(2, "little")  # format tag: MPEG layer 3, in a WAV
        (root / "audio" / "broken.wav").write_bytes(bytes(data))
        prompts.append("  broken:\n    audio:\n      en_US: audio/broken.wav\n")
    (root / "ivrsync.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            providers:
              aicc:
                type: huawei-aicc
                endpoint: https://service.besclouds.com
            process:
              aicc: {convert: true, normalize: -22, trim: {lead: 0.2, trail: 0.3}}
            prompts:
            """
        )
        + "".join(prompts)
    )
    return root


def plan(repo: Path, workers: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivrsync", "-v", "-C", str(repo), "plan", "--no-lock", "--json"],
        env={**os.environ, WORKERS_ENV: str(workers)},
        capture_output=True,
        text=True,
        check=False,
    )


def processed(repo: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (repo / CACHE_DIR).glob("*/*.wav")}


def test_workers_make_the_bytes_one_process_makes(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    parallel = plan(repo, 2)
    assert parallel.returncode == 0, parallel.stderr
    assert f"processing {PROMPTS} audio files, on 2 worker processes" in parallel.stderr
    in_parallel = processed(repo)
    plan_json = json.loads(parallel.stdout)

    (repo / ".ivrsync").rename(tmp_path / "first-cache")
    alone = plan(repo, 1)
    assert alone.returncode == 0, alone.stderr
    assert f"processing {PROMPTS} audio files, in this process" in alone.stderr
    assert len(in_parallel) == PROMPTS
    assert processed(repo) == in_parallel  # byte for byte
    assert json.loads(alone.stdout)["changes"] == plan_json["changes"]

    warm = plan(repo, 2)  # all cached: nothing measured or processed again
    assert "audio files" not in warm.stderr


def test_a_file_that_fails_in_a_worker_is_reported_as_in_one_process(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", broken=True)
    done = plan(repo, 2)
    assert done.returncode == 1
    assert "audio/broken.wav" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(processed(repo)) == PROMPTS  # the others were processed and kept


def test_a_long_tmpdir_does_not_stop_the_workers(tmp_path: Path) -> None:
    # Python 3.11's fork server binds a socket under TMPDIR, and a Unix socket's path is at
    # most 107 bytes: with it, ivrsync crashed here (OSError: AF_UNIX path too long).
    repo = repository(tmp_path / "repo")
    long_tmp = tmp_path / ("t" * 100) / ("m" * 100)
    long_tmp.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "ivrsync", "-v", "-C", str(repo), "plan", "--no-lock"],
        env={**os.environ, WORKERS_ENV: "2", "TMPDIR": str(long_tmp)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"processing {PROMPTS} audio files, on 2 worker processes" in done.stderr
    assert len(processed(repo)) == PROMPTS


def test_work_is_done_here_when_no_worker_process_can_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from multiprocessing.process import BaseProcess

    def refused(self: BaseProcess) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # fork's EAGAIN

    monkeypatch.setattr(BaseProcess, "start", refused)
    results: dict[int, object] = {}
    parallel_map(square, list(range(5)), 2, results.__setitem__)
    assert {k: v for k, v in results.items() if k != 3} == {k: k * k for k in range(5) if k != 3}
    assert isinstance(results[3], ValueError)
    assert "cannot start worker processes" in caplog.text


def test_the_worker_count_is_the_cores_or_the_variable() -> None:
    assert worker_count({WORKERS_ENV: "3"}) == 3
    assert worker_count({}) == len(os.sched_getaffinity(0))
    for wrong in ("0", "two", "-1"):
        with pytest.raises(IvrsyncError, match=f"{WORKERS_ENV} must be a whole number"):
            worker_count({WORKERS_ENV: wrong})


def square(number: int) -> int:
    if number == 3:
        raise ValueError("three")
    return number * number


def test_parallel_map_gives_every_result_or_error_back() -> None:
    results: dict[int, object] = {}
    parallel_map(square, list(range(8)), 2, results.__setitem__)
    assert sorted(results) == list(range(8))
    assert isinstance(results[3], ValueError)
    assert {k: v for k, v in results.items() if k != 3} == {k: k * k for k in range(8) if k != 3}


def die_on_five(number: int) -> int:
    if number == 5:
        os._exit(9)  # as the kernel's OOM killer would: no answer, no exception
    return number


def test_a_worker_that_dies_gives_an_error_for_its_item_and_the_rest_goes_on() -> None:
    results: dict[int, object] = {}
    parallel_map(die_on_five, list(range(10)), 2, results.__setitem__)
    assert sorted(results) == list(range(10))
    assert isinstance(results[5], WorkerLost)
    assert "exited with code 9" in str(results[5])
    assert {k: v for k, v in results.items() if k != 5} == {k: k for k in range(10) if k != 5}


# Workers that start, say so with a file, and block until the test lets them go (never here):
# only Ctrl-C can end the run, so it is certain to arrive while they work. With `elsewhere`,
# the main thread blocks SIGINT and another thread is there to take it, as the kernel may give
# a process-wide signal to any thread that does not block it (numpy's BLAS threads, say).
SCRIPT = """
import os, signal, sys, threading
from pathlib import Path
from ivrsync.workers import parallel_map

def block(marker: str) -> None:
    Path(f"{marker}-{os.getpid()}").touch()
    while not Path(marker + "-go").exists():
        threading.Event().wait(0.01)

if __name__ == "__main__":
    base, where = sys.argv[1:]
    if where == "elsewhere":
        from multiprocessing import resource_tracker
        resource_tracker.ensure_running()  # it would unblock SIGINT here as it starts
        threading.Thread(target=threading.Event().wait, daemon=True).start()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        parallel_map(block, [f"{base}/w{n}" for n in range(6)], 2, lambda item, result: None)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
"""


@pytest.mark.parametrize("where", ["main", "elsewhere"], ids=["main-thread", "another-thread"])
def test_ctrl_c_stops_the_workers_at_once_and_leaves_no_process(tmp_path: Path, where: str) -> None:
    script = tmp_path / "blocking.py"
    script.write_text(textwrap.dedent(SCRIPT))
    runner = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    try:
        wait_until(lambda: len(list(tmp_path.glob("w*-*"))) >= 2, "two workers at work")
        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130, err
    assert out.strip() == "interrupted"
    assert "Traceback" not in err

    def group_gone() -> bool:
        try:
            os.killpg(runner.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(group_gone, "the workers to exit")
