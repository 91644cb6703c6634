"""The logic of the ivrsync GitHub Action (action.yml), kept out of YAML so it can be tested.

Each subcommand is one step of the action. They read their settings from environment
variables (`IVRSYNC_*`, set by action.yml from its inputs) and GitHub's own (`GITHUB_*`,
`RUNNER_TEMP`), write step outputs to $GITHUB_OUTPUT, Markdown to $GITHUB_STEP_SUMMARY and
annotations to stdout, and run ivrsync as `python -m ivrsync` with this same interpreter.
Run as `python -m ivrsync.ci.github STEP`.

  prepare        check the inputs (apply: only on the default branch); name the plan
                 artifact; for apply, find the plan reviewed on the merged pull request
  fetch-state    take the state file from the tip of the state branch (a local state only)
  plan           ivrsync plan --out PLAN --detailed-exitcode, then the Markdown for the summary
                 and the PR comment (2, changes, is not a failure), and the review page
  comment        create or update the one PR comment that carries the marker, with a link to
                 the review page's artifact (IVRSYNC_PAGE_URL) when it was uploaded
  apply          ivrsync apply PLAN (or --auto-approve); 3 (partial) fails unless allowed
  commit-state   commit the state file (only it) to the state branch and push, retrying if the
                 branch moved

The state's backend comes from ivrsync.yaml (`state:`): with a remote one (s3) the store holds
the state, its history and its lock, so no state is fetched from or committed to a branch, and
the run's state artifact is the state apply could not write there, if it left one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivrsync.ci import CiError, HttpError
from ivrsync.ci.git import commit_state, describe_state_commit, take_state_from_branch
from ivrsync.ci.github_api import (
    COMMENT_LIMIT,
    ReviewedPlan,
    find_reviewed_plan,
    github_from,
    upsert_comment,
)
from ivrsync.ci.markdown import fence, fit
from ivrsync.ci.results import (
    StateWhere,
    left_over,
    not_done_lines,
    plan_markdown,
    run_apply,
    run_plan,
    state_version,
    state_where,
    unsaved_state_message,
    write_review_page,
)
from ivrsync.plan.render import summary_line

SUMMARY_LIMIT = 1_048_576  # bytes: GitHub drops a step summary over 1 MiB
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"


# --- GitHub Actions workflow commands and files ------------------------------------------


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotate(kind: str, message: str, title: str | None = None) -> None:
    """An `error`, `warning` or `notice` annotation on the run."""
    props = f" title={_escape_property(title)}" if title else ""
    print(f"::{kind}{props}::{_escape_data(message)}", flush=True)


def set_outputs(env: Mapping[str, str], **values: str) -> None:
    """Step outputs (one-line values), in $GITHUB_OUTPUT; printed when it is not set."""
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"output {name} must be one line")
        lines.append(f"{name.replace('_', '-')}={value}\n")
    path = env.get("GITHUB_OUTPUT")
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.writelines(lines)
    else:
        sys.stdout.writelines(f"output {line}" for line in lines)


def add_summary(env: Mapping[str, str], markdown: str) -> None:
    """Append to this step's summary, cut to GitHub's 1 MiB."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    text = fit(markdown, SUMMARY_LIMIT, measure=lambda s: len(s.encode("utf-8")))
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(text)


# --- Settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    command: str
    workdir: str  # as given, normalised: '.' for the repository root
    plan_file: str
    comment: bool
    commit_state: bool
    state_branch: str  # '' when the state is the file in the checkout
    allow_partial: bool
    plan_from_pr: str  # auto | required | off
    allow_any_branch: bool  # apply: also on a branch other than the default one
    token: str
    reviewed_plan_dir: str  # where the reviewed plan was downloaded, or ''
    # The local state file as prepare found it (relative to the workspace); '' when prepare
    # did not look, or the state is remote.
    state: str

    @property
    def marker(self) -> str:
        return f"<!-- ivrsync-plan:{self.workdir.replace('-->', '--&gt;')} -->"

    @property
    def artifact_name(self) -> str:
        if self.workdir == ".":
            return "ivrsync-plan"
        return "ivrsync-plan-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", self.workdir).strip("-.") or "x")

    @property
    def page_artifact_name(self) -> str:
        return self.artifact_name + "-page"

    @property
    def state_artifact_name(self) -> str:
        return "ivrsync-state" + self.artifact_name.removeprefix("ivrsync-plan")

    @property
    def plan_path(self) -> str:
        """The plan file as seen from the workflow's directory (for upload-artifact)."""
        return os.path.normpath(Path(self.workdir) / self.plan_file)

    @property
    def heading(self) -> str:
        where = "" if self.workdir == "." else f" in `{self.workdir}`"
        return f"### ivrsync {self.command}{where}\n\n"


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise CiError(f"{name}: expected true or false, got {value!r}")


