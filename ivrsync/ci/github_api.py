"""The GitHub REST API client of the Action: only the calls its steps make.

Apart from the steps (github.py) so that the steps read as what the action does, and the
client as what GitHub accepts; urllib only, so the action needs nothing installed for it.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ivrsync.ci import CiError, HttpError
from ivrsync.ci.markdown import fit

COMMENT_LIMIT = 65_536  # characters: GitHub refuses a longer issue comment


class GitHub:
    def __init__(self, api_url: str, token: str, repository: str) -> None:
        self.api = api_url.rstrip("/")
        self.token = token
        self.repo = repository

    def request(self, method: str, path: str, body: object = None) -> tuple[Any, str]:
        """(parsed JSON, the URL of the next page or '')."""
        url = path if path.startswith(("http://", "https://")) else self.api + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "ivrsync-action")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read().decode("utf-8")
                link = response.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            raise HttpError(exc.code, method, url, exc.read().decode("utf-8", "replace")) from None
        match = re.search(r'<([^>]+)>;\s*rel="next"', link)
        return (json.loads(raw) if raw else None), (match.group(1) if match else "")

    def pages(self, path: str, key: str | None = None, max_pages: int = 50) -> Iterator[Any]:
        """The items of a paginated list (under `key` when the list is wrapped)."""
        url = path
        for _ in range(max_pages):
            data, url = self.request("GET", url)
            items = data.get(key, []) if key and isinstance(data, dict) else data
            yield from items if isinstance(items, list) else []
            if not url:
                return


def github_from(env: Mapping[str, str], token: str) -> GitHub:
    repository = env.get("GITHUB_REPOSITORY", "")
    if not repository:
        raise CiError("GITHUB_REPOSITORY is not set: run this in GitHub Actions")
    return GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), token, repository)


def upsert_comment(github: GitHub, number: int, marker: str, body: str) -> tuple[str, str]:
    """Update the pull request's comment that starts with `marker`, or create it.

    Returns ("updated" or "created", the comment's URL). A comment the token may not edit
    (someone else posted the marker) is passed over.
    """
    text = fit(body if body.startswith(marker) else f"{marker}\n{body}", COMMENT_LIMIT)
    path = f"/repos/{github.repo}/issues/{number}/comments"
    candidates = [
        comment
        for comment in github.pages(f"{path}?per_page=100")
        if isinstance(comment, dict) and str(comment.get("body", "")).startswith(marker)
    ]
    for comment in candidates:
        try:
            updated, _ = github.request(
                "PATCH", f"/repos/{github.repo}/issues/comments/{comment['id']}", {"body": text}
            )
        except HttpError as exc:
            if exc.status in (403, 404):
                continue
            raise
        return "updated", str(updated.get("html_url", ""))
    created, _ = github.request("POST", path, {"body": text})
    return "created", str(created.get("html_url", ""))


@dataclass(frozen=True)
class ReviewedPlan:
    pr_number: int
    run_id: int
    artifact_id: int
    head_sha: str


def find_reviewed_plan(
    github: GitHub, sha: str, branch: str, artifact_name: str, workflow_path: str
) -> tuple[ReviewedPlan | None, str]:
    """The plan artifact uploaded by this workflow for the last commit of the pull request
    merged as `sha` into `branch`; with a sentence saying what was found."""
    pulls, _ = github.request("GET", f"/repos/{github.repo}/commits/{sha}/pulls")
    merged = [
        p
        for p in (pulls if isinstance(pulls, list) else [])
        if p.get("merged_at") and p.get("base", {}).get("ref") == branch
    ]
    merged.sort(key=lambda p: p.get("merge_commit_sha") != sha)
    if not merged:
        return None, f"commit {sha[:7]} is not the merge of a pull request into {branch}"
    pr = merged[0]
    number, head = int(pr["number"]), str(pr["head"]["sha"])
    name = urllib.parse.quote(artifact_name)
    for artifact in github.pages(
        f"/repos/{github.repo}/actions/artifacts?name={name}&per_page=100", key="artifacts"
    ):
        run = artifact.get("workflow_run") or {}
        if artifact.get("expired") or run.get("head_sha") != head:
            continue
        details, _ = github.request("GET", f"/repos/{github.repo}/actions/runs/{run['id']}")
        if workflow_path and str(details.get("path", "")).split("@")[0] != workflow_path:
            continue
        if details.get("event") not in ("pull_request", "pull_request_target"):
            continue
        found = ReviewedPlan(number, int(run["id"]), int(artifact["id"]), head)
        return found, (
            f"the plan reviewed on pull request #{number} (commit {head[:7]}, run {run['id']})"
        )
    return None, (
        f"pull request #{number} has no unexpired plan artifact {artifact_name!r} from this "
        f"workflow for its last commit {head[:7]}"
    )
