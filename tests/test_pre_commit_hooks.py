"""The hooks in .pre-commit-hooks.yaml, as a prompt repository uses them.

The prompt repository's .pre-commit-config.yaml names this repository and a commit, as its
header shows, and `pre-commit run --all-files` installs this repository into a virtualenv
(pip, from PyPI) and runs the hooks. pre-commit builds from a commit: it would take only
committed files of this checkout, so the checkout as it is now (tracked and new files, not
ignored ones) is committed into a temporary repository first. That works the same in a fresh
CI clone and in a working copy with uncommitted work. Building the hooks' environment takes
about 10 s (pip's cache warm): the runs below share one pre-commit home, so later runs reuse
it, as a developer's second commit does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ivrsync.manifest.format.text import format_text
from ivrsync.scaffold import scaffold
from tests.conftest import REPO_ROOT

# Under pytest-xdist, both tests run on one worker: they share the hooks' environment.
pytestmark = pytest.mark.xdist_group("pre-commit-home")

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "ivrsync tests",
    "GIT_AUTHOR_EMAIL": "tests@ivrsync.invalid",
    "GIT_COMMITTER_NAME": "ivrsync tests",
    "GIT_COMMITTER_EMAIL": "tests@ivrsync.invalid",
}


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args],
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        check=True,
    )
    return result.stdout.decode("utf-8", "replace")


def commit_all(repo: Path) -> None:
    if not (repo / ".git").exists():
        git("init", "--quiet", cwd=repo)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--allow-empty", "--message", "test", cwd=repo)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as it is now, committed in a repository of its own."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        listing = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO_ROOT)
    except subprocess.CalledProcessError:
        pytest.skip(f"{REPO_ROOT} is not a git checkout")
    snapshot = tmp_path_factory.mktemp("hook-repo")
    for name in filter(None, listing.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():  # a file deleted but not yet staged is listed too
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file()
    commit_all(snapshot)
    return snapshot


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where pre-commit keeps the environments it builds, for every run in this module."""
    return tmp_path_factory.mktemp("pre-commit-home")


def run_hooks(hook_repo: Path, prompt_repo: Path, home: Path) -> tuple[int, str]:
    """Every hook of HOOK_REPO, configured as its header says, run on all files."""
    rev = git("rev-parse", "HEAD", cwd=hook_repo).strip()
    hooks = yaml.safe_load((hook_repo / ".pre-commit-hooks.yaml").read_text())
    config = {
        "repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [{"id": h["id"]} for h in hooks]}]
    }
    (prompt_repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    commit_all(prompt_repo)
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files"],
        cwd=prompt_repo,
        env={
            **os.environ,
            **GIT_IDENTITY,
            "PRE_COMMIT_HOME": str(home),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def test_both_hooks_pass_in_a_new_prompt_repository(
    hook_repo: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    prompt_repo = tmp_path / "prompts"
    scaffold(prompt_repo)
    code, output = run_hooks(hook_repo, prompt_repo, pre_commit_home)
    assert code == 0, output
    assert "ivrsync fmt" in output
    assert "ivrsync validate" in output
    assert output.count("Passed") == 2, output


BROKEN_INCLUDE = """\
prompts:
  menu:
    audio: {en_US: ../audio/en_US/welcome.wav
"""


def test_an_unformatted_and_a_broken_manifest_fail_their_hooks(
    hook_repo: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    prompt_repo = tmp_path / "prompts"
    scaffold(prompt_repo)
    manifest = prompt_repo / "ivrsync.yaml"
    text = manifest.read_text()
    # Out of order (prompts before providers), and including a file that does not parse.
    providers = text[text.index("providers:") : text.index("# More prompts")]
    unformatted = text.replace(providers, "") + "include:\n  - prompts/*.yaml\n" + providers
    manifest.write_text(unformatted)
    (prompt_repo / "prompts").mkdir()
    (prompt_repo / "prompts/menus.yaml").write_text(BROKEN_INCLUDE)

    code, output = run_hooks(hook_repo, prompt_repo, pre_commit_home)
    assert code == 1, output
    assert output.count("Failed") == 2, output
    # fmt rewrote the root manifest: pre-commit fails the hook so the change can be reviewed.
    assert "files were modified by this hook" in output
    assert manifest.read_text() == format_text(unformatted, "ivrsync.yaml")
    assert manifest.read_text() != unformatted
    # Both hooks name the broken file and line, as `ivrsync validate` does; it is untouched.
    assert output.count("prompts/menus.yaml:4:1: error: invalid YAML") == 2, output
    assert (prompt_repo / "prompts/menus.yaml").read_text() == BROKEN_INCLUDE
