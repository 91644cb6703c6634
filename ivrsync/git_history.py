"""A file's earlier bytes from the repository's git history: local, bounded, no network.

The review page plays the version a change replaces; the state records its sha256 and path,
and the commit that held those bytes is looked for among the newest that touched the path.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

# How many commits that touched a file are searched for the version the state recorded.
HISTORY_DEPTH = 50


def _git(root: Path, *args: str) -> bytes | None:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):  # no git, not a repository, no such blob
        return None
    return result.stdout


def file_at(root: Path, revision: str, path: str) -> bytes | None:
    """`path` (relative to `root`) as committed at `revision`; None when git cannot say (no
    git, not a repository, no such revision, or the file is not in it)."""
    return _git(root, "show", f"{revision}:./{path}")


def recorded_version(
    root: Path, path: str, sha256: str, depth: int = HISTORY_DEPTH
) -> tuple[bytes, str] | None:
    """The bytes with `sha256` of `path` in the newest `depth` commits that touched it, and
    the commit; None when not found (no git, a shallow clone, or never committed)."""
    log = _git(root, "log", f"-n{depth}", "--format=%H", "--", path)
    for commit in (log or b"").decode().split():
        data = _git(root, "show", f"{commit}:./{path}")
        if data is not None and hashlib.sha256(data).hexdigest() == sha256:
            return data, commit
    return None
