"""A plan a reviewer can judge without a terminal: what each upload holds, which FileId stays
live, provider settings against the last upload's (loud where credentials or audio go), and a
stale plan that says which setting differs and where each value came from."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.state.model import ApprovedUpload, Review, State
from ivrsync.state.store import LocalStateStore
from tests.conftest import DATA, EXAMPLES, RunCli
from tests.repo_factory import UPLOADED_AT, huawei_repository, record_applied

ENV_NAMES = ("AICC_ENDPOINT", "CCC_ENDPOINT", "CCC_SDK_APP_ID", "CCC_AUDIO_BASE_URL", "CI")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ENV_NAMES:  # the example's settings at their defaults, outside CI
        monkeypatch.delenv(name, raising=False)
    target = tmp_path / "prompts"
    shutil.copytree(EXAMPLES, target)
    return target


def read_state(repo: Path) -> State:
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    return state


def write_state(repo: Path, state: State) -> None:
    LocalStateStore(repo / "ivrsync.state.json").write(state)


def plan_outputs(run_cli: RunCli, repo: Path) -> tuple[str, str, Any]:
    """The plan as text, as Markdown and as JSON."""
    outputs = []
    for form in ("text", "markdown", "json"):
        code, out, err = run_cli("-C", str(repo), "plan", "--format", form)
        assert code == 0, err
        outputs.append(out)
    return outputs[0], outputs[1], json.loads(outputs[2])


def new_welcome_audio(repo: Path) -> None:
    """en_US gets other audio: 2.58 s of A-law, 8 kHz, mono, 20,696 bytes."""
    shutil.copy(repo / "audio/zh_CN/welcome.wav", repo / "audio/en_US/welcome.wav")


# -- the rows ------------------------------------------------------------------------------


def test_a_replacement_shows_its_audio_and_the_file_id_that_stays_live(
    run_cli: RunCli, repo: Path
) -> None:
    state = record_applied(repo)
    new_welcome_audio(repo)
    text, markdown, plan = plan_outputs(run_cli, repo)
    live = state.resources["aicc.welcome.en_US"].file_id
    facts = "2.58 s, wav alaw, 8,000 Hz, mono, 20,696 bytes"

    assert f"audio:       audio/en_US/welcome.wav ({facts})" in text
    assert f"# FileId {live} (approved) stays in use until the new upload is approved" in text

    row = next(line for line in markdown.splitlines() if "| `aicc.welcome.en_US` |" in line)
    assert f"| `audio/en_US/welcome.wav` {facts} |" in row
    assert f"FileId {live} stays live until the new one is approved" in row
    # One prompt on two providers: two resources, one prompt (was "2 prompt(s)").
    assert (
        "> 2 resources (1 prompt) get a new FileId: `aicc.welcome.en_US`, `ccc.welcome.en_US`."
        in markdown
    )

    change = next(c for c in plan["changes"] if c["address"] == "aicc.welcome.en_US")
    assert change["live_file_id"] == live
    after = change["after"]
    assert (after["duration"], after["format"], after["codec"]) == (2.58, "wav", "alaw")
    assert (after["sample_rate"], after["channels"], after["size"]) == (8000, 1, 20696)
    assert plan["format_version"] == "1.5"


def test_a_pending_upload_replaced_again_leaves_the_last_approved_file_id_live(
    run_cli: RunCli, repo: Path
) -> None:
    state = record_applied(repo)
    entry = state.resources["aicc.welcome.en_US"]
    approved = ApprovedUpload(
        file_id="1182733043937560000",
        remote_name=entry.remote_name,
        sha256="0" * 64,
        size=1,
        uploaded_at=UPLOADED_AT,
    )
    entry.last_approved = approved
    entry.review = Review(status="pending")
    write_state(repo, state)
    new_welcome_audio(repo)
    text, markdown, plan = plan_outputs(run_cli, repo)
    assert f"# FileId {entry.file_id} (pending) is superseded" in text
    assert f"# FileId {approved.file_id} (approved) stays in use until the new upload" in text
    assert f"FileId {approved.file_id} stays live until the new one is approved" in markdown
    change = next(c for c in plan["changes"] if c["address"] == "aicc.welcome.en_US")
    assert change["live_file_id"] == approved.file_id


def test_one_resource_of_one_prompt_is_worded_in_the_singular(run_cli: RunCli, repo: Path) -> None:
    record_applied(repo)
    shutil.copy(DATA / "tone.mp3", repo / "audio/en_US/hold.mp3")  # a prompt of ccc only
    _, markdown, _ = plan_outputs(run_cli, repo)
    assert "> 1 resource (1 prompt) gets a new FileId: `ccc.hold.en_US`." in markdown


# -- provider settings ---------------------------------------------------------------------


def recorded_with(repo: Path, provider: str, **changed: Any) -> State:
    """The state of an apply whose last upload to `provider` used other settings."""
    state = record_applied(repo)
    record = state.providers[provider]
    settings = json.loads(json.dumps(record.settings))
    for path, value in changed.items():
        node = settings
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    state.providers[provider] = record.model_copy(update={"settings": settings})
    write_state(repo, state)
    return state


def test_an_endpoint_moved_to_another_host_is_as_loud_as_a_destructive_change(
    run_cli: RunCli, repo: Path
) -> None:
    recorded_with(repo, "aicc", endpoint="https://old.example.com", rate_limit=5.0)
    text, markdown, plan = plan_outputs(run_cli, repo)

    assert (
        "!!! aicc.endpoint: https://old.example.com -> https://service.besclouds.com"
        "   (ivrsync.yaml:14, default (AICC_ENDPOINT unset))" in text
    )
    assert "# CAUTION: credentials are sent to service.besclouds.com (was old.example.com)" in text
    assert "  ~ aicc.rate_limit: 5.0 -> 10.0   (ivrsync.yaml:17)" in text  # not loud

    caution = markdown.split("> [!CAUTION]\n", 1)[1].split("\n\n", 1)[0]
    assert "`aicc.endpoint: https://old.example.com -> https://service.besclouds.com`" in caution
    assert "rate_limit" not in caution
    assert (
        "| `aicc` | `endpoint` **caution** | `https://old.example.com` | "
        "`https://service.besclouds.com` | ivrsync.yaml:14, default (AICC_ENDPOINT unset) |"
        in markdown
    )

    aicc = plan["providers"]["aicc"]
    assert aicc["settings_before"] == "recorded"
    assert aicc["setting_changes"] == [
        {
            "path": "endpoint",
            "before": "https://old.example.com",
            "after": "https://service.besclouds.com",
            "caution": True,
            "why": "credentials are sent to service.besclouds.com (was old.example.com)",
        },
        {"path": "rate_limit", "before": "5.0", "after": "10.0", "caution": False, "why": ""},
    ]
    assert plan["providers"]["ccc"]["setting_changes"] == []


def test_a_new_port_on_the_same_host_is_a_plain_change(run_cli: RunCli, repo: Path) -> None:
    recorded_with(repo, "aicc", endpoint="https://service.besclouds.com:8443")
    text, markdown, plan = plan_outputs(run_cli, repo)
    assert "  ~ aicc.endpoint: https://service.besclouds.com:8443 -> " in text
    assert "[!CAUTION]" not in markdown
    assert plan["providers"]["aicc"]["setting_changes"][0]["caution"] is False


def test_nested_settings_the_app_id_and_the_audio_source_are_loud(
    run_cli: RunCli, repo: Path
) -> None:
    recorded_with(
        repo,
        "ccc",
        sdk_app_id=1400000001,
        audio_source__template="https://old-cdn.example.com/ivr/{path}",
    )
    text, markdown, plan = plan_outputs(run_cli, repo)
    changes = {c["path"]: c for c in plan["providers"]["ccc"]["setting_changes"]}
    assert set(changes) == {"audio_source.template", "sdk_app_id"}
    assert all(c["caution"] for c in changes.values())
    assert changes["sdk_app_id"]["before"] == "1400000001"
    assert (
        "!!! ccc.audio_source.template: https://old-cdn.example.com/ivr/{path} -> "
        "https://cdn.example.com/ivr/{path}" in text
    )
    assert "# CAUTION: the audio is published from another place" in text
    assert "`ccc.sdk_app_id: 1400000001 -> 1400000000`: uploads go to another CCC" in markdown


def test_an_endpoint_moved_is_a_change_apply_records_once(
    run_cli: RunCli, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What differs from the state is a change: planned (exit 2), approved, applied without
    credentials (nothing is uploaded), and then clean."""
    state = record_applied(repo)
    monkeypatch.setenv("AICC_ENDPOINT", "https://other.example.net")
    saved = tmp_path / "plan.json"
    code, text, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode", "--out", str(saved))
    assert code == 2
    assert "# CAUTION: credentials are sent to other.example.net" in text
    assert (
        "# aicc: 1 setting differs from those recorded in the state; apply records the new "
        "values" in text
    )
    assert text.rstrip().endswith(
        "Plan: 0 to upload, 0 to replace, 0 to forget, settings of 1 provider to record."
    )
    assert "No changes" not in text
    plan = json.loads(saved.read_text())
    assert plan["summary"]["settings"] == 1
    assert plan["providers"]["aicc"]["record_settings"] is True
    assert plan["providers"]["ccc"]["record_settings"] is False
    _, markdown, _ = plan_outputs(run_cli, repo)
    assert markdown.startswith(
        "**Plan: 0 to upload, 0 to replace, 0 to forget, settings of 1 provider to record.**"
    )

    code, out, err = run_cli("-C", str(repo), "apply", "--json", str(saved))  # no credentials
    assert code == 0, err
    result = json.loads(out)
    assert (result["outcome"], result["resources"]) == ("complete", [])
    assert result["summary"]["settings"] == 1
    assert result["settings"] == [
        {
            "provider": "aicc",
            "provider_type": "huawei-aicc",
            "status": "done",
            "reason": "settings recorded (endpoint changed)",
        }
    ]
    assert result["state"]["serial"] == state.serial + 1  # one write
    assert "aicc: settings recorded (endpoint changed)" in err
    after = read_state(repo)
    assert after.providers["aicc"].settings["endpoint"] == "https://other.example.net"
    assert after.resources == state.resources
    assert after.providers["ccc"] == state.providers["ccc"]

    code, out, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes. The state matches the manifests.")


