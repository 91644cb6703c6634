"""The GitLab template (examples/ci/gitlab-ci.yml) and its steps (ivrsync/ci/gitlab.py).

The template is run end to end by gitlab-ci-local (installed by `make` from package-lock.json)
with the shell executor, against the emulators, a bare repository as origin and a stand-in
for the GitLab notes API: a merge request plans, the default branch applies and commits the
state, and a merge request made before that apply plans against the applied state.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

import ivrsync
from ivrsync import secrets
from ivrsync.ci import gitlab
from tests.s3_server import s3_server
from tests.static_server import serving
from tests.test_ci_examples import (  # the emulators, and the prompt repository's git
    STATE_BUCKET,
    Clouds,
    add_prompts,
    clouds,  # noqa: F401 - a fixture
    git,
    make_origin,
    publish,
    use_remote_state,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "examples" / "ci" / "gitlab-ci.yml"
GITLAB_CI_LOCAL = REPO_ROOT / "node_modules" / ".bin" / "gitlab-ci-local"
TOKEN = "glpat-test-0123456789"
GITLAB_KEY = "gitlab/ivrsync.state.json"  # the state in a bucket, in this module's tests
GITLAB_URL = f"s3://{STATE_BUCKET}/{GITLAB_KEY}"


def template() -> dict[str, Any]:
    data = yaml.safe_load(TEMPLATE.read_text())
    assert isinstance(data, dict)
    return data


# --- The YAML ------------------------------------------------------------------------------


def test_the_template_installs_a_pinned_ivrsync_never_the_bare_name() -> None:
    data = template()
    spec = data["variables"]["IVRSYNC_INSTALL"]
    # A git URL at a release tag or a full commit: no index, no range, no moving branch; the
    # one repository and this version (docs/releasing.md).
    assert re.fullmatch(
        r"git\+https://[\w.-]+/[\w.-]+/ivrsync(\.git)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})", spec
    ), spec
    assert spec == f"git+https://github.com/{ivrsync.REPOSITORY}@v{ivrsync.__version__}"
    before = data[".ivrsync"]["before_script"]
    assert [line for line in before if "pip install" in line] == [
        'python -m pip install --disable-pip-version-check --quiet "$IVRSYNC_INSTALL"'
    ]
    # Until the repository is set the jobs stop with a message, before pip asks for a password.
    guard = subprocess.run(
        ["bash", "-c", before[0]],
        env={"IVRSYNC_INSTALL": spec, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert guard.returncode == 1
    assert "Set IVRSYNC_INSTALL" in guard.stderr


def test_the_jobs_call_the_steps_and_derive_their_paths_from_the_settings() -> None:
    data = template()
    stages = data["stages"]
    jobs = {k: v for k, v in data.items() if isinstance(v, dict) and "script" in v}
    assert set(jobs) == {"ivrsync-plan", "ivrsync-apply"}
    for name, job in jobs.items():
        assert job["stage"] in stages, name
        assert job["extends"] == ".ivrsync", name
        for rule in job["rules"]:
            if "changes" in rule:  # GitLab expands variables in rules:changes
                assert rule["changes"] == ["${IVRSYNC_DIR}**/*", ".gitlab-ci.yml"], name
    assert jobs["ivrsync-plan"]["script"] == ["python -m ivrsync.ci.gitlab plan"]
    assert jobs["ivrsync-apply"]["script"][:2] == [
        "python -m ivrsync.ci.gitlab apply || ivrsync_exit=$?",
        "python -m ivrsync.ci.gitlab commit-state",
    ]
    assert jobs["ivrsync-apply"]["resource_group"]
    assert all(
        rule["if"].startswith("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && ")
        for rule in jobs["ivrsync-apply"]["rules"]
    )
    assert data[".ivrsync"]["artifacts"]["paths"] == [f"{gitlab.ARTIFACTS}/"]
    # No second copy of state.path: the steps read it from ivrsync.yaml.
    code = "\n".join(line.split("#")[0] for line in TEMPLATE.read_text().splitlines())
    assert "state.json" not in code
    assert "IVRSYNC_STATE" not in code


@pytest.mark.parametrize("value", ["ivr", "./ivr/", "/ivr/", "ivr/../x/", "."])
def test_a_prompt_folder_that_rules_changes_cannot_match_is_refused(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ivr").mkdir()
    assert gitlab.main(["plan"], {"IVRSYNC_DIR": value}) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"Error: IVRSYNC_DIR: {value!r} is not allowed: ")
    assert "trailing slash ('ivr/')" in err


@pytest.mark.parametrize("step", ["apply", "commit-state"])
def test_only_the_default_branch_applies(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"CI_COMMIT_BRANCH": "feature", "CI_DEFAULT_BRANCH": "main"}
    assert gitlab.main([step], env) == 1
    assert capsys.readouterr().err == (
        "Error: ivrsync applies only on the default branch (main); this pipeline is for "
        "feature: merge the change to apply it\n"
    )
    assert not (tmp_path / gitlab.ARTIFACTS / gitlab.PLAN_FILE).exists()


def test_with_a_remote_state_nothing_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state file from before the state moved to a bucket is still in the project:
    commit-state neither pushes it nor keeps it as the job's artifact."""
    _, project = make_origin(tmp_path)
    add_prompts(project / "ivr")
    use_remote_state(project / "ivr")
    (project / "ivr" / "ivrsync.state.json").write_text('{"serial": 3}\n')
    git(project, "add", ".")
    git(project, "commit", "--quiet", "-m", "prompts, their state in a bucket")
    git(project, "push", "--quiet", "origin", "main")
    before = git(project, "ls-remote", "origin")
    (project / "ivr" / "ivrsync.state.json").write_text('{"serial": 4}\n')
    monkeypatch.chdir(project)
    env = {"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main", "IVRSYNC_DIR": "ivr/"}
    assert gitlab.main(["commit-state"], env) == 0
    assert git(project, "ls-remote", "origin") == before
    assert capsys.readouterr().out == (
        "The state is in s3://ivr-prompts-state/contact-center/ivrsync.state.json (backend s3), "
        "written there by apply: nothing to commit.\n"
    )
    assert not (project / gitlab.ARTIFACTS).exists()


