"""The remote state backend end to end: real `ivrsync apply` processes, a manifest saying
`state: {backend: s3}`, the bundled S3 emulator (conditional writes checked and applied under
one lock, so it can prove mutual exclusion) and the Tencent CCC emulator.

- 20 applies started at once: the S3 emulator's request log, in the order it applied the
  requests, shows the lock object created and removed 20 times in turn, never twice without a
  removal between, and the state written only while a lock is held; every prompt is uploaded
  once and recorded, and the serials the state and its history went through only grow.
- An apply SIGKILLed at seeded moments (the n-th request it sends to either emulator): the
  state stays readable and holds every upload the provider has; a lock left behind is reported
  with the `ivrsync force-unlock ID` command that clears it.
- The state PUT failing (the store down for writes): nothing confirmed is lost, the local
  `ivrsync.state.unsaved.json` holds it and the message names `ivrsync state push`.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivrsync.emulator.common import Request
from ivrsync.emulator.s3 import S3Emulator, S3EmulatorConfig, S3Event
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.model import State
from ivrsync.state.s3 import S3StateStore
from tests.conftest import RunCli, use_env
from tests.repo_factory import tencent_repository
from tests.static_server import static_files
from tests.test_crash_and_faults import KillAt

BUCKET = "ivr-prompts-state"
KEY = "contact-center/ivrsync.state.json"
LOCK = f"{KEY}.lock"
HISTORY = f"{KEY}.history/"
S3_ID, S3_SECRET = "AKIASTATE00000000001", "remote-state-secret-key"
TC_ID, TC_KEY = "AKIDremote0000000000000000000000001", "remote-tencent-key"
PROMPTS = 6
APPLIES = 20
KILLS = 6
ADDRESSES = {f"ccc.p{number:05d}.en_US" for number in range(PROMPTS)}


@dataclass
class World:
    repo: Path
    s3: S3Emulator
    tencent: TencentEmulator
    env: dict[str, str]

    def state(self) -> State | None:
        """The remote state as stored, parsed as ivrsync parses it (None: none written)."""
        found = self.s3.objects(BUCKET).get(KEY)
        return None if found is None else State.from_json(found.data, f"s3://{BUCKET}/{KEY}")

    def lock_id(self) -> str | None:
        found = self.s3.objects(BUCKET).get(LOCK)
        return None if found is None else str(json.loads(found.data)["id"])

    def apply(self, *extra: str, output: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "ivrsync", "-C", str(self.repo), "apply"]
        return subprocess.Popen(
            [*command, "--auto-approve", *extra], env=self.env, stdout=output, stderr=output
        )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    env = {
        "TENCENTCLOUD_SECRET_ID": TC_ID,
        "TENCENTCLOUD_SECRET_KEY": TC_KEY,
        "AWS_ACCESS_KEY_ID": S3_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        # Nothing of the machine's own AWS setup takes part.
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    use_env(monkeypatch, env)
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    root = tmp_path / "prompts"
    root.mkdir()
    s3_config = S3EmulatorConfig(S3_ID, S3_SECRET, buckets=[BUCKET])
    tencent_config = TencentEmulatorConfig(secret_id=TC_ID, secret_key=TC_KEY, review_delay=600)
    with (
        S3Emulator(s3_config) as s3,
        TencentEmulator(tencent_config) as tencent,
        static_files(root) as audio,
    ):
        repo = tencent_repository(
            root, PROMPTS, endpoint=tencent.url, audio_base_url=audio, batch_size=1
        )
        manifest = repo / "ivrsync.yaml"
        state = textwrap.dedent(
            f"""\
            state:
              backend: s3
              bucket: {BUCKET}
              key: {KEY}
              endpoint: {s3.url}
              region: us-east-1
            """
        )
        manifest.write_text(manifest.read_text().replace("version: 1\n", f"version: 1\n{state}"))
        yield World(repo, s3, tencent, {**os.environ, **env})


def check_nothing_lost(state: State | None, tencent: TencentEmulator) -> tuple[int, int]:
    """Every upload the provider holds is in `state`, recorded or in doubt by its name.
    Returns (recorded, in doubt)."""
    recorded = {e.file_id for e in state.resources.values()} if state else set()
    doubtful = {(d.provider, d.remote_name) for d in state.in_doubt.values()} if state else set()
    for upload in tencent.uploads:
        assert str(upload.file_id) in recorded or ("ccc", upload.custom_file_name) in doubtful, (
            f"Tencent stored {upload.file_id} ({upload.custom_file_name}) and the state lost it"
        )
    return len(recorded), len(doubtful)


def check_lock_held_one_at_a_time(events: list[S3Event]) -> list[str]:
    """Replays the request log: the lock object is created only when absent and removed only
    when present, and the state is written only while it exists. The lock IDs, in order."""
    holders: list[str] = []
    held: str | None = None
    for event in events:
        if event.key == LOCK and event.method == "PUT" and event.status == 200:
            assert held is None, f"lock {event.body!r} created while {held} held it"
            held = str(json.loads(event.body)["id"])
            holders.append(held)
        elif event.key == LOCK and event.method == "DELETE" and event.status == 204:
            assert held is not None, "a lock removed when none was held"
            held = None
        elif event.key == KEY and event.method == "PUT" and event.status == 200:
            assert held is not None, "the state written without the lock"
    assert held is None, f"lock {held} left behind"
    return holders


def test_20_applies_at_once_hold_the_lock_in_turn_and_upload_each_prompt_once(
    world: World,
) -> None:
    processes = [world.apply("--lock-timeout", "120") for _ in range(APPLIES)]
    results = [process.communicate(timeout=240) for process in processes]
    failed = [
        err.decode()
        for process, (_, err) in zip(processes, results, strict=True)
        if process.returncode
    ]
    events = world.s3.events()
    holders = check_lock_held_one_at_a_time(events)
    assert failed == []
    assert len(holders) == len(set(holders)) == APPLIES  # each apply held it once
    # Every prompt uploaded once, and recorded.
    names = sorted(u.custom_file_name for u in world.tencent.uploads)
    assert len(names) == len(set(names)) == PROMPTS
    state = world.state()
    assert state is not None
    assert check_nothing_lost(state, world.tencent) == (PROMPTS, 0)
    # The serials the state went through only grow, one write at a time, and the history
    # holds the latest of them under their serials.
    written = [
        State.from_json(e.body, KEY).serial
        for e in events
        if e.key == KEY and e.method == "PUT" and e.status == 200
    ]
    assert written == list(range(written[0], written[0] + len(written)))
    assert written[-1] == state.serial
    history = sorted(
        int(key[len(HISTORY) :].removesuffix(".json"))
        for key in world.s3.objects(BUCKET)
        if key.startswith(HISTORY)
    )
    assert history == written[-len(history) :]
    for serial in history:
        copy = world.s3.objects(BUCKET)[f"{HISTORY}{serial:010d}.json"]
        assert State.from_json(copy.data, "history").serial == serial
    waits = sum(1 for e in events if e.key == LOCK and e.method == "PUT" and e.status == 412)
    print(
        f"\n{APPLIES} applies at once: {len(holders)} lock holders in turn, {waits} refused "
        f"lock attempts (412), {len(written)} state writes (serials {written[0]}..{written[-1]}),"
        f" {len(names)} uploads, 0 duplicates; {world.s3.requests} S3 requests"
    )


def test_an_apply_killed_at_random_moments_keeps_the_remote_state_whole(
    world: World, run_cli: RunCli
) -> None:
    rng = random.Random(20261203)
    reported = landed = 0
    for _ in range(KILLS):
        process = world.apply("--lock-timeout", "0", output=subprocess.DEVNULL)
        # Killed as the n-th request it sends to either emulator arrives, before the answer:
        # the probe, the lock, the state, the history and the uploads are all in range.
        arrivals = KillAt(rng.randint(1, 36), process)
        world.s3.on_request = world.tencent.on_request = arrivals
        landed += arrivals.wait()
        world.s3.on_request = world.tencent.on_request = None
        check_nothing_lost(world.state(), world.tencent)  # the state parses, nothing is lost
        lock_id = world.lock_id()
        if lock_id is not None:
            # Another host cannot know the holder is dead: the lock is reported, with the
            # command that clears it, and stays until that command is run.
            code, _, err = run_cli("-C", str(world.repo), "apply", "--auto-approve")
            assert code == 1, err
            assert f"ivrsync force-unlock {lock_id}" in err
            assert "Traceback" not in err
            assert world.lock_id() == lock_id
            code, _, err = run_cli("-C", str(world.repo), "force-unlock", lock_id)
            assert code == 0, err
            assert world.lock_id() is None
            reported += 1
    # A last run: each prompt recorded, or in doubt where a killed run had recorded the upload
    # as sent and Tencent does not list it (yet): apply waits out its listing delay then.
    code, out, err = run_cli("-C", str(world.repo), "apply", "--auto-approve")
    assert code in (0, 3), out + err
    state = world.state()
    assert state is not None
    assert set(state.resources) | set(state.in_doubt) == ADDRESSES
    recorded, doubtful = check_nothing_lost(state, world.tencent)
    names = [u.custom_file_name for u in world.tencent.uploads]
    assert len(names) == len(set(names))  # nothing uploaded twice
    print(
        f"\nremote-state kill test: {KILLS} runs, {landed} killed by SIGKILL mid-request, "
        f"{reported} locks left behind and reported with force-unlock; after each the state "
        f"parsed and held every upload Tencent had; then {recorded} recorded, {doubtful} in "
        f"doubt, {len(names)} uploads, 0 duplicates"
    )


class FailStateWritesAfter:
    """The S3 emulator's hook: once `writes` PUTs of the state have arrived, every later one
    fails (500), as a store that goes down in the middle of an apply."""

    def __init__(self, s3: S3Emulator, writes: int) -> None:
        self.s3 = s3
        self.left = writes

    def __call__(self, request: Request) -> None:
        if request.method == "PUT" and urllib.parse.unquote(request.path) == f"/{BUCKET}/{KEY}":
            self.left -= 1
            if self.left < 0:
                self.s3.config.fail_puts_matching = f"^{re.escape(KEY)}$"


def test_a_state_write_that_fails_keeps_every_upload_in_the_unsaved_file(
    world: World, run_cli: RunCli
) -> None:
    # An apply writes the state before each upload (batches of one here) and after it: the
    # store fails from the second write on, the record of an upload Tencent confirmed.
    world.s3.on_request = FailStateWritesAfter(world.s3, 1)
    code, out, err = run_cli("-C", str(world.repo), "apply", "--auto-approve")
    world.s3.on_request = None
    assert code == 3, out + err  # partial: something was uploaded
    assert "Traceback" not in err
    assert "ivrsync state push ivrsync.state.unsaved.json" in err
    unsaved = world.repo / "ivrsync.state.unsaved.json"
    kept = State.from_json(unsaved.read_bytes(), str(unsaved))
    remote = world.state()
    stored = {str(u.file_id) for u in world.tencent.uploads}
    recorded = {e.file_id for e in remote.resources.values()} if remote else set()
    assert stored - recorded  # the store lacks a confirmed upload; the local file has all
    check_nothing_lost(kept, world.tencent)

    world.s3.config.fail_puts_matching = None
    code, out, err = run_cli("-C", str(world.repo), "state", "push", str(unsaved))
    assert code == 0, out + err
    check_nothing_lost(world.state(), world.tencent)
    # The next apply uploads the rest, and nothing twice.
    code, out, err = run_cli("-C", str(world.repo), "apply", "--auto-approve")
    assert code == 0, out + err
    names = [u.custom_file_name for u in world.tencent.uploads]
    assert len(names) == len(set(names)) == PROMPTS
    assert check_nothing_lost(world.state(), world.tencent) == (PROMPTS, 0)


class Churn:
    """The S3 emulator's hook, playing other applies that take and release the lock between a
    waiter's requests: each refused lock PUT finds the lock there, each read of it finds it gone,
    `rounds` times over; then the lock is free."""

    def __init__(self, s3: S3Emulator, record: bytes, rounds: int) -> None:
        self.s3 = s3
        self.record = record
        self.left = rounds

    def __call__(self, request: Request) -> None:
        if urllib.parse.unquote(request.path) != f"/{BUCKET}/{LOCK}" or self.left <= 0:
            return
        if request.method == "PUT":
            self.s3.put(BUCKET, LOCK, self.record, "application/json")
        elif request.method == "GET":
            self.s3.delete(BUCKET, LOCK)
            self.left -= 1


def test_a_waiter_keeps_waiting_while_the_lock_changes_hands(world: World) -> None:
    other = S3StateStore(BUCKET, KEY, endpoint=world.s3.url, region="us-east-1")
    taken = other.lock("apply", timeout=0)
    record = world.s3.objects(BUCKET)[LOCK].data
    other.unlock(taken)
    sleeps: list[float] = []
    waiter = S3StateStore(
        BUCKET, KEY, endpoint=world.s3.url, region="us-east-1", sleep=sleeps.append
    )
    world.s3.on_request = Churn(world.s3, record, rounds=5)
    lock = waiter.lock("apply", timeout=120)
    world.s3.on_request = None
    assert world.lock_id() == lock.id


def test_releasing_a_lock_removed_in_between_is_not_an_error(world: World) -> None:
    store = S3StateStore(BUCKET, KEY, endpoint=world.s3.url, region="us-east-1")
    lock = store.lock("apply", timeout=0)

    def force_unlocked_meanwhile(request: Request) -> None:
        if request.method == "DELETE" and urllib.parse.unquote(request.path) == f"/{BUCKET}/{LOCK}":
            world.s3.delete(BUCKET, LOCK)

    world.s3.on_request = force_unlocked_meanwhile
    store.unlock(lock)
    world.s3.on_request = None
    assert world.lock_id() is None
