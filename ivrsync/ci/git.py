"""Git plumbing for the CI integrations: the state file taken from, and committed to, a branch.

Only the state file is ever committed, onto the branch's tip as it is at origin, so a job that
checked out an older commit (a queued apply) or a dirty tree never pushes anything else.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ivrsync.ci import CiError
from ivrsync.files import write_atomically
from ivrsync.secrets import redact


def git(*args: str, cwd: str, env: Mapping[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise CiError(f"git {' '.join(args)} failed: {redact(result.stderr.strip())}")
    return result.stdout.strip()


def _remote_ref(branch: str) -> str:
    return f"refs/remotes/ivrsync-state/{branch}"


def fetch_branch(branch: str, cwd: str) -> str | None:
    """Fetch `branch` from origin; its tip commit, or None if origin has no such branch."""
    listed = subprocess.run(
        ["git", "ls-remote", "--exit-code", "--heads", "origin", f"refs/heads/{branch}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode == 2:
        return None
    if listed.returncode != 0:
        raise CiError(f"git ls-remote origin failed: {listed.stderr.strip()}")
    depth = ["--depth=1"] if git("rev-parse", "--is-shallow-repository", cwd=cwd) == "true" else []
    git("fetch", "--quiet", "--no-tags", *depth, "origin",
        f"+refs/heads/{branch}:{_remote_ref(branch)}", cwd=cwd)  # fmt: skip
    return git("rev-parse", _remote_ref(branch), cwd=cwd)


def repo_path(path: Path, cwd: str) -> str:
    """`path` relative to the top of the git repository around `cwd`."""
    top = Path(git("rev-parse", "--show-toplevel", cwd=cwd)).resolve()
    try:
        return path.resolve().relative_to(top).as_posix()
    except ValueError:
        raise CiError(
            f"the state file {path} is outside the git repository {top}: it cannot be committed"
        ) from None


def take_state_from_branch(state: Path, branch: str, workdir: str) -> str:
    tip = fetch_branch(branch, workdir)
    if tip is None:
        return f"origin has no branch {branch!r} yet: using {state.name} from the checkout"
    inside = repo_path(state, workdir)
    shown = subprocess.run(
        ["git", "cat-file", "blob", f"{tip}:{inside}"],
        cwd=workdir,
        capture_output=True,
        check=False,
    )
    if shown.returncode != 0:
        return f"{branch} has no {inside} yet: using the checkout's"
    if state.exists() and state.read_bytes() == shown.stdout:
        return f"the state in the checkout is the one on {branch} ({tip[:7]})"
    state.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(state, shown.stdout)
    return f"took {inside} from the tip of {branch} ({tip[:7]})"


def commit_state(
    state: Path,
    branch: str,
    workdir: str,
    message: str,
    author: tuple[str, str],
    attempts: int = 5,
    pause: float = 2.0,
    push_env: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Commit `state` as it is on disk onto the tip of `branch` at origin and push it.

    Only the state changes in that commit, whatever else the checkout holds; a branch that
    moved meanwhile is fetched again and the commit remade. Returns ("pushed", commit) or
    ("unchanged", tip). `push_env` is added to git push's environment (e.g. a push URL with a
    token, as GIT_CONFIG_* variables: never on a command line).
    """
    inside = repo_path(state, workdir)
    name, email = author
    bot = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    for attempt in range(1, attempts + 1):
        parent = fetch_branch(branch, workdir)
        blob = git("hash-object", "-w", "--", str(state.resolve()), cwd=workdir)
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, **bot, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent is not None:
                current = git("rev-parse", "--verify", "--quiet", f"{parent}:{inside}",
                              cwd=workdir, check=False)  # fmt: skip
                if current == blob:
                    return "unchanged", parent
                git("read-tree", parent, cwd=workdir, env=env)
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{inside}",
                cwd=workdir, env=env)  # fmt: skip
            tree = git("write-tree", cwd=workdir, env=env)
            parents = ["-p", parent] if parent is not None else []
            commit = git("commit-tree", tree, *parents, "-m", message, cwd=workdir, env=env)
        pushed = subprocess.run(
            ["git", "push", "--quiet", "origin", f"{commit}:refs/heads/{branch}"],
            cwd=workdir,
            env={**os.environ, **push_env} if push_env else None,
            capture_output=True,
            text=True,
            check=False,
        )
        if pushed.returncode == 0:
            return "pushed", commit
        print(f"Push to {branch} refused (attempt {attempt}): {redact(pushed.stderr.strip())}")
        if attempt < attempts:
            time.sleep(pause * attempt)
    raise CiError(
        f"could not push the state to {branch} after {attempts} attempts; it is kept as the "
        "run's state artifact: commit it by hand before the next apply"
    )


def describe_state_commit(done: str, commit: str, branch: str) -> str:
    """What `commit_state` did, for the job's log."""
    if done == "unchanged":
        return f"The state on {branch} is already this one ({commit[:7]}): nothing to commit."
    return f"Committed the state to {branch}: {commit[:7]}."
