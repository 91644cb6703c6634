"""The CI glue decides from ivrsync's JSON alone, never from its terminal text.

The Action's steps are played (tests/test_ci_examples.py's runner, against the emulators) with
ivrsync's terminal text as it is, and reworded: a `sitecustomize` on the children's path
rewrites everything `python -m ivrsync` prints (the glue's own output is left alone). Plan,
left-over changes, a stale plan and a partial apply must give the same outputs, step outcomes
and annotations either way. And the glue's source never looks at what ivrsync printed.
"""

from __future__ import annotations

import ast
import itertools
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from ivrsync.ci import github as ci_github
from ivrsync.ci import github_api as ci_github_api
from ivrsync.ci import gitlab as ci_gitlab
from ivrsync.ci import markdown as ci_markdown
from ivrsync.ci import results as ci_results
from ivrsync.plan.workflow import load_plan
from tests.conftest import REPO_ROOT
from tests.repo_factory import record_applied
from tests.test_ci_examples import (  # noqa: F401  (clouds: a fixture)
    ActionRunner,
    Clouds,
    Run,
    add_prompts,
    clouds,
    publish,
)

# Swaps the case of every letter and rewrites ': ' in what `python -m ivrsync` prints:
# 'Plan: ', 'ADDRESS: failed: ' and 'is stale' are gone from its output.
REWORD = textwrap.dedent(
    """\
    import sys

    if sys.orig_argv[1:3] == ["-m", "ivrsync"]:

        class _Reworded:
            def __init__(self, stream):
                self._stream = stream

            def write(self, text):
                return self._stream.write(text.swapcase().replace(": ", " -- "))

            def __getattr__(self, name):
                return getattr(self._stream, name)

        sys.stdout, sys.stderr = _Reworded(sys.stdout), _Reworded(sys.stderr)
    """
)


SCHEMAS = {
    kind: jsonschema.Draft202012Validator(
        json.loads((REPO_ROOT / f"schema/{kind}.schema.json").read_text())
    )
    for kind in ("plan", "apply-result")
}


def valid(kind: str, path: Path | str) -> None:
    """A real output, as the committed schema describes it."""
    SCHEMAS[kind].validate(json.loads(Path(path).read_text()))


def annotations_of(run: Run) -> list[str]:
    return [line for line in run.log.splitlines() if line.startswith("::")]


def dispatched_on_main(
    runner: ActionRunner, workspace: Path, scratch: Path, first_run: int
) -> Callable[..., Run]:
    """The Action's steps as a run started by hand on the default branch (`main`) runs them,
    with the given inputs; each call is a new run."""
    event = scratch / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "main"}}))
    run_ids = itertools.count(first_run)

    def action(**inputs: str) -> Run:
        github = {
            "event_name": "workflow_dispatch",
            "event_path": str(event),
            "run_id": str(next(run_ids)),
            "sha": "a" * 40,
            "ref": "refs/heads/main",
            "ref_name": "main",
            "repository": "example/prompts",
        }
        return runner.run(workspace, {"plan-from-pr": "off", **inputs}, github)

    return action


