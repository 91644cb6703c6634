from __future__ import annotations

from collections.abc import Callable
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
