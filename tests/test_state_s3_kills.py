"""Applies killed (SIGKILL) at random moments with the state in object storage (moto's S3
server on loopback): the remote state stays readable and holds every upload that landed, and
the lock a dead job left is reported with the command that clears it (a remote lock is never
taken over: whether a job on another machine still runs cannot be known)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.state import s3 as s3_module
from ivrsync.state.s3 import S3StateStore
from tests.conftest import RunCli
from tests.repo_factory import huawei_repository
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_server
from tests.test_crash_and_faults import KillAt

APP_KEY = "kill-test-app-key"
APP_SECRET = "kill-test-app-secret-77"
BUCKET = "ivr-prompts-state"
COUNT = 12
KILLS = 8


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    values = {
        "AICC_APP_KEY": APP_KEY,
        "AICC_APP_SECRET": APP_SECRET,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("CI", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(s3_module, "_probed", {})
    return {**os.environ, **values}


@pytest.fixture
def endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        yield url


def test_applies_killed_at_random_moments_keep_the_remote_state_whole(
    run_cli: RunCli, tmp_path: Path, endpoint: str, env: dict[str, str]
) -> None:
    key = f"{uuid.uuid4()}/ivrsync.state.json"
    remote = S3StateStore(BUCKET, key, endpoint=endpoint)
    rng = random.Random(20261203)
    config = HuaweiEmulatorConfig(app_key=APP_KEY, app_secret=APP_SECRET, review_delay=600)
    with HuaweiEmulator(config) as huawei:
        repo = huawei_repository(tmp_path / "prompts", COUNT, endpoint=huawei.url)
        manifest = repo / "ivrsync.yaml"
        manifest.write_text(
            manifest.read_text().replace(
                "version: 1\n",
                f"version: 1\nstate:\n  backend: s3\n  bucket: {BUCKET}\n  key: {key}\n"
                f"  endpoint: {endpoint}\n",
                1,
            )
        )
        apply = [sys.executable, "-m", "ivrsync", "-C", str(repo), "apply", "--auto-approve"]
        serials = []
        left_locks = killed = 0
        for _ in range(KILLS):
            process = subprocess.Popen(
                apply, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            arrivals = KillAt(rng.randint(1, 4), process)
            huawei.on_request = arrivals
            killed += arrivals.wait()
            huawei.on_request = None
            state = remote.read()  # readable after every kill
            serials.append(state.serial if state else 0)
            lock = remote.current_lock()
            if lock is not None:
                left_locks += 1
                code, _, err = run_cli("-C", str(repo), "plan", "--lock")
                assert code == 1
                assert f"ivrsync force-unlock {lock.id}" in err
                code, _, err = run_cli("-C", str(repo), "force-unlock", lock.id)
                assert code == 0, err
            recorded = {e.file_id for e in state.resources.values()} if state else set()
            doubtful = {d.remote_name for d in state.in_doubt.values()} if state else set()
            for upload in huawei.uploads:
                assert upload.file_id in recorded or upload.voice_file_name in doubtful, (
                    f"Huawei stored {upload.file_id} and the remote state lost it"
                )
        assert serials == sorted(serials)  # never back
        assert left_locks > 0  # the kills did leave locks behind, and each was reported
        print(
            f"\nremote kill test: {KILLS} applies, {killed} killed by SIGKILL mid-request, "
            f"{left_locks} locks left and cleared with force-unlock; serials {serials}; "
            f"{len(huawei.uploads)} uploads stored, all in the remote state"
        )
