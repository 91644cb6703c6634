"""The CI integration: action.yml, examples/ci/github-actions.yml and ivrsync/ci/github.py
(the GitLab template: tests/test_gitlab_ci.py).

The YAML is checked for what GitHub only reports at run time (an undeclared input, a step
output nobody writes). Then CI is played for real against the emulators: the workflow's
commands one by one, and the composite action's steps as the runner would run them (its `if:`
conditions, `env:` mappings and outputs, with a stand-in for the GitHub API and a bare
repository as origin).
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml

import ivrsync
from ivrsync.ci import git as ci_git
from ivrsync.ci import github as ci_github
from ivrsync.ci import github_api as ci_github_api
from ivrsync.ci import markdown as ci_markdown
from ivrsync.emulator.amazon_connect import AmazonConnectEmulator, AmazonConnectEmulatorConfig
from ivrsync.emulator.common import Request
from ivrsync.emulator.huawei import UPLOAD_PATH as HUAWEI_UPLOAD_PATH
from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.emulator.s3 import S3Emulator, S3EmulatorConfig
from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig
from ivrsync.state.model import State
from ivrsync.state.store import LocalStateStore
from tests.s3_server import s3_server
from tests.static_server import serving, static_files

REPO_ROOT = Path(__file__).resolve().parent.parent

ACTION = REPO_ROOT / "action.yml"
WORKFLOW = REPO_ROOT / "examples" / "ci" / "github-actions.yml"
SCRIPT = REPO_ROOT / "ivrsync" / "ci" / "github.py"
EXAMPLE = REPO_ROOT / "examples" / "manifests"

SECRETS = {
    "AICC_APP_KEY": "ci-app-key",
    "AICC_APP_SECRET": "ci-app-secret-5d1e",
    "TENCENTCLOUD_SECRET_ID": "AKIDci00000000000000000000000000000001",
    "TENCENTCLOUD_SECRET_KEY": "ci-tencent-key-77ab",
    "AWS_ACCESS_KEY_ID": "AKIACI0000CONNECT001",
    "AWS_SECRET_ACCESS_KEY": "ci-connect-secret-3f9c",
}
TOKEN = "ghs_test_token_0123456789"
REPOSITORY = "example/prompts"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
BOT = (ci_github.BOT_NAME, ci_github.BOT_EMAIL)
GITIGNORE = "ivrsync.plan.json\nivrsync.state.json.backup\nivrsync.state.json.lock\n.ivrsync/\n"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def expressions(node: object) -> Iterator[str]:
    """Every `${{ ... }}` in a YAML document, plus every `if:` (an expression without them)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "if" and isinstance(value, str) and "${{" not in value:
                yield value
            yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)
    elif isinstance(node, str):
        yield from EXPR.findall(node)


def script_outputs() -> set[str]:
    """The output names ivrsync/ci/github.py writes (keywords of set_outputs calls)."""
    names = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "set_outputs":
            names |= {k.arg.replace("_", "-") for k in node.keywords if k.arg}
    return names


# --- The YAML ------------------------------------------------------------------------------


# What the third-party actions used by action.yml write (their documented outputs).
USES_OUTPUTS = {
    "actions/setup-python": {"python-path", "python-version", "cache-hit"},
    "actions/download-artifact": {"download-path"},
    "actions/upload-artifact": {"artifact-id", "artifact-url", "artifact-digest"},
}


