"""Errors users can act on, and the problems a check collects before it gives up.

`IvrsyncError` and its subclasses are expected failures: the CLI prints them as one clear
message and exits 1. Anything else reaching the CLI is a bug and is reported as one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the user's files a problem is: a path relative to the repository root."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """Where the manifests accept a known warning, and why: it is counted, not listed."""

    where: Location
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"where": str(self.where), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) in a prompt repository.

    `code` is a stable identifier for machines (`--json`, tests); `message` is for people and
    says what is allowed, not only what is wrong.
    """

    code: str
    message: str
    location: Location | None = None
    severity: Severity = Severity.ERROR
    acknowledged: Acknowledged | None = None
    address: str | None = None  # the resource it is about, where it is about one

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        return f"{prefix}{self.severity.value}: {self.message}"

    def to_json(self) -> dict[str, object]:
        where = self.location
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": where.file if where else None,
            "line": where.line if where else None,
            "column": where.column if where else None,
            "acknowledged": self.acknowledged.to_json() if self.acknowledged else None,
        }


def sort_key(problem: Problem) -> tuple[str, int, int, str]:
    where = problem.location
    if where is None:
        return ("", 0, 0, problem.message)
    return (where.file, where.line or 0, where.column or 0, problem.message)


class IvrsyncError(Exception):
    """A failure the user can fix; its message is complete on its own.

    `error_code` names the kind of failure for machines (`apply --json`, docs/apply-result.md):
    stable, unlike the message. Subclasses name their own.
    """

    error_code: str = "error"
    # Each cause on its own (a stale plan's reasons), for machines; the message lists them too.
    reasons: tuple[str, ...] = ()


class ManifestError(IvrsyncError):
    """The manifests cannot be loaded; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=sort_key)
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} error(s) in the manifests")
        # Unset variables the manifest names for secrets are credentials missing, not a
        # manifest to fix: CI tells the two apart.
        credentials = {"secret-unset", "credentials-missing"}
        if errors and all(p.code in credentials for p in errors):
            self.error_code = "missing_credentials"
        else:
            self.error_code = "invalid_manifest"
