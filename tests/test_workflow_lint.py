"""The GitHub templates pass the tools GitHub users check workflows with: actionlint and zizmor.

Checked: `action.yml`, `examples/ci/github-actions.yml` and the workflow `ivrsync init` writes
(made by the real init). Both tools come from the dev extra (their wheels ship the binaries,
next to this interpreter) and run offline. actionlint reads workflows only, so the action's
steps are also checked as the one job of a reusable workflow with the action's inputs: that is
how it sees the actions action.yml uses (a deprecated node20 runtime, say).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, RunCli

BIN = Path(sys.executable).parent
ACTION = REPO_ROOT / "action.yml"
EXAMPLE = REPO_ROOT / "examples" / "ci" / "github-actions.yml"


@pytest.fixture
def init_workflow(run_cli: RunCli, tmp_path: Path) -> Path:
    code, _, err = run_cli("init", str(tmp_path / "prompts"))
    assert code == 0, err
    return tmp_path / "prompts" / ".github" / "workflows" / "ivrsync.yml"


def action_as_workflow(folder: Path) -> Path:
    """action.yml's steps as the job of a reusable workflow taking the action's inputs."""
    action = yaml.safe_load(ACTION.read_text())
    workflow = {
        "name": action["name"],
        "on": {
            "workflow_call": {
                "inputs": {name: {"type": "string", "required": False} for name in action["inputs"]}
            }
        },
        "permissions": {},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    path = folder / "action-as-workflow.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    return path


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def test_actionlint_finds_nothing(init_workflow: Path, tmp_path: Path) -> None:
    action = action_as_workflow(tmp_path)
    checked = run_tool("actionlint", "-no-color", str(EXAMPLE), str(init_workflow), str(action))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_zizmor_finds_nothing(init_workflow: Path) -> None:
    checked = run_tool(
        "zizmor", "--offline", "--no-progress", str(ACTION), str(EXAMPLE), str(init_workflow)
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No findings to report" in checked.stdout
