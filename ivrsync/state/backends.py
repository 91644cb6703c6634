"""The one place a state backend is chosen: `state:` of the manifest -> a `StateStore`.

Every command opens the state through `open_store`, so a backend added here is used by all
of them alike (plan, apply, the state commands, force-unlock)."""

from __future__ import annotations

from pathlib import Path

from ivrsync.manifest.schema import LocalStateSettings, StateSettings
from ivrsync.state.store import LocalStateStore, StateStore


def open_store(root: Path, settings: StateSettings) -> StateStore:
    """The store `settings` (the manifest's `state:`) name, for the project at `root`;
    nothing is read or connected yet."""
    if isinstance(settings, LocalStateSettings):
        return LocalStateStore(root / settings.path)
    from ivrsync.state.s3 import S3StateStore  # boto3 is imported only for a remote state

    return S3StateStore(
        settings.bucket,
        settings.key,
        endpoint=settings.endpoint,
        region=settings.region,
        history=settings.history,
    )


def local_state_path(root: Path, settings: StateSettings) -> Path | None:
    """The file the state is kept in, for what commits it to git; None for a remote one."""
    return root / settings.path if isinstance(settings, LocalStateSettings) else None
