"""Within the documented rates under network jitter, each provider on its own workers, and
the bytes uploaded are the bytes planned (issue 14, sections 5 and 6)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ivrsync.emulator.common import Request, Response
from ivrsync.emulator.huawei import UPLOAD_PATH, HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli, credentials_env, use_env
from tests.repo_factory import distinct_wav, huawei_repository, two_provider_repository
from tests.static_server import static_files

KEY, SECRET = "rate-app-key", "rate-app-secret"
TC_ID, TC_KEY = "AKIDrate00000000000000000000000000001", "rate-tencent-key"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, credentials_env(KEY, SECRET, TC_ID, TC_KEY))


def test_refusals_of_a_sliding_window_are_retried_never_fatal(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Over real sockets, with jitter, against gateways counting any 1-second window; refusals
    come from a schedule counted in requests (a loaded machine makes its own too), Huawei's as
    an HTTP 500 saying "traffic control". Zero refusals at the default rate under jitter alone
    is checked on a clock in tests/test_ratelimit.py, and measured by
    bench/rates_under_jitter.py."""
    huawei_config = HuaweiEmulatorConfig(
        app_key=KEY,
        app_secret=SECRET,
        review_delay=600,
        traffic_control="sliding-window",
        throttle_status=500,  # a 5xx saying "traffic control": retried, never fatal
    )
    tencent_config = TencentEmulatorConfig(
        secret_id=TC_ID, secret_key=TC_KEY, review_delay=600, traffic_control="sliding-window"
    )
    root = tmp_path / "prompts"
    root.mkdir()
    with (
        HuaweiEmulator(huawei_config) as huawei,
        TencentEmulator(tencent_config) as tencent,
        static_files(root) as audio,
    ):
        for emulator, seed in ((huawei, 14), (tencent, 15)):
            emulator.faults.jitter, emulator.faults.seed = 0.04, seed  # up to 40 ms late
            emulator.faults.throttle_every, emulator.faults.throttle_burst = 4, 1
        repo = two_provider_repository(
            root,
            20,
            huawei_endpoint=huawei.url,
            tencent_endpoint=tencent.url,
            audio_base_url=audio,
            batch_size=5,
        )
        code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        assert huawei.throttled >= 5 and tencent.rate_limited >= 1
        state = LocalStateStore(repo / "ivrsync.state.json").read()
        assert state is not None and len(state.resources) == 40 and not state.in_doubt


def test_tencents_first_request_does_not_wait_for_huaweis_queue(
    tmp_path: Path, run_cli: RunCli
) -> None:
    root = tmp_path / "prompts"
    root.mkdir()
    huawei_config = HuaweiEmulatorConfig(app_key=KEY, app_secret=SECRET, review_delay=600)
    tencent_config = TencentEmulatorConfig(secret_id=TC_ID, secret_key=TC_KEY, review_delay=600)
    with (
        HuaweiEmulator(huawei_config) as huawei,
        TencentEmulator(tencent_config) as tencent,
        static_files(root) as audio,
    ):
        tencent_sent = threading.Event()
        waits: list[bool] = []  # whether Tencent's request came while Huawei's waited
        hold(huawei, UPLOAD_PATH, lambda: waits.append(tencent_sent.wait(5)))
        hold(tencent, "/", tencent_sent.set)
        repo = two_provider_repository(
            root,
            40,
            huawei_endpoint=huawei.url,
            tencent_endpoint=tencent.url,
            audio_base_url=audio,
        )
        code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--parallelism", "10")
        # Huawei's uploads are answered only once Tencent's first request arrived: with one
        # pool for both, its ten workers waited on Huawei, and Tencent's turn never came.
        assert waits and all(waits)
        assert code == 0, err


def hold(
    emulator: HuaweiEmulator | TencentEmulator, path: str, before: Callable[[], object]
) -> None:
    """Call `before()` ahead of answering each request to `path`."""
    handle = emulator.handle

    def held(request: Request) -> Response | None:
        if request.path == path:
            before()
        return handle(request)

    emulator.handle = held  # type: ignore[method-assign]


def test_a_file_changed_between_plan_and_upload_is_refused_not_recorded(
    tmp_path: Path, run_cli: RunCli
) -> None:
    huawei_config = HuaweiEmulatorConfig(app_key=KEY, app_secret=SECRET, review_delay=600)
    with HuaweiEmulator(huawei_config) as huawei:
        repo = huawei_repository(tmp_path / "prompts", 3, endpoint=huawei.url)
        plan = tmp_path / "plan.json"
        assert run_cli("-C", str(repo), "plan", "--out", str(plan))[0] == 0
        changed = repo / "audio" / "p00001.wav"
        # Once the apply has checked the plan and started uploading, the file is rewritten
        # (same size, other bytes).
        rewritten = threading.Event()

        def rewrite() -> None:
            if not rewritten.is_set():
                changed.write_bytes(distinct_wav(999))
                rewritten.set()

        hold(huawei, UPLOAD_PATH, rewrite)
        code, _, err = run_cli("-C", str(repo), "apply", str(plan), "--parallelism", "1")
        assert code == 3, err
        assert "aicc.p00001.en_US: failed: aicc.p00001.en_US: audio/p00001.wav changed" in err
        state = LocalStateStore(repo / "ivrsync.state.json").read()
        assert state is not None
        assert "aicc.p00001.en_US" not in state.resources
        assert "aicc.p00001.en_US" not in state.in_doubt
        assert sorted(u.voice_file_name or "" for u in huawei.uploads) == [
            "P00000EnUS",
            "P00002EnUS",
        ]
