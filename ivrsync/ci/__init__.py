"""The CI integrations (the GitHub Action, the GitLab template): glue around the ivrsync CLI.

They ship inside the package so that a pipeline runs the glue of the very ivrsync it installed;
each module is run as `python -m ivrsync.ci.<platform> STEP`.
"""

from __future__ import annotations

import json


class CiError(Exception):
    """A problem the user must fix; reported as an error, exit 1."""


class HttpError(Exception):
    """A CI platform's API answered with an error status (GitHub, GitLab)."""

    def __init__(self, status: int, method: str, url: str, body: str) -> None:
        message = body
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
                message = parsed["message"]
        except ValueError:
            pass
        super().__init__(f"{method} {url}: HTTP {status}: {message[:300]}")
        self.status = status
