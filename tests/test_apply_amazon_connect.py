"""`ivrsync` end to end against the Amazon Connect emulator, through boto3, with the audio
staged in a real S3-compatible server (moto's) that the emulator copies each S3Uri from."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ivrsync.emulator.amazon_connect import (
    DEMO_INSTANCE_ID,
    AmazonConnectEmulator,
    AmazonConnectEmulatorConfig,
)
from ivrsync.emulator.common import Request, Response
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli, read_line
from tests.repo_factory import amazon_connect_repository, distinct_wav, mulaw_wav
from tests.s3_server import s3_server

ACCESS_KEY = "AKIATESTCONNECT00001"
SECRET_KEY = "connect-test-secret-31"
BUCKET = "ivr-prompts"


class RecordingEmulator(AmazonConnectEmulator):
    """The emulator, noting when each request arrives (for the rate per sliding second)."""

    def __init__(self, config: AmazonConnectEmulatorConfig) -> None:
        super().__init__(config)
        self.arrivals: list[tuple[float, str, str]] = []
        # Throttles a test forced (faults.throttle_next): all the others broke the rate.
        self.forced_throttles = 0
        self._arrivals_lock = threading.Lock()

    def handle(self, request: Request) -> Response | None:
        with self._arrivals_lock:
            self.arrivals.append((time.monotonic(), request.method, request.path))
        return super().handle(request)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    for listed in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=listed["Key"])
    yield client
    client.close()


@pytest.fixture
def emulator(s3_endpoint: str, s3: Any) -> Iterator[RecordingEmulator]:
    config = AmazonConnectEmulatorConfig(
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        s3_endpoint=s3_endpoint,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
    )
    with RecordingEmulator(config) as running:
        yield running
        # No run may ever break the documented 2 requests/s (burst 5) of an operation.
        assert running.throttled == running.forced_throttles


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("CI", raising=False)


def write_repo(
    root: Path,
    emulator: AmazonConnectEmulator,
    s3_endpoint: str,
    prompts: dict[str, bytes],
    *,
    extra: str = "",
    remote_names: dict[str, str] | None = None,
    descriptions: dict[str, str] | None = None,
) -> Path:
    return amazon_connect_repository(
        root,
        prompts,
        endpoint=emulator.url,
        s3_endpoint=s3_endpoint,
        bucket=BUCKET,
        extra=extra,
        remote_names=remote_names,
        descriptions=descriptions,
    )


def state_ids(repo: Path) -> dict[str, str]:
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    return {address: entry.file_id for address, entry in state.resources.items()}


def by_id(emulator: AmazonConnectEmulator) -> dict[str, Any]:
    return {record.prompt_id: record for record in emulator.prompts}


def staged(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_create_then_update_in_place_then_rename_without_upload(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str, s3: Any
) -> None:
    repo = write_repo(
        tmp_path, emulator, s3_endpoint, {"welcome": mulaw_wav(1), "menu": mulaw_wav(2)}
    )
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 2 uploaded" in out
    ids = state_ids(repo)
    prompts = by_id(emulator)
    assert set(prompts) == set(ids.values())
    welcome = prompts[ids["connect.welcome.en_US"]]
    assert welcome.name == "welcome.en_US"
    assert welcome.s3_uri.startswith(f"s3://{BUCKET}/staged/")
    assert welcome.tags["team"] == "ivr"
    assert welcome.tags["ivrsync:sha256"] == welcome.audio_sha256
    code, out, _ = run_cli("-C", str(repo), "output", "--format", "json")
    assert code == 0
    assert json.dumps(ids["connect.welcome.en_US"]) in out

    # New audio: the same PromptId, which now plays the new recording.
    new_audio = mulaw_wav(3)
    (repo / "audio/welcome.wav").write_bytes(new_audio)
    code, out, err = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2, err
    assert "update" in out.lower()
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "1 updated" in out
    assert state_ids(repo) == ids
    welcome = by_id(emulator)[ids["connect.welcome.en_US"]]
    assert welcome.audio_sha256 == hashlib.sha256(new_audio).hexdigest()
    assert emulator.requests.get("CreatePrompt") == 2
    assert emulator.requests.get("UpdatePrompt") == 1

    # A new name alone: UpdatePrompt with no S3Uri, so nothing staged and nothing copied.
    before_keys = staged(s3)
    write_repo(
        repo,
        emulator,
        s3_endpoint,
        {"welcome": new_audio, "menu": mulaw_wav(2)},
        remote_names={"welcome": "greeting"},
    )
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "1 updated" in out
    assert state_ids(repo) == ids
    renamed = by_id(emulator)[ids["connect.welcome.en_US"]]
    assert renamed.name == "greeting.en_US"
    assert renamed.s3_uri == welcome.s3_uri  # the audio was not sent again
    assert staged(s3) == before_keys
    assert emulator.requests.get("UpdatePrompt") == 2
    code, out, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 0, out


def test_gone_from_the_manifests_is_forgotten_unless_removed_deletes_it(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str
) -> None:
    audio = {"a": mulaw_wav(1), "b": mulaw_wav(2), "c": mulaw_wav(3)}
    repo = write_repo(tmp_path, emulator, s3_endpoint, audio)
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    ids = state_ids(repo)

    # b is dropped: forgotten, and the prompt stays in the instance (flows may still use it).
    write_repo(repo, emulator, s3_endpoint, {"a": audio["a"], "c": audio["c"]})
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "1 forgotten" in out
    assert ids["connect.b.en_US"] in by_id(emulator)
    assert "connect.b.en_US" not in state_ids(repo)

    # c is dropped with a `removed:` entry that opts in: deleted from the instance.
    removed = "removed:\n  - from: connect.c.en_US\n    delete: true\n"
    write_repo(repo, emulator, s3_endpoint, {"a": audio["a"]}, extra=removed)
    code, out, err = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2, err
    assert "delete" in out.lower()
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "1 deleted" in out
    assert ids["connect.c.en_US"] not in by_id(emulator)
    assert set(state_ids(repo)) == {"connect.a.en_US"}
    assert emulator.requests.get("DeletePrompt") == 1


def test_a_prompt_deleted_outside_ivrsync_is_found_by_refresh_and_created_again(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1), "b": mulaw_wav(2)})
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    ids = state_ids(repo)
    emulator.remove_prompt(DEMO_INSTANCE_ID, ids["connect.a.en_US"])  # in the console
    code, out, err = run_cli("-C", str(repo), "refresh")
    assert code == 0, err
    assert "missing" in out + err
    code, out, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2
    assert "no longer lists" in out
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    now = state_ids(repo)
    assert now["connect.b.en_US"] == ids["connect.b.en_US"]
    assert now["connect.a.en_US"] != ids["connect.a.en_US"]
    assert now["connect.a.en_US"] in by_id(emulator)


def test_import_records_a_prompt_the_instance_holds(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str, s3: Any
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1)})
    s3.put_object(Bucket=BUCKET, Key="console/a.wav", Body=mulaw_wav(1))
    connect = boto3.client(
        "connect",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    made = connect.create_prompt(
        InstanceId=DEMO_INSTANCE_ID, Name="a.en_US", S3Uri=f"s3://{BUCKET}/console/a.wav"
    )
    code, _, err = run_cli("-C", str(repo), "import", "connect.a.en_US", "not-a-prompt-id")
    assert code == 1
    assert "is not an Amazon Connect PromptId" in err
    unknown = "4f2b8a70-5c1e-4d8a-9b3f-2a6c0e1d7b54"
    code, _, err = run_cli("-C", str(repo), "import", "connect.a.en_US", unknown)
    assert code == 1
    assert "lists no file" in err
    code, out, err = run_cli("-C", str(repo), "import", "connect.a.en_US", made["PromptId"])
    assert code == 0, err
    assert state_ids(repo) == {"connect.a.en_US": made["PromptId"]}
    code, out, _ = run_cli("-C", str(repo), "plan")
    assert code == 0, out
    assert "Plan: 0 to upload, 0 to replace, 0 to forget" in out  # the imported one is kept
    assert emulator.requests.get("CreatePrompt") == 1  # the one made above


def test_audio_amazon_connect_cannot_play_is_refused_before_any_request(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str, s3: Any
) -> None:
    repo = write_repo(
        tmp_path, emulator, s3_endpoint, {"ok": mulaw_wav(1), "alaw": distinct_wav(2)}
    )
    code, _, err = run_cli("-C", str(repo), "validate")
    assert code == 1
    assert "prompts.yaml" in err or "ivrsync.yaml" in err
    assert "A-law" in err or "alaw" in err
    assert "mu-law" in err
    assert "Traceback" not in err
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    assert emulator.arrivals == []
    assert staged(s3) == []
    assert not (repo / "ivrsync.state.json").exists()


def test_a_lost_answer_is_looked_up_by_name_and_adopted_without_creating_twice(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1), "b": mulaw_wav(2)})
    emulator.faults.lost_response_rate = 1.0
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 2 uploaded" in out
    assert emulator.requests["CreatePrompt"] == 2
    assert emulator.requests["ListPrompts"] >= 1
    assert set(state_ids(repo).values()) == set(by_id(emulator))


def test_a_name_taken_by_a_prompt_ivrsync_did_not_make_is_refused_with_how_to_take_it_over(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str, s3: Any
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1), "b": mulaw_wav(2)})
    s3.put_object(Bucket=BUCKET, Key="console/old.wav", Body=mulaw_wav(9))
    connect = boto3.client(
        "connect",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    made = connect.create_prompt(
        InstanceId=DEMO_INSTANCE_ID, Name="a.en_US", S3Uri=f"s3://{BUCKET}/console/old.wav"
    )
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 3, err
    assert "1 uploaded" in out
    assert f"ivrsync import connect.a.en_US {made['PromptId']}" in err
    assert len(emulator.prompts) == 2


def test_server_errors_and_throttling_are_retried(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1), "b": mulaw_wav(2)})
    emulator.faults.throttle_next = 1
    emulator.forced_throttles = 1
    emulator.faults.error_rate = 0.5
    emulator.faults.seed = 7
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 2 uploaded" in out
    assert len(emulator.prompts) == 2


def test_refused_credentials_stop_the_provider_and_are_never_shown(
    run_cli: RunCli,
    tmp_path: Path,
    emulator: RecordingEmulator,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1)})
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key")
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    assert "InvalidSignatureException" in err
    assert emulator.prompts == []
    assert "not-the-secret-key" not in out + err


def test_requests_keep_to_the_documented_rate(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str
) -> None:
    count = 6
    repo = write_repo(
        tmp_path, emulator, s3_endpoint, {f"p{i}": mulaw_wav(i) for i in range(count)}
    )
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    creates = [t for t, method, _ in emulator.arrivals if method == "PUT"]
    assert len(creates) == count
    # The emulator's buckets hold the documented quota (2 a second, burst 5): nothing the
    # apply sent was refused. How evenly the requests went out is the limiter's, checked on a
    # clock in tests/test_ratelimit.py; here it is only measured (arrivals carry the machine's
    # jitter, so a count per wall-clock second is a figure, not an assertion).
    assert emulator.throttled == emulator.forced_throttles == 0
    most = max(sum(1 for u in creates if t <= u < t + 1.0) for t in creates)
    gaps = [b - a for a, b in itertools.pairwise(creates)]
    print(
        f"\nAmazon Connect rate: {count} CreatePrompts, at most {most} in any one second "
        f"(documented: 2), {min(gaps):.3f} s apart at least"
    )


def test_no_credential_or_signature_shows_even_in_debug_output(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1)})
    emulator.faults.lost_response_rate = 1.0  # the state keeps the error's text too
    code, out, err = run_cli("-C", str(repo), "-vv", "apply", "--auto-approve")
    assert code == 0, err
    assert "DEBUG" in err
    written = out + err + (repo / "ivrsync.state.json").read_text()
    assert SECRET_KEY not in written
    assert not re.search(r"Signature=[0-9a-f]{64}", written)


def test_no_aws_credentials_anywhere_is_one_clear_error_before_any_request(
    run_cli: RunCli,
    tmp_path: Path,
    emulator: RecordingEmulator,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = write_repo(tmp_path / "repo", emulator, s3_endpoint, {"a": mulaw_wav(1)})
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 1
    assert "connect: no AWS credentials found (the standard chain)" in err
    assert "Traceback" not in err
    assert emulator.arrivals == []


def test_the_emulator_command_serves_amazon_connect_with_its_s3_for_an_apply(
    run_cli: RunCli, tmp_path: Path
) -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    command = [sys.executable, "-m", "ivrsync", "emulator", "amazon-connect", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--bucket", BUCKET], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        line = read_line(process.stderr, "ivrsync emulator amazon-connect")
        found = re.search(r"emulator on (http://\S+) \(S3 on (http://\S+),", line)
        assert found, line
        assert "access key from AWS_ACCESS_KEY_ID" in line
        connect_url, s3_url = found.groups()
        repo = amazon_connect_repository(
            tmp_path, {"a": mulaw_wav(1)}, endpoint=connect_url, s3_endpoint=s3_url, bucket=BUCKET
        )
        code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        assert "Apply complete: 1 uploaded" in out
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert b"Amazon Connect emulator stopped." in stderr


def test_a_prompt_ivrsync_made_whose_record_was_lost_is_adopted_not_made_twice(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str
) -> None:
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"a": mulaw_wav(1), "b": mulaw_wav(2)})
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    ids = state_ids(repo)
    (repo / "ivrsync.state.json").unlink()  # as a run that stored nothing would leave it
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "Apply complete: 2 uploaded" in out
    assert state_ids(repo) == ids  # the same prompts, adopted by their Name and audio tag
    assert len(emulator.prompts) == 2
    assert emulator.requests["CreatePrompt"] == 4  # the second two refused as duplicates


def test_the_prompts_description_is_sent_and_a_new_one_updates_it_in_place(
    run_cli: RunCli, tmp_path: Path, emulator: RecordingEmulator, s3_endpoint: str, s3: Any
) -> None:
    audio = {"a": mulaw_wav(1), "b": mulaw_wav(2)}
    long = "x" * 300
    repo = write_repo(
        tmp_path, emulator, s3_endpoint, audio, descriptions={"a": "Greeting", "b": long}
    )
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    ids = state_ids(repo)
    prompts = by_id(emulator)
    assert prompts[ids["connect.a.en_US"]].description == "Greeting"
    assert prompts[ids["connect.b.en_US"]].description == "x" * 247 + "..."  # 250 at most
    keys = staged(s3)
    write_repo(repo, emulator, s3_endpoint, audio, descriptions={"a": "Welcome", "b": long})
    code, out, _ = run_cli("-C", str(repo), "plan")
    assert "connect.a.en_US will be updated in place" in out, out
    assert "Plan: 0 to upload" in out
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "1 updated" in out
    assert state_ids(repo) == ids
    assert by_id(emulator)[ids["connect.a.en_US"]].description == "Welcome"
    assert emulator.requests.get("UpdatePrompt") == 1
    assert staged(s3) == keys  # the audio was not sent again