@pytest.mark.parametrize("reworded", [False, True], ids=["as-is", "reworded"])
def test_the_action_reads_only_the_json(
    tmp_path: Path,
    clouds: Clouds,  # noqa: F811
    reworded: bool,
) -> None:
    env = dict(clouds.env)
    if reworded:
        hook = tmp_path / "reword"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(REWORD)
        env["PYTHONPATH"] = f"{hook}:{env['PYTHONPATH']}" if "PYTHONPATH" in env else str(hook)
    ws = tmp_path / "ws"
    ws.mkdir()
    add_prompts(ws)
    publish(tmp_path, ws)
    action = dispatched_on_main(ActionRunner(env, tmp_path / "temp"), ws, tmp_path, 800)

    def ivrsync(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ivrsync", *args],
            cwd=ws,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode in (0, 2), done.stderr
        return done.stdout + done.stderr

    # The plan step: its outputs come from the plan file.
    planned = action(command="plan", comment="false")
    page = planned.outputs.pop("page-file")
    assert planned.outputs == {
        "exitcode": "2",
        "has-changes": "true",
        "plan-file": "ivrsync.plan.json",
        "page-url": "https://github.com/example/prompts/actions/runs/800/artifacts/2",
    }
    assert page.endswith("/ivrsync-plan-page.html")
    assert planned.outcomes["run"] == "success"
    valid("plan", ws / "ivrsync.plan.json")
    shutil.move(ws / "ivrsync.plan.json", ws / "all.plan.json")
    if reworded:  # the hook is in place: ivrsync's text is not what it was
        printed = ivrsync("plan", "--target", "ccc.*", "--out", "ccc.plan.json")
        assert "Plan: " not in printed and "pLAN -- 9 TO UPLOAD" in printed
    else:
        ivrsync("plan", "--target", "ccc.*", "--out", "ccc.plan.json")

    # A plan for part of the branch applied: what is left over is a warning.
    done = action(command="apply", **{"plan-file": "ccc.plan.json"})
    assert done.outputs["exitcode"] == "0"
    assert done.outcomes["run"] == "success"
    assert annotations_of(done) == [
        "::warning title=ivrsync apply::The applied plan is done, but the branch wants more "
        "(Plan: 9 to upload, 0 to replace, 0 to forget.): changes merged without a plan of "
        "their own, or by a run GitHub cancelled while it waited. Run this workflow by hand "
        "to plan and apply them."
    ]
    assert len(clouds.tencent.uploads) == 9
    valid("plan", ws / "ccc.plan.json")
    valid("apply-result", done.steps["run"]["result-file"])

    # The plan made before that apply is stale now: refused, with the hint.
    stale = action(command="apply", **{"plan-file": "all.plan.json"})
    assert stale.outputs["exitcode"] == "1"
    assert stale.outcomes["run"] == "failure"
    [error] = annotations_of(stale)
    assert error.startswith("::error title=ivrsync::ivrsync apply failed (exit 1): the saved plan")
    assert "is stale: the state changed since the plan was made" in error
    assert "The reviewed plan no longer fits the state: plan again" in error
    assert clouds.huawei.uploads == []
    valid("apply-result", stale.steps["run"]["result-file"])

    # Every Huawei answer lost: a partial apply, and what was not done listed.
    clouds.huawei.faults.lost_response_rate = 1.0
    partial = action(command="apply", **{"plan-file": "none.plan.json"})
    assert partial.outputs["exitcode"] == "3"
    assert partial.outcomes["run"] == "failure"  # allow-partial is off
    [warning] = annotations_of(partial)
    head, *listed = warning.split("%0A")
    assert head == (
        "::warning title=ivrsync apply partial::ivrsync apply was partial (exit 3): what "
        "succeeded is in the state; run apply again for the rest (see docs/ci.md)."
    )
    huawei = [c.address for c in load_plan(ws / "all.plan.json").changes if c.provider == "aicc"]
    assert [line.split(": ", 1)[0] for line in listed] == sorted(huawei)
    assert all(": in-doubt: " in line for line in listed)
    assert len(clouds.huawei.uploads) == 7
    valid("apply-result", partial.steps["run"]["result-file"])

    # Uploads in doubt wait for a decision: the plan says there is something to do.
    again = action(command="plan", comment="false")
    assert (again.outputs["exitcode"], again.outputs["has-changes"]) == ("2", "true")
    pending = json.loads((ws / "ivrsync.plan.json").read_text())["pending"]
    assert len(pending) == 7
    valid("plan", ws / "ivrsync.plan.json")


# What a child printed: run_streamed's `log`, a CompletedProcess's stdout and stderr.
_PRINTED = {"log", "stdout", "stderr"}
_SEARCHES = {"startswith", "endswith", "splitlines", "split", "find", "index", "count"}
_SEARCHES |= {"match", "fullmatch", "search", "findall", "finditer"}


def _reads_printed(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr in _PRINTED)
        or (isinstance(n, ast.Name) and n.id in _PRINTED)
        for n in ast.walk(node)
    )


def test_the_glue_never_searches_what_ivrsync_printed() -> None:
    """What a child printed is only shown (copied to the log, a summary, a comment): no
    comparison and no string or regex search ever looks into it."""
    for module in (ci_github, ci_github_api, ci_gitlab, ci_markdown, ci_results):
        assert module.__file__ is not None
        for node in ast.walk(ast.parse(Path(module.__file__).read_text())):
            compared = isinstance(node, ast.Compare) and not all(
                isinstance(op, (ast.Is, ast.IsNot))
                for op in node.ops  # `is None` reads nothing
            )
            searching = compared or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _SEARCHES
            )
            assert not (searching and _reads_printed(node)), (
                f"{module.__name__}: {ast.unparse(node)}"
            )


def test_a_settings_only_change_is_a_change_ci_plans_and_applies(
    tmp_path: Path,
    clouds: Clouds,  # noqa: F811
) -> None:
    """Every endpoint moved (to the emulators) since the state was written, and nothing else:
    the plan step says has-changes, apply records the settings without an upload, and the
    next plan has nothing to do."""
    ws = tmp_path / "ws"
    ws.mkdir()
    add_prompts(ws)
    record_applied(ws)  # as applied with the default endpoints
    action = dispatched_on_main(
        ActionRunner(dict(clouds.env), tmp_path / "temp"), ws, tmp_path, 900
    )

    planned = action(command="plan", comment="false")
    assert (planned.outputs["exitcode"], planned.outputs["has-changes"]) == ("2", "true")
    plan = json.loads((ws / "ivrsync.plan.json").read_text())
    assert plan["changes"] == []
    assert plan["summary"]["settings"] == 3
    valid("plan", ws / "ivrsync.plan.json")

    applied = action(command="apply", **{"plan-file": "ivrsync.plan.json"})
    assert (applied.outputs["exitcode"], applied.outputs["has-changes"]) == ("0", "true")
    assert annotations_of(applied) == []  # nothing left over
    result = json.loads(Path(applied.steps["run"]["result-file"]).read_text())
    assert [(s["provider"], s["status"]) for s in result["settings"]] == [
        ("aicc", "done"),
        ("ccc", "done"),
        ("connect", "done"),
    ]
    valid("apply-result", applied.steps["run"]["result-file"])
    assert clouds.huawei.uploads == [] and clouds.tencent.uploads == []

    again = action(command="plan", comment="false")
    assert (again.outputs["exitcode"], again.outputs["has-changes"]) == ("0", "false")
