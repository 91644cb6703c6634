"""After apply: reviews come in, refresh records them, status and output report them, the next
plan acts on them; drift is found; the state can be edited by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig, reject_names_matching
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.providers.huawei_aicc_callbacks import CALLBACKS
from ivrsync.reviews.server import ReviewServer
from ivrsync.reviews.store import ReviewStore
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli, credentials_env, use_env
from tests.repo_factory import distinct_wav, two_provider_repository
from tests.static_server import static_files

KEY, SECRET = "after-app-key", "after-app-secret"
TC_ID, TC_KEY = "AKIDafter000000000000000000000000001", "after-tencent-key"
REVIEW_TOKEN = "review-token-5f0e3a9d2c7b4e1f"


@dataclass
class World:
    repo: Path
    huawei: HuaweiEmulator
    tencent: TencentEmulator
    reviews: ReviewServer


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    env = credentials_env(KEY, SECRET, TC_ID, TC_KEY)
    use_env(monkeypatch, {**env, "IVRSYNC_REVIEW_TOKEN": REVIEW_TOKEN})
    root = tmp_path / "prompts"
    root.mkdir()
    huawei_config = HuaweiEmulatorConfig(
        app_key=KEY,
        app_secret=SECRET,
        review_delay=0.2,
        callback_interval=0.1,
        review=reject_names_matching("H00001"),
    )
    tencent_config = TencentEmulatorConfig(
        secret_id=TC_ID,
        secret_key=TC_KEY,
        review_delay=0.2,
        review=lambda r: "t00001" not in r.custom_file_name,
    )
    with (
        HuaweiEmulator(huawei_config) as huawei,
        TencentEmulator(tencent_config) as tencent,
        ReviewServer(ReviewStore(tmp_path / "reviews.sqlite3"), REVIEW_TOKEN, CALLBACKS) as reviews,
        static_files(root) as audio,
    ):
        repo = two_provider_repository(
            root, 3, huawei_endpoint=huawei.url, tencent_endpoint=tencent.url, audio_base_url=audio
        )
        manifest = repo / "ivrsync.yaml"
        manifest.write_text(
            manifest.read_text().replace(
                f"    endpoint: {huawei.url}\n",
                f"    endpoint: {huawei.url}\n"
                f"    callback_url: {reviews.url}/callbacks/${{IVRSYNC_REVIEW_TOKEN}}\n"
                f"    reviews_url: {reviews.url}\n",
            )
        )
        yield World(repo, huawei, tencent, reviews)


def wait_for_reviews(world: World, count: int) -> None:
    """Until both platforms are done on their own: reviews made, callbacks delivered."""
    assert world.huawei.wait_settled(30) and world.tencent.wait_settled(30)
    reviewed_h = sum(u.review_status != "pending" for u in world.huawei.uploads)
    reviewed_t = sum(u.status != 0 for u in world.tencent.uploads)
    assert reviewed_h + reviewed_t == count
    assert sum(a.accepted for a in world.huawei.callbacks) == len(world.huawei.uploads)


def test_reviews_are_refreshed_into_status_output_and_the_next_plan(
    world: World, run_cli: RunCli
) -> None:
    repo = str(world.repo)
    assert run_cli("-C", repo, "apply", "--auto-approve")[0] == 0
    code, out, _ = run_cli("-C", repo, "status")
    assert "aicc: 0 approved, 3 pending, 0 rejected" in out
    wait_for_reviews(world, 6)

    code, out, err = run_cli("-C", repo, "refresh")
    assert code == 0, err
    assert "Refreshed: 4 approved, 2 rejected, 0 pending, 0 missing." in out
    assert "aicc.h00001.en_US: pending -> rejected" in err
    assert "ccc.t00001.en_US: pending -> rejected" in err

    code, out, _ = run_cli("-C", repo, "status", "--json")
    rows = {r["address"]: r for r in json.loads(out)["resources"]}
    assert rows["aicc.h00000.en_US"]["review"] == "approved"
    assert rows["aicc.h00001.en_US"]["review"] == "rejected"
    assert rows["aicc.h00001.en_US"]["comment"].startswith("Rejected")

    code, out, _ = run_cli("-C", repo, "output", "--approved-only")
    approved = json.loads(out)
    assert set(approved["aicc"]) == {"h00000", "h00002"}  # a rejected one has no fallback
    assert set(approved["ccc"]) == {"t00000", "t00002"}
    code, out, _ = run_cli("-C", repo, "output", "--format", "env")
    assert "IVRSYNC_AICC_H00001_EN_US=" in out
    assert len(out.strip().splitlines()) == 6

    # The rejected audio is not proposed again (it would be rejected again); the plan warns.
    code, out, _ = run_cli("-C", repo, "plan", "--detailed-exitcode")
    assert code == 0
    assert "aicc.h00001.en_US: the last upload was rejected" in out

    # An approved prompt replaced: flows keep its approved FileId until the new one passes.
    state = LocalStateStore(world.repo / "ivrsync.state.json").read()
    assert state is not None
    approved_before = state.resources["aicc.h00000.en_US"].file_id
    (world.repo / "audio/h00000.wav").write_bytes(distinct_wav(777))
    assert run_cli("-C", repo, "apply", "--auto-approve")[0] == 0
    code, out, _ = run_cli("-C", repo, "output", "--approved-only")
    assert json.loads(out)["aicc"]["h00000"]["en_US"] == approved_before
    wait_for_reviews(world, 7)
    assert run_cli("-C", repo, "refresh")[0] == 0
    code, out, _ = run_cli("-C", repo, "output", "--approved-only")
    assert json.loads(out)["aicc"]["h00000"]["en_US"] != approved_before


def test_a_file_deleted_at_tencent_is_drift_that_the_next_apply_recreates(
    world: World, run_cli: RunCli
) -> None:
    repo = str(world.repo)
    assert run_cli("-C", repo, "apply", "--auto-approve")[0] == 0
    state = LocalStateStore(world.repo / "ivrsync.state.json").read()
    assert state is not None
    gone = state.resources["ccc.t00002.en_US"].file_id
    world.tencent.delete_file(int(gone))
    code, _, err = run_cli("-C", repo, "refresh")
    assert code == 0
    assert "ccc.t00002.en_US: no longer listed by the provider" in err
    code, out, _ = run_cli("-C", repo, "plan")
    assert f"ccc no longer lists FileId {gone}" in out
    assert "Plan: 1 to upload" in out
    # No pause for Tencent's 1 request/s: the apply spaces itself from the last upload.
    code, out, _ = run_cli("-C", repo, "apply", "--auto-approve")
    assert code == 0
    assert world.tencent.rate_limited == 0
    state = LocalStateStore(world.repo / "ivrsync.state.json").read()
    assert state is not None
    entry = state.resources["ccc.t00002.en_US"]
    assert entry.file_id != gone
    assert entry.missing_since is None
    assert entry.last_approved is None  # the deleted file is no fallback


def test_plan_refresh_sees_reviews_without_writing_the_state(world: World, run_cli: RunCli) -> None:
    repo = str(world.repo)
    assert run_cli("-C", repo, "apply", "--auto-approve")[0] == 0
    wait_for_reviews(world, 6)
    state_file = world.repo / "ivrsync.state.json"
    before = state_file.read_bytes()
    code, out, _ = run_cli("-C", repo, "plan", "--refresh")
    assert code == 0
    assert "ccc.t00001.en_US: the last upload was rejected" in out
    assert state_file.read_bytes() == before


def test_import_checks_a_tencent_file_id_and_takes_its_name_and_review(
    world: World, run_cli: RunCli
) -> None:
    repo = str(world.repo)
    assert run_cli("-C", repo, "apply", "--auto-approve", "--target", "ccc.*")[0] == 0
    wait_for_reviews(world, 3)
    state = LocalStateStore(world.repo / "ivrsync.state.json").read()
    assert state is not None
    file_id = state.resources["ccc.t00000.en_US"].file_id
    assert run_cli("-C", repo, "state", "rm", "ccc.t00000.en_US")[0] == 0
    code, _, err = run_cli("-C", repo, "import", "ccc.t00000.en_US", "999999")
    assert code == 1
    assert "lists no file with FileId 999999" in err
    code, _, err = run_cli("-C", repo, "import", "ccc.t00000.en_US", file_id)
    assert code == 0, err
    assert "review approved" in err
    code, out, _ = run_cli("-C", repo, "plan", "--target", "ccc.*")
    assert "No changes." in out


def test_state_list_show_mv_rm_bump_the_serial_under_the_lock(
    world: World, run_cli: RunCli
) -> None:
    repo = str(world.repo)
    assert run_cli("-C", repo, "apply", "--auto-approve", "--target", "aicc.*")[0] == 0
    store = LocalStateStore(world.repo / "ivrsync.state.json")
    serial = store.read().serial  # type: ignore[union-attr]
    code, out, _ = run_cli("-C", repo, "state", "list", "aicc.h0000[01]*")
    assert out.split() == ["aicc.h00000.en_US", "aicc.h00001.en_US"]
    code, out, _ = run_cli("-C", repo, "state", "show", "aicc.h00000.en_US")
    shown = json.loads(out)
    assert len(shown["file_id"]) == 19
    code, _, err = run_cli("-C", repo, "state", "mv", "aicc.h00000.en_US", "ccc.h00000.en_US")
    assert code == 1
    assert "a FileId belongs to its provider" in err
    assert run_cli("-C", repo, "state", "mv", "aicc.h00000.en_US", "aicc.greeting.en_US")[0] == 0
    assert run_cli("-C", repo, "state", "rm", "aicc.h00002.*")[0] == 0
    after = store.read()
    assert after is not None
    assert after.serial == serial + 2
    assert "aicc.greeting.en_US" in after.resources
    assert "aicc.h00002.en_US" not in after.resources
    holder = store.lock("apply", timeout=0)
    try:
        code, _, err = run_cli("-C", repo, "state", "rm", "aicc.h00001.en_US")
    finally:
        store.unlock(holder)
    assert code == 1
    assert holder.id in err