# --- The notes API ---------------------------------------------------------------------------


@dataclass
class FakeGitLab:
    """The merge request notes of project 42, kept in memory; `fail` makes every call fail."""

    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by MR iid
    calls: list[str] = field(default_factory=list)
    fail: tuple[int, bytes] | None = None
    url: str = ""


@pytest.fixture
def gitlab_api() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    notes_path = re.compile(r"/api/v4/projects/42/merge_requests/(\d+)/notes(?:/(\d+))?")

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, data: object) -> None:
            raw = data if isinstance(data, bytes) else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _serve(self) -> None:
            split = urlsplit(self.path)
            fake.calls.append(f"{self.command} {split.path}")
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            if fake.fail is not None:
                return self._reply(*fake.fail)
            if self.headers["PRIVATE-TOKEN"] != TOKEN:
                return self._reply(401, {"message": "401 Unauthorized"})
            match = notes_path.fullmatch(split.path)
            if match is None:
                return self._reply(404, {"message": "404 Not found"})
            notes = fake.notes.setdefault(match.group(1), [])
            if self.command == "GET" and not match.group(2):
                query = parse_qs(split.query)
                page, size = int(query["page"][0]), int(query["per_page"][0])
                return self._reply(200, notes[(page - 1) * size : page * size])
            if self.command == "POST" and not match.group(2):
                notes.append({"id": len(notes) + 1, "body": body["body"], "author": "ivrsync-bot"})
                return self._reply(201, notes[-1])
            if self.command == "PUT" and match.group(2):
                note = notes[int(match.group(2)) - 1]
                if note.get("author") != "ivrsync-bot":
                    return self._reply(403, {"message": "403 Forbidden"})
                note["body"] = body["body"]
                return self._reply(200, note)
            return self._reply(405, {"message": "405 Method Not Allowed"})

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as fake.url:
        yield fake