def settings_from(env: Mapping[str, str]) -> Settings:
    command = env.get("IVRSYNC_COMMAND", "").strip()
    if command not in ("plan", "apply"):
        raise CiError(f"input command: expected 'plan' or 'apply', got {command!r}")
    workdir = env.get("IVRSYNC_WORKING_DIRECTORY", "").strip() or "."
    workdir = os.path.normpath(workdir).replace(os.sep, "/")
    plan_file = env.get("IVRSYNC_PLAN_FILE", "").strip() or "ivrsync.plan.json"
    plan_from_pr = env.get("IVRSYNC_PLAN_FROM_PR", "").strip().lower() or "auto"
    if plan_from_pr not in ("auto", "required", "off"):
        raise CiError(f"input plan-from-pr: expected auto, required or off, got {plan_from_pr!r}")
    return Settings(
        command=command,
        workdir=workdir,
        plan_file=plan_file,
        comment=_flag(env, "IVRSYNC_COMMENT", True),
        commit_state=_flag(env, "IVRSYNC_COMMIT_STATE", False),
        state_branch=env.get("IVRSYNC_STATE_BRANCH", "").strip(),
        allow_partial=_flag(env, "IVRSYNC_ALLOW_PARTIAL", False),
        plan_from_pr=plan_from_pr,
        allow_any_branch=_flag(env, "IVRSYNC_ALLOW_ANY_BRANCH", False),
        token=env.get("IVRSYNC_GITHUB_TOKEN", ""),
        reviewed_plan_dir=env.get("IVRSYNC_REVIEWED_PLAN_DIR", "").strip(),
        state=env.get("IVRSYNC_STATE_FILE", "").strip(),
    )


def event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def pull_request(env: Mapping[str, str]) -> dict[str, Any] | None:
    pr = event(env).get("pull_request")
    return pr if isinstance(pr, dict) and isinstance(pr.get("number"), int) else None


def state_branch(settings: Settings, env: Mapping[str, str]) -> str:
    """The branch the state is read from and committed to; '' for the checkout's file."""
    if settings.state_branch:
        return settings.state_branch
    if settings.commit_state and settings.command == "apply":
        return env.get("GITHUB_REF_NAME", "")
    return ""


def settings_state(settings: Settings) -> StateWhere:
    """Where the state is: the file `prepare` found, or read from the manifest now."""
    where = state_where(settings.workdir)
    if settings.state and where.file is not None:
        return StateWhere(where.backend, settings.state, Path(settings.state), where.unsaved)
    return where


# --- Subcommands ------------------------------------------------------------------------


def _lookup_reviewed_plan(settings: Settings, env: Mapping[str, str]) -> ReviewedPlan | None:
    """For an apply started by a push: the plan reviewed on the merged pull request."""
    event_name = env.get("GITHUB_EVENT_NAME", "")
    if event_name != "push":
        if settings.plan_from_pr == "required":
            raise CiError(f"plan-from-pr is 'required', but this run was started by {event_name}")
        print(f"Started by {event_name}, not a push: ivrsync plans now and applies that.")
        return None
    repo = env.get("GITHUB_REPOSITORY", "")
    workflow_path = env.get("GITHUB_WORKFLOW_REF", "").split("@", 1)[0].removeprefix(repo + "/")
    try:
        found, why = find_reviewed_plan(
            github_from(env, settings.token),
            env.get("GITHUB_SHA", ""),
            env.get("GITHUB_REF_NAME", ""),
            settings.artifact_name,
            workflow_path,
        )
    except HttpError as exc:
        raise CiError(
            f"could not look for the reviewed plan ({exc}). The job needs `permissions: "
            "actions: read` and `pull-requests: read`, or set plan-from-pr: off"
        ) from None
    if found is not None:
        print(f"Applying {why}.")
        return found
    if settings.plan_from_pr == "required":
        raise CiError(f"no reviewed plan to apply: {why} (plan-from-pr is 'required')")
    annotate(
        "notice",
        f"No reviewed plan: {why}. ivrsync plans now and applies that (--auto-approve).",
        "ivrsync apply",
    )
    return None


