"""The reliability figures: an apply killed at random moments, and an apply under faults.

Both run against the two emulators at once, with 50 Huawei and 50 Tencent resources (Tencent
allows 50 uploads a day), and again against the Amazon Connect emulator. The figures are
printed (`pytest -s`) for the issue notes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivrsync.emulator.amazon_connect import AmazonConnectEmulator, AmazonConnectEmulatorConfig
from ivrsync.emulator.common import Request
from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.model import State
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli, credentials_env, use_env
from tests.repo_factory import amazon_connect_repository, mulaw_wav, two_provider_repository
from tests.s3_server import s3_server
from tests.static_server import static_files

KEY, SECRET = "crash-app-key", "crash-app-secret"
TC_ID, TC_KEY = "AKIDcrash000000000000000000000000001", "crash-tencent-key"
COUNT = 50
KILLS = 20


@dataclass
class World:
    repo: Path
    huawei: HuaweiEmulator
    tencent: TencentEmulator
    env: dict[str, str]

    def state(self) -> State | None:
        return LocalStateStore(self.repo / "ivrsync.state.json").read()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    env = credentials_env(KEY, SECRET, TC_ID, TC_KEY)
    use_env(monkeypatch, env)
    root = tmp_path / "prompts"
    root.mkdir()
    huawei_config = HuaweiEmulatorConfig(app_key=KEY, app_secret=SECRET, review_delay=600)
    tencent_config = TencentEmulatorConfig(secret_id=TC_ID, secret_key=TC_KEY, review_delay=600)
    with (
        HuaweiEmulator(huawei_config) as huawei,
        TencentEmulator(tencent_config) as tencent,
        static_files(root) as audio,
    ):
        repo = two_provider_repository(
            root,
            COUNT,
            huawei_endpoint=huawei.url,
            tencent_endpoint=tencent.url,
            audio_base_url=audio,
        )
        yield World(repo, huawei, tencent, {**os.environ, **env})


def check_nothing_lost(world: World, reuploaded: frozenset[str] = frozenset()) -> tuple[int, int]:
    """Every upload an emulator stored is in the state: recorded, or recorded as in doubt.

    `reuploaded`: Huawei names the user chose to upload again; their first upload is the
    duplicate the user accepted. Returns (recorded, in doubt) for the figures.
    """
    state = world.state()
    recorded = {e.file_id for e in state.resources.values()} if state else set()
    doubtful = {(d.provider, d.remote_name) for d in state.in_doubt.values()} if state else set()
    for upload in world.huawei.uploads:
        if upload.voice_file_name in reuploaded:
            continue
        assert upload.file_id in recorded or ("aicc", upload.voice_file_name) in doubtful, (
            f"Huawei stored {upload.file_id} ({upload.voice_file_name}) and the state lost it"
        )
    for tencent_upload in world.tencent.uploads:
        assert (
            str(tencent_upload.file_id) in recorded
            or ("ccc", tencent_upload.custom_file_name) in doubtful
        ), f"Tencent stored {tencent_upload.file_id} and the state lost it"
    return len(recorded), len(doubtful)


def resolve_huawei_doubts(world: World, run_cli: RunCli) -> tuple[int, int]:
    """What a careful user does: import the FileIds the console shows, re-upload the rest.

    Returns (imported, re-uploaded).
    """
    state = world.state()
    assert state is not None
    stored = {u.voice_file_name: u.file_id for u in world.huawei.uploads}
    imported = reuploaded = 0
    replace: list[str] = []
    for address, doubt in sorted(state.in_doubt.items()):
        if doubt.provider != "aicc":
            continue
        if doubt.remote_name in stored:
            file_id = stored[doubt.remote_name]
            code, _, err = run_cli("-C", str(world.repo), "import", address, file_id)
            assert code == 0, err
            imported += 1
        else:
            replace += ["--replace", address]
    if replace:
        reuploaded = len(replace) // 2
        run_cli("-C", str(world.repo), "apply", "--auto-approve", *replace)
    return imported, reuploaded


def assert_converged(world: World, run_cli: RunCli, before: str = "") -> None:
    code, out, err = run_cli("-C", str(world.repo), "plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes. The state matches the manifests."), (
        out + err + before
    )
    state = world.state()
    assert state is not None
    assert state.in_doubt == {}
    assert len(state.resources) == 2 * COUNT
    names = [u.custom_file_name for u in world.tencent.uploads]
    assert len(names) == len(set(names)) == COUNT  # zero duplicate Tencent uploads
    assert {str(u.file_id) for u in world.tencent.uploads} <= {
        e.file_id for e in state.resources.values()
    }


class KillAt:
    """Kills `process` when the `count`-th request reaches an emulator, on its thread.

    `wait` returns once the process is gone: True if killed, False if it finished first.
    """

    def __init__(self, count: int, process: subprocess.Popen[bytes]) -> None:
        self.left = count
        self.process = process
        self.lock = threading.Lock()
        self.killed = False

    def __call__(self, request: Request) -> None:
        with self.lock:
            self.left -= 1
            if self.left == 0:
                self.process.send_signal(signal.SIGKILL)
                self.killed = True

    def wait(self) -> bool:
        self.process.wait(timeout=120)
        with self.lock:
            self.left = -1  # a straggler's request after the kill changes nothing
            return self.killed


def test_an_apply_killed_at_20_random_moments_loses_nothing_and_duplicates_nothing(
    world: World, run_cli: RunCli
) -> None:
    rng = random.Random(20261121)
    apply = [sys.executable, "-m", "ivrsync", "-C", str(world.repo), "apply", "--auto-approve"]
    figures = []
    landed = 0
    for kill in range(KILLS):
        process = subprocess.Popen(
            apply, env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # The moment is chosen in requests, not seconds: the run is killed as the n-th
        # request it sends to either emulator arrives, before it is answered.
        arrivals = KillAt(rng.randint(1, 15), process)
        world.huawei.on_request = world.tencent.on_request = arrivals
        landed += arrivals.wait()
        world.huawei.on_request = world.tencent.on_request = None
        state_store = LocalStateStore(world.repo / "ivrsync.state.json")
        lock = state_store.current_lock()
        if lock is not None:
            # The next run takes over the dead holder's lock, and says so.
            code, _, message = run_cli("-C", str(world.repo), "plan")
            assert code == 0, message
            assert f"took over the lock on {state_store.path} left by" in message
            assert lock.id in message
            assert state_store.current_lock() is None
        recorded, doubtful = check_nothing_lost(world)  # the state parses, nothing is lost
        figures.append((kill, recorded, doubtful))
    code, _, err = run_cli("-C", str(world.repo), "apply", "--auto-approve")
    assert code in (0, 3), err
    check_nothing_lost(world)
    imported, reuploaded = resolve_huawei_doubts(world, run_cli)
    assert_converged(world, run_cli, f"the last apply (exit {code}) said:\n{err}")
    huawei_names = [u.voice_file_name for u in world.huawei.uploads]
    duplicates = len(huawei_names) - len(set(huawei_names))
    assert duplicates == 0  # the user imported what had landed instead of uploading it again
    print(
        f"\ncrash test: {KILLS} runs, {landed} killed by SIGKILL mid-request; after each, the "
        f"state parsed and held every stored upload (recorded or in doubt); last run: "
        f"{figures[-1][1]} recorded, "
        f"{figures[-1][2]} in doubt; afterwards {imported} Huawei uploads in doubt imported, "
        f"{reuploaded} re-uploaded; Huawei {len(huawei_names)} uploads, {duplicates} "
        f"duplicates; Tencent {len(world.tencent.uploads)} uploads, 0 duplicates; "
        f"Tencent rate-limit refusals {world.tencent.rate_limited}"
    )


def test_an_apply_under_faults_converges_within_3_runs_without_tencent_duplicates(
    world: World, run_cli: RunCli
) -> None:
    for faults in (world.huawei.faults, world.tencent.faults):
        faults.error_rate = 0.10
        faults.lost_response_rate = 0.05
        faults.seed = 7
    # Counted in requests, not seconds, so a loaded machine meets the same faults: Huawei
    # tokens expire every 10 uploads and 3 of every 30 are throttled (a second of uploads
    # each at 10/s); 1 of every 5 Tencent uploads is throttled.
    world.huawei.faults.expire_tokens_every = 10
    world.huawei.faults.throttle_every, world.huawei.faults.throttle_burst = 30, 3
    world.tencent.faults.throttle_every, world.tencent.faults.throttle_burst = 5, 1
    runs = 0
    reuploaded: set[str] = set()
    history: list[str] = []
    while runs < 3:
        runs += 1
        _, out, err = run_cli("-C", str(world.repo), "apply", "--auto-approve")
        assert "Traceback" not in out + err
        # What did not finish in each run, should the runs fail to converge.
        history.append(
            f"run {runs}: {out.strip()}\n"
            + "\n".join(line for line in err.splitlines() if ": uploaded" not in line)
        )
        check_nothing_lost(world, frozenset(reuploaded))
        state = world.state()
        assert state is not None
        huawei_doubts = {a: d for a, d in state.in_doubt.items() if d.provider == "aicc"}
        if huawei_doubts:
            # This user re-uploads what is in doubt (accepting a duplicate if it landed).
            replace = [arg for a in huawei_doubts for arg in ("--replace", a)]
            reuploaded |= {d.remote_name for d in huawei_doubts.values()}
            run_cli("-C", str(world.repo), "apply", "--auto-approve", *replace)
            check_nothing_lost(world, frozenset(reuploaded))
        plan_code, _, _ = run_cli("-C", str(world.repo), "plan", "--detailed-exitcode")
        state = world.state()
        if plan_code == 0 and state is not None and not state.in_doubt:
            break
    try:
        assert_converged(world, run_cli)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n\nwhat the runs left undone:\n" + "\n".join(history)
        ) from None
    huawei_names = [u.voice_file_name for u in world.huawei.uploads]
    duplicates = len(huawei_names) - len(set(huawei_names))
    assert duplicates <= len(reuploaded)  # only where the user chose to re-upload
    print(
        f"\nfault test: 10% 5xx, 5% lost answers, throttling bursts, Huawei tokens expiring "
        f"every 10 uploads: converged after {runs} run(s); Tencent {len(world.tencent.uploads)} "
        f"uploads, 0 duplicates; Huawei {len(huawei_names)} uploads, {duplicates} duplicates "
        f"from {len(reuploaded)} re-uploads the user chose; throttled: Huawei "
        f"{world.huawei.throttled}, Tencent {world.tencent.rate_limited}"
    )


# -- Amazon Connect: the same two tests, against its emulator and moto's S3 -----------------
# 2 requests/s: 12 prompts take ~7 s a run, so fewer runs and kills than above.
AMAZON_COUNT = 12
AMAZON_KILLS = 8
AWS_KEY, AWS_SECRET = "AKIACRASHCONNECT0001", "crash-connect-secret"
BUCKET = "crash-prompts"


@dataclass
class AmazonWorld:
    repo: Path
    connect: AmazonConnectEmulator
    env: dict[str, str]

    def state(self) -> State | None:
        return LocalStateStore(self.repo / "ivrsync.state.json").read()


@pytest.fixture
def amazon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AmazonWorld]:
    env = {
        "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    use_env(monkeypatch, env)
    with s3_server(BUCKET) as s3:
        config = AmazonConnectEmulatorConfig(
            access_key_id=AWS_KEY, secret_access_key=AWS_SECRET, s3_endpoint=s3
        )
        with AmazonConnectEmulator(config) as connect:
            prompts = {f"p{n:05d}": mulaw_wav(n) for n in range(AMAZON_COUNT)}
            repo = amazon_connect_repository(
                tmp_path / "prompts", prompts, endpoint=connect.url, s3_endpoint=s3, bucket=BUCKET
            )
            yield AmazonWorld(repo, connect, {**os.environ, **env})


def check_no_prompt_lost(world: AmazonWorld) -> tuple[int, int]:
    """Every prompt the instance holds is in the state: recorded, or in doubt by its Name."""
    state = world.state()
    recorded = {e.file_id for e in state.resources.values()} if state else set()
    doubtful = {d.remote_name for d in state.in_doubt.values()} if state else set()
    for prompt in world.connect.prompts:
        assert prompt.prompt_id in recorded or prompt.name in doubtful, (
            f"Amazon Connect holds {prompt.prompt_id} ({prompt.name}) and the state lost it"
        )
    return len(recorded), len(doubtful)


def assert_amazon_converged(world: AmazonWorld, run_cli: RunCli) -> None:
    code, out, err = run_cli("-C", str(world.repo), "plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes. The state matches the manifests."), out + err
    state = world.state()
    assert state is not None
    assert state.in_doubt == {}
    assert len(state.resources) == AMAZON_COUNT
    # Every prompt is the state's, once: none made twice (a Name is unique, and the state
    # holds the one each Name has).
    assert {p.prompt_id for p in world.connect.prompts} == {
        e.file_id for e in state.resources.values()
    }


def test_an_amazon_connect_apply_killed_at_random_moments_loses_and_duplicates_nothing(
    amazon: AmazonWorld, run_cli: RunCli
) -> None:
    rng = random.Random(20261203)
    apply = [sys.executable, "-m", "ivrsync", "-C", str(amazon.repo), "apply", "--auto-approve"]
    landed = 0
    for _ in range(AMAZON_KILLS):
        process = subprocess.Popen(
            apply, env=amazon.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        arrivals = KillAt(rng.randint(1, 4), process)
        amazon.connect.on_request = arrivals
        landed += arrivals.wait()
        amazon.connect.on_request = None
        check_no_prompt_lost(amazon)
    code, _, err = run_cli("-C", str(amazon.repo), "apply", "--auto-approve")
    assert code == 0, err
    check_no_prompt_lost(amazon)
    assert_amazon_converged(amazon, run_cli)
    requests = amazon.connect.requests
    print(
        f"\nAmazon Connect crash test: {AMAZON_KILLS} runs, {landed} killed by SIGKILL "
        f"mid-request; after each, the state held every prompt the instance holds; "
        f"{len(amazon.connect.prompts)} prompts, 0 duplicates; CreatePrompt "
        f"{requests.get('CreatePrompt', 0)}, ListPrompts {requests.get('ListPrompts', 0)}; "
        f"throttled {amazon.connect.throttled}"
    )


def test_an_amazon_connect_apply_under_faults_converges_within_3_runs(
    amazon: AmazonWorld, run_cli: RunCli
) -> None:
    faults = amazon.connect.faults
    faults.error_rate = 0.10
    faults.lost_response_rate = 0.05
    faults.seed = 7
    faults.throttle_every, faults.throttle_burst = 5, 1  # in requests, not seconds
    runs = 0
    history: list[str] = []
    while runs < 3:
        runs += 1
        _, out, err = run_cli("-C", str(amazon.repo), "apply", "--auto-approve")
        assert "Traceback" not in out + err
        history.append(f"run {runs}: {out.strip()}\n{err}")
        check_no_prompt_lost(amazon)
        plan_code, _, _ = run_cli("-C", str(amazon.repo), "plan", "--detailed-exitcode")
        state = amazon.state()
        if plan_code == 0 and state is not None and not state.in_doubt:
            break
    try:
        assert_amazon_converged(amazon, run_cli)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n\nwhat the runs left undone:\n" + "\n".join(history)
        ) from None
    requests = amazon.connect.requests
    print(
        f"\nAmazon Connect fault test: 10% 5xx, 5% lost answers, 1 in 5 throttled: converged "
        f"after {runs} run(s); {len(amazon.connect.prompts)} prompts, 0 duplicates; "
        f"CreatePrompt {requests.get('CreatePrompt', 0)}, ListPrompts "
        f"{requests.get('ListPrompts', 0)}, throttled {amazon.connect.throttled}"
    )
