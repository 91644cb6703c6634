"""`ivrsync apply --json` / `--json-out`: the result CI reads, against the Huawei emulator.

Every document is checked against the committed schema (schema/apply-result.schema.json),
and against what the state and the emulator say really happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.state.store import LocalStateStore, locked
from tests.conftest import REPO_ROOT, RunCli
from tests.repo_factory import distinct_wav, huawei_repository

APP_KEY = "json-app-key"
APP_SECRET = "json-app-secret-91c0"
RESULT_SCHEMA = json.loads((REPO_ROOT / "schema/apply-result.schema.json").read_text())


@pytest.fixture
def emulator() -> Iterator[HuaweiEmulator]:
    with HuaweiEmulator(
        HuaweiEmulatorConfig(app_key=APP_KEY, app_secret=APP_SECRET, review_delay=60)
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICC_APP_KEY", APP_KEY)
    monkeypatch.setenv("AICC_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("CI", "true")


def result_of(stdout: str) -> dict[str, Any]:
    """stdout is the document alone, and the document is what the schema says."""
    document = json.loads(stdout)
    jsonschema.Draft202012Validator(RESULT_SCHEMA).validate(document)
    assert isinstance(document, dict)
    return document


def test_all_applied(run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator) -> None:
    repo = huawei_repository(tmp_path / "prompts", 3, endpoint=emulator.url)
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--json")
    assert code == 0, err
    result = result_of(out)
    assert (result["outcome"], result["exit_code"], result["error"]) == ("complete", 0, None)
    assert result["exit_meaning"].startswith("complete")
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    assert result["state"] == {"lineage": state.lineage, "serial": state.serial}
    assert [
        (r["address"], r["action"], r["status"], r["file_id"]) for r in result["resources"]
    ] == [(address, "create", "done", entry.file_id) for address, entry in state.resources.items()]
    assert {u.file_id for u in emulator.uploads} == {r["file_id"] for r in result["resources"]}
    assert result["summary"]["uploaded"] == 3
    assert result["summary"]["failed"] == 0
    # The plan and the summary line are still shown, on stderr.
    assert "aicc.p00000.en_US will be uploaded" in err
    assert "Apply complete: 3 uploaded" in err
    for secret in (APP_KEY, APP_SECRET):
        assert secret not in out + err


def test_partial_lists_the_failed_and_the_uploads_in_doubt(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    """One file the platform refuses (too big), and every answer lost: two in doubt."""
    repo = huawei_repository(tmp_path / "prompts", 3, endpoint=emulator.url)
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "    rate_limit: 10\n", "    rate_limit: 10\n    size_limit_of: file\n"
        )
    )
    (repo / "audio/p00001.wav").write_bytes(distinct_wav(1, size=6_500_000))
    emulator.faults.lost_response_rate = 1.0
    code, out, _ = run_cli("-C", str(repo), "apply", "--auto-approve", "--json")
    assert code == 3
    result = result_of(out)
    assert (result["outcome"], result["exit_code"]) == ("partial", 3)
    statuses = {r["address"]: (r["status"], r["file_id"]) for r in result["resources"]}
    assert statuses == {
        "aicc.p00000.en_US": ("in-doubt", None),
        "aicc.p00001.en_US": ("failed", None),
        "aicc.p00002.en_US": ("in-doubt", None),
    }
    reasons = {r["address"]: r["reason"] for r in result["resources"]}
    assert "HTTP 500" in reasons["aicc.p00001.en_US"]
    assert "no answer came back" in reasons["aicc.p00000.en_US"]
    summary = result["summary"]
    assert (summary["uploaded"], summary["failed"], summary["in_doubt"]) == (0, 1, 2)
    assert len(emulator.uploads) == 2  # the two in doubt did land


def test_a_stale_plan_is_refused_with_its_code(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 2, endpoint=emulator.url)
    saved = tmp_path / "plan.json"
    assert run_cli("-C", str(repo), "plan", "--out", str(saved))[0] == 0
    assert run_cli("-C", str(repo), "apply", str(saved))[0] == 0
    code, out, err = run_cli("-C", str(repo), "apply", str(saved), "--json")
    assert code == 1
    result = result_of(out)
    assert (result["outcome"], result["exit_code"], result["resources"]) == ("failed", 1, [])
    assert result["error"]["code"] == "stale_plan"
    assert "the state changed since the plan was made" in result["error"]["message"]
    assert err.startswith("Error: the saved plan")  # the person still reads it
    assert len(emulator.uploads) == 2


def test_a_stale_plan_lists_every_reason_apart(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    """The message shows five reasons; the result carries each one, for a pipeline to show."""
    repo = huawei_repository(tmp_path / "prompts", 7, endpoint=emulator.url)
    saved = tmp_path / "plan.json"
    assert run_cli("-C", str(repo), "plan", "--out", str(saved))[0] == 0
    for number in range(7):
        (repo / "audio" / f"p{number:05d}.wav").write_bytes(distinct_wav(100 + number))
    code, out, _ = run_cli("-C", str(repo), "apply", str(saved), "--json")
    assert code == 1
    error = result_of(out)["error"]
    assert error["code"] == "stale_plan"
    assert error["reasons"] == [
        f"audio/p{number:05d}.wav changed since the plan was made" for number in range(7)
    ]
    assert "; and 2 more." in error["message"]
    assert emulator.uploads == []


def test_a_bad_manifest_is_an_error_with_its_problems_and_no_traceback(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 1, endpoint=emulator.url)
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text().replace("type: huawei-aicc", "type: genesys"))
    result_file = tmp_path / "result.json"
    code, out, err = run_cli(
        "-C", str(repo), "apply", "--auto-approve", "--json-out", str(result_file)
    )
    assert code == 1
    assert "Traceback" not in out + err
    assert "ivrsync.yaml:4" in err  # --json-out keeps the usual output
    result = result_of(result_file.read_text())
    assert result["error"]["code"] == "invalid_manifest"
    [problem] = [p for p in result["error"]["problems"] if p["severity"] == "error"]
    assert (problem["file"], problem["line"]) == ("ivrsync.yaml", 4)
    assert "huawei-aicc" in problem["message"]
    assert emulator.requests == 0
    assert not list(tmp_path.glob(".result.json.*"))  # written whole or not at all


@pytest.mark.parametrize(
    ("unset", "code"),
    [("AICC_APP_SECRET", "missing_credentials"), ("", "locked")],
)
def test_errors_before_any_upload_have_stable_codes(
    run_cli: RunCli,
    tmp_path: Path,
    emulator: HuaweiEmulator,
    monkeypatch: pytest.MonkeyPatch,
    unset: str,
    code: str,
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 1, endpoint=emulator.url)
    if unset:
        monkeypatch.delenv(unset)
        exit_code, out, _ = run_cli("-C", str(repo), "apply", "--auto-approve", "--json")
    else:
        with locked(LocalStateStore(repo / "ivrsync.state.json"), "apply", 0):
            exit_code, out, _ = run_cli("-C", str(repo), "apply", "--auto-approve", "--json")
    assert exit_code == 1
    assert result_of(out)["error"]["code"] == code
    assert emulator.requests == 0


def test_without_approval_in_ci_the_code_says_so(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 1, endpoint=emulator.url)
    code, out, _ = run_cli("-C", str(repo), "apply", "--json")
    assert code == 1
    assert result_of(out)["error"]["code"] == "approval_required"


def test_nothing_to_do_is_complete(
    run_cli: RunCli, tmp_path: Path, emulator: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "prompts", 1, endpoint=emulator.url)
    assert run_cli("-C", str(repo), "apply", "--auto-approve")[0] == 0
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve", "--json")
    assert code == 0
    result = result_of(out)
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    assert (result["outcome"], result["resources"], result["state"]) == (
        "complete",
        [],
        {"lineage": state.lineage, "serial": state.serial},
    )
    assert "No changes." in err