def check_branch(settings: Settings, env: Mapping[str, str]) -> None:
    """apply uploads with production credentials and commits the state: only the default
    branch (what was reviewed and merged) may do that, unless allow-any-branch says so."""
    if settings.command != "apply" or settings.allow_any_branch:
        return
    repository = event(env).get("repository")
    default = repository.get("default_branch") if isinstance(repository, dict) else None
    ref = env.get("GITHUB_REF", "")
    if not isinstance(default, str) or not default:
        if env.get("GITHUB_EVENT_NAME") == "schedule":
            return  # GitHub runs schedules on the default branch only (older payloads omit it)
        raise CiError(
            "apply runs only on the repository's default branch, and this run's event names "
            f"none (ref {ref or 'unknown'}); set allow-any-branch: true to apply anyway"
        )
    if ref != f"refs/heads/{default}":
        raise CiError(
            f"apply runs only on the default branch {default!r}, not {ref or 'an unknown ref'}: "
            "that branch was not reviewed and merged. Run the workflow on "
            f"{default!r}, or set allow-any-branch: true to apply from other branches"
        )


def cmd_prepare(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    check_branch(settings, env)
    if not Path(settings.workdir).is_dir():
        raise CiError(f"input working-directory: {settings.workdir} is not a directory")
    state = kept = ""
    if settings.command == "apply" or settings.state_branch:
        try:
            where = state_where(settings.workdir)
        except Exception as exc:  # a broken manifest: apply says what is wrong
            print(f"Could not read the state settings from the manifest: {exc}")
        else:
            state = os.path.relpath(where.file) if where.file is not None else ""
            kept = os.path.relpath(where.unsaved) if settings.command == "apply" else ""
            if where.remote and (settings.state_branch or settings.commit_state):
                annotate(
                    "notice",
                    f"ivrsync.yaml keeps the state in {where.location} (backend "
                    f"{where.backend}): it is neither taken from nor committed to a branch, "
                    "so commit-state and state-branch do nothing.",
                    "ivrsync action",
                )
    reviewed = None
    if settings.command == "apply" and settings.plan_from_pr != "off":
        reviewed = _lookup_reviewed_plan(settings, env)
    temp = env.get("RUNNER_TEMP") or tempfile.gettempdir()
    set_outputs(
        env,
        artifact_name=settings.artifact_name,
        state_artifact_name=settings.state_artifact_name,
        state_file=state,
        unsaved_state_file=kept,
        reviewed_run_id=str(reviewed.run_id) if reviewed else "",
        reviewed_dir=(
            str(Path(temp) / f"{settings.artifact_name}-reviewed-{reviewed.run_id}")
            if reviewed
            else ""
        ),
    )
    return 0


def cmd_fetch_state(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    branch = state_branch(settings, env)
    if not branch:
        print("The state is the file in the checkout (no state-branch, commit-state off).")
        return 0
    try:
        where = settings_state(settings)
    except Exception as exc:  # a broken manifest: plan or apply says what is wrong
        print(f"Could not read the state settings from the manifest: {exc}")
        return 0
    if where.file is None:
        print(f"The state is in {where.location} (backend {where.backend}): no branch holds it.")
        return 0
    print(take_state_from_branch(where.file, branch, settings.workdir) + ".")
    return 0


def _comment_footer(env: Mapping[str, str], settings: Settings) -> str:
    pr = pull_request(env) or {}
    head = str(pr.get("head", {}).get("sha", env.get("GITHUB_SHA", "")))[:7]
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    run_id = env.get("GITHUB_RUN_ID", "")
    run = f"[run {run_id}]({server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{run_id})"
    return (
        f"\n\n<sub>Commit {head}, {run}. The plan file is the run's artifact "
        f"`{settings.artifact_name}`; the merge applies exactly this plan, and refuses it if "
        "the state changed meanwhile.</sub>\n"
    )


# Where the comment step puts the link to the review page (the artifact's URL is known only
# once uploaded, after the comment is written); the comment keeps room for it.
PAGE_LINK_SLOT = "<!-- ivrsync-review-page -->\n"
_PAGE_LINK_ROOM = 400


def _page_link(settings: Settings, url: str) -> str:
    return (
        f"**[Listen to the prompts]({url})**: the review page (artifact "
        f"`{settings.page_artifact_name}`) plays and draws each upload, beside the version it "
        "replaces.\n\n"
    )


def _review_page(settings: Settings, temp: str) -> str:
    """The review page of the saved plan, for upload-artifact; '' (and a warning) if not made."""
    # With archive: false, the artifact is named after the file: one per working directory.
    page = Path(temp) / f"{settings.page_artifact_name}.html"
    failed = write_review_page(settings.workdir, settings.plan_file, page)
    if failed:
        annotate("warning", f"No review page: {failed}", "ivrsync plan")
        return ""
    return str(page)


def cmd_plan(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    run = run_plan(settings.workdir, settings.plan_file)
    code, planned = run.exit_code, run.plan is not None
    body = plan_markdown(run, settings.workdir, settings.plan_file)
    add_summary(env, settings.heading + body)
    comment_file = ""
    temp = env.get("RUNNER_TEMP") or tempfile.gettempdir()
    page_file = _review_page(settings, temp) if run.plan and run.plan.changes else ""
    if settings.comment and pull_request(env) is not None:
        path = Path(temp) / f"{settings.artifact_name}-comment.md"
        slot = PAGE_LINK_SLOT if page_file else ""
        footer = _comment_footer(env, settings)
        text = f"{settings.marker}\n{settings.heading}{slot}{body}{footer}"
        path.write_text(fit(text, COMMENT_LIMIT - _PAGE_LINK_ROOM), encoding="utf-8")
        comment_file = str(path)
    set_outputs(
        env,
        exitcode=str(code),
        has_changes="true" if run.has_changes else "false",
        plan_file=settings.plan_path if planned else "",
        comment_file=comment_file,
        page_file=page_file,
    )
    if not planned:
        annotate("error", f"ivrsync plan failed (exit {code}): see the log", "ivrsync plan")
        return 1
    return 0


def cmd_comment(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    pr = pull_request(env)
    path = env.get("IVRSYNC_COMMENT_FILE", "")
    if pr is None or not path:
        print("Not a pull request, or nothing to post.")
        return 0
    body = Path(path).read_text(encoding="utf-8")
    url = env.get("IVRSYNC_PAGE_URL", "")
    body = body.replace(PAGE_LINK_SLOT, _page_link(settings, url) if url else "", 1)
    github = github_from(env, settings.token)
    try:
        done, url = upsert_comment(github, int(pr["number"]), settings.marker, body)
    except HttpError as exc:
        head_repo = (pr.get("head", {}).get("repo") or {}).get("full_name")
        if exc.status == 403 and head_repo and head_repo != github.repo:
            annotate(
                "warning",
                "The plan is in the job summary: a pull request from a fork gets a read-only "
                f"token, so it cannot be posted as a comment ({exc}).",
                "ivrsync plan comment",
            )
            return 0
        raise CiError(
            f"could not post the plan comment ({exc}); the job needs "
            "`permissions: pull-requests: write`"
        ) from None
    print(f"Plan comment {done}: {url}")
    return 0


def _choose_plan(settings: Settings) -> str | None:
    """The plan file to apply (as ivrsync in the working directory sees it), or None to plan
    now: plan-file if it exists there, else the reviewed plan downloaded for this run."""
    if (Path(settings.workdir) / settings.plan_file).is_file():
        return settings.plan_file
    if settings.reviewed_plan_dir:
        folder = Path(settings.reviewed_plan_dir)
        named = folder / Path(settings.plan_file).name
        files = [named] if named.is_file() else sorted(folder.glob("*.json"))
        if len(files) == 1:
            return str(files[0].resolve())
        raise CiError(f"expected one plan file in the downloaded artifact {folder}, found {files}")
    return None


def cmd_apply(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    plan = _choose_plan(settings)
    if plan is None and settings.plan_from_pr == "required":
        raise CiError("plan-from-pr is 'required' but no plan file was downloaded")
    before = state_version(settings.workdir)
    temp = env.get("RUNNER_TEMP") or tempfile.gettempdir()
    result_file = Path(temp) / f"{settings.artifact_name}-apply-result.json"
    run = run_apply(settings.workdir, plan, result_file)
    code = run.exit_code
    after = state_version(settings.workdir)
    headline = {0: "complete", 3: "partial", 1: "failed"}.get(code, f"failed (exit {code})")
    what = f"the plan `{Path(plan).name}`" if plan else "a new plan (--auto-approve)"
    add_summary(env, settings.heading + f"**Apply {headline}** ({what}):\n\n" + fence(run.log))
    set_outputs(
        env,
        exitcode=str(code),
        has_changes="true" if before != after else "false",
        plan_file=os.path.normpath(Path(settings.workdir) / plan) if plan else "",
        result_file=str(result_file) if run.result else "",
    )
    unsaved = unsaved_state_message(run, f"the artifact `{settings.state_artifact_name}`")
    if unsaved is not None:  # confirmed uploads the stored state does not have
        annotate("error", unsaved, "ivrsync apply: state not saved")
        return 1
    if code == 0:
        rest = left_over(settings.workdir) if plan else None
        if rest is not None:
            annotate(
                "warning",
                f"The applied plan is done, but the branch wants more ({summary_line(rest)}): "
                "changes merged without a plan of their own, or by a run GitHub cancelled "
                "while it waited. Run this workflow by hand to plan and apply them.",
                "ivrsync apply",
            )
        return 0
    listed = not_done_lines(run)
    if code == 3:
        annotate(
            "warning",
            "ivrsync apply was partial (exit 3): what succeeded is in the state; run apply "
            f"again for the rest (see docs/ci.md).\n{listed}".rstrip(),
            "ivrsync apply partial",
        )
        return 0 if settings.allow_partial else 1
    error = run.result.error if run.result else None
    why = f": {error.message}" if error else ("" if run.result else ", with no result: see the log")
    hint = (
        " The reviewed plan no longer fits the state: plan again (re-run the pull request's "
        "checks, or run this workflow by hand to plan and apply the branch as it is)."
        if run.error_code == "stale_plan" and plan
        else ""
    )
    annotate(
        "error", f"ivrsync apply failed (exit {code}){why}.{hint}\n{listed}".rstrip(), "ivrsync"
    )
    return 1


def cmd_commit_state(env: Mapping[str, str]) -> int:
    settings = settings_from(env)
    try:
        where = settings_state(settings)
    except Exception as exc:  # a broken manifest: apply stopped before any upload
        print(f"Could not read the state settings from the manifest ({exc}): nothing to commit.")
        return 0
    if where.file is None:
        print(
            f"The state is in {where.location} (backend {where.backend}), written there by "
            "apply: nothing to commit."
        )
        return 0
    state = where.file
    branch = state_branch(settings, env)
    if not branch:
        raise CiError("commit-state needs a branch: set state-branch, or run on a branch push")
    if not state.is_file():
        print(f"No state file ({state}): nothing to commit.")
        return 0
    sha = env.get("GITHUB_SHA", "")[:7]
    run = env.get("GITHUB_RUN_ID", "")
    message = (
        f"ivrsync: state after apply of {sha or 'the checkout'}"
        + (f" (run {run})" if run else "")
        + " [skip ci]"
    )
    done, commit = commit_state(state, branch, settings.workdir, message, (BOT_NAME, BOT_EMAIL))
    print(describe_state_commit(done, commit, branch))
    set_outputs(env, state_commit=commit if done == "pushed" else "")
    return 0


COMMANDS: dict[str, Callable[[Mapping[str, str]], int]] = {
    "prepare": cmd_prepare,
    "fetch-state": cmd_fetch_state,
    "plan": cmd_plan,
    "comment": cmd_comment,
    "apply": cmd_apply,
    "commit-state": cmd_commit_state,
}


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else "")
    parser.add_argument("step", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.step](os.environ if env is None else env)
    except (CiError, HttpError) as exc:
        annotate("error", str(exc), f"ivrsync action ({args.step})")
        return 1


if __name__ == "__main__":
    sys.exit(main())
