"""A durable store of review results: one SQLite row per FileId, whichever provider sent it.

A result acknowledged to its provider (Huawei, whose callbacks this was built for) is never
re-sent, so it must survive whatever happens after the
answer: each `record` is its own transaction, committed with `synchronous=FULL` (in WAL mode the
log is fsynced at every commit) before it returns. Repeated deliveries of the same result (a
retry after an answer that got lost) are stored once and counted.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, get_args

__all__ = ["FILE_ID_PATTERN", "ReviewResult", "ReviewStatus", "ReviewStore"]

ReviewStatus = Literal["approved", "rejected"]
STATUSES: tuple[ReviewStatus, ...] = get_args(ReviewStatus)

# A FileId as any provider writes one (decimal numbers, UUIDs): the provider's callback format
# checks its own form (ivrsync.reviews.callbacks); this bound only keeps garbage out.
FILE_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_results (
    file_id           TEXT PRIMARY KEY NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),
    comment           TEXT,
    file_url          TEXT,
    first_received_at TEXT NOT NULL,  -- ISO 8601, UTC: the first delivery of this file_id
    last_received_at  TEXT NOT NULL,  -- the latest delivery, identical or not
    changed_at        TEXT NOT NULL,  -- when the stored result (status, comment, URL) last changed
    deliveries        INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID
"""
# SQLite's limit on parameters in one statement is 999 in old builds.
_QUERY_BATCH = 500
# How long a writer waits for another process holding the database (a second server, a reader).
_BUSY_TIMEOUT_MS = 10_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """One review result. `received_at` is when this result (as it now stands) was first
    received; `deliveries` counts every delivery of the FileId (filled in by the store)."""

    file_id: str
    status: ReviewStatus
    comment: str | None = None
    file_url: str | None = None
    received_at: datetime = field(default_factory=_utc_now)
    deliveries: int = 1

    def __post_init__(self) -> None:
        if not FILE_ID_PATTERN.fullmatch(self.file_id):
            raise ValueError(
                f"file_id must be 1 to 128 letters, digits and . _ : -, not {self.file_id!r}"
            )
        if self.status not in STATUSES:
            raise ValueError(f"status must be 'approved' or 'rejected', not {self.status!r}")
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware (UTC)")

    def to_json(self) -> dict[str, object]:
        return {
            "file_id": self.file_id,
            "status": self.status,
            "comment": self.comment,
            "file_url": self.file_url,
            "received_at": self.received_at.astimezone(UTC).isoformat(),
            "deliveries": self.deliveries,
        }

    @classmethod
    def from_json(cls, value: object) -> ReviewResult:
        """The inverse of `to_json`; ValueError (or TypeError) for anything else."""
        if not isinstance(value, dict):
            raise TypeError(f"a review result must be an object, not {type(value).__name__}")
        file_id, status = value.get("file_id"), value.get("status")
        comment, file_url = value.get("comment"), value.get("file_url")
        received_at, deliveries = value.get("received_at"), value.get("deliveries", 1)
        if not isinstance(file_id, str) or status not in STATUSES:
            raise ValueError("file_id must be a string and status 'approved' or 'rejected'")
        if not (comment is None or isinstance(comment, str)):
            raise ValueError("comment must be a string or null")
        if not (file_url is None or isinstance(file_url, str)):
            raise ValueError("file_url must be a string or null")
        if not isinstance(received_at, str):
            raise ValueError("received_at must be an ISO 8601 string")
        if not isinstance(deliveries, int) or isinstance(deliveries, bool) or deliveries < 1:
            raise ValueError("deliveries must be a positive integer")
        return cls(
            file_id=file_id,
            status=status,
            comment=comment,
            file_url=file_url,
            received_at=datetime.fromisoformat(received_at),
            deliveries=deliveries,
        )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class ReviewStore:
    """Review results in the SQLite database at `path` (created with its folder if missing).

    Thread-safe: one connection, used under a lock (SQLite serialises writers anyway, and a
    commit here takes well under a millisecond). Other processes may open the same file.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # a file system without shared memory: roll back
                connection.execute("PRAGMA journal_mode = DELETE")
            connection.execute("PRAGMA synchronous = FULL")
            with _transaction(connection):
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version > _SCHEMA_VERSION:
                    raise sqlite3.DatabaseError(
                        f"{self.path} was written by a newer ivrsync (schema {version}; this "
                        f"one knows {_SCHEMA_VERSION})"
                    )
                connection.execute(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            connection.close()
            raise
        self._connection: sqlite3.Connection | None = connection

    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise sqlite3.ProgrammingError(f"the review store {self.path} is closed")
        return self._connection

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def record(self, result: ReviewResult) -> bool:
        """Store one delivery durably (committed when this returns); True if the result is new
        or differs from the stored one, False for a repeat (only counted).

        `result.received_at` is ignored: the store's clock stamps the delivery.
        """
        now = _timestamp(self._clock())
        with self._lock:
            connection = self._conn()
            with _transaction(connection):
                row = connection.execute(
                    "SELECT status, comment, file_url FROM review_results WHERE file_id = ?",
                    (result.file_id,),
                ).fetchone()
                values = {
                    "file_id": result.file_id,
                    "status": result.status,
                    "comment": result.comment,
                    "file_url": result.file_url,
                    "now": now,
                }
                if row is None:
                    connection.execute(
                        "INSERT INTO review_results (file_id, status, comment, file_url, "
                        "first_received_at, last_received_at, changed_at, deliveries) "
                        "VALUES (:file_id, :status, :comment, :file_url, :now, :now, :now, 1)",
                        values,
                    )
                    return True
                changed = tuple(row) != (result.status, result.comment, result.file_url)
                if changed:
                    connection.execute(
                        "UPDATE review_results SET status = :status, comment = :comment, "
                        "file_url = :file_url, last_received_at = :now, changed_at = :now, "
                        "deliveries = deliveries + 1 WHERE file_id = :file_id",
                        values,
                    )
                else:
                    connection.execute(
                        "UPDATE review_results SET last_received_at = :now, "
                        "deliveries = deliveries + 1 WHERE file_id = :file_id",
                        values,
                    )
                return changed

    def results(self, file_ids: Iterable[str] | None = None) -> list[ReviewResult]:
        """The stored results of `file_ids` (unknown ones left out), or of all; by file_id."""
        columns = "file_id, status, comment, file_url, changed_at, deliveries"
        rows: list[tuple[str, str, str | None, str | None, str, int]] = []
        with self._lock:
            connection = self._conn()
            if file_ids is None:
                rows = connection.execute(
                    f"SELECT {columns} FROM review_results ORDER BY file_id"
                ).fetchall()
            else:
                wanted = list(dict.fromkeys(file_ids))
                for start in range(0, len(wanted), _QUERY_BATCH):
                    batch = wanted[start : start + _QUERY_BATCH]
                    marks = ", ".join("?" * len(batch))
                    rows += connection.execute(
                        f"SELECT {columns} FROM review_results WHERE file_id IN ({marks})",
                        batch,
                    ).fetchall()
                rows.sort(key=lambda row: row[0])
        return [
            ReviewResult(
                file_id=file_id,
                status="approved" if status == "approved" else "rejected",
                comment=comment,
                file_url=file_url,
                received_at=datetime.fromisoformat(changed_at),
                deliveries=deliveries,
            )
            for file_id, status, comment, file_url, changed_at, deliveries in rows
        ]

    def received_times(self, file_id: str) -> tuple[datetime, datetime] | None:
        """When a FileId's result was first and last delivered; None if it never was."""
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT first_received_at, last_received_at FROM review_results "
                    "WHERE file_id = ?",
                    (file_id,),
                )
                .fetchone()
            )
        if row is None:
            return None
        return datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1])

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn().execute("SELECT count(*) FROM review_results").fetchone()[0])


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection; ROLLBACK when anything fails,
    the COMMIT itself included (a full disk), so the connection stays usable."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            # SQLite may have rolled back already (after an I/O error, for one).
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        raise
