"""The command line as a user meets it: exit codes, -C, colour, --json, start-up cost."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ivrsync import __version__
from ivrsync.cli.app import run
from ivrsync.cli.main import main
from ivrsync.cli.output import colour_wanted
from tests.conftest import EXAMPLES, RunCli
from tests.repo_factory import huawei_repository


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_version_is_printed(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--version")
    assert code == 0
    assert __version__ in out


def test_help_lists_commands(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--help")
    assert code == 0
    assert "validate" in out
    assert "schema" in out


def test_unknown_command_exits_1_not_2(run_cli: RunCli) -> None:
    code, _, err = run_cli("frobnicate")
    assert code == 1
    assert "No such command 'frobnicate'" in err


def test_unknown_option_exits_1(run_cli: RunCli) -> None:
    code, _, err = run_cli("validate", "--bogus")
    assert code == 1
    assert "--bogus" in err


@pytest.mark.parametrize(
    "args",
    [
        ("-C", str(EXAMPLES), "validate"),
        ("validate", "-C", str(EXAMPLES)),
    ],
)
def test_dash_c_works_before_and_after_the_command(run_cli: RunCli, args: tuple[str, ...]) -> None:
    code, out, _ = run_cli(*args)
    assert code == 0
    assert out.startswith("Valid: ")


def test_dash_c_is_relative_to_the_current_directory_like_git(
    run_cli: RunCli, tmp_path: Path
) -> None:
    code, out, _ = run_cli("-C", str(EXAMPLES.parent), "-C", EXAMPLES.name, "validate")
    assert code == 0, out


def test_dash_c_to_a_missing_directory_is_a_clear_error(run_cli: RunCli, tmp_path: Path) -> None:
    code, _, err = run_cli("-C", str(tmp_path / "nope"), "validate")
    assert code == 1
    assert "cannot change to" in err
    assert "Traceback" not in err


def test_validate_outside_a_prompt_repository_names_the_fix(run_cli: RunCli) -> None:
    code, _, err = run_cli("validate")
    assert code == 1
    assert "no ivrsync.yaml in" in err
    assert "-C DIR" in err


def test_validate_json_reports_summary_problems_and_resources(run_cli: RunCli) -> None:
    code, out, _ = run_cli("-C", str(EXAMPLES), "validate", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["valid"] is True
    assert result["summary"] == {
        "prompts": 7,
        "resources": 18,
        "providers": 3,
        "errors": 0,
        "warnings": 0,
        "acknowledged": 1,  # the survey's intended transcode
    }
    [warning] = result["problems"]
    assert warning["severity"] == "warning"
    assert warning["file"] == "prompts/menus.yaml"
    assert isinstance(warning["line"], int)
    assert warning["acknowledged"]["reason"]
    addresses = {r["address"] for r in result["resources"]}
    assert "aicc.welcome.en_US" in addresses
    assert "ccc.hold.zh_CN" in addresses
    assert "aicc.hold.zh_CN" not in addresses  # hold goes to ccc only


def unacknowledged(tmp_path: Path) -> Path:
    """A copy of the examples without their acknowledgement: one warning shows."""
    repo = tmp_path / "unacknowledged"
    shutil.copytree(EXAMPLES, repo)
    menus = repo / "prompts/menus.yaml"
    text = menus.read_text()
    menus.write_text(text[: text.index("    acknowledge:")])
    return repo


def test_strict_turns_warnings_into_failure(run_cli: RunCli, tmp_path: Path) -> None:
    code, _, err = run_cli("-C", str(unacknowledged(tmp_path)), "validate", "--strict")
    assert code == 1
    assert "Invalid: 0 errors, 1 warning." in err


def test_data_goes_to_stdout_and_messages_to_stderr(run_cli: RunCli, tmp_path: Path) -> None:
    code, out, err = run_cli("-C", str(unacknowledged(tmp_path)), "validate")
    assert code == 0
    assert out == "Valid: 7 prompts, 18 resources, 3 providers (1 warning).\n"
    assert "warning:" in err
    assert "warning" not in out.split("(")[0]


@pytest.mark.parametrize(
    ("no_color_flag", "env_value", "tty", "expected"),
    [
        (False, None, True, True),
        (False, "1", True, False),
        (False, "", True, True),  # an empty NO_COLOR does not count (no-color.org)
        (True, None, True, False),
        (False, None, False, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch,
    no_color_flag: bool,
    env_value: str | None,
    tty: bool,
    expected: bool,
) -> None:
    if env_value is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", env_value)
    stream = FakeTTY() if tty else io.StringIO()
    assert colour_wanted(stream, no_color_flag) is expected


def test_no_ansi_codes_when_output_is_not_a_terminal(run_cli: RunCli) -> None:
    _, out, err = run_cli("-C", str(EXAMPLES), "validate")
    assert "\x1b[" not in out + err


def test_internal_error_is_one_line_with_the_trace_in_a_file(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("ivrsync.cli.validate.validate_repository", explode)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, _, err = run_cli("-C", str(EXAMPLES), "validate")
    assert code == 1
    assert "internal error (RuntimeError)" in err
    assert "Traceback" not in err
    [log] = tmp_path.glob("ivrsync-crash-*.log")
    assert log.name in err
    assert "RuntimeError: boom" in log.read_text()


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ivrsync", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert __version__ in result.stdout


# What each command must not load: start-up time is paid on every run, in every CI job.
_CLOUD = {"httpx", "tencentcloud", "boto3", "botocore", "deepdiff"}
_HEAVY = _CLOUD | {"pydantic", "pydantic_core", "yaml", "mutagen"}


def _imports(*args: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """Exit code and top-level packages of `python -m ivrsync ARGS`, as -X importtime lists
    them: the real entry point, as a user or a CI job starts it."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ivrsync", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return result.returncode, {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}


@pytest.mark.parametrize(
    ("args", "not_imported"),
    [
        (["--version"], _HEAVY | {"click"}),
        (["--help"], _HEAVY),
        (["-C", str(EXAMPLES), "validate"], _CLOUD),
    ],
    ids=["version", "help", "validate"],
)
def test_start_up_imports_only_what_the_command_needs(
    args: list[str], not_imported: set[str]
) -> None:
    """`--version` answers before click is even imported; `--help` loads no manifest code;
    `validate` no network client. Commands load their dependencies when they run."""
    code, imported = _imports(*args)
    assert code == 0
    assert "ivrsync" in imported  # the listing worked
    assert imported & not_imported == set()


def test_validate_of_wav_only_prompts_does_not_import_mutagen(tmp_path: Path) -> None:
    huawei_repository(tmp_path, 2, endpoint="https://service.besclouds.com")
    code, imported = _imports("validate", cwd=tmp_path)
    assert code == 0
    assert "pydantic" in imported and "mutagen" not in imported


def test_version_fast_path_prints_what_click_prints(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as by_click:
        run(["--version"])
    expected = capsys.readouterr()
    with pytest.raises(SystemExit) as fast:
        main(["--version"])
    assert (fast.value.code, capsys.readouterr()) == (by_click.value.code, expected)
    assert expected.out == f"ivrsync, version {__version__}\n"


def test_version_completion_is_left_to_click() -> None:
    """A shell completing `ivrsync --version` gets click's answer, not the version."""
    result = subprocess.run(
        [sys.executable, "-m", "ivrsync", "--version"],
        env={
            **os.environ,
            "_IVRSYNC_COMPLETE": "bash_complete",
            "COMP_WORDS": "ivrsync --vers",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == "plain,--version\n"
