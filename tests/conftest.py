from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from ivrsync.cli.main import main

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples" / "manifests"
DATA = Path(__file__).resolve().parent / "data"

RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> RunCli:
    """Run `ivrsync ARGS` in this process; returns (exit code, stdout, stderr).

    The working directory is restored afterwards, since `-C` changes it as `git -C` does.
    """
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        captured = capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 1), captured.out, captured.err

    return run


def credentials_env(key: str, secret: str, tc_id: str, tc_key: str) -> dict[str, str]:
    """The variables the test repositories (tests/repo_factory.py) name for both providers."""
    return {
        "AICC_APP_KEY": key,
        "AICC_APP_SECRET": secret,
        "TENCENTCLOUD_SECRET_ID": tc_id,
        "TENCENTCLOUD_SECRET_KEY": tc_key,
    }


def use_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """Set `env` for the test, outside CI (where apply would need a saved plan)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CI", raising=False)