class _Terminal(io.StringIO):
    """A terminal's stdin with an answer typed in."""

    def isatty(self) -> bool:
        return True


def test_a_settings_change_is_approved_like_any_other(
    run_cli: RunCli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = record_applied(repo)
    monkeypatch.setenv("AICC_ENDPOINT", "https://other.example.net")
    code, _, err = run_cli("-C", str(repo), "apply")  # not at a terminal: nobody approved it
    assert code == 1
    assert "apply a saved plan" in err
    monkeypatch.setattr("sys.stdin", _Terminal("no\n"))
    code, out, err = run_cli("-C", str(repo), "apply")
    assert code == 1
    assert "!!! aicc.endpoint: https://service.besclouds.com -> https://other.example.net" in out
    assert "Apply these changes? Only 'yes' is accepted" in out  # nothing to upload
    assert "Apply cancelled" in err
    assert read_state(repo) == state
    monkeypatch.setattr("sys.stdin", _Terminal("yes\n"))
    code, out, err = run_cli("-C", str(repo), "apply")
    assert code == 0, err
    assert "Apply complete: 0 uploaded, 0 replaced, 0 forgotten, settings of 1 provider(s) " in out
    assert read_state(repo).providers["aicc"].settings["endpoint"] == "https://other.example.net"


def test_a_plan_applied_after_the_settings_moved_again_is_stale(
    run_cli: RunCli, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = record_applied(repo)
    monkeypatch.setenv("AICC_ENDPOINT", "https://other.example.net")
    saved = tmp_path / "plan.json"
    assert run_cli("-C", str(repo), "plan", "--out", str(saved))[0] == 0
    monkeypatch.setenv("AICC_ENDPOINT", "https://third.example.net")
    code, _, err = run_cli("-C", str(repo), "apply", str(saved))
    assert code == 1
    assert (
        "provider aicc setting endpoint is 'https://other.example.net' in the plan" in err
        and "'https://third.example.net' now" in err
    )
    assert read_state(repo).serial == state.serial


def test_a_targeted_plan_records_only_the_settings_of_providers_it_uploads_to(
    run_cli: RunCli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_applied(repo)
    new_welcome_audio(repo)
    monkeypatch.setenv("AICC_ENDPOINT", "https://other.example.net")
    monkeypatch.setenv("CCC_ENDPOINT", "ccc.other.example.net")
    code, out, _ = run_cli("-C", str(repo), "plan", "--json", "--target", "ccc.welcome.*")
    plan = json.loads(out)
    assert code == 0
    assert plan["providers"]["ccc"]["record_settings"] is True  # its upload uses them
    assert plan["providers"]["aicc"]["record_settings"] is False
    assert plan["summary"]["settings"] == 1
    targeted = next(w for w in plan["warnings"] if w["code"] == "targeted")
    # aicc.welcome.en_US and aicc's settings are left out.
    assert "2 other change(s) are left for a later plan" in targeted["message"]
    text = run_cli("-C", str(repo), "plan", "--target", "ccc.welcome.*")[1]
    assert "# aicc: 1 setting differs from those recorded in the state; left for a plan " in text


def test_a_state_without_recorded_settings_records_them_once(run_cli: RunCli, repo: Path) -> None:
    """A state of format 1 holds resources but no settings: one change records them."""
    state = record_applied(repo)
    state.providers.clear()  # as a state of format 1 holds them
    write_state(repo, state)
    code, text, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2
    # aicc, ccc and connect, once each
    assert text.count("the settings recorded for it are unknown") == 3
    assert "!!!" not in text
    assert text.rstrip().endswith("settings of 3 providers to record.")
    _, _, plan = plan_outputs(run_cli, repo)
    assert plan["providers"]["aicc"]["settings_before"] == "unknown"
    assert plan["providers"]["aicc"]["setting_changes"] == []
    assert plan["summary"]["settings"] == 3

    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--json")
    assert code == 0, err
    assert [s["reason"] for s in json.loads(out)["settings"]] == [
        "settings recorded (the state held none for it)"
    ] * 3
    assert set(read_state(repo).providers) == {"aicc", "ccc", "connect"}
    code, out, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes. The state matches the manifests.")


def test_a_fresh_project_has_no_settings_to_record_before_its_first_upload(
    run_cli: RunCli, repo: Path
) -> None:
    code, out, _ = run_cli("-C", str(repo), "plan", "--json")
    plan = json.loads(out)
    assert plan["summary"]["settings"] == 0
    assert [ref["record_settings"] for ref in plan["providers"].values()] == [False] * 3
    assert [ref["settings_before"] for ref in plan["providers"].values()] == ["none"] * 3
    code, text, _ = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2  # its uploads
    assert "Provider settings" not in text
    assert "settings of" not in text


def test_apply_records_the_settings_it_used_without_secrets(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "callback-token-7d1e0c9b2a"
    monkeypatch.setenv("AICC_APP_KEY", "rows-key")
    monkeypatch.setenv("AICC_APP_SECRET", "rows-secret")
    monkeypatch.setenv("HOOK_TOKEN", token)
    monkeypatch.delenv("CI", raising=False)
    # Loopback only; the review (and its callback) would come after the test is over.
    config = HuaweiEmulatorConfig(app_key="rows-key", app_secret="rows-secret", review_delay=600)
    with HuaweiEmulator(config) as emulator:
        endpoint = emulator.url
        repo = huawei_repository(
            tmp_path / "prompts",
            2,
            endpoint=emulator.url,
            callback_url="http://127.0.0.1:9/ivr/${HOOK_TOKEN}",
        )
        code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
        assert code == 0, err
        assert len(emulator.uploads) == 2
        assert emulator.uploads[0].callback_url == f"http://127.0.0.1:9/ivr/{token}"
    recorded = read_state(repo).providers["aicc"].settings
    assert recorded["endpoint"] == endpoint
    assert recorded["callback_url"] == "http://127.0.0.1:9/ivr/***"
    state_text = (repo / "ivrsync.state.json").read_text()
    assert '"format_version": 3' in state_text

    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text().replace("127.0.0.1:9/", "127.0.0.2:9/"))
    text, markdown, plan = plan_outputs(run_cli, repo)
    assert (
        "!!! aicc.callback_url: http://127.0.0.1:9/ivr/*** -> "
        "http://127.0.0.2:9/ivr/***   (ivrsync.yaml:7)" in text
    )
    assert "review results and the callback's token are sent to 127.0.0.2" in text
    for output in (text, markdown, json.dumps(plan), state_text):
        assert token not in output
        assert "HOOK_TOKEN" not in output


# -- stale plans ---------------------------------------------------------------------------


def test_a_plan_applied_with_other_settings_names_the_setting_and_both_origins(
    run_cli: RunCli, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "plan.json"
    monkeypatch.setenv("AICC_ENDPOINT", "https://aicc.example.com")
    assert run_cli("-C", str(repo), "plan", "--out", str(saved))[0] == 0
    monkeypatch.delenv("AICC_ENDPOINT")
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text().replace("rate_limit: 10", "rate_limit: 4"))
    code, out, err = run_cli("-C", str(repo), "apply", str(saved))
    assert code == 1
    assert "Traceback" not in out + err
    assert (
        "provider aicc setting endpoint is 'https://aicc.example.com' in the plan "
        "(ivrsync.yaml:14, environment variable AICC_ENDPOINT) and "
        "'https://service.besclouds.com' now (ivrsync.yaml:14, default (AICC_ENDPOINT unset))"
        in err
    )
    assert (
        "provider aicc setting rate_limit is '10.0' in the plan (ivrsync.yaml:17) and '4.0' "
        "now (ivrsync.yaml:17)" in err
    )


# -- earlier formats -----------------------------------------------------------------------


def test_a_state_of_format_1_still_loads_and_is_written_as_2(repo: Path) -> None:
    from ivrsync.state.model import ProviderRecord

    state = record_applied(repo)
    path = repo / "ivrsync.state.json"
    document = json.loads(path.read_text())
    del document["providers"]
    document["format_version"] = 1
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    store = LocalStateStore(path)
    loaded = store.read()
    assert loaded is not None
    assert loaded.providers == {}
    assert loaded.resources == state.resources
    loaded.providers["aicc"] = ProviderRecord(
        settings={"type": "huawei-aicc"}, since=datetime.now(UTC), type="huawei-aicc"
    )
    store.write(loaded)
    assert json.loads(path.read_text())["format_version"] == 3


def test_a_plan_of_format_1_1_is_still_shown_and_checked(
    run_cli: RunCli, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_applied(repo)
    new_welcome_audio(repo)
    saved = tmp_path / "plan.json"
    assert run_cli("-C", str(repo), "plan", "--out", str(saved))[0] == 0
    document = json.loads(saved.read_text())
    document["format_version"] = "1.1"
    for ref in document["providers"].values():
        for field in ("settings", "origins", "settings_before", "setting_changes"):
            del ref[field]
    for change in document["changes"]:
        del change["live_file_id"]
        for field in ("duration", "format", "codec", "sample_rate", "channels"):
            del change["after"][field]
    saved.write_text(json.dumps(document))
    code, out, _ = run_cli("show", str(saved))
    assert code == 0
    assert "audio:       audio/en_US/welcome.wav (20,696 bytes)" in out
    assert "stays in use until the new upload is approved" in out
    monkeypatch.setenv("AICC_ENDPOINT", "https://aicc.example.com")
    code, _, err = run_cli("-C", str(repo), "apply", str(saved))
    assert code == 1
    assert "the settings of provider aicc changed" in err
