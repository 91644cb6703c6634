"""The logic of the ivrsync GitLab CI template (examples/ci/gitlab-ci.yml), kept out of YAML
so it can be tested. Run as `python -m ivrsync.ci.gitlab STEP` from the project's directory
(where a GitLab job starts), with GitLab's CI_* variables and the template's IVRSYNC_*.

  plan           merge request pipelines: take the state from the tip of the default branch
                 (read only), ivrsync plan, the review page, and the plan as the merge
                 request's one note (linking the page); a note that cannot be posted is a
                 warning, never a failed plan
  apply          the default branch only: take the state from the branch's tip, plan, apply
                 that plan; exits with apply's code (0 complete, 3 partial, 1 failed)
  commit-state   the default branch only: commit the state file (only it) onto the branch's
                 tip and push, again if the branch moved

Everything a job keeps (the plan, its Markdown, the review page, a copy of the state) is
written to `.ivrsync-ci/` in the project's directory: the template's one artifact path.
With a remote state backend in ivrsync.yaml (`state: backend: s3`), the store holds the state
and its lock: no state is taken from or committed to a branch, and the artifacts keep only
the state apply could not write there, if it left one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivrsync import secrets
from ivrsync.ci import CiError, HttpError
from ivrsync.ci.git import commit_state, describe_state_commit, take_state_from_branch
from ivrsync.ci.markdown import fit
from ivrsync.ci.results import (
    PAGE_FILE,
    StateWhere,
    not_done_lines,
    plan_markdown,
    run_apply,
    run_plan,
    state_where,
    unsaved_state_message,
    write_review_page,
)

NOTE_LIMIT = 1_000_000  # characters: GitLab refuses a longer note
ARTIFACTS = ".ivrsync-ci"  # the template's artifact path, relative to the project directory
PLAN_FILE = "ivrsync.plan.json"
RESULT_FILE = "apply-result.json"  # apply --json-out (docs/apply-result.md)
# Variables whose values grant access: masked in whatever this module prints.
_TOKENS = ("GITLAB_TOKEN", "IVRSYNC_PUSH_TOKEN", "CI_JOB_TOKEN", "IVRSYNC_PUSH_URL")


@dataclass(frozen=True)
class Settings:
    workdir: str  # the prompt repository, relative to the project directory; '.' for its root
    commit_state: bool
    artifacts: Path  # absolute: ivrsync runs in workdir

    @property
    def marker(self) -> str:
        """The first line of the note this job owns (the same as the earlier bash template's)."""
        return f"<!-- ivrsync-plan:{self.workdir.replace('-->', '--&gt;')} -->"

    @property
    def plan_file(self) -> str:
        """The plan in the artifacts, as ivrsync (run in workdir) sees it."""
        return os.path.relpath(self.artifacts / PLAN_FILE, self.workdir)


def _workdir(value: str) -> str:
    """IVRSYNC_DIR is also the prefix of the jobs' `rules: changes` paths
    (`${IVRSYNC_DIR}**/*`), where GitLab neither strips `./` nor adds a slash: so it is empty
    for the root, else a relative folder with a trailing slash."""
    if not value:
        return "."
    parts = value.removesuffix("/").split("/")
    if not value.endswith("/") or value.startswith("/") or {".", "..", ""} & set(parts):
        raise CiError(
            f"IVRSYNC_DIR: {value!r} is not allowed: give the prompt repository's folder "
            "relative to the project with a trailing slash ('ivr/'), or leave it empty for "
            "the project's root (it is also the prefix of the rules:changes paths)"
        )
    return value.removesuffix("/")


def settings_from(env: Mapping[str, str]) -> Settings:
    workdir = _workdir(env.get("IVRSYNC_DIR", "").strip())
    if not Path(workdir).is_dir():
        raise CiError(f"IVRSYNC_DIR: {workdir}/ is not a folder of this project")
    flag = env.get("IVRSYNC_COMMIT_STATE", "true").strip().lower()
    if flag not in ("true", "false"):
        raise CiError(f"IVRSYNC_COMMIT_STATE: expected true or false, got {flag!r}")
    return Settings(workdir, flag == "true", Path(ARTIFACTS).resolve())


def warn(message: str) -> None:
    print(f"Warning: {secrets.redact(message)}", flush=True)


def _state(settings: Settings) -> StateWhere | None:
    """Where ivrsync.yaml keeps the state, or None when the manifest cannot be read (plan and
    apply then say what is wrong with it)."""
    try:
        return state_where(settings.workdir)
    except Exception as exc:
        print(f"Could not read the state settings from {settings.workdir}/ivrsync.yaml: {exc}")
        return None


def _keep_state(settings: Settings, where: StateWhere | None) -> None:
    """A copy of the state file in the artifacts, whatever happens to the push, and of the
    state apply could not write (if it left one), to push by hand."""
    for path in where.kept() if where is not None else []:
        settings.artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, settings.artifacts / path.name)


