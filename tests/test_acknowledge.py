"""Known, accepted warnings acknowledged in the manifests: counted, not listed, not a failure of
`validate --strict`; a new occurrence still shows, and an acknowledgement nothing matches is
reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, RunCli
from tests.repo_factory import record_applied

# The example's acknowledgement of its 16 kHz survey (examples/manifests/prompts/menus.yaml).
SURVEY_ACK = """\
    acknowledge:                    # accepted warnings: counted, not listed
      - warning: audio-transcoded
        audio: WAV pcm_s16le, 16000 Hz, mono
        reason: recorded at 16 kHz for other channels; the 8 kHz A-law copy was checked by ear
"""
TRANSCODED = "aicc.survey.en_US: audio/en_US/survey.wav: the audio is WAV pcm_s16le"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(EXAMPLES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# --- audio-transcoded (validate) -------------------------------------------------------------


def test_the_examples_intended_transcode_is_counted_not_listed_and_passes_strict(
    run_cli: RunCli, repo: Path
) -> None:
    code, out, err = run_cli("-C", str(repo), "validate", "--strict")
    assert (code, err) == (0, "")
    assert (
        out == "Valid: 7 prompts, 18 resources, 3 providers (1 acknowledged warning not shown).\n"
    )
    code, out, err = run_cli("-C", str(repo), "plan")
    assert code == 0
    assert err == "1 acknowledged warning not shown.\n"
    assert "transcodes" not in out


def test_validate_json_keeps_the_acknowledged_warning_with_where_and_why(
    run_cli: RunCli, repo: Path
) -> None:
    code, out, _ = run_cli("-C", str(repo), "validate", "--json", "--strict")
    assert code == 0
    report = json.loads(out)
    assert report["summary"]["warnings"] == 0
    assert report["summary"]["acknowledged"] == 1
    [problem] = report["problems"]
    assert problem["code"] == "audio-transcoded"
    line = line_of(repo / "prompts/menus.yaml", "- warning: audio-transcoded")
    assert problem["acknowledged"] == {
        "where": f"prompts/menus.yaml:{line}:9",
        "reason": "recorded at 16 kHz for other channels; the 8 kHz A-law copy was checked by ear",
    }


def test_other_audio_is_not_covered_and_the_stale_acknowledgement_is_reported(
    run_cli: RunCli, repo: Path
) -> None:
    """The survey re-recorded as MP3: a new transcode, which the WAV acknowledgement does not
    hide; the acknowledgement now matches nothing, and says so."""
    menus = repo / "prompts/menus.yaml"
    edit(menus, "en_US: ../audio/en_US/survey.wav", "en_US: ../audio/en_US/hold.mp3")
    code, _, err = run_cli("-C", str(repo), "validate", "--strict")
    assert code == 1
    lines = err.splitlines()
    ack_line = line_of(menus, "- warning: audio-transcoded")
    assert (
        f"prompts/menus.yaml:{ack_line}:9: warning: the acknowledgement of audio-transcoded "
        in (err)
    )
    assert "(audio: 'WAV pcm_s16le, 16000 Hz, mono') matches no warning; remove it" in err
    assert any("aicc.survey.en_US: audio/en_US/hold.mp3: the audio is MP3" in x for x in lines)
    assert err.endswith("Invalid: 0 errors, 2 warnings.\n")


def test_a_provider_acknowledges_for_all_its_prompts_but_not_other_audio(
    run_cli: RunCli, repo: Path
) -> None:
    menus = repo / "prompts/menus.yaml"
    edit(menus, SURVEY_ACK, "")
    edit(
        repo / "ivrsync.yaml",
        "    rate_limit: 10\n",
        "    rate_limit: 10\n    acknowledge:\n"
        "      - {warning: audio-transcoded, audio: 'WAV pcm_s16le, 16000 Hz, mono'}\n",
    )
    code, out, err = run_cli("-C", str(repo), "validate", "--strict")
    assert (code, err) == (0, "")
    assert "(1 acknowledged warning not shown)" in out
    # The hold music (MP3) sent to Huawei too: another format, so a new warning.
    edit(repo / "ivrsync.yaml", "    providers: [ccc]\n", "    providers: [ccc, aicc]\n")
    code, out, err = run_cli("-C", str(repo), "validate", "--strict")
    assert code == 1
    assert err.count(": warning: ") == 2  # hold.mp3 en_US and zh_CN
    assert "aicc.hold.en_US: audio/en_US/hold.mp3: the audio is MP3" in err
    assert err.endswith("Invalid: 0 errors, 2 warnings.\n")


def test_an_acknowledgement_of_audio_that_is_not_transcoded_is_reported(
    run_cli: RunCli, repo: Path
) -> None:
    manifest = repo / "ivrsync.yaml"
    edit(
        manifest,
        "    description: Greeting when the call is answered\n",
        "    description: Greeting when the call is answered\n"
        "    acknowledge: [{warning: audio-transcoded, audio: 'WAV pcm_s16le, 16000 Hz, mono'}]\n",
    )
    code, out, err = run_cli("-C", str(repo), "validate")
    assert code == 0
    line = line_of(manifest, "acknowledge: [")
    assert err.startswith(f"ivrsync.yaml:{line}:19: warning: the acknowledgement of audio-transc")
    assert out.endswith("(1 warning; 1 acknowledged warning not shown).\n")
    code, _, _ = run_cli("-C", str(repo), "validate", "--strict")
    assert code == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{warning: quota, audio: x}",
            "prompts.welcome.acknowledge[0].warning: must be one of 'audio-transcoded', "
            "'remote-name-changed', 'audio-clipping', 'audio-level', 'audio-leading-silence', "
            "'audio-trailing-silence', 'audio-dc-offset', 'audio-low-sample-rate' or "
            "'audio-channels-cancel' (got 'quota')",
        ),
        (
            "{warning: audio-transcoded}",
            "prompts.welcome.acknowledge[0]: an acknowledgement of audio-transcoded names "
            "`audio:` (what the warning names) and no other of: audio, file, remote_name",
        ),
        (
            "{warning: remote-name-changed, remote_name: A, audio: B}",
            "prompts.welcome.acknowledge[0]: an acknowledgement of remote-name-changed names "
            "`remote_name:` (what the warning names) and no other of: audio, file, remote_name",
        ),
    ],
)
def test_a_bad_acknowledgement_is_bad_input_at_its_line(
    run_cli: RunCli, repo: Path, entry: str, message: str
) -> None:
    manifest = repo / "ivrsync.yaml"
    edit(
        manifest,
        "    description: Greeting when the call is answered\n",
        f"    description: Greeting when the call is answered\n    acknowledge:\n      - {entry}\n",
    )
    for command in ("validate", "plan"):
        code, _, err = run_cli("-C", str(repo), command)
        assert code == 1
        assert "Traceback" not in err
        line = line_of(manifest, entry)
        assert f"ivrsync.yaml:{line}:" in err
        assert f"error: {message}" in err


# --- remote-name-changed (plan) --------------------------------------------------------------


def renamed_welcome(repo: Path, acknowledge: str = "") -> None:
    """Record an apply, then rename the prompt `welcome` to `greeting` (a move, no upload)."""
    record_applied(repo)
    manifest = repo / "ivrsync.yaml"
    edit(manifest, "  welcome:\n", "  greeting:\n" + acknowledge)
    manifest.write_text(manifest.read_text() + "\nmoved:\n  - {from: welcome, to: greeting}\n")


KEPT = """\
    acknowledge:
      - warning: remote-name-changed
        remote_name: WelcomeEnUS
        reason: the IVR flows name the prompt by its FileId; the old name is harmless
