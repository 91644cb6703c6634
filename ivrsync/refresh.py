"""`refresh`: what the providers say now of what the state records (reviews and drift).

Tencent is asked with DescribeIvrAudioList (review Status, and which FileIds it still lists);
Huawei's results come from the review server that received its callbacks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ivrsync.manifest.loader import Project
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.providers.base import missing_credentials_together
from ivrsync.providers.errors import CredentialsMissingError
from ivrsync.state.model import ResourceState, Review, State


@dataclass
class RefreshReport:
    # (address, what it was, what it is now): review statuses, or "missing" for drift
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


def refresh_state(
    project: Project, state: State, env: Mapping[str, str], now: datetime
) -> RefreshReport:
    """Update `state` in memory; the caller writes it (or only plans with it)."""
    report = RefreshReport()
    missing: list[CredentialsMissingError] = []
    by_provider: dict[str, dict[str, ResourceState]] = {}
    for address, entry in state.resources.items():
        by_provider.setdefault(entry.provider, {})[address] = entry
    resolved, unresolved = project.resolve_providers(
        [name for name in by_provider if name in project.providers], env
    )
    for name, entries in sorted(by_provider.items()):
        if name in project.providers and name not in resolved:
            continue  # a secret it names is not set: reported with the credentials below
        settings = resolved.get(name)
        if settings is None:
            report.notes.append(f"{name}: not in ivrsync.yaml any more; its entries were skipped")
            continue
        try:
            found = PROVIDER_TYPES[settings.type].reviews(
                name, settings, env, [e.file_id for e in entries.values()]
            )
        except CredentialsMissingError as exc:
            missing.append(exc)  # the next providers' are named in the same error
            continue
        if found.note:
            report.notes.append(found.note)
        for address, entry in sorted(entries.items()):
            if found.listed is not None and entry.file_id not in found.listed:
                if entry.missing_since is None:
                    entry.missing_since = now
                    report.changes.append((address, entry.review.status, "missing"))
                report.statuses["missing"] += 1
                continue
            entry.missing_since = None
            result = found.results.get(entry.file_id)
            if result is not None:
                status, comment = result
                if (status, comment or None) != (entry.review.status, entry.review.comment):
                    report.changes.append((address, entry.review.status, status))
                    set_review(entry, status, comment, now)
            report.statuses[entry.review.status] += 1
    missing_credentials_together(missing, unresolved)
    return report


def set_review(entry: ResourceState, status: str, comment: str | None, now: datetime) -> None:
    """An approved upload is the one flows use: it replaces the fallback it kept until now.

    A rejected one leaves the last approved upload in place.
    """
    entry.review = Review.model_validate({"status": status, "comment": comment, "updated_at": now})
    if status == "approved":
        entry.last_approved = None
