from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

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


def read_line(stream: IO[bytes] | None, what: str, timeout: float = 60) -> str:
    """One line a child printed, read a byte at a time from its pipe.

    A buffered readline could take the next lines into Python's buffer, where select() no
    longer sees them (nor would `communicate` later). The timeout only guards against a hang.
    """
    assert stream is not None, f"{what} has no pipe"
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"{what} printed no line (so far: {data!r})"
        byte = os.read(fd, 1)
        assert byte, f"{what} exited (it printed {data!r})"
        data += byte
    return data.decode()
