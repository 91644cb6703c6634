"""The state in S3-compatible object storage (AWS S3, Tencent COS, Huawei OBS, MinIO).

Objects, for a state at `s3://BUCKET/KEY` (docs/state-backends.md):

- `KEY`: the state; every write is conditional on the ETag this store read (`If-Match`), or
  on there being none (`If-None-Match: *`), so even a writer whose lock was broken cannot
  overwrite a newer state.
- `KEY.lock`: the lock, a `LockInfo` record created with `If-None-Match: *`: of writers
  racing for it, the store lets exactly one create it.
- `KEY.history/<serial, 10 digits>.json`: a copy of each version written, the newest
  `history + 1` kept (the current one and `history` before it).
- `KEY.probe/<uuid>`: for a moment, once per process and bucket: the proof that the store
  honours conditional writes (some S3-compatible stores ignore the headers and overwrite).

Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, a role); the
secret key, session token and every request signature are registered as secrets.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import ValidationError

from ivrsync import __version__
from ivrsync.files import HOST
from ivrsync.state.errors import StateConflictError, StateCorruptError, StateError
from ivrsync.state.model import STATE_FORMAT_VERSION, State
from ivrsync.state.store import (
    LOCK_POLL_SECONDS,
    LockInfo,
    StateLockCorruptError,
    StateLockedError,
    StateVersion,
    lock_changed_hands,
    user_name,
)

__all__ = ["S3StateStore", "StateStoreUnsupportedError"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
# What S3 answers a conditional request whose condition does not hold: 412, or 409 when
# another conditional write to the key is in progress (AWS: ConditionalRequestConflict).
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_SERIAL_DIGITS = 10
# An ETag no object has: the probe's If-Match must be refused.
_WRONG_ETAG = '"00000000000000000000000000000000"'

# (endpoint, bucket) -> whether DeleteObject honours If-Match, for the stores proven to honour
# conditional writes in this process: the probe runs once per process and bucket.
_probed: dict[tuple[str | None, str], bool] = {}
_probed_lock = threading.Lock()


class StateStoreUnsupportedError(StateError):
    """The store lacks what the state's safety rests on (conditional writes); never used."""

    error_code = "state_backend_unsupported"


@dataclass(frozen=True, slots=True)
class _Seen:
    """The state object as this store last read or wrote it."""

    etag: str | None  # None: there was no object
    lineage: str | None
    serial: int


@dataclass(frozen=True, slots=True)
class _Object:
    data: bytes
    etag: str
    modified: datetime | None