def note_env(api: str, iid: str = "3", token: str = TOKEN) -> dict[str, str]:
    return {
        "CI_API_V4_URL": f"{api}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": iid,
        "GITLAB_TOKEN": token,
    }


def test_the_note_is_found_across_pages_and_updated_in_place(
    gitlab_api: FakeGitLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = gitlab.Settings(".", True, tmp_path)
    gitlab_api.notes["3"] = [{"id": n, "body": f"review {n}"} for n in range(1, 121)]
    # Someone else quoted the marker: that note is not ours to edit.
    quoted = "<!-- ivrsync-plan:. -->\nAs the bot said:"
    gitlab_api.notes["3"][5]["body"] = quoted
    env = note_env(gitlab_api.url)
    gitlab.post_note(env, settings, "**Plan: 18 to upload**\n")
    gitlab.post_note(env, settings, "**Plan: 1 to upload**\n")
    assert capsys.readouterr().out.splitlines() == [
        "Posted the plan note on !3.",
        "Updated the plan note on !3.",
    ]
    notes = gitlab_api.notes["3"]
    assert len(notes) == 121
    assert notes[120]["body"] == "<!-- ivrsync-plan:. -->\n**Plan: 1 to upload**\n"
    assert notes[5]["body"] == quoted


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("down", "Connection refused"),
        ("401", "HTTP 401: 401 Unauthorized"),
        ("500", "HTTP 500: 500 Internal Server Error"),
        ("html", "Expecting value"),
        ("object", "expected a list of notes, got dict"),
    ],
)
def test_a_note_that_cannot_be_posted_is_one_warning(
    failure: str,
    expected: str,
    gitlab_api: FakeGitLab,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api, token = gitlab_api.url, TOKEN
    if failure == "down":
        with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
            api = f"http://127.0.0.1:{closed.server_address[1]}"  # nobody listens once closed
    elif failure == "401":
        token = "glpat-revoked-token"
    elif failure == "500":
        gitlab_api.fail = (500, b'{"message": "500 Internal Server Error"}')
    elif failure == "html":
        gitlab_api.fail = (200, b"<html>maintenance</html>")
    else:
        gitlab_api.fail = (200, b'{"notes": []}')
    gitlab.post_note(note_env(api, token=token), gitlab.Settings(".", True, tmp_path), "plan\n")
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    assert out.startswith("Warning: the plan note on !3 could not be posted (")
    assert expected in out
    assert out.endswith("; the plan is in this job's log and its artifacts\n")
    assert "glpat-revoked-token" not in out


# --- gitlab-ci-local, end to end -----------------------------------------------------------


@dataclass
class Pipeline:
    code: int
    output: str
    jobs: list[str]  # the jobs that ran, in order


class GitLabCiLocal:
    """gitlab-ci-local run in the project's checkout (the shell executor runs the jobs in
    place), with the variables GitLab would set for a pipeline."""

    def __init__(self, project: Path, env: dict[str, str], home: Path) -> None:
        if not GITLAB_CI_LOCAL.is_file():
            pytest.fail("gitlab-ci-local is not installed: run `make node_modules/.installed`")
        if shutil.which("rsync") is None:
            pytest.fail("gitlab-ci-local needs rsync: apt-get install rsync")
        self.project = project
        self.env = env
        self.home = home
        self.log: list[str] = []

    def run(self, title: str, *options: str, **variables: str) -> Pipeline:
        git(self.project, "clean", "-ffdxq")  # as a runner cleans the checkout of each job
        args = [str(GITLAB_CI_LOCAL), *options, "--force-shell-executor", "--no-color", "--home",
                str(self.home), "--ignore-predefined-vars", ",".join(variables)]  # fmt: skip
        for name, value in variables.items():
            args += ["--variable", f"{name}={value}"]
        done = subprocess.run(
            args,
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        output = done.stdout + done.stderr
        self.log.append(f"===== {title}\n$ gitlab-ci-local {' '.join(args[1:])}\n{output}")
        pattern = r"^(ivrsync-\S+)" if "--list" in options else r"^(\S+) +starting shell"
        jobs = re.findall(pattern, output, re.M)
        return Pipeline(done.returncode, output, jobs)


def test_the_template_plans_a_merge_request_and_applies_the_default_branch(
    tmp_path: Path,
    clouds: Clouds,  # noqa: F811 - the fixture imported above
    gitlab_api: FakeGitLab,
) -> None:
    url, project = make_origin(tmp_path)
    git(project, "remote", "set-head", "origin", "main")  # gitlab-ci-local's default branch
    # The prompt repository is the folder ivr/ of the project; its state file is where its
    # ivrsync.yaml says, nowhere in the template.
    git(project, "checkout", "--quiet", "-b", "prompts")
    add_prompts(project / "ivr")
    manifest = project / "ivr" / "ivrsync.yaml"
    # Tencent's quota for today (as the manifest says it) allows 5 of its 9 uploads.
    text = manifest.read_text().replace("ivrsync.state.json", "state/ivr.json")
    manifest.write_text(text.replace("daily_quota: 50", "daily_quota: 5"))
    shutil.copyfile(TEMPLATE, project / ".gitlab-ci.yml")
    (project / ".gitignore").write_text(".gitlab-ci-local/\n.ivrsync-ci/\n")
    git(project, "add", ".")
    git(project, "commit", "--quiet", "-m", "Add the prompts")
    git(project, "push", "--quiet", "origin", "prompts")
    publish(tmp_path, project / "ivr")
    # A second merge request, branched before anything is applied.
    git(project, "checkout", "--quiet", "-b", "early")
    (project / "ivr" / "NOTES.md").write_text("Recorded in studio B.\n")
    git(project, "add", ".")
    git(project, "commit", "--quiet", "-m", "Notes")
    git(project, "push", "--quiet", "origin", "early")

    env = {**clouds.env, "PYTHONPATH": str(REPO_ROOT)}
    runner = GitLabCiLocal(project, env, tmp_path / "gcl-home")
    common = {
        "IVRSYNC_INSTALL": f"ivrsync=={ivrsync.__version__}",  # installed: pip finds it there
        "IVRSYNC_DIR": "ivr/",
        "CI_API_V4_URL": f"{gitlab_api.url}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_SERVER_HOST": "gitlab.example.com",
    }
    merge_request = {**common, "CI_PIPELINE_SOURCE": "merge_request_event"}
    try:
        # 1. The merge request plans: 18 uploads, noted once on !3.
        git(project, "checkout", "--quiet", "prompts")
        mr = runner.run(
            "merge request !3 (prompts)",
            **merge_request,
            CI_MERGE_REQUEST_IID="3",
            GITLAB_TOKEN=TOKEN,
        )
        assert mr.code == 0, mr.output
        assert mr.jobs == ["ivrsync-plan"]
        assert "Posted the plan note on !3." in mr.output
        [note] = gitlab_api.notes["3"]
        assert note["body"].startswith("<!-- ivrsync-plan:ivr -->\n### ivrsync plan in `ivr/`\n")
        assert "**Plan: 18 to upload, 0 to replace, 0 to forget.**" in note["body"]
        # The review page: in the artifacts, linked from the note.
        page = project / gitlab.ARTIFACTS / "ivrsync-review.html"
        assert page.read_text().count("<audio controls") == 18
        assert "/artifacts/file/.ivrsync-ci/ivrsync-review.html)**: the review page" in note["body"]
        saved = project / gitlab.ARTIFACTS / gitlab.PLAN_FILE
        assert json.loads(saved.read_text())["summary"]["create"] == 18
        shown = subprocess.run(
            [sys.executable, "-m", "ivrsync", "show", str(saved), "--format", "markdown"],
            cwd=project / "ivr",
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout.strip() in note["body"]  # the plan, as `ivrsync show` renders it

        # 2. Merged: the default branch applies (a pipeline run by hand, since gitlab-ci-local
        # compares `changes` with origin, which has the merge). Partial: 4 uploads wait for
        # tomorrow's quota; the job fails with apply's 3, and the state is committed all the same.
        git(project, "checkout", "--quiet", "main")
        git(project, "merge", "--quiet", "--no-ff", "-m", "Merge branch 'prompts'", "prompts")
        git(project, "push", "--quiet", "origin", "main")
        applied = runner.run(
            "default branch (main)", **common, CI_PIPELINE_SOURCE="web", IVRSYNC_PUSH_URL=url
        )
        assert applied.code == 1, applied.output  # gitlab-ci-local: a job failed
        assert applied.jobs == ["ivrsync-apply"]
        assert re.search(r"^ivrsync-apply +finished in .* FAIL 3 *$", applied.output, re.M)
        result = json.loads((project / gitlab.ARTIFACTS / gitlab.RESULT_FILE).read_text())
        assert result["exit_code"] == 3
        assert result["summary"]["uploaded"] == 14
        assert result["summary"]["deferred"] == 4
        deferred = {r["address"] for r in result["resources"] if r["status"] == "deferred"}
        assert "Partial apply: what succeeded is in the state" in applied.output
        assert "Committed the state to main: " in applied.output
        assert len(clouds.tencent.uploads) == 5
        git(project, "fetch", "--quiet", "origin", "main")
        assert git(project, "show", "--name-only", "--format=%an", "origin/main").split() == [
            "ivrsync",
            "ivr/state/ivr.json",
        ]
        kept = (project / gitlab.ARTIFACTS / "ivr.json").read_text()
        assert kept == git(project, "show", "origin/main:ivr/state/ivr.json") + "\n"

        # 3. The branch made before the apply plans against main's state: nothing to upload
        # but the 4 deferred. Its note cannot be posted (a revoked token): a warning, and the
        # plan passes.
        git(project, "checkout", "--quiet", "early")
        assert git(project, "ls-files", "ivr/state") == ""
        early = runner.run(
            "merge request !4 (early, branched before the apply)",
            **merge_request,
            CI_MERGE_REQUEST_IID="4",
            GITLAB_TOKEN="glpat-revoked",
        )
        assert early.code == 0, early.output
        assert early.jobs == ["ivrsync-plan"]
        plan = json.loads((project / gitlab.ARTIFACTS / gitlab.PLAN_FILE).read_text())
        assert {c["address"] for c in plan["changes"]} == deferred
        assert "Plan: 4 to upload, 0 to replace, 0 to forget." in early.output
        assert "Planning against the state on main: took ivr/state/ivr.json from the tip" in (
            early.output
        )
        warnings = [line for line in early.output.splitlines() if "Warning: the plan note" in line]
        assert len(warnings) == 1
        assert "HTTP 401" in warnings[0]
        assert "Traceback" not in early.output
        assert "glpat-revoked" not in early.output.replace("GITLAB_TOKEN=glpat-revoked", "")
        assert "4" not in gitlab_api.notes or not gitlab_api.notes["4"]
        assert len(clouds.tencent.uploads) == 5

        # 4. A merge request that changes nothing under IVRSYNC_DIR gets no plan job.
        git(project, "clean", "-ffdxq")
        git(project, "checkout", "--quiet", "-b", "readme", "origin/main")
        (project / "README.md").write_text("IVR prompts of Example Telecom\n")
        git(project, "commit", "--quiet", "-am", "README")
        listed = runner.run("merge request !5 (README only)", "--list", **merge_request)
        assert listed.code == 0, listed.output
        assert listed.jobs == []
        listed = runner.run("... with IVRSYNC_DIR empty (the project's root)", "--list",
                            **{**merge_request, "IVRSYNC_DIR": ""})  # fmt: skip
        assert listed.jobs == ["ivrsync-plan"]
    finally:
        (tmp_path / "gitlab-ci-local.log").write_text("\n".join(runner.log))


def test_with_a_remote_state_the_template_applies_and_commits_nothing(
    tmp_path: Path,
    clouds: Clouds,  # noqa: F811 - the fixture imported above
    gitlab_api: FakeGitLab,
) -> None:
    """The template as it is (IVRSYNC_COMMIT_STATE "true") on a prompt repository whose state
    is in a bucket (a real S3 server on loopback): the merge request plans against the bucket,
    the default branch applies, and nothing is pushed to origin or kept as an artifact."""
    url, project = make_origin(tmp_path)
    git(project, "remote", "set-head", "origin", "main")  # gitlab-ci-local's default branch
    with s3_server(STATE_BUCKET) as endpoint:
        git(project, "checkout", "--quiet", "-b", "prompts")
        add_prompts(project / "ivr")
        use_remote_state(project / "ivr", endpoint, GITLAB_KEY)
        shutil.copyfile(TEMPLATE, project / ".gitlab-ci.yml")
        (project / ".gitignore").write_text(".gitlab-ci-local/\n.ivrsync-ci/\n")
        git(project, "add", ".")
        git(project, "commit", "--quiet", "-m", "Add the prompts, their state in a bucket")
        git(project, "push", "--quiet", "origin", "prompts")
        publish(tmp_path, project / "ivr")
        runner = GitLabCiLocal(
            project, {**clouds.env, "PYTHONPATH": str(REPO_ROOT)}, tmp_path / "gcl-home"
        )
        common = {
            "IVRSYNC_INSTALL": f"ivrsync=={ivrsync.__version__}",
            "IVRSYNC_DIR": "ivr/",
            "CI_API_V4_URL": f"{gitlab_api.url}/api/v4",
            "CI_PROJECT_ID": "42",
        }
        try:
            mr = runner.run(
                "merge request !3 (prompts)",
                **common,
                CI_PIPELINE_SOURCE="merge_request_event",
                CI_MERGE_REQUEST_IID="3",
                GITLAB_TOKEN=TOKEN,
            )
            assert mr.code == 0, mr.output
            assert f"Planning against the state in {GITLAB_URL} (backend s3)." in mr.output
            [note] = gitlab_api.notes["3"]
            assert "**Plan: 18 to upload, 0 to replace, 0 to forget.**" in note["body"]
            assert f"planned against the state in `{GITLAB_URL}`" in note["body"]

            git(project, "checkout", "--quiet", "main")
            git(project, "merge", "--quiet", "--no-ff", "-m", "Merge branch 'prompts'", "prompts")
            git(project, "push", "--quiet", "origin", "main")
            before = git(project, "ls-remote", "origin")
            applied = runner.run(
                "default branch (main)", **common, CI_PIPELINE_SOURCE="web", IVRSYNC_PUSH_URL=url
            )
            assert applied.code == 0, applied.output
            assert applied.jobs == ["ivrsync-apply"]
            assert "Apply complete: 18 uploaded" in applied.output
            assert f"The state is in {GITLAB_URL} (backend s3), written there by apply" in (
                applied.output
            )
            assert git(project, "ls-remote", "origin") == before  # nothing pushed
            kept = sorted(p.name for p in (project / gitlab.ARTIFACTS).iterdir())
            assert kept == [gitlab.RESULT_FILE, gitlab.PLAN_FILE]  # no state file
            # The next pipeline on main reads the applied state in the bucket.
            again = runner.run("default branch again", **common, CI_PIPELINE_SOURCE="web")
            assert again.code == 0, again.output
            assert "Nothing to apply." in again.output
        finally:
            (tmp_path / "gitlab-ci-local.log").write_text("\n".join(runner.log))


def test_the_push_token_goes_to_git_in_its_environment_and_is_masked() -> None:
    token = "glpat-push-0123456789"
    env = {
        "IVRSYNC_PUSH_TOKEN": token,
        "CI_SERVER_PROTOCOL": "https",
        "CI_SERVER_HOST": "gitlab.example.com",
        "CI_SERVER_PORT": "443",
        "CI_PROJECT_PATH": "telecom/prompts",
    }
    pushed = gitlab._push_env(env)
    assert pushed == {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "remote.origin.pushurl",
        "GIT_CONFIG_VALUE_0": f"https://ivrsync:{token}@gitlab.example.com:443/telecom/prompts.git",
    }
    assert token not in secrets.redact(f"fatal: unable to push to {pushed['GIT_CONFIG_VALUE_0']}")
    assert secrets.redact(f"token {token}") == "token ***"
    assert gitlab._push_env({}) == {}  # the runner's origin, with the job token
