"""`ivrsync plan` over real prompt repositories: every action, its reasons, and its outputs."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivrsync import audio_cache
from ivrsync.audio_cache import AudioCache
from ivrsync.manifest.loader import load_project
from ivrsync.operations.plan import plan_repository
from ivrsync.plan.model import (
    Plan,
    StateRef,
)
from ivrsync.plan.planner import PlanOptions
from ivrsync.plan.render import MARKDOWN_LIMIT, render_markdown
from ivrsync.state.model import State, provider_day
from ivrsync.state.store import LocalStateStore
from tests.conftest import EXAMPLES, RunCli
from tests.repo_factory import big_plan, record_applied


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(EXAMPLES, target)
    return target


def plan_json(run_cli: RunCli, repo: Path, *args: str) -> Any:
    code, out, err = run_cli("-C", str(repo), "plan", "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def changes_by_action(result: Any) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for change in result["changes"]:
        grouped.setdefault(change["action"], []).append(change["address"])
    return grouped


def test_first_plan_uploads_every_resource(run_cli: RunCli, repo: Path) -> None:
    code, out, _ = run_cli("-C", str(repo), "plan")
    assert code == 0
    assert out.rstrip().endswith("Plan: 18 to upload, 0 to replace, 0 to forget.")
    assert "+ aicc.welcome.en_US" in out
    assert "remote_name: WelcomeEnUS" in out
    assert "voice_type:  ivr" in out


def test_plan_right_after_apply_has_no_changes(run_cli: RunCli, repo: Path) -> None:
    record_applied(repo)
    code, out, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 0
    assert out.strip() == "No changes. The state matches the manifests."


def test_detailed_exitcode_is_2_when_there_are_changes(run_cli: RunCli, repo: Path) -> None:
    code, _, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2


def test_a_changed_audio_byte_replaces_every_resource_using_it(run_cli: RunCli, repo: Path) -> None:
    state = record_applied(repo)
    audio = repo / "audio/en_US/welcome.wav"
    data = bytearray(audio.read_bytes())
    data[-1] ^= 0xFF  # a sample in the data chunk: still valid audio
    audio.write_bytes(bytes(data))
    result = plan_json(run_cli, repo)
    assert changes_by_action(result) == {"replace": ["aicc.welcome.en_US", "ccc.welcome.en_US"]}
    change = result["changes"][0]
    [reason] = change["reasons"]
    assert reason["attribute"] == "sha256"
    assert reason["before"] == state.resources["aicc.welcome.en_US"].sha256
    assert reason["after"] != reason["before"]
    assert change["before"]["file_id"] == state.resources["aicc.welcome.en_US"].file_id


def test_a_touched_but_unchanged_file_is_rehashed_and_not_replaced(
    run_cli: RunCli, repo: Path
) -> None:
    record_applied(repo)
    audio = repo / "audio/en_US/welcome.wav"
    stat = audio.stat()
    os.utime(audio, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    code, out, _ = run_cli("-C", str(repo), "plan")
    assert code == 0
    assert "No changes." in out
    cache = AudioCache(repo)
    cache.facts("audio/en_US/welcome.wav")
    cache.facts("audio/zh_CN/welcome.wav")
    assert (cache.hits, cache.misses) == (2, 0)  # the plan re-hashed it and kept the new key


def test_a_no_op_plan_reads_no_audio_when_the_cache_is_warm(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_applied(repo)
    plan_repository(repo, PlanOptions(), env={})  # warms the cache
    hashed: list[Path] = []
    original = audio_cache.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return original(path)

    monkeypatch.setattr(audio_cache, "sha256_file", counting)
    outcome = plan_repository(repo, PlanOptions(), env={})
    assert outcome.plan is not None
    assert not outcome.plan.has_changes
    assert hashed == []


def test_a_changed_voice_type_replaces_on_huawei_only(run_cli: RunCli, repo: Path) -> None:
    record_applied(repo)
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "description: Played before the call is released\n",
            "description: Played before the call is released\n    voice_type: prompt_tone\n",
        )
    )
    result = plan_json(run_cli, repo)
    assert changes_by_action(result) == {"replace": ["aicc.goodbye.en_US", "aicc.goodbye.zh_CN"]}
    [reason] = result["changes"][0]["reasons"]
    assert (reason["attribute"], reason["before"], reason["after"]) == (
        "voice_type",
        "ivr",
        "prompt_tone",
    )


def test_a_removed_prompt_is_forgotten_and_its_remote_file_stays(
    run_cli: RunCli, repo: Path
) -> None:
    record_applied(repo)
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text()
    start = text.index("  goodbye:")
    end = text.index("  hold:")
    manifest.write_text(text[:start] + text[end:])
    code, out, _ = run_cli("-C", str(repo), "plan")
    assert code == 0
    assert "  - aicc.goodbye.en_US" in out
    assert "will be forgotten: the remote file stays" in out
    assert out.rstrip().endswith("Plan: 0 to upload, 0 to replace, 4 to forget.")


def test_a_removed_entry_is_said_with_the_forget(run_cli: RunCli, repo: Path) -> None:
    """`removed:` without `delete:` documents the forget; the plan names where it is."""
    state = record_applied(repo)
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text()
    text = text[: text.index("  goodbye:")] + text[text.index("  hold:") :]
    manifest.write_text(text + "\nremoved:\n  - from: aicc.goodbye.*\n")
    result = plan_json(run_cli, repo)
    forgotten = {c["address"]: c["reasons"][0]["message"] for c in result["changes"]}
    assert sorted(forgotten) == [
        "aicc.goodbye.en_US",
        "aicc.goodbye.zh_CN",
        "ccc.goodbye.en_US",
        "ccc.goodbye.zh_CN",
    ]
    assert {c["action"] for c in result["changes"]} == {"forget"}
    line = len(text.splitlines()) + 3
    assert forgotten["aicc.goodbye.en_US"].endswith(
        f"the remote file stays (FileId {state.resources['aicc.goodbye.en_US'].file_id}), "
        f"as `removed:` at ivrsync.yaml:{line}:5 says"
    )
    assert "removed:" not in forgotten["ccc.goodbye.en_US"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{from: 'aicc.*', delete: true}",
            "provider aicc (huawei-aicc) cannot delete uploads: Huawei offers no delete",
        ),
        ("{from: ccc.welcome.en_US}", "ccc.welcome.en_US is still in the manifests"),
        ("{from: 'nowhere.*'}", "there is no provider nowhere in ivrsync.yaml"),
        ("{from: aicc.welcome}", "(or write a glob such as 'provider.*')"),
    ],
)
def test_a_removed_entry_that_cannot_be_done_is_an_error_at_its_line(
    run_cli: RunCli, repo: Path, entry: str, message: str
) -> None:
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text()
    manifest.write_text(text + f"\nremoved:\n  - {entry}\n")
    code, out, err = run_cli("-C", str(repo), "plan")
    assert code == 1, out
    assert f"ivrsync.yaml:{len(text.splitlines()) + 3}" in err
    assert message in err
    assert "Traceback" not in err


def test_a_moved_entry_keeps_the_file_id_without_an_upload(run_cli: RunCli, repo: Path) -> None:
    state = record_applied(repo)
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text().replace("  welcome:\n", "  greeting:\n", 1)
    manifest.write_text(text + "\nmoved:\n  - {from: welcome, to: greeting}\n")
    result = plan_json(run_cli, repo)
    assert changes_by_action(result) == {
        "move": [
            "aicc.greeting.en_US",
            "aicc.greeting.zh_CN",
            "ccc.greeting.en_US",
            "ccc.greeting.zh_CN",
        ]
    }
    move = result["changes"][0]
    assert move["previous_address"] == "aicc.welcome.en_US"
    assert move["before"]["file_id"] == state.resources["aicc.welcome.en_US"].file_id
    assert "moved from aicc.welcome.en_US" in move["reasons"][0]["message"]
    codes = [w["code"] for w in result["warnings"]]
    assert codes == ["remote-name-changed"]  # GreetingEnUS is not worth an upload


def test_a_renamed_prompt_with_the_same_audio_moves_without_a_moved_entry(
    run_cli: RunCli, repo: Path
) -> None:
    record_applied(repo)
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text().replace("  goodbye:\n", "  farewell:\n", 1))
    result = plan_json(run_cli, repo)
    grouped = changes_by_action(result)
    assert list(grouped) == ["move"]
    assert len(grouped["move"]) == 4
    assert "the same audio as aicc.goodbye.en_US" in result["changes"][0]["reasons"][0]["message"]


def test_a_move_to_an_address_not_in_the_manifests_is_an_error(run_cli: RunCli, repo: Path) -> None:
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text() + "\nmoved:\n  - {from: greeting, to: salutation}\n")
    code, _, err = run_cli("-C", str(repo), "plan")
    assert code == 1
    assert "ivrsync.yaml:" in err
    assert "salutation is not in the manifests" in err


def test_quota_warning_when_tencent_uploads_exceed_what_is_left_today(
    run_cli: RunCli, repo: Path
) -> None:
    state = State.new()
    today = provider_day("tencent-ccc", datetime.now(UTC))
    for _ in range(45):
        state.record_upload("ccc", today)
    LocalStateStore(repo / "ivrsync.state.json").write(state)
    result = plan_json(run_cli, repo)
    [warning] = result["warnings"]
    assert warning["code"] == "quota"
    assert warning["message"].startswith("ccc: 9 uploads needed, 5 left today (45 of 50 used")
    assert len(warning["addresses"]) == 4  # deferred to the next day


def test_a_rejected_upload_is_a_warning_not_a_silent_no_op(run_cli: RunCli, repo: Path) -> None:
    record_applied(repo, status="rejected")
    code, out, _ = run_cli("-C", str(repo), "plan")
    assert code == 0
    assert "the last upload was rejected" in out
    assert "No changes." in out


def test_target_limits_the_plan_to_matching_addresses(run_cli: RunCli, repo: Path) -> None:
    result = plan_json(run_cli, repo, "--target", "ccc.hold.*")
    assert changes_by_action(result) == {"create": ["ccc.hold.en_US", "ccc.hold.zh_CN"]}
    assert "16 other change(s)" in result["warnings"][0]["message"]


def test_replace_uploads_an_unchanged_resource_again(run_cli: RunCli, repo: Path) -> None:
    record_applied(repo)
    result = plan_json(run_cli, repo, "--replace", "aicc.welcome.en_US")
    assert changes_by_action(result) == {"replace": ["aicc.welcome.en_US"]}
    assert result["changes"][0]["reasons"][0]["message"] == "requested with --replace"


def test_saved_plan_renders_the_same_in_every_format(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    code, text_out, err = run_cli("-C", str(repo), "plan", "--out", str(saved))
    assert code == 0
    assert f"Saved the plan to {saved}." in err
    plan = Plan.from_json(saved.read_bytes(), str(saved))
    assert plan.summary.create == 18
    assert plan.state == StateRef(lineage=None, serial=0)
    assert set(plan.files) == {r.audio_path for r in load_project(repo, env={}).resources}
    code, shown, _ = run_cli("show", str(saved))
    assert code == 0
    assert shown == text_out
    code, shown_json, _ = run_cli("show", str(saved), "--format", "json")
    assert json.loads(shown_json) == json.loads(saved.read_text())
    code, shown_md, _ = run_cli("show", str(saved), "--format", "markdown")
    assert shown_md.startswith("**Plan: 18 to upload, 0 to replace, 0 to forget.**")
    assert "<details><summary>Full plan</summary>" in shown_md


def test_show_refuses_a_file_that_is_not_a_plan(run_cli: RunCli, tmp_path: Path) -> None:
    bogus = tmp_path / "plan.json"
    bogus.write_text('{"format_version": "7.0"}')
    code, _, err = run_cli("show", str(bogus))
    assert code == 1
    assert "plan of format 7.0" in err
    bogus.write_text("not json")
    code, _, err = run_cli("show", str(bogus))
    assert code == 1
    assert "is not a saved ivrsync plan" in err


def test_show_without_a_file_renders_the_state(run_cli: RunCli, repo: Path) -> None:
    state = record_applied(repo)
    code, out, err = run_cli("-C", str(repo), "show")
    assert code == 0
    assert "aicc.welcome.en_US" in out
    assert state.resources["aicc.welcome.en_US"].file_id in out
    assert f"State serial {state.serial}" in err


def test_a_plan_holds_no_secret(
    run_cli: RunCli, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "AICC_APP_KEY": "key-7f3a9c1e",
        "AICC_APP_SECRET": "secret-b4d2e8f6",
        "TENCENTCLOUD_SECRET_ID": "AKIDsecretid9911",
        "TENCENTCLOUD_SECRET_KEY": "tcsecretkey5577",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    saved = tmp_path / "plan.json"
    code, out, err = run_cli("-C", str(repo), "plan", "--out", str(saved), "--format", "json")
    assert code == 0
    everything = out + err + saved.read_text()
    for value in secrets.values():
        assert value not in everything


def test_a_second_plan_waits_for_the_lock_then_names_the_holder(
    run_cli: RunCli, repo: Path
) -> None:
    store = LocalStateStore(repo / "ivrsync.state.json")
    holder = store.lock("apply", timeout=0)
    try:
        code, _, err = run_cli("-C", str(repo), "plan", "--lock-timeout", "300ms")
    finally:
        store.unlock(holder)
    assert code == 1
    assert holder.id in err
    assert "apply" in err
    assert f"ivrsync force-unlock {holder.id}" in err
    code, _, _ = run_cli("-C", str(repo), "plan", "--lock-timeout", "300ms")
    assert code == 0


def test_an_invalid_manifest_stops_the_plan(run_cli: RunCli, repo: Path) -> None:
    (repo / "audio/en_US/hold.mp3").write_text("not audio")
    code, out, err = run_cli("-C", str(repo), "plan")
    assert code == 1
    assert out == ""
    assert "hold.mp3: not WAV or MP3 data" in err


def test_markdown_of_5000_changes_fits_a_comment_with_a_note() -> None:
    plan = big_plan({"ccc": 5000})
    text = render_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.startswith("**Plan: 5000 to upload, 0 to replace, 0 to forget.**")
    assert "_Cut to fit a comment (65,536 characters):" in text
    assert "of 5000 changes listed in the tables" in text
    assert text.count("`ccc.prompt") > 100  # as many rows as fit, not none


def test_plan_needs_no_credentials_and_imports_no_cloud_sdk(repo: Path) -> None:
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from ivrsync.cli.main import main\n"
        f"try:\n    main(['-C', {str(repo)!r}, 'plan'])\nexcept SystemExit as e:\n"
        "    code = e.code\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'tencentcloud', 'httpx'}),"
        " file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if "SECRET" not in k and "APP_KEY" not in k}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, env=env
    )
    assert result.stderr.strip().splitlines()[-1] == "0 []"


def test_two_plans_racing_one_waits_the_other_gives_up_naming_the_holder(repo: Path) -> None:
    """Real processes: while a holder keeps the lock, a hasty plan exits 1 naming it and a
    patient one keeps waiting; it plans once the holder lets go, which the test decides, not
    a clock. That a waiter really finds the lock held and then gets it is shown by the
    processes themselves in tests/test_state.py's race."""
    import subprocess
    import sys

    helper = Path(__file__).parent / "state_lock_helper.py"
    state = repo / "ivrsync.state.json"
    holder = subprocess.Popen(
        [sys.executable, str(helper), "hold", str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    lock_id = holder.stdout.readline().split()[1]
    plan = [sys.executable, "-m", "ivrsync", "-C", str(repo), "plan", "--lock-timeout"]
    patient = subprocess.Popen([*plan, "60s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hasty = subprocess.run([*plan, "200ms"], capture_output=True, text=True, check=False)
    assert hasty.returncode == 1
    assert f"lock ID {lock_id}" in hasty.stderr
    assert f"ivrsync force-unlock {lock_id}" in hasty.stderr
    assert patient.poll() is None  # still waiting: the lock is held
    holder.stdin.close()
    out, _ = patient.communicate(timeout=60)
    assert holder.wait(timeout=60) == 0
    assert patient.returncode == 0
    assert b"Plan: 18 to upload" in out