"""


def test_an_acknowledged_kept_name_is_counted_and_the_others_still_listed(
    run_cli: RunCli, repo: Path
) -> None:
    renamed_welcome(repo, KEPT)
    code, out, err = run_cli("-C", str(repo), "plan")
    assert code == 0, err
    warnings = [line for line in out.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: 3 resource(s) keep the remote name they were uploaded with, since uploads "
        "cannot be renamed: aicc.greeting.zh_CN (WelcomeZhCN), ccc.greeting.en_US "
        "(welcome.en_US.f12060a3), ccc.greeting.zh_CN (welcome.zh_CN.c6888968); use --replace "
        "ADDRESS to upload under the new name, or acknowledge the kept name in the manifest"
    ]
    assert "\n1 acknowledged warning not shown.\n" in out
    code, out, _ = run_cli("-C", str(repo), "plan", "--format", "markdown")
    assert "\n_1 acknowledged warning not shown._\n" in out
    assert "aicc.greeting.en_US (WelcomeEnUS)" not in out
    assert "aicc.greeting.zh_CN (WelcomeZhCN)" in out
    code, out, _ = run_cli("-C", str(repo), "plan", "--format", "json")
    acknowledged = [w for w in json.loads(out)["warnings"] if w["acknowledged"]]
    line = line_of(repo / "ivrsync.yaml", "- warning: remote-name-changed")
    assert acknowledged == [
        {
            "code": "remote-name-changed",
            "message": "1 resource(s) keep the remote name they were uploaded with, since "
            "uploads cannot be renamed: aicc.greeting.en_US (WelcomeEnUS); use --replace "
            "ADDRESS to upload under the new name, or acknowledge the kept name in the manifest",
            "provider": None,
            "addresses": ["aicc.greeting.en_US"],
            "acknowledged": {
                "where": f"ivrsync.yaml:{line}:9",
                "reason": "the IVR flows name the prompt by its FileId; the old name is harmless",
            },
        }
    ]


def test_every_kept_name_acknowledged_leaves_a_clean_plan(run_cli: RunCli, repo: Path) -> None:
    names = ["WelcomeEnUS", "WelcomeZhCN", "welcome.en_US.f12060a3", "welcome.zh_CN.c6888968"]
    acknowledge = "    acknowledge:\n" + "".join(
        f"      - {{warning: remote-name-changed, remote_name: {name}}}\n" for name in names
    )
    renamed_welcome(repo, acknowledge)
    code, out, _ = run_cli("-C", str(repo), "plan", "--format", "markdown")
    assert code == 0
    assert "keep the remote name" not in out
    assert "[!WARNING]" not in out
    assert "\n_4 acknowledged warnings not shown._\n" in out


def test_a_kept_name_acknowledged_for_another_name_is_not_hidden_and_is_reported(
    run_cli: RunCli, repo: Path
) -> None:
    renamed_welcome(repo, KEPT.replace("WelcomeEnUS", "HelloEnUS"))
    code, out, _ = run_cli("-C", str(repo), "plan")
    assert code == 0
    line = line_of(repo / "ivrsync.yaml", "- warning: remote-name-changed")
    assert "Warning: 4 resource(s) keep the remote name" in out
    assert (
        f"Warning: ivrsync.yaml:{line}:9: the acknowledgement of remote-name-changed "
        "(remote_name: 'HelloEnUS') matches no warning; remove it" in out
    )
    assert "acknowledged warning" not in out


def test_a_targeted_plan_does_not_call_an_acknowledgement_outside_it_unused(
    run_cli: RunCli, repo: Path
) -> None:
    """A --target plan sees only some resources: an acknowledgement of another is not stale."""
    renamed_welcome(repo, KEPT)
    code, out, _ = run_cli("-C", str(repo), "plan", "--target", "ccc.*")
    assert code == 0
    assert "matches no warning" not in out
    assert "Warning: 2 resource(s) keep the remote name" in out