def test_the_action_uses_only_declared_inputs_and_existing_step_outputs() -> None:
    action = load(ACTION)
    inputs = action["inputs"]
    for name, spec in inputs.items():
        assert spec.get("description"), f"input {name} has no description"
    assert inputs["command"]["required"] is True
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]

    used = {m for e in expressions(action) for m in re.findall(r"\binputs\.([\w-]+)", e)}
    assert used <= set(inputs), f"undeclared inputs: {used - set(inputs)}"
    assert set(inputs) - used == set(), f"inputs never used: {set(inputs) - used}"

    written: dict[str, set[str]] = {}
    seen: set[str] = set()
    for step in steps:
        for expression in expressions(step):
            for step_id, output in re.findall(r"\bsteps\.([\w-]+)\.outputs\.([\w-]+)", expression):
                assert step_id in seen, f"steps.{step_id} is used before (or without) its step"
                assert output in written[step_id], f"steps.{step_id} never writes {output}"
        if "id" in step:
            seen.add(step["id"])
            if "run" in step and "-m ivrsync.ci.github" in step["run"]:
                written[step["id"]] = script_outputs()
            elif "run" in step:
                written[step["id"]] = set(re.findall(r"echo \"([\w-]+)=", step["run"]))
            else:
                written[step["id"]] = USES_OUTPUTS[step["uses"].split("@")[0]]
    for name, output in action["outputs"].items():
        assert output.get("description"), name
        for step_id, key in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", output["value"]):
            assert key in written[step_id], f"output {name}: steps.{step_id} never writes {key}"
    assert {"exitcode", "has-changes", "plan-file"} <= set(action["outputs"])

    for step in steps:
        if "run" in step:
            # Inputs reach scripts through env only: `${{ }}` in a script is an injection risk.
            assert "${{" not in step["run"], step.get("name", step.get("id"))
            assert step["shell"] == "bash"
            assert step["run"].startswith("set -euo pipefail\n")
            checked = subprocess.run(["bash", "-n"], input=step["run"], text=True, check=False)
            assert checked.returncode == 0
        if "-m ivrsync.ci.github" in step.get("run", ""):
            [called] = re.findall(r'"\$IVRSYNC_PYTHON" -m ivrsync\.ci\.github (\S+)', step["run"])
            for sub in ["plan", "apply"] if called == '"$IVRSYNC_COMMAND"' else [called]:
                assert sub in ci_github.COMMANDS
        if "uses" in step:
            assert re.fullmatch(r"actions/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]

    # Every IVRSYNC_* variable the script reads is passed by some step.
    passed = {name for step in steps for name in step.get("env", {})}
    read = set(re.findall(r'"(IVRSYNC_[A-Z_]+)"', SCRIPT.read_text()))
    assert read <= passed, f"never passed by action.yml: {read - passed}"


@pytest.mark.parametrize(
    ("spec", "installs"),
    [
        ("", True),  # the action's own checkout
        ("ivrsync @ git+https://github.com/example/ivrsync@v0.1.0", True),
        ("git+https://github.com/example/ivrsync@0123456789abcdef0123456789abcdef01234567", True),
        ("./vendor/ivrsync", True),
        ("ivrsync==0.1.0", False),
        ("ivrsync", False),
        ("ivrsync>=0.1", False),
    ],
)
def test_the_action_installs_no_bare_package_name(
    tmp_path: Path, spec: str, installs: bool
) -> None:
    """The `version` input: a bare name is refused before pip (stood in for) ever runs."""
    [step] = [s for s in load(ACTION)["runs"]["steps"] if s.get("id") == "install"]
    called = tmp_path / "python-called"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\ntouch "{called}"\nexit 1\n')
    python.chmod(0o755)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "PYTHON": str(python),
            "IVRSYNC_SPEC": spec,
            "ACTION_PATH": str(REPO_ROOT),
            "RUNNER_TEMP": str(tmp_path),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0  # the stand-in python always fails
    assert called.exists() is installs
    refused = "::error title=ivrsync action (install)::input version: not pinned to a repository."
    assert (refused in done.stdout) is not installs


def test_the_action_puts_only_ivrsync_on_path_not_its_virtualenv(tmp_path: Path) -> None:
    """Later steps run `ivrsync`, while their `python` and `pip` stay the job's own (the
    `python-version` input promises it): a virtualenv's bin/ on PATH would shadow them."""
    [step] = [s for s in load(ACTION)["runs"]["steps"] if s.get("id") == "install"]
    python = tmp_path / "python"  # stands in for setup-python's: `-m venv DIR` makes DIR
    python.write_text(
        '#!/bin/sh\nmkdir -p "$3/bin"\n'
        'for tool in python pip ivrsync; do printf "#!/bin/sh\\n" > "$3/bin/$tool"; '
        'chmod +x "$3/bin/$tool"; done\n'
    )
    python.chmod(0o755)
    path_file, output_file = tmp_path / "path", tmp_path / "output"
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "PYTHON": str(python),
            "IVRSYNC_SPEC": "",
            "ACTION_PATH": str(REPO_ROOT),
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_PATH": str(path_file),
            "GITHUB_OUTPUT": str(output_file),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [added] = path_file.read_text().splitlines()
    assert sorted(p.name for p in Path(added).iterdir()) == ["ivrsync"]
    assert Path(added, "ivrsync").resolve() == tmp_path / "ivrsync-venv" / "bin" / "ivrsync"


def test_the_github_workflow_uses_the_action_as_declared() -> None:
    inputs = load(ACTION)["inputs"]
    workflow = load(WORKFLOW)
    triggers: dict[str, Any] = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["main"]
    assert "prompts/**" in triggers["pull_request"]["paths"]
    assert "audio/**" in triggers["pull_request"]["paths"]
    jobs = workflow["jobs"]
    commands = {}
    for name, job in jobs.items():
        ours = [s for s in job["steps"] if "ivrsync@" in s.get("uses", "")]
        assert len(ours) == 1, name
        step = ours[0]
        # A commit of a release, to be filled in: zeros, which GitHub cannot resolve.
        assert step["uses"] == f"{ivrsync.REPOSITORY}@{'0' * 40}"
        assert set(step["with"]) <= set(inputs), set(step["with"]) - set(inputs)
        assert "command" in step["with"]
        commands[step["with"]["command"]] = (job, step)
        for expression in expressions(job):
            assert not re.search(r"\bsteps\.(?!ivrsync\b)", expression), expression
            for output in re.findall(r"steps\.ivrsync\.outputs\.([\w-]+)", expression):
                assert output in load(ACTION)["outputs"]
    plan_job, plan_step = commands["plan"]
    assert "env" not in plan_step, "plan needs no secrets (fork pull requests have none)"
    assert plan_job["permissions"] == {"contents": "read", "pull-requests": "write"}

    apply_job, apply_step = commands["apply"]
    # Only the default branch applies, whatever started the run; behind an environment.
    assert apply_job["if"] == (
        "github.event_name != 'pull_request' && "
        "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    )
    assert apply_job["environment"] == "ivrsync"
    assert apply_job["concurrency"]["cancel-in-progress"] is False
    assert "state" in apply_job["concurrency"]["group"]
    assert apply_job["permissions"]["contents"] == "write"
    assert apply_job["permissions"]["actions"] == "read"
    assert str(apply_step["with"]["commit-state"]).lower() == "true"
    # The secrets are those the example manifest names, each from `secrets.` of the same name.
    manifest = (EXAMPLE / "ivrsync.yaml").read_text()
    named = set(re.findall(r"_env: (\w+)", manifest))
    # Amazon Connect's come from the AWS credential chain, which no setting names.
    if "type: amazon-connect" in manifest:
        named |= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert set(apply_step["env"]) == named
    for name, value in apply_step["env"].items():
        assert value == f"${{{{ secrets.{name} }}}}"


# --- The helpers of the action -------------------------------------------------------------


def test_fit_cuts_at_a_line_and_closes_what_it_opened() -> None:
    plan = "**Plan: 1 to upload.**\n\n<details><summary>Full plan</summary>\n\n```\n"
    plan += "".join(f"  + aicc.prompt{n}.en_US\n" for n in range(5000)) + "```\n\n</details>\n"
    assert ci_markdown.fit(plan, len(plan)) == plan
    cut = ci_markdown.fit(plan, 10_000)
    assert len(cut) <= 10_000
    assert cut.startswith("**Plan: 1 to upload.**")
    assert cut.count("```") == 2
    assert cut.count("<details>") == cut.count("</details>") == 1
    assert "Cut to fit" in cut.splitlines()[-1]
    wide = ci_markdown.fit("é" * 600_000, ci_github.SUMMARY_LIMIT, lambda s: len(s.encode()))
    assert len(wide.encode()) <= ci_github.SUMMARY_LIMIT
    assert ci_markdown.fence("a ```` b").startswith("`````text\n")


@dataclass
class FakeGitHub:
    """What the action asks of the GitHub REST API, kept in memory."""

    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    foreign: set[int] = field(default_factory=set)  # comment ids the token may not edit
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by commit
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # newest first
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    next_id: int = 1000

    def handle(self, method: str, target: str, body: Any) -> tuple[int, Any, str]:
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        self.log.append((method, path))
        repo = f"/repos/{REPOSITORY}"
        if match := re.fullmatch(rf"{repo}/issues/(\d+)/comments", path):
            number = int(match.group(1))
            if method == "POST":
                self.next_id += 1
                comment = {"id": self.next_id, "body": body["body"], "html_url": f"c{self.next_id}"}
                self.comments.setdefault(number, []).append(comment)
                return 201, comment, ""
            page, size = int(query.get("page", ["1"])[0]), int(query["per_page"][0])
            items = self.comments.get(number, [])
            link = ""
            if page * size < len(items):
                link = f'<{self.url}{path}?per_page={size}&page={page + 1}>; rel="next"'
            return 200, items[(page - 1) * size : page * size], link
        if match := re.fullmatch(rf"{repo}/issues/comments/(\d+)", path):
            wanted = int(match.group(1))
            if wanted in self.foreign:
                return 403, {"message": "Resource not accessible by integration"}, ""
            for comment in (c for cs in self.comments.values() for c in cs):
                if comment["id"] == wanted:
                    comment["body"] = body["body"]
                    return 200, comment, ""
        if match := re.fullmatch(rf"{repo}/commits/(\w+)/pulls", path):
            return 200, self.pulls.get(match.group(1), []), ""
        if path == f"{repo}/actions/artifacts":
            named = [a for a in self.artifacts if a["name"] == query["name"][0]]
            return 200, {"total_count": len(named), "artifacts": named}, ""
        if match := re.fullmatch(rf"{repo}/actions/runs/(\d+)", path):
            return 200, self.runs[int(match.group(1))], ""
        return 404, {"message": "Not Found"}, ""


@pytest.fixture
def github_api() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            assert self.headers["Authorization"] == f"Bearer {TOKEN}"
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, data, link = fake.handle(self.command, self.path, body)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if link:
                self.send_header("Link", link)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as fake.url:
        yield fake


def test_the_comment_is_found_across_pages_and_updated_in_place(github_api: FakeGitHub) -> None:
    marker = "<!-- ivrsync-plan:. -->"
    chatter = [{"id": n, "body": f"looks good {n}"} for n in range(1, 131)]
    spoof = {"id": 131, "body": f"{marker}\nsomeone else's"}  # a marker the token cannot edit
    github_api.comments[7] = [*chatter, spoof]
    github_api.foreign.add(131)
    api = ci_github_api.GitHub(github_api.url, TOKEN, REPOSITORY)
    assert ci_github_api.upsert_comment(api, 7, marker, "first")[0] == "created"
    assert ci_github_api.upsert_comment(api, 7, marker, "second")[0] == "updated"
    ours = [c for c in github_api.comments[7] if c["body"].startswith(marker) and c["id"] != 131]
    assert len(ours) == 1
    assert ours[0]["body"] == f"{marker}\nsecond"
    assert ("GET", f"/repos/{REPOSITORY}/issues/7/comments") in github_api.log
    assert github_api.log.count(("POST", f"/repos/{REPOSITORY}/issues/7/comments")) == 1
    huge = ci_github_api.upsert_comment(api, 7, marker, "x\n" * 40_000)
    assert huge[0] == "updated"
    assert len(ours[0]["body"]) <= ci_github_api.COMMENT_LIMIT


# --- Git -----------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def make_origin(tmp: Path) -> tuple[str, Path]:
    """A bare origin with `main` holding a README, and a working clone of it."""
    bare = tmp / "origin.git"
    git(tmp, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    url = bare.as_uri()
    seed = tmp / "seed"
    git(tmp, "clone", "--quiet", url, str(seed))
    git(seed, "checkout", "--quiet", "-b", "main")
    (seed / "README.md").write_text("IVR prompts\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "--quiet", "-m", "start")
    git(seed, "push", "--quiet", "origin", "main")
    return url, seed


def add_prompts(repo: Path) -> None:
    shutil.copytree(EXAMPLE, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".ivrsync"))
    (repo / ".gitignore").write_text(GITIGNORE)


def test_commit_state_commits_only_the_state_onto_a_branch_that_moved(tmp_path: Path) -> None:
    url, seed = make_origin(tmp_path)
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--depth=1", url, str(runner))
    state = runner / "ivrsync.state.json"
    state.write_text('{"serial": 1}\n')
    (runner / "scratch.txt").write_text("not for the commit\n")
    (seed / "NEWS.md").write_text("merged meanwhile\n")  # main moves after the checkout
    git(seed, "add", "NEWS.md")
    git(seed, "commit", "--quiet", "-m", "another merge")
    git(seed, "push", "--quiet", "origin", "main")
    # The first push is refused, as when yet another merge lands between fetch and push.
    hook = Path(url.removeprefix("file://")) / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\n[ -e {tmp_path}/refused ] && exit 0\ntouch {tmp_path}/refused\nexit 1\n"
    )
    hook.chmod(0o755)

    done, commit = ci_git.commit_state(state, "main", str(runner), "state [skip ci]", BOT, pause=0)
    assert done == "pushed"
    git(seed, "pull", "--quiet", "origin", "main")
    assert git(seed, "rev-parse", "HEAD") == commit
    assert git(seed, "show", "--name-only", "--format=%an", "HEAD").split() == [
        "github-actions[bot]",
        "ivrsync.state.json",
    ]
    assert (seed / "NEWS.md").exists()
    assert not (seed / "scratch.txt").exists()
    again = ci_git.commit_state(state, "main", str(runner), "state", BOT, pause=0)
    assert again == ("unchanged", commit)
    # A branch of its own for the state, created on first use.
    ci_git.commit_state(state, "ivrsync-state", str(runner), "state", BOT, pause=0)
    git(seed, "fetch", "--quiet", "origin", "ivrsync-state")
    assert git(seed, "ls-tree", "--name-only", "FETCH_HEAD") == "ivrsync.state.json"


# --- A remote state backend (state.backend: s3) ---------------------------------------------

STATE_BUCKET = "ivr-prompts-state"
STATE_KEY = "contact-center/ivrsync.state.json"
STATE_URL = f"s3://{STATE_BUCKET}/{STATE_KEY}"


def use_remote_state(
    repo: Path, endpoint: str = "http://127.0.0.1:9", key: str = STATE_KEY
) -> None:
    """ivrsync.yaml keeps the state in a bucket (docs/state-backends.md) instead of a file.
    Each test its own `key`: moto's servers in one process share their buckets."""
    manifest = repo / "ivrsync.yaml"
    local = "state:\n  path: ivrsync.state.json\n"
    remote = (
        f"state:\n  backend: s3\n  bucket: {STATE_BUCKET}\n  key: {key}\n"
        f"  endpoint: {endpoint}\n  region: us-east-1\n"
    )
    assert local in manifest.read_text()
    manifest.write_text(manifest.read_text().replace(local, remote))


def outputs_of(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_with_a_remote_state_no_branch_is_read_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repository still has the state file from before the state moved to a bucket, and
    a state branch: the steps neither take a state from the branch nor commit one, and the
    state artifact is the unsaved state apply would leave, not that stale file."""
    url, seed = make_origin(tmp_path)
    add_prompts(seed)
    use_remote_state(seed)
    (seed / "ivrsync.state.json").write_text('{"serial": 3}\n')
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "prompts, their state in a bucket")
    git(seed, "push", "--quiet", "origin", "main", "main:ivrsync-state")
    before = git(seed, "ls-remote", "origin")
    workspace = tmp_path / "ws"
    git(tmp_path, "clone", "--quiet", "--depth=1", url, str(workspace))
    (workspace / "ivrsync.state.json").write_text('{"serial": 4}\n')
    monkeypatch.chdir(workspace)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "main"}}))
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_OUTPUT": str(tmp_path / "outputs"),
        "IVRSYNC_COMMAND": "apply",
        "IVRSYNC_COMMIT_STATE": "true",
        "IVRSYNC_STATE_BRANCH": "ivrsync-state",
        "IVRSYNC_PLAN_FROM_PR": "off",
    }
    assert ci_github.main(["prepare"], env) == 0
    outputs = outputs_of(tmp_path / "outputs")
    assert outputs["state-file"] == ""
    assert outputs["unsaved-state-file"] == "ivrsync.state.unsaved.json"
    for step in ("fetch-state", "commit-state"):
        assert ci_github.main([step], {**env, "IVRSYNC_STATE_FILE": ""}) == 0
    assert (workspace / "ivrsync.state.json").read_text() == '{"serial": 4}\n'
    assert git(seed, "ls-remote", "origin") == before
    out = capsys.readouterr().out
    assert (
        f"::notice title=ivrsync action::ivrsync.yaml keeps the state in {STATE_URL} (backend "
        "s3): it is neither taken from nor committed to a branch, so commit-state and "
        "state-branch do nothing."
    ) in out
    assert f"The state is in {STATE_URL} (backend s3): no branch holds it." in out
    assert f"The state is in {STATE_URL} (backend s3), written there by apply: nothing to " in out


# --- The workflow's commands against the emulators -----------------------------------------


@dataclass
class Clouds:
    env: dict[str, str]  # what the workflow's env gives ivrsync: credentials and endpoints
    huawei: HuaweiEmulator
    tencent: TencentEmulator


@pytest.fixture
def clouds(tmp_path: Path) -> Iterator[Clouds]:
    """The three emulators, a static server publishing tmp_path/site for Tencent to fetch, and
    the S3 server Amazon Connect copies prompts from."""
    site = tmp_path / "site"
    site.mkdir()
    aws_key, aws_secret = SECRETS["AWS_ACCESS_KEY_ID"], SECRETS["AWS_SECRET_ACCESS_KEY"]
    with (
        HuaweiEmulator(
            HuaweiEmulatorConfig(
                app_key=SECRETS["AICC_APP_KEY"], app_secret=SECRETS["AICC_APP_SECRET"]
            )
        ) as huawei,
        TencentEmulator(
            TencentEmulatorConfig(
                secret_id=SECRETS["TENCENTCLOUD_SECRET_ID"],
                secret_key=SECRETS["TENCENTCLOUD_SECRET_KEY"],
            )
        ) as tencent,
        static_files(site) as audio,
        S3Emulator(
            S3EmulatorConfig(aws_key, aws_secret, buckets=["example-telecom-prompts"])
        ) as s3,
        AmazonConnectEmulator(
            AmazonConnectEmulatorConfig(
                aws_key,
                aws_secret,
                s3_endpoint=s3.url,
                s3_access_key_id=aws_key,
                s3_secret_access_key=aws_secret,
            )
        ) as connect,
    ):
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "CI": "true",
            # The ivrsync under test, also where the venv's editable install is another checkout.
            "PYTHONPATH": str(REPO_ROOT),
            **SECRETS,
            "AICC_ENDPOINT": huawei.url,
            "CCC_ENDPOINT": tencent.url,
            "CCC_AUDIO_BASE_URL": audio,
            "CONNECT_ENDPOINT": connect.url,
            "CONNECT_S3_ENDPOINT": s3.url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if os.environ.get("PYTHONPATH"):  # the ivrsync under test, in subprocesses too
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        yield Clouds(env, huawei, tencent)


def publish(tmp_path: Path, repo: Path) -> None:
    """What the CDN serves: the prompt repository's audio."""
    shutil.copytree(repo / "audio", tmp_path / "site" / "audio", dirs_exist_ok=True)


def test_the_workflow_commands_in_order(tmp_path: Path, clouds: Clouds) -> None:
    repo = tmp_path / "prompts"
    repo.mkdir()
    add_prompts(repo)
    publish(tmp_path, repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "prompts")

    def ivrsync(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ivrsync", *args],
            cwd=repo,
            env=clouds.env,
            capture_output=True,
            text=True,
            check=False,
        )

    planned = ivrsync("plan", "--out", "ivrsync.plan.json", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "Plan: 18 to upload, 0 to replace, 0 to forget." in planned.stdout
    shown = ivrsync("show", "ivrsync.plan.json", "--format", "markdown")
    assert shown.returncode == 0
    assert shown.stdout.startswith("**Plan: 18 to upload, 0 to replace, 0 to forget.**\n")
    applied = ivrsync("apply", "ivrsync.plan.json")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete: 18 uploaded" in applied.stdout
    git(repo, "add", "ivrsync.state.json")
    git(repo, "commit", "--quiet", "-m", "ivrsync: state after apply [skip ci]")
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "ivrsync.state.json"
    assert git(repo, "status", "--porcelain") == ""  # the plan, backup and cache are ignored
    again = ivrsync("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stderr
    assert "No changes." in again.stdout
    for secret in SECRETS.values():
        assert secret not in planned.stdout + applied.stdout + applied.stderr


# --- The workflow `ivrsync init` writes ----------------------------------------------------


def test_the_init_workflow_applies_retries_a_refused_push_and_keeps_the_state(
    tmp_path: Path, clouds: Clouds
) -> None:
    """Its apply job's steps, in order, as the runner runs them (the pip install left out:
    this ivrsync is installed), against the emulator, with origin refusing the first push."""
    url, seed = make_origin(tmp_path)
    init = subprocess.run(
        [sys.executable, "-m", "ivrsync", "init"],
        cwd=seed,
        env=clouds.env,
        capture_output=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "ivrsync init")
    git(seed, "push", "--quiet", "origin", "main")
    workflow = load(seed / ".github" / "workflows" / "ivrsync.yml")
    job = workflow["jobs"]["apply"]
    assert "github.event.repository.default_branch" in job["if"]
    assert job["concurrency"]["cancel-in-progress"] is False
    hook = Path(url.removeprefix("file://")) / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\n[ -e {tmp_path}/refused ] && exit 0\ntouch {tmp_path}/refused\nexit 1\n"
    )
    hook.chmod(0o755)
    workspace = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--depth=1", url, str(workspace))

    def secret(match: re.Match[str]) -> str:
        name = re.fullmatch(r"secrets\.(\w+)", match.group(1))
        assert name, match.group(0)
        return SECRETS[name.group(1)]

    github = {"GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_SHA": "f" * 40}
    log = []
    for step in job["steps"]:
        if "run" not in step or step["run"].startswith("pip install"):
            continue
        mapping = {**job["env"], **step.get("env", {})}
        env = {k: EXPR.sub(secret, str(v)) for k, v in mapping.items()}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env={**clouds.env, **github, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        log.append(done.stdout)
    text = "".join(log)
    assert "Apply complete: 1 uploaded" in text
    assert "Push to main refused (attempt 1)" in text
    assert "Committed the state to main" in text
    git(seed, "pull", "--quiet", "origin", "main")
    assert git(seed, "show", "--name-only", "--format=%an", "HEAD").split() == [
        "github-actions[bot]",
        "ivrsync.state.json",
    ]
    assert len(clouds.huawei.uploads) == 1
    # Both run after a failed apply too; the artifact is the state file the apply wrote.
    commit_step, artifact = job["steps"][-2:]
    assert commit_step["if"].startswith("always()")
    assert artifact["if"] == "always()"
    assert artifact["uses"].startswith("actions/upload-artifact@")
    assert artifact["with"]["path"].split() == ["ivrsync.state.json", "ivrsync.state.unsaved.json"]
    assert (workspace / "ivrsync.state.json").is_file()


NO_PAGE = {"page-file": "", "page-url": ""}  # apply makes no review page


# --- The composite action, step by step ----------------------------------------------------


@dataclass
class Run:
    """One run of the action in a job: what a runner would have at the end of it."""

    outputs: dict[str, str]
    steps: dict[str, dict[str, str]]
    outcomes: dict[str, str]
    summary: str
    log: str


class ActionRunner:
    """Runs action.yml's steps as the GitHub runner does: `if:` conditions, `env:` mappings,
    outputs, bash with -eo pipefail. The install step and the actions it uses are stood in
    for: Python is this one, artifacts are kept in `self.artifacts` per run id."""

    def __init__(self, base_env: dict[str, str], temp: Path) -> None:
        self.action = load(ACTION)
        self.base_env = base_env
        self.temp = temp
        # run id -> artifact name -> file name -> content
        self.artifacts: dict[int, dict[str, dict[str, bytes]]] = {}

    def run(self, workspace: Path, inputs: dict[str, str], github: dict[str, str]) -> Run:
        declared = self.action["inputs"]
        assert set(inputs) <= set(declared)
        values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
        values["github-token"] = TOKEN
        values.update(inputs)
        run_id = int(github["run_id"])
        runner_temp = self.temp / f"runner-{run_id}"
        shutil.rmtree(runner_temp, ignore_errors=True)
        runner_temp.mkdir(parents=True)
        steps: dict[str, dict[str, str]] = {}
        outcomes: dict[str, str] = {}
        failed = False
        summary, log = [], []

        def lookup(name: str) -> str:
            parts = name.split(".")
            if parts[0] == "inputs":
                return values[parts[1]]  # KeyError: an undeclared input
            if parts[0] == "steps":
                if parts[2] == "outcome":
                    return outcomes.get(parts[1], "")
                return steps.get(parts[1], {}).get(parts[3], "")
            if name == "github.action_path":
                return str(REPO_ROOT)
            if name == "runner.temp":
                return str(runner_temp)
            raise AssertionError(f"unexpected context {name}")

        def evaluate(expression: str) -> Any:
            python = re.sub(
                r"\b(?:inputs|steps|github|runner)\.[\w.-]+",
                lambda m: f"_get({m.group(0)!r})",
                expression,
            )
            python = python.replace("&&", " and ").replace("||", " or ")
            python = re.sub(r"!(?!=)", " not ", python)
            for function, value in {
                "always()": "True",
                "cancelled()": "False",
                "success()": "(not _failed)",
                "failure()": "_failed",
            }.items():
                python = python.replace(function, value)
            return eval(python, {"__builtins__": {}}, {"_get": lookup, "_failed": failed})

        def interpolate(text: object) -> str:
            def one(match: re.Match[str]) -> str:
                value = evaluate(match.group(1))
                return str(value).lower() if isinstance(value, bool) else str(value)

            return EXPR.sub(one, str(text))

        for step in self.action["runs"]["steps"]:
            step_id = step.get("id", f"step{len(outcomes)}")
            condition = step.get("if")
            if condition is not None:
                condition = EXPR.sub(lambda m: m.group(1), condition)
                if not re.search(r"always\(\)|cancelled\(\)|failure\(\)|success\(\)", condition):
                    condition = f"success() && ({condition})"
                go = bool(evaluate(condition))
            else:
                go = not failed
            if not go:
                outcomes[step_id] = "skipped"
                continue
            with_ = {k: interpolate(v) for k, v in step.get("with", {}).items()}
            ok, out = True, {}
            uses = step.get("uses", "").split("@")[0]
            if uses == "actions/setup-python":
                out = {"python-path": sys.executable}
            elif step_id == "install":
                out = {"python": sys.executable}  # installing is pip's business
            elif uses == "actions/upload-artifact":
                # One path a line; empty lines are skipped, as @actions/glob does.
                paths = [workspace / line.strip() for line in with_["path"].splitlines()]
                sources = [p for p in paths if p != workspace and p.is_file()]
                if sources:
                    stored = self.artifacts.setdefault(run_id, {})
                    # archive: false uploads the file as it is, named after it.
                    unzipped = with_.get("archive", "").lower() == "false"
                    name = sources[0].name if unzipped else with_["name"]
                    stored[name] = {source.name: source.read_bytes() for source in sources}
                    out = {"artifact-url": f"https://github.com/{REPOSITORY}/actions/runs/"
                           f"{run_id}/artifacts/{len(stored)}"}  # fmt: skip
                else:
                    ok = with_.get("if-no-files-found") == "ignore"
            elif uses == "actions/download-artifact":
                assert with_["github-token"] == TOKEN
                files = self.artifacts[int(with_["run-id"])][with_["name"]]
                Path(with_["path"]).mkdir(parents=True, exist_ok=True)
                for name, data in files.items():
                    (Path(with_["path"]) / name).write_bytes(data)
            else:
                ok, out, text, told = self._bash(step, interpolate, workspace, github, runner_temp)
                log.append(text)
                summary.append(told)
            steps[step_id] = out
            outcomes[step_id] = "success" if ok else "failure"
            failed = failed or not ok
        outputs = {k: interpolate(v["value"]) for k, v in self.action["outputs"].items()}
        return Run(outputs, steps, outcomes, "".join(summary), "".join(log))

    def _bash(
        self,
        step: dict[str, Any],
        interpolate: Any,
        workspace: Path,
        github: dict[str, str],
        runner_temp: Path,
    ) -> tuple[bool, dict[str, str], str, str]:
        files = {
            name: runner_temp / f"{name}-{len(list(runner_temp.iterdir()))}" for name in ("o", "s")
        }
        for path in files.values():
            path.write_text("")
        env = {
            **self.base_env,
            **{f"GITHUB_{k.upper()}": v for k, v in github.items()},
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(files["o"]),
            "GITHUB_STEP_SUMMARY": str(files["s"]),
            "RUNNER_TEMP": str(runner_temp),
            **{k: interpolate(v) for k, v in step.get("env", {}).items()},
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        outputs = dict(
            line.split("=", 1) for line in files["o"].read_text().splitlines() if "=" in line
        )
        text = done.stdout + done.stderr
        return done.returncode == 0, outputs, text, files["s"].read_text()


def github_context(
    tmp_path: Path,
    api: FakeGitHub,
    event_name: str,
    run_id: int,
    sha: str,
    event: dict[str, Any],
) -> dict[str, str]:
    """The `github` context of a run of the workflow on pull request 7 or on main."""
    path = tmp_path / f"event-{run_id}.json"
    path.write_text(json.dumps({**event, "repository": {"default_branch": "main"}}))
    return {
        "event_name": event_name,
        "event_path": str(path),
        "run_id": str(run_id),
        "sha": sha,
        "ref_name": "7/merge" if event_name == "pull_request" else "main",
        "ref": "refs/pull/7/merge" if event_name == "pull_request" else "refs/heads/main",
        "repository": REPOSITORY,
        "api_url": api.url,
        "server_url": "https://github.com",
        "workflow_ref": f"{REPOSITORY}/.github/workflows/ivrsync.yml@refs/heads/main",
    }


def test_the_action_plans_a_pull_request_and_applies_the_reviewed_plan_on_merge(
    tmp_path: Path, clouds: Clouds, github_api: FakeGitHub
) -> None:
    url, seed = make_origin(tmp_path)
    workflow = load(WORKFLOW)["jobs"]
    ours = {
        name: next(s for s in job["steps"] if "ivrsync@" in s.get("uses", ""))
        for name, job in workflow.items()
    }
    # The job's env: the workflow's secrets mapping, with the test's values.
    secrets_env = {
        name: SECRETS[value.removeprefix("${{ secrets.").removesuffix(" }}")]
        for name, value in ours["apply"]["env"].items()
    }
    runner = ActionRunner(clouds.env, tmp_path / "temp")

    def checkout(ref: str, name: str) -> Path:
        workspace = tmp_path / name
        git(tmp_path, "clone", "--quiet", "--depth=1", "--branch", ref, url, str(workspace))
        return workspace

    def context(event_name: str, run_id: int, sha: str, event: dict[str, Any]) -> dict[str, str]:
        return github_context(tmp_path, github_api, event_name, run_id, sha, event)

    # A pull request adds the prompts.
    git(seed, "checkout", "--quiet", "-b", "prompts")
    add_prompts(seed)
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "Add the prompts")
    git(seed, "push", "--quiet", "origin", "prompts")
    head = git(seed, "rev-parse", "HEAD")
    publish(tmp_path, seed)
    pr_event = {
        "pull_request": {
            "number": 7,
            "head": {"sha": head, "repo": {"full_name": REPOSITORY}},
        }
    }
    plan_inputs = {k: str(v) for k, v in ours["plan"]["with"].items()}

    pr = runner.run(
        checkout("prompts", "pr-1"), plan_inputs, context("pull_request", 501, head, pr_event)
    )
    page_url = f"https://github.com/{REPOSITORY}/actions/runs/501/artifacts/2"
    assert pr.outputs == {
        "exitcode": "2",
        "has-changes": "true",
        "plan-file": "ivrsync.plan.json",
        "page-file": pr.steps["run"]["page-file"],
        "page-url": page_url,
    }
    assert pr.outcomes["run"] == "success", pr.log
    assert "ivrsync-plan" in runner.artifacts[501]
    # The review page: an artifact of its own, one HTML file with a player per upload.
    [page] = runner.artifacts[501]["ivrsync-plan-page.html"].values()
    assert page.startswith(b"<!DOCTYPE html>") and page.count(b"<audio controls") == 18
    assert pr.summary.startswith("### ivrsync plan\n\n**Plan: 18 to upload, 0 to replace")
    [comment] = github_api.comments[7]
    assert comment["body"].startswith(
        f"<!-- ivrsync-plan:. -->\n### ivrsync plan\n\n**[Listen to the prompts]({page_url})**"
    )
    assert "\n\n**Plan: 18" in comment["body"]
    assert f"Commit {head[:7]}" in comment["body"]
    # What GitHub's API then lists: the plan artifacts of the pull request's runs, newest first
    # (one of them from an older commit of the pull request).
    for run_id in (499, 501):
        runner.artifacts.setdefault(run_id, runner.artifacts[501])
        github_api.runs[run_id] = {
            "id": run_id,
            "event": "pull_request",
            "path": ".github/workflows/ivrsync.yml",
        }
        github_api.artifacts.insert(
            0,
            {
                "id": 9000 + run_id,
                "name": "ivrsync-plan",
                "expired": False,
                "workflow_run": {"id": run_id, "head_sha": head if run_id == 501 else "0" * 40},
            },
        )

    # Merged: the push to main applies the plan reviewed on run 501, and commits the state.
    git(seed, "checkout", "--quiet", "main")
    git(seed, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #7", "prompts")
    git(seed, "push", "--quiet", "origin", "main")
    merge = git(seed, "rev-parse", "HEAD")
    github_api.pulls[merge] = [
        {
            "number": 7,
            "merged_at": "2026-11-21T08:00:00Z",
            "merge_commit_sha": merge,
            "base": {"ref": "main"},
            "head": {"sha": head},
        }
    ]
    apply_inputs = {
        "command": "apply",
        "commit-state": "true",
        "plan-from-pr": "auto",  # what the workflow's expression gives for a push
    }
    assert set(ours["apply"]["with"]) == set(apply_inputs)
    runner.base_env = {**clouds.env, **secrets_env}
    applied = runner.run(checkout("main", "main-1"), apply_inputs, context("push", 601, merge, {}))
    assert applied.outcomes["run"] == "success", applied.log
    assert applied.steps["prepare"]["reviewed-run-id"] == "501"
    assert "Applying the plan reviewed on pull request #7" in applied.log
    assert applied.outputs["exitcode"] == "0"
    assert applied.outputs["has-changes"] == "true"
    assert applied.outputs["plan-file"].endswith("ivrsync-plan-reviewed-501/ivrsync.plan.json")
    assert "**Apply complete** (the plan `ivrsync.plan.json`)" in applied.summary
    assert "Apply complete: 18 uploaded, 0 replaced, 0 forgotten, 0 failed." in applied.summary
    assert applied.outcomes["commit-state"] == "success", applied.log
    assert set(runner.artifacts[601]["ivrsync-state"]) == {"ivrsync.state.json"}
    git(seed, "pull", "--quiet", "origin", "main")
    assert git(seed, "log", "-1", "--format=%an %s").startswith(
        "github-actions[bot] ivrsync: state after apply of"
    )
    assert git(seed, "show", "--name-only", "--format=", "HEAD") == "ivrsync.state.json"
    for secret in SECRETS.values():
        assert secret not in applied.log + applied.summary
    assert len(clouds.huawei.uploads) == 7
    assert len(clouds.tencent.uploads) == 9

    # The next pull request plans against the committed state: nothing to do.
    pr = runner.run(
        checkout("main", "pr-3"), plan_inputs, context("pull_request", 503, merge, pr_event)
    )
    assert pr.outputs == {
        "exitcode": "0",
        "has-changes": "false",
        "plan-file": "ivrsync.plan.json",
        "page-file": "",  # nothing to listen to: no page
        "page-url": "",
    }
    # ... and says so in the same comment, updated.
    assert len(github_api.comments[7]) == 1
    assert ("PATCH", f"/repos/{REPOSITORY}/issues/comments/{comment['id']}") in github_api.log
    assert "No changes. The state matches the manifests." in github_api.comments[7][0]["body"]
    # Applying again by hand: no reviewed plan (plan-from-pr off), a new plan with nothing in it.
    again = runner.run(
        checkout("main", "main-2"),
        {**apply_inputs, "plan-from-pr": "off"},
        context("workflow_dispatch", 602, git(seed, "rev-parse", "HEAD"), {}),
    )
    assert again.outputs == {"exitcode": "0", "has-changes": "false", "plan-file": "", **NO_PAGE}
    assert "already this one" in again.log


def test_a_failed_plan_is_posted_and_fails_the_step(
    tmp_path: Path, clouds: Clouds, github_api: FakeGitHub
) -> None:
    repo = tmp_path / "ws"
    repo.mkdir()
    add_prompts(repo)
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text().replace("voice_type: ivr", "voice_type: music"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 9, "head": {"sha": "f" * 40}}}))
    github = {
        "event_name": "pull_request",
        "event_path": str(event),
        "run_id": "700",
        "sha": "e" * 40,
        "repository": REPOSITORY,
        "api_url": github_api.url,
    }
    result = ActionRunner(clouds.env, tmp_path / "temp").run(repo, {"command": "plan"}, github)
    assert result.outcomes["run"] == "failure"
    assert result.outputs == {"exitcode": "1", "has-changes": "false", "plan-file": "", **NO_PAGE}
    assert "::error title=ivrsync plan::ivrsync plan failed (exit 1)" in result.log
    [comment] = github_api.comments[9]
    assert "**ivrsync plan failed** (exit 1):" in comment["body"]
    assert "must be one of 'ivr'" in comment["body"]


def test_apply_from_a_branch_other_than_the_default_is_refused(
    tmp_path: Path, clouds: Clouds, github_api: FakeGitHub
) -> None:
    """Run by hand on an unreviewed branch: nothing is uploaded, nothing is committed."""
    url, seed = make_origin(tmp_path)
    git(seed, "checkout", "--quiet", "-b", "feature")
    add_prompts(seed)
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "unreviewed prompts")
    git(seed, "push", "--quiet", "origin", "feature")
    tip = git(seed, "rev-parse", "HEAD")
    publish(tmp_path, seed)
    workspace = tmp_path / "ws"
    git(tmp_path, "clone", "--quiet", "--depth=1", "--branch", "feature", url, str(workspace))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": "feature", "repository": {"default_branch": "main"}}))
    github = {
        "event_name": "workflow_dispatch",
        "event_path": str(event),
        "run_id": "800",
        "sha": tip,
        "ref": "refs/heads/feature",
        "ref_name": "feature",
        "repository": REPOSITORY,
        "api_url": github_api.url,
    }
    runner = ActionRunner({**clouds.env, **SECRETS}, tmp_path / "temp")
    inputs = {"command": "apply", "commit-state": "true", "plan-from-pr": "off"}
    refused = runner.run(workspace, inputs, github)
    assert refused.outcomes["prepare"] == "failure"
    assert (
        "::error title=ivrsync action (prepare)::apply runs only on the default branch 'main', "
        "not refs/heads/feature"
    ) in refused.log
    assert refused.outcomes["run"] == refused.outcomes["commit-state"] == "skipped"
    assert refused.outputs["exitcode"] == ""
    assert clouds.huawei.uploads == [] and clouds.tencent.uploads == []
    assert git(workspace, "ls-remote", "origin", "feature").split()[0] == tip
    assert not (workspace / "ivrsync.state.json").exists()

    # The same run on the default branch passes the check, and so does an explicit opt-in.
    env = {
        **clouds.env,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "IVRSYNC_COMMAND": "apply",
        "IVRSYNC_WORKING_DIRECTORY": str(workspace),
        "IVRSYNC_PLAN_FROM_PR": "off",
    }
    assert ci_github.main(["prepare"], {**env, "GITHUB_REF": "refs/heads/main"}) == 0
    opted = {**env, "GITHUB_REF": "refs/heads/feature", "IVRSYNC_ALLOW_ANY_BRANCH": "true"}
    assert ci_github.main(["prepare"], opted) == 0
    # An event that names no default branch cannot be checked: refused too, but for a schedule
    # (which GitHub runs on the default branch only).
    event.write_text("{}")
    assert ci_github.main(["prepare"], {**env, "GITHUB_REF": "refs/heads/main"}) == 1
    scheduled = {**env, "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "schedule"}
    assert ci_github.main(["prepare"], scheduled) == 0


def test_with_a_remote_state_the_action_applies_and_commits_nothing(
    tmp_path: Path, clouds: Clouds, github_api: FakeGitHub
) -> None:
    """The example workflow as it is (commit-state: true) on a prompt repository whose state
    is in a bucket (a real S3 server on loopback): the pull request plans against the bucket,
    the merge applies, the state is in the bucket and nothing is pushed to origin."""
    url, seed = make_origin(tmp_path)
    jobs = load(WORKFLOW)["jobs"]
    ours = {
        n: next(s for s in j["steps"] if "ivrsync@" in s.get("uses", "")) for n, j in jobs.items()
    }
    runner = ActionRunner(clouds.env, tmp_path / "temp")
    with s3_server(STATE_BUCKET) as endpoint:
        git(seed, "checkout", "--quiet", "-b", "prompts")
        add_prompts(seed)
        use_remote_state(seed, endpoint)
        git(seed, "add", ".")
        git(seed, "commit", "--quiet", "-m", "Add the prompts, their state in a bucket")
        git(seed, "push", "--quiet", "origin", "prompts")
        head = git(seed, "rev-parse", "HEAD")
        publish(tmp_path, seed)

        def run(name: str, ref: str, inputs: dict[str, Any], github: dict[str, str]) -> Run:
            workspace = tmp_path / name
            git(tmp_path, "clone", "--quiet", "--depth=1", "--branch", ref, url, str(workspace))
            given = {
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in inputs.items()
            }
            return runner.run(workspace, given, github)

        pr_event = {"pull_request": {"number": 7, "head": {"sha": head}}}
        planned = run(
            "pr", "prompts", ours["plan"]["with"],
            github_context(tmp_path, github_api, "pull_request", 501, head, pr_event),
        )  # fmt: skip
        assert planned.outcomes["run"] == "success", planned.log
        assert planned.outputs["exitcode"] == "2"
        assert "**Plan: 18 to upload" in github_api.comments[7][0]["body"]

        git(seed, "checkout", "--quiet", "main")
        git(seed, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #7", "prompts")
        git(seed, "push", "--quiet", "origin", "main")
        merge = git(seed, "rev-parse", "HEAD")
        before = git(seed, "ls-remote", "origin")
        apply_inputs = {**ours["apply"]["with"], "plan-from-pr": "off"}
        runner.base_env = {**clouds.env, **SECRETS}
        applied = run(
            "main", "main", apply_inputs,
            github_context(tmp_path, github_api, "workflow_dispatch", 601, merge, {}),
        )  # fmt: skip
        assert applied.outcomes["run"] == "success", applied.log
        assert applied.outputs["has-changes"] == "true"
        assert "Apply complete: 18 uploaded" in applied.summary
        assert applied.outcomes["fetch-state"] == applied.outcomes["commit-state"] == "success"
        assert f"The state is in {STATE_URL} (backend s3), written there by apply" in applied.log
        assert git(seed, "ls-remote", "origin") == before  # nothing pushed
        assert not (tmp_path / "main" / "ivrsync.state.json").exists()
        assert 601 not in runner.artifacts  # no unsaved state to keep
        stored = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=SECRETS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=SECRETS["AWS_SECRET_ACCESS_KEY"],
        ).get_object(Bucket=STATE_BUCKET, Key=STATE_KEY)
        state = json.loads(stored["Body"].read())
        assert len(state["resources"]) == 18
        for secret in SECRETS.values():
            assert secret not in applied.log + applied.summary

        # The next plan reads the applied state in the bucket: nothing to do.
        again = run(
            "pr-2", "main", ours["plan"]["with"],
            github_context(tmp_path, github_api, "pull_request", 502, merge, pr_event),
        )  # fmt: skip
        assert again.outputs["exitcode"] == "0", again.log


def test_a_state_apply_could_not_write_is_kept_and_named(
    tmp_path: Path, clouds: Clouds, github_api: FakeGitHub
) -> None:
    """Another writer replaces the state while apply uploads (a second pipeline, a restored
    file): apply keeps what it did in ivrsync.state.unsaved.json, the step fails naming the
    artifact and the command that pushes it (from the apply result), and the artifact holds
    it with every upload confirmed."""
    url, seed = make_origin(tmp_path)
    add_prompts(seed)
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "prompts")
    git(seed, "push", "--quiet", "origin", "main")
    publish(tmp_path, seed)
    workspace = tmp_path / "ws"
    git(tmp_path, "clone", "--quiet", "--depth=1", url, str(workspace))
    state = workspace / "ivrsync.state.json"
    uploads = itertools.count(1)

    def another_writer(request: Request) -> None:
        if request.path == HUAWEI_UPLOAD_PATH and next(uploads) == 2:
            state.unlink()
            LocalStateStore(state).write(State.new())

    clouds.huawei.on_request = another_writer
    runner = ActionRunner({**clouds.env, **SECRETS}, tmp_path / "temp")
    github = github_context(tmp_path, github_api, "workflow_dispatch", 900, "f" * 40, {})
    applied = runner.run(workspace, {"command": "apply", "plan-from-pr": "off"}, github)
    clouds.huawei.on_request = None
    assert applied.outcomes["run"] == "failure", applied.log
    assert applied.outputs["exitcode"] == "3"
    [annotation] = [line for line in applied.log.splitlines() if "state not saved" in line]
    assert annotation.startswith(
        "::error title=ivrsync apply%3A state not saved::the state could not be written ("
    )
    assert annotation.endswith(
        "); every upload this run confirmed is in ivrsync.state.unsaved.json, kept as the "
        "artifact `ivrsync-state`. Before the next apply, put it in the prompt repository "
        "and run `ivrsync state push --force ivrsync.state.unsaved.json`"
    )
    kept = runner.artifacts[900]["ivrsync-state"]
    assert set(kept) == {"ivrsync.state.json", "ivrsync.state.unsaved.json"}
    unsaved = json.loads(kept["ivrsync.state.unsaved.json"])
    recorded = {entry["file_id"] for entry in unsaved["resources"].values()}
    assert {upload.file_id for upload in clouds.huawei.uploads} <= recorded