class S3StateStore:
    """`StateStore` on an S3 bucket; the client is made at the first request, so that a
    command that never touches the state needs no credentials."""

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        history: int = 20,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`client`: an S3 client made elsewhere (tests); `clock` and `sleep` pace the wait
        for the lock, so a test drives it without waiting."""
        self.bucket = bucket
        self.key = key
        self.endpoint = endpoint
        self.region = region
        self.history = history
        self.lock_key = f"{key}.lock"
        self.history_prefix = f"{key}.history/"
        self._client_value = client
        self._clock = clock
        self._sleep = sleep
        self._seen: _Seen | None = None
        self._pruned_all = False

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def readers_lock(self) -> bool:
        return False

    # -- the client ----------------------------------------------------------------------

    @property
    def _client(self) -> Any:
        if self._client_value is None:
            self._client_value = self._make_client()
        return self._client_value

    def _make_client(self) -> Any:
        from botocore.config import Config

        from ivrsync.providers.aws import CREDENTIALS_HINT, AwsCredentialsMissing, aws_session

        try:
            session = aws_session(self.region, None, os.environ)
        except AwsCredentialsMissing as exc:
            raise StateError(
                f"no credentials for the state at {self.location}: {exc.detail or CREDENTIALS_HINT}"
            ) from None
        return session.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region or "us-east-1",
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 4, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
                # A plain PUT with Content-MD5-free bodies: S3-compatible stores that do not
                # know the newer checksum headers take it too.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                user_agent_extra="ivrsync",
            ),
        )

    def _call(
        self,
        what: str,
        request: Callable[[], _T],
        *,
        conditional: bool = False,
        may_be_gone: bool = False,
    ) -> _T:
        """A request, its failure as a StateError saying what could not be done; with
        `conditional`, a condition that did not hold (412) is `_Refused` instead; with
        `may_be_gone`, a missing key (If-Match on a key removed meanwhile: 404 on S3) `_Gone`."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return request()
        except ClientError as exc:
            if conditional and _code(exc) in _PRECONDITION_CODES:
                raise _Refused from None
            if may_be_gone and _code(exc) in _MISSING_CODES:
                raise _Gone from None
            raise StateError(f"cannot {what}: {_described(exc)}") from None
        except BotoCoreError as exc:
            raise StateError(f"cannot {what}: {exc}") from None

    def _get(self, key: str) -> _Object | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            data = answer["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return None
            raise StateError(f"cannot read s3://{self.bucket}/{key}: {_described(exc)}") from None
        except BotoCoreError as exc:
            raise StateError(f"cannot read s3://{self.bucket}/{key}: {exc}") from None
        return _Object(data, str(answer.get("ETag", "")), answer.get("LastModified"))

    def _put(self, key: str, data: bytes, **conditions: str) -> str:
        """PUT `data` at `key`; its ETag. Errors are botocore's: callers tell them apart."""
        answer = self._client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType="application/json", **conditions
        )
        return str(answer.get("ETag", ""))

    # -- reading and writing -------------------------------------------------------------

    def read(self) -> State | None:
        found = self._get(self.key)
        if found is None:
            self._seen = _Seen(None, None, 0)
            return None
        state = self._parse(found.data, self.location)
        self._seen = _Seen(found.etag, state.lineage, state.serial)
        return state

    def _parse(self, data: bytes, source: str) -> State:
        try:
            return State.from_json(data, source)
        except StateCorruptError as exc:
            raise StateCorruptError(
                exc.source,
                exc.reason,
                fix=f"restore an earlier version from {self.key}.history/ (`ivrsync state "
                "list-versions`)",
            ) from None

    def write(self, state: State) -> State:
        """PUT over the version read (If-Match its ETag), then keep a copy in the history.

        The returned state shares its resources with `state`: keep using the returned one.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        self._ensure_probed()
        seen = self._seen
        # A store that found no state creates one, at any serial (a pushed or migrated state
        # keeps counting up); one that never read goes by the serial: 0 was never written.
        created = seen.lineage is None if seen is not None else state.serial == 0
        if seen is None:
            self.read()
            seen = self._seen
            assert seen is not None
        self._check_unchanged(seen, state, created)
        new = state.model_copy(
            update={
                "format_version": STATE_FORMAT_VERSION,
                "serial": state.serial + 1,
                "ivrsync_version": __version__,
            }
        )
        data = new.to_json()
        conditions = {"IfMatch": seen.etag} if seen.etag else {"IfNoneMatch": "*"}
        try:
            etag = self._put(self.key, data, **conditions)
        except ClientError as exc:
            # If-Match on a key removed meanwhile is answered 404 by some stores, 412 by others.
            if _code(exc) not in _PRECONDITION_CODES | _MISSING_CODES:
                raise self._unchanged(_described(exc)) from None
            etag = self._landed(data, state, seen.lineage is None, exc)
        except BotoCoreError as exc:
            raise self._unchanged(str(exc), maybe_sent=True) from None
        self._seen = _Seen(etag, new.lineage, new.serial)
        self._keep_in_history(new.serial, data)
        return new

    def _check_unchanged(self, seen: _Seen, state: State, created: bool) -> None:
        """The state handed in is the one read: the condition sent with the PUT is its ETag
        (`If-None-Match: *` for a `created` one, so a state written meanwhile is kept)."""
        if seen.lineage is None:
            if created:
                return
            raise StateConflictError(
                f"the state {self.location} was removed since this run read it (at serial "
                f"{state.serial}); restore a version from {self.history_prefix} (`ivrsync "
                "state list-versions`), then run again"
            )
        if seen.lineage != state.lineage or seen.serial != state.serial:
            raise StateConflictError(
                f"the state {self.location} holds serial {seen.serial} (lineage "
                f"{seen.lineage}), not the one this run read (lineage {state.lineage}, serial "
                f"{state.serial}); run again to work from the stored state"
            )

    def _landed(self, data: bytes, state: State, created: bool, refused: Exception) -> str:
        """After a 412: the ETag of our own write if it is what the key holds (botocore
        retried a PUT whose answer was lost, and the retry's condition failed), else the
        conflict, naming the serial found and the one read."""
        current = self._get(self.key)
        if current is not None and current.data == data:
            return current.etag
        found = "no state"
        if current is not None:
            try:
                found = f"serial {State.from_json(current.data, self.location).serial}"
            except StateError:
                found = "an object that is not a state"
        read = "no state" if created else f"serial {state.serial}"
        raise StateConflictError(
            f"the state {self.location} changed since it was read: it holds {found}, this "
            f"run read {read} ({_described(refused)}). Another ivrsync wrote it in between "
            "(was its lock removed with force-unlock?); the stored state was not overwritten"
        )

    def _unchanged(self, reason: str, *, maybe_sent: bool = False) -> StateError:
        if maybe_sent:
            return StateError(
                f"cannot write the state {self.location}: {reason}; no answer came back, so "
                "the remote state is unchanged unless this write reached it (a write made "
                "over it later is refused by its If-Match)"
            )
        return StateError(
            f"cannot write the state {self.location}: {reason}; the remote state is unchanged"
        )

    def _keep_in_history(self, serial: int, data: bytes) -> None:
        """The copy in KEY.history/ and the pruning of what falls out of it; the state is
        written already, so a failure here only costs a version of the history."""
        try:
            self._call(
                f"keep version {serial} in s3://{self.bucket}/{self.history_prefix}",
                lambda: self._put(self._history_key(serial), data),
            )
            self._prune(serial)
        except StateError as exc:
            log.warning("%s (the state itself is written)", exc)

    def _history_key(self, serial: int) -> str:
        return f"{self.history_prefix}{serial:0{_SERIAL_DIGITS}d}.json"

    def _prune(self, serial: int) -> None:
        """Keep serials `serial - history` .. `serial`: the one that just fell out is
        deleted; once per store, a listing finds any older (a smaller `history:`)."""
        oldest_kept = serial - self.history
        if self._pruned_all:
            doomed = [oldest_kept - 1] if oldest_kept > 1 else []
        else:
            doomed = [s for s, _ in self._history_objects() if s < oldest_kept]
            self._pruned_all = True
        for old in doomed:
            key = self._history_key(old)
            self._call(
                f"delete s3://{self.bucket}/{key}",
                partial(self._client.delete_object, Bucket=self.bucket, Key=key),
            )

    def _history_objects(self) -> list[tuple[int, datetime | None]]:
        """(serial, stored at) of each history object, as listed."""
        found: list[tuple[int, datetime | None]] = []

        def listing() -> None:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.history_prefix
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    name = str(entry["Key"])[len(self.history_prefix) :]
                    number = name.removesuffix(".json")
                    if number.isdigit() and name.endswith(".json"):
                        found.append((int(number), entry.get("LastModified")))

        self._call(f"list s3://{self.bucket}/{self.history_prefix}", listing)
        return found

    # -- versions ------------------------------------------------------------------------

    def versions(self) -> list[StateVersion]:
        """The current state, then the history's older versions, newest first; a version's
        ID is its serial."""
        kept: list[StateVersion] = []
        current = self._get(self.key)
        current_serial: int | None = None
        if current is not None:
            state = self._parse(current.data, self.location)
            current_serial = state.serial
            kept.append(
                StateVersion(str(state.serial), state.serial, state.lineage, current.modified, True)
            )
        older = sorted(self._history_objects(), reverse=True)
        for serial, modified in older:
            if current_serial is not None and serial >= current_serial:
                continue  # the current one's copy (or a lineage since replaced)
            version = self._read_history(serial)
            if version is not None:
                kept.append(StateVersion(str(serial), serial, version.lineage, modified, False))
        return kept

    def read_version(self, version_id: str) -> State:
        if version_id == "current":
            state = self._parse_object(self.key)
            if state is None:
                raise StateError(f"there is no state at {self.location}")
            return state
        if not version_id.isdigit():
            raise StateError(
                f"{version_id!r} is not a version of {self.location}: versions are serials "
                "(see `ivrsync state list-versions`)"
            )
        serial = int(version_id)
        state = self._read_history(serial)
        if state is None:
            current = self._parse_object(self.key)
            if current is not None and current.serial == serial:
                return current
            raise StateError(
                f"version {serial} of {self.location} is no longer kept (the history keeps "
                f"{self.history} versions besides the current one; see `ivrsync state "
                "list-versions`)"
            )
        return state

    def _read_history(self, serial: int) -> State | None:
        return self._parse_object(self._history_key(serial))

    def _parse_object(self, key: str) -> State | None:
        found = self._get(key)
        return None if found is None else self._parse(found.data, f"s3://{self.bucket}/{key}")

    # -- the probe -----------------------------------------------------------------------

    def _ensure_probed(self) -> None:
        """Prove, once per process and bucket, that the store honours conditional writes,
        before the lock or the state is written: a store that ignores them would let two
        applies hold the lock at once and upload everything twice."""
        with _probed_lock:
            if (self.endpoint, self.bucket) in _probed:
                return
            _probed[(self.endpoint, self.bucket)] = self._probe()

    def _probe(self) -> bool:
        """Create, re-create and overwrite a throwaway object with conditions that must
        fail; True when DeleteObject honours If-Match too (the lock is then released only
        if it is still the one this store wrote)."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{self.key}.probe/{uuid.uuid4()}"
        what = f"write the probe object s3://{self.bucket}/{key}"
        body = b'{"probe": "ivrsync checks that this store honours conditional writes"}\n'
        self._call(what, lambda: self._put(key, body))
        try:
            for header, conditions in (
                ("If-None-Match", {"IfNoneMatch": "*"}),
                ("If-Match", {"IfMatch": _WRONG_ETAG}),
            ):
                try:
                    self._put(key, body, **conditions)
                except ClientError as exc:
                    if _code(exc) in _PRECONDITION_CODES:
                        continue  # refused, as it must be
                    if _status(exc) >= 500:  # the store failing, which proves nothing
                        raise StateError(f"cannot {what}: {_described(exc)}") from None
                    raise self._unsupported(header, f"it answered {_described(exc)}") from None
                except BotoCoreError as exc:
                    raise StateError(f"cannot {what}: {exc}") from None
                raise self._unsupported(header, "it overwrote an object the condition protects")
            try:
                self._client.delete_object(Bucket=self.bucket, Key=key, IfMatch=_WRONG_ETAG)
            except ClientError as exc:
                return _code(exc) in _PRECONDITION_CODES
            except BotoCoreError:
                return False  # unknown: the lock is then released without the condition
            return False  # deleted regardless of the condition
        finally:
            try:
                self._call(
                    f"delete the probe object s3://{self.bucket}/{key}",
                    lambda: self._client.delete_object(Bucket=self.bucket, Key=key),
                )
            except StateError as exc:
                log.warning("%s", exc)

    def _unsupported(self, header: str, what: str) -> StateStoreUnsupportedError:
        store = self.endpoint or "AWS S3"
        return StateStoreUnsupportedError(
            f"the state store {store} (bucket {self.bucket}) cannot hold the state: this store "
            f"ignores {header}: conditional writes are needed for the state lock; {what}. "
            "Nothing was written to the state. Use a store that honours If-None-Match and "
            "If-Match on PutObject (AWS S3, MinIO), or `backend: local`"
        )

    # -- locking -------------------------------------------------------------------------

    def lock(self, operation: str, timeout: float) -> LockInfo:

        self._ensure_probed()
        template = LockInfo(
            id=str(uuid.uuid4()),
            operation=operation,
            who=f"{user_name()}@{HOST}",
            host=HOST,
            pid=os.getpid(),
            created=datetime.now(UTC),
            version=__version__,
            path=self.location,
        )
        where = f"s3://{self.bucket}/{self.lock_key}"
        deadline = self._clock() + max(timeout, 0.0)
        vanished = 0
        while True:
            info = template.model_copy(update={"created": datetime.now(UTC)})
            record = info.model_dump_json(indent=2).encode() + b"\n"
            try:
                self._call(
                    f"create the lock {where}",
                    partial(self._put, self.lock_key, record, IfNoneMatch="*"),
                    conditional=True,
                )
                return info
            except _Refused:
                pass
            try:
                holder = self.current_lock()
            except StateLockCorruptError:
                if self._clock() >= deadline:
                    raise
                holder = None  # being written right now, or unusable: waited on, then reported
            else:
                if holder is None:  # released in between: try again
                    vanished += 1
                    remaining = deadline - self._clock()
                    lock_changed_hands(vanished, remaining, self.location, self._sleep)
                    continue
            remaining = deadline - self._clock()
            if remaining <= 0 and holder is not None:
                raise StateLockedError(holder)
            self._sleep(min(LOCK_POLL_SECONDS, max(remaining, 0.0)))

    def _lock_object(self) -> tuple[LockInfo, str] | None:
        found = self._get(self.lock_key)
        if found is None:
            return None
        where = f"s3://{self.bucket}/{self.lock_key}"
        if not found.data.strip():
            raise self._corrupt_lock(where, "it is empty")
        try:
            return LockInfo.model_validate_json(found.data), found.etag
        except ValidationError as exc:
            problem = exc.errors()[0]
            place = ".".join(str(part) for part in problem["loc"])
            raise self._corrupt_lock(
                where, f"it is not a lock record ({place + ': ' if place else ''}{problem['msg']})"
            ) from None

    def _corrupt_lock(self, where: str, what: str) -> StateLockCorruptError:
        return StateLockCorruptError(
            f"the state {self.location} is locked, but its lock object {where} is unusable: "
            f"{what}. ivrsync will not remove it: if no ivrsync is working on this state, "
            f"delete {where} by hand"
        )

    def current_lock(self) -> LockInfo | None:
        found = self._lock_object()
        return None if found is None else found[0]

    def unlock(self, lock: LockInfo) -> None:
        try:
            found = self._lock_object()
        except StateLockCorruptError as exc:
            log.warning("not releasing lock %s: %s", lock.id, exc)
            return
        if found is None or found[0].id != lock.id:
            # Someone force-unlocked it (and maybe took it since): theirs is not ours to remove.
            log.warning("lock %s on %s was no longer held at release", lock.id, self.location)
            return
        self._remove_lock(found[1])

    def force_unlock(self, lock_id: str) -> LockInfo:
        found = self._lock_object()
        if found is None:
            raise StateError(
                f"the state {self.location} is not locked (there is no "
                f"s3://{self.bucket}/{self.lock_key}); nothing to unlock"
            )
        current, etag = found
        if current.id != lock_id:
            raise StateError(
                f"lock ID {lock_id} does not match the lock on {self.location}: it is held by "
                f"{current.describe()}. If that process is gone, run: "
                f"ivrsync force-unlock {current.id}"
            )
        self._remove_lock(etag)
        return current

    def _remove_lock(self, etag: str) -> None:
        """Delete the lock object read with `etag`; where the store honours If-Match on
        DeleteObject, a lock taken by someone else since is left alone."""
        conditional = _probed.get((self.endpoint, self.bucket), False)
        conditions = {"IfMatch": etag} if conditional and etag else {}
        try:
            self._call(
                f"remove the lock s3://{self.bucket}/{self.lock_key}",
                partial(
                    self._client.delete_object, Bucket=self.bucket, Key=self.lock_key, **conditions
                ),
                conditional=True,
                may_be_gone=True,
            )
        except _Refused:
            log.warning("the lock on %s was replaced before its release: left alone", self.location)
        except _Gone:
            log.warning("the lock on %s was removed before its release", self.location)


class _Refused(Exception):
    """A conditional request whose condition did not hold (412)."""


class _Gone(Exception):
    """A conditional request on a key that no longer exists (404)."""


def _code(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _described(exc: Any) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return f"{error.get('Code', '?')} ({status}): {error.get('Message', exc)}"