def _default_branch_only(env: Mapping[str, str]) -> str:
    branch, default = env.get("CI_COMMIT_BRANCH", ""), env.get("CI_DEFAULT_BRANCH", "")
    if not default or branch != default:
        raise CiError(
            f"ivrsync applies only on the default branch ({default or 'CI_DEFAULT_BRANCH unset'}); "
            f"this pipeline is for {branch or 'no branch'}: merge the change to apply it"
        )
    return branch


# --- The merge request note ---------------------------------------------------------------


def _request(url: str, token: str, method: str = "GET", body: object = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("PRIVATE-TOKEN", token)
    request.add_header("User-Agent", "ivrsync-gitlab")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        raise HttpError(exc.code, method, url, exc.read().decode("utf-8", "replace")) from None
    return json.loads(raw) if raw else None


def upsert_note(api: str, project: str, iid: str, token: str, marker: str, body: str) -> str:
    """Update the merge request's note that starts with `marker`, or create it; returns
    "updated" or "posted". A note the token may not edit (someone else posted the marker)
    is passed over."""
    notes = f"{api.rstrip('/')}/projects/{urllib.parse.quote(project, safe='')}"
    notes += f"/merge_requests/{iid}/notes"
    text = fit(f"{marker}\n{body}", NOTE_LIMIT, where="GitLab's limit")
    ours: list[Any] = []
    for page in range(1, 101):
        listed = _request(f"{notes}?sort=asc&order_by=created_at&per_page=100&page={page}", token)
        if not isinstance(listed, list):
            raise ValueError(f"GET {notes}: expected a list of notes, got {type(listed).__name__}")
        ours += [
            note["id"]
            for note in listed
            if isinstance(note, dict) and str(note.get("body", "")).startswith(marker)
        ]
        if len(listed) < 100:
            break
    for note_id in ours:
        try:
            _request(f"{notes}/{note_id}", token, "PUT", {"body": text})
        except HttpError as exc:
            if exc.status in (403, 404):
                continue
            raise
        return "updated"
    _request(notes, token, "POST", {"body": text})
    return "posted"


def post_note(env: Mapping[str, str], settings: Settings, body: str) -> None:
    """The plan as the merge request's note. A plan is never failed by its note: whatever goes
    wrong (no token, the API down, 401, 500, an answer that is not JSON) is one warning."""
    iid = env.get("CI_MERGE_REQUEST_IID", "")
    token = env.get("GITLAB_TOKEN", "")
    if not iid:
        print("Not a merge request pipeline: no note (the plan is above and in the artifacts).")
        return
    if not token:
        print("GITLAB_TOKEN is not set: no note (the plan is above and in the artifacts).")
        return
    try:
        done = upsert_note(
            env.get("CI_API_V4_URL", ""),
            env.get("CI_PROJECT_ID", ""),
            iid,
            token,
            settings.marker,
            body,
        )
    except (HttpError, OSError, ValueError, KeyError) as exc:
        warn(
            f"the plan note on !{iid} could not be posted ({exc}); the plan is in this job's "
            "log and its artifacts"
        )
        return
    print(f"{done.capitalize()} the plan note on !{iid}.")


# --- Steps ----------------------------------------------------------------------------------


def _heading(settings: Settings) -> str:
    where = "" if settings.workdir == "." else f" in `{settings.workdir}/`"
    return f"### ivrsync plan{where}\n\n"


def _review_page(env: Mapping[str, str], settings: Settings) -> str:
    """The review page in the artifacts, and the note's line that links it ('' if not made)."""
    failed = write_review_page(settings.workdir, settings.plan_file, settings.artifacts / PAGE_FILE)
    if failed:
        warn(f"no review page: {failed}")
        return ""
    where = f"{ARTIFACTS}/{PAGE_FILE}"
    job = env.get("CI_JOB_URL", "")
    link = "Listen to the prompts"
    if job:
        link = f"[{link}]({job}/artifacts/file/{where})"
    return (
        f"**{link}**: the review page (this job's artifact `{where}`) plays and draws each "
        "upload, beside the version it replaces.\n\n"
    )


def cmd_plan(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    settings.artifacts.mkdir(parents=True, exist_ok=True)
    default = env.get("CI_DEFAULT_BRANCH", "")
    where = _state(settings)
    against = "the state in this branch"
    if where is not None and where.file is None:
        against = f"the state in `{where.location}`"
        print(f"Planning against the state in {where.location} (backend {where.backend}).")
    elif default and where is not None and where.file is not None:
        # A branch made before the last apply has an old state file (or none): planned
        # against it, the prompts applied since would show as new uploads.
        taken = take_state_from_branch(where.file, default, settings.workdir)
        print(f"Planning against the state on {default}: {taken}.")
        against = f"the state on `{default}`"
    run = run_plan(settings.workdir, settings.plan_file)
    planned = run.plan is not None
    body = plan_markdown(run, settings.workdir, settings.plan_file)
    if run.plan is not None and run.plan.changes:
        body = _review_page(env, settings) + body
    footer = (
        f"\n<sub>Commit {env.get('CI_COMMIT_SHORT_SHA', '?')}, pipeline "
        f"{env.get('CI_PIPELINE_URL', env.get('CI_PIPELINE_ID', '?'))}; planned against "
        f"{against}. The plan file is this job's artifact `{ARTIFACTS}/{PLAN_FILE}`.</sub>\n"
    )
    markdown = _heading(settings) + body + footer
    (settings.artifacts / "plan.md").write_text(markdown, encoding="utf-8")
    post_note(env, settings, markdown)
    return 0 if planned else 1


def cmd_apply(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    branch = _default_branch_only(env)
    settings.artifacts.mkdir(parents=True, exist_ok=True)
    where = _state(settings)
    if where is not None and where.file is None:
        print(f"The state is in {where.location} (backend {where.backend}), under its lock.")
    elif settings.commit_state and where is not None and where.file is not None:
        # A pipeline that waited for the resource group has an older commit checked out,
        # without the state the previous apply committed.
        taken = take_state_from_branch(where.file, branch, settings.workdir)
        print(f"Before planning: {taken}.")
    try:
        planned = run_plan(settings.workdir, settings.plan_file)
        if planned.plan is None:
            return planned.exit_code
        if not planned.has_changes:
            print("Nothing to apply.")
            return 0
        applied = run_apply(settings.workdir, settings.plan_file, settings.artifacts / RESULT_FILE)
        listed = not_done_lines(applied)
        if applied.exit_code == 3:
            print("Partial apply: what succeeded is in the state; run the pipeline again for:")
            print(listed)
        elif applied.exit_code != 0:
            error = applied.result.error if applied.result else None
            print(
                f"Apply failed (exit {applied.exit_code}){f': {error.message}' if error else ''}."
            )
            if listed:
                print(listed)
        unsaved = unsaved_state_message(applied, f"this job's artifact in {ARTIFACTS}/")
        if unsaved is not None:  # confirmed uploads the stored state does not have
            print(f"Error: {unsaved}.")
            return applied.exit_code or 1
        return applied.exit_code
    finally:
        _keep_state(settings, where)


def _push_env(env: Mapping[str, str]) -> dict[str, str]:
    """Where the state is pushed: IVRSYNC_PUSH_URL, else the project over HTTPS with
    IVRSYNC_PUSH_TOKEN, else origin as the runner set it up (the job token). Given to git
    in its environment, never on a command line or in .git/config, where the runner's next
    job would find it."""
    url = env.get("IVRSYNC_PUSH_URL", "")
    token = env.get("IVRSYNC_PUSH_TOKEN", "")
    if not url and token:
        secrets.register(token)
        user = f"ivrsync:{urllib.parse.quote(token, safe='')}"
        server = f"{env.get('CI_SERVER_HOST', '')}:{env.get('CI_SERVER_PORT', '443')}"
        url = (
            f"{env.get('CI_SERVER_PROTOCOL', 'https')}://{user}@{server}"
            f"/{env.get('CI_PROJECT_PATH', '')}.git"
        )
    if not url:
        return {}
    secrets.register(url)
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "remote.origin.pushurl",
            "GIT_CONFIG_VALUE_0": url}  # fmt: skip


def cmd_commit_state(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    if not settings.commit_state:
        print("IVRSYNC_COMMIT_STATE is false: the state is only this job's artifact.")
        return 0
    branch = _default_branch_only(env)
    where = _state(settings)
    if where is not None and where.file is None:
        print(
            f"The state is in {where.location} (backend {where.backend}), written there by "
            "apply: nothing to commit."
        )
        return 0
    state = where.file if where is not None else None
    if state is None or not state.is_file():
        print("No state file: nothing to commit.")
        return 0
    _keep_state(settings, where)
    pipeline = env.get("CI_PIPELINE_ID", "")
    message = (
        f"ivrsync: state after apply of {env.get('CI_COMMIT_SHORT_SHA', 'the checkout')}"
        + (f" (pipeline {pipeline})" if pipeline else "")
        + " [skip ci]"
    )
    author = ("ivrsync", f"ivrsync@{env.get('CI_SERVER_HOST') or 'gitlab'}")
    done, commit = commit_state(
        state, branch, settings.workdir, message, author, push_env=_push_env(env)
    )
    print(describe_state_commit(done, commit, branch))
    return 0


COMMANDS: dict[str, Callable[[Mapping[str, str]], int]] = {
    "plan": cmd_plan,
    "apply": cmd_apply,
    "commit-state": cmd_commit_state,
}


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else "")
    parser.add_argument("step", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    for name in _TOKENS:
        if env.get(name):
            secrets.register(env[name])
    try:
        return COMMANDS[args.step](env)
    except (CiError, HttpError) as exc:
        print(f"Error: {secrets.redact(str(exc))}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
