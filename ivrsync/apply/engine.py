"""The apply engine: carries out a plan and writes the state after every confirmed upload.

A CI job can be killed at any moment, so a FileId the provider returned is written to the
state before the engine moves on; a kill loses at most the uploads whose answer was still on
the wire. Failures are sorted by what they allow (providers/errors.py): transient ones are
retried with backoff, an upload that may have landed is never sent twice, a spent quota stops
that provider only, and one failed resource does not stop the others.
"""

from __future__ import annotations

import enum
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ivrsync.address import Address
from ivrsync.apply.ratelimit import RateLimiter
from ivrsync.apply.retry import RetryPolicy
from ivrsync.plan.model import Action, Plan, ResourceChange
from ivrsync.providers.base import Uploaded, Uploader, UploadItem
from ivrsync.providers.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    ProviderError,
    QuotaExceededError,
    ThrottledError,
    TransientError,
)
from ivrsync.secrets import redact
from ivrsync.state.model import (
    ApprovedUpload,
    InDoubt,
    ResourceState,
    Review,
    State,
    provider_day,
)
from ivrsync.state.store import StateStore


class Status(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    DEFERRED = "deferred"  # not tried: quota spent; the next apply continues
    IN_DOUBT = "in-doubt"  # sent, but no answer: it may have been stored
    UNRECORDED = "unrecorded"  # uploaded, but the state could not be written


@dataclass(frozen=True)
class ResourceOutcome:
    address: str
    action: Action
    status: Status
    message: str
    file_id: str | None = None
    seconds: float = 0.0


class Reporter(Protocol):
    """Told of progress as it happens (from worker threads); the CLI draws it."""

    def begin(self, uploads: int) -> None: ...

    def finished(self, outcome: ResourceOutcome) -> None: ...


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 10
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    seed: int | None = None


@dataclass
class ApplyResult:
    outcomes: list[ResourceOutcome]
    state: State

    def count(self, status: Status, *actions: Action) -> int:
        return sum(
            1 for o in self.outcomes if o.status is status and (not actions or o.action in actions)
        )

    @property
    def status(self) -> str:
        """complete: everything done; failed: nothing done, nothing deferred or in doubt;
        partial: in between."""
        done = self.count(Status.DONE)
        if done == len(self.outcomes):
            return "complete"
        # Uploads in doubt may have landed, and deferred ones wait for tomorrow's quota:
        # either way there is more to do, not nothing done.
        if done == 0 and not self.count(Status.DEFERRED) and not self.count(Status.IN_DOUBT):
            return "failed"
        return "partial"

    def summary_line(self) -> str:
        parts = [
            f"{self.count(Status.DONE, Action.CREATE)} uploaded",
            f"{self.count(Status.DONE, Action.REPLACE)} replaced",
            f"{self.count(Status.DONE, Action.FORGET)} forgotten",
        ]
        moved = self.count(Status.DONE, Action.MOVE)
        if moved:
            parts.append(f"{moved} moved")
        parts.append(f"{self.count(Status.FAILED)} failed")
        for status in (Status.DEFERRED, Status.IN_DOUBT, Status.UNRECORDED):
            if self.count(status):
                parts.append(f"{self.count(status)} {status.value}")
        return f"Apply {self.status}: {', '.join(parts)}."


class StateWriteError(Exception):
    pass


class Journal:
    """Writes the state after every confirmed change, from one thread.

    Changes that arrive while a write is under way go out together in the next write, so a
    large state does not hold uploads back; `commit` returns once its change is on disk.
    """

    def __init__(self, store: StateStore, state: State) -> None:
        self.state = state
        self._store = store
        self._queue: queue.Queue[tuple[Callable[[State], None], _Ticket] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ivrsync-state", daemon=True)
        self._thread.start()

    def commit(self, change: Callable[[State], None]) -> None:
        ticket = _Ticket()
        self._queue.put((change, ticket))
        ticket.done.wait()
        if ticket.error is not None:
            raise StateWriteError(str(ticket.error)) from ticket.error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            error: Exception | None = None
            try:
                for change, _ in batch:
                    change(self.state)
                self.state = self._store.write(self.state)
            except Exception as exc:  # reported to every waiting worker
                error = exc
            for _, ticket in batch:
                ticket.error = error
                ticket.done.set()


@dataclass
class _Ticket:
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


@dataclass
class _Provider:
    """What the workers of one provider share."""

    uploader: Uploader
    limiter: RateLimiter
    slots: threading.Semaphore
    stop_status: Status | None = None
    stop_message: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, status: Status, message: str) -> None:
        with self.lock:
            if self.stop_status is None:
                self.stop_status, self.stop_message = status, message


def apply_plan(
    plan: Plan,
    *,
    root: Path,
    store: StateStore,
    state: State | None,
    uploaders: Mapping[str, Uploader],
    options: ApplyOptions,
    reporter: Reporter,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ApplyResult:
    engine = _Engine(plan, root, store, state or State.new(), uploaders, options, reporter, clock)
    return engine.run()


class _Engine:
    def __init__(
        self,
        plan: Plan,
        root: Path,
        store: StateStore,
        state: State,
        uploaders: Mapping[str, Uploader],
        options: ApplyOptions,
        reporter: Reporter,
        clock: Callable[[], datetime],
    ) -> None:
        self.plan = plan
        self.root = root
        self.journal = Journal(store, state)
        self.uploaders = uploaders
        self.options = options
        self.reporter = reporter
        self.clock = clock
        self.rng = random.Random(options.seed)
        self.outcomes: list[ResourceOutcome] = []
        self.outcomes_lock = threading.Lock()
        self.halted = threading.Event()  # the state cannot be written: start nothing new

    def report(self, outcome: ResourceOutcome) -> None:
        with self.outcomes_lock:
            self.outcomes.append(outcome)
        self.reporter.finished(outcome)

    def run(self) -> ApplyResult:
        uploads = [c for c in self.plan.changes if c.uploads]
        self.reporter.begin(len(uploads))
        try:
            self.apply_local_changes()
            self.upload_all(uploads)
        finally:
            self.journal.close()
        order = {c.address: i for i, c in enumerate(self.plan.changes)}
        self.outcomes.sort(key=lambda o: order.get(o.address, 0))
        return ApplyResult(self.outcomes, self.journal.state)

    def apply_local_changes(self) -> None:
        """Moves and forgets touch only the state: one write for all of them."""
        local = [c for c in self.plan.changes if c.action in (Action.MOVE, Action.FORGET)]
        if not local:
            return

        def change(state: State) -> None:
            for c in local:
                if c.action is Action.FORGET:
                    state.resources.pop(c.address, None)
                    state.in_doubt.pop(c.address, None)
                elif c.previous_address in state.resources:
                    state.resources[c.address] = state.resources.pop(c.previous_address)

        try:
            self.journal.commit(change)
        except StateWriteError as exc:
            self.halted.set()
            for c in local:
                self.report(ResourceOutcome(c.address, c.action, Status.FAILED, str(exc)))
            return
        for c in local:
            if c.action is Action.FORGET:
                message = "forgotten (the remote file stays)"
            else:
                message = f"moved from {c.previous_address}"
            file_id = c.before.file_id if c.before else None
            self.report(ResourceOutcome(c.address, c.action, Status.DONE, message, file_id))

    def upload_all(self, uploads: list[ResourceChange]) -> None:
        by_provider: dict[str, list[ResourceChange]] = {}
        for change in uploads:
            by_provider.setdefault(change.provider, []).append(change)
        parallelism = max(1, self.options.parallelism)
        providers: dict[str, _Provider] = {}
        jobs: list[tuple[str, list[ResourceChange]]] = []
        for name, changes in sorted(by_provider.items()):
            uploader = self.uploaders[name]
            providers[name] = _Provider(
                uploader,
                RateLimiter(uploader.rate_limit, not_before=self.resume_after(name, uploader)),
                threading.Semaphore(min(parallelism, uploader.max_concurrency)),
            )
            allowed = self.quota_left(name, changes[0].provider_type, uploader)
            for change in changes[allowed:]:
                self.report(
                    ResourceOutcome(
                        change.address,
                        change.action,
                        Status.DEFERRED,
                        f"{name}: today's upload quota is spent; the next apply continues",
                    )
                )
            jobs.extend((name, batch) for batch in _batches(changes[:allowed], uploader.batch_size))
        with ThreadPoolExecutor(parallelism, thread_name_prefix="ivrsync-upload") as pool:
            futures = [
                pool.submit(self.upload_batch, providers[name], batch) for name, batch in jobs
            ]
            for future in futures:
                future.result()

    def resume_after(self, name: str, uploader: Uploader) -> float:
        """When (on the monotonic clock) this run may first send to `name`.

        Runs are separate processes with separate limiters: an apply started right after
        another must not send within 1/rate of the last upload the state records.
        """
        state = self.journal.state
        last = max(
            [
                *(e.uploaded_at for e in state.resources.values() if e.provider == name),
                # A killed run's last request may be recorded only as "sent".
                *(d.since for d in state.in_doubt.values() if d.provider == name),
            ],
            default=None,
        )
        if last is None:
            return 0.0
        since = (self.clock() - last).total_seconds()
        return time.monotonic() + max(0.0, 1.0 / uploader.rate_limit - since)

    def quota_left(self, name: str, provider_type: str, uploader: Uploader) -> int:
        if uploader.daily_quota is None:
            return 1 << 62
        day = provider_day(provider_type, self.clock())
        return max(0, uploader.daily_quota - self.journal.state.uploads_on(name, day))

    def upload_batch(self, provider: _Provider, batch: list[ResourceChange]) -> None:
        with provider.slots:
            self._upload_batch(provider, batch)

    def _upload_batch(self, provider: _Provider, batch: list[ResourceChange]) -> None:
        batch = self.found_after_lost_answers(provider, batch)
        if not batch:
            return
        items = [self.item(change) for change in batch]
        tries = {False: 0, True: 0}  # failed tries, by whether the provider throttled them
        marked = False
        while True:
            if self.halted.is_set():
                self.settle(batch, Status.FAILED, "not sent: the state could not be written")
                return
            if provider.stop_status is not None:
                self.settle(batch, provider.stop_status, provider.stop_message)
                return
            provider.limiter.acquire()
            # Marked as in flight once its slot has come, so a kill while waiting for one
            # leaves nothing in doubt that was never sent.
            if not marked:
                if not self.mark_in_flight(batch):
                    return
                marked = True
            started = time.monotonic()
            try:
                outcomes = provider.uploader.upload(items)
            except TransientError as exc:
                throttled = isinstance(exc, ThrottledError)
                tries[throttled] += 1
                if tries[throttled] >= self.options.retry.limit(throttled=throttled):
                    why = f"{exc} (gave up after {tries[throttled]} tries)"
                    self.settle(batch, Status.FAILED, why)
                    return
                time.sleep(self.options.retry.backoff(tries[throttled], self.rng))
                continue
            except QuotaExceededError as exc:
                provider.stop(Status.DEFERRED, f"{exc}; the next apply continues")
                self.quota_spent(batch[0], provider.uploader.daily_quota)
                continue
            except AuthenticationError as exc:
                provider.stop(Status.FAILED, str(exc))
                continue
            except AmbiguousOutcome as exc:
                self.settle(batch, Status.IN_DOUBT, str(exc))
                return
            except ProviderError as exc:
                self.settle(batch, Status.FAILED, str(exc))
                return
            except OSError as exc:  # the audio file vanished or cannot be read
                self.settle(batch, Status.FAILED, f"cannot read the audio: {exc}")
                return
            seconds = time.monotonic() - started
            for change, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Uploaded):
                    self.record(change, outcome, seconds)
                elif isinstance(outcome, QuotaExceededError):
                    self.settle([change], Status.DEFERRED, str(outcome))
                elif isinstance(outcome, AmbiguousOutcome):
                    self.settle([change], Status.IN_DOUBT, str(outcome))
                else:
                    self.settle([change], Status.FAILED, str(outcome))
            return

    def found_after_lost_answers(
        self, provider: _Provider, batch: list[ResourceChange]
    ) -> list[ResourceChange]:
        """Look up what an earlier run sent without recording the answer; adopt what landed.

        Returns the changes still to upload. Where the provider cannot list (Huawei), the
        user chose to upload again (`--replace`), and everything is returned.
        """
        doubtful = [c for c in batch if c.address in self.journal.state.in_doubt]
        if not doubtful:
            return batch
        try:
            found = provider.uploader.find([self.item(c) for c in doubtful])
        except ProviderError as exc:
            self.finish(doubtful, Status.IN_DOUBT, f"could not look it up: {exc}")
            return [c for c in batch if c not in doubtful]
        adopted = set()
        for change, uploaded in zip(doubtful, found, strict=True):
            if uploaded is not None:
                self.record(change, uploaded, 0.0, verb="found (an earlier run lost the answer)")
                adopted.add(change.address)
        return [c for c in batch if c.address not in adopted]

    def mark_in_flight(self, batch: list[ResourceChange]) -> bool:
        """Before sending, write down that these uploads may land: a kill then loses nothing."""
        since = self.clock()

        def mark(state: State) -> None:
            for change in batch:
                after = change.after
                assert after is not None
                state.in_doubt[change.address] = InDoubt(
                    audio_path=after.audio_path,
                    provider=change.provider,
                    provider_type=change.provider_type,
                    reason="sent, and no answer was recorded (the run stopped?)",
                    remote_name=after.remote_name,
                    sha256=after.sha256,
                    since=since,
                    size=after.size,
                )

        try:
            self.journal.commit(mark)
        except StateWriteError as exc:
            self.halted.set()
            self.finish(batch, Status.FAILED, f"not sent: the state could not be written ({exc})")
            return False
        return True

    def settle(self, batch: list[ResourceChange], status: Status, message: str) -> None:
        """Report an outcome that is not an upload; unless it is in doubt, the upload did not
        land, so its in-flight mark goes."""
        if status is Status.IN_DOUBT:

            def note(state: State) -> None:
                for change in batch:
                    doubt = state.in_doubt.get(change.address)
                    if doubt is not None:
                        doubt.reason = redact(message)

            update = note
        else:

            def clear(state: State) -> None:
                for change in batch:
                    state.in_doubt.pop(change.address, None)

            update = clear
        try:
            self.journal.commit(update)
        except StateWriteError:
            self.halted.set()
        self.finish(batch, status, message)

    def quota_spent(self, change: ResourceChange, quota: int | None) -> None:
        """The provider says today's quota is spent (uploads by others count too): record it,
        so the next plan's quota warning knows."""
        if quota is None:
            return
        day = provider_day(change.provider_type, self.clock()).isoformat()

        def spend(state: State) -> None:
            days = state.uploads.setdefault(change.provider, {})
            days[day] = max(days.get(day, 0), quota)

        try:
            self.journal.commit(spend)
        except StateWriteError:
            self.halted.set()

    def item(self, change: ResourceChange) -> UploadItem:
        after = change.after
        assert after is not None
        return UploadItem(
            address=change.address,
            path=self.root / after.audio_path,
            audio_path=after.audio_path,
            sha256=after.sha256,
            size=after.size,
            remote_name=after.remote_name,
            locale=Address.parse(change.address).locale,
            attributes=dict(after.attributes),
        )

    def finish(self, batch: list[ResourceChange], status: Status, message: str) -> None:
        for change in batch:
            self.report(ResourceOutcome(change.address, change.action, status, message))

    def record(
        self, change: ResourceChange, uploaded: Uploaded, seconds: float, *, verb: str = ""
    ) -> None:
        now = self.clock()
        try:
            self.journal.commit(lambda state: record_upload(state, change, uploaded, now))
        except StateWriteError as exc:
            self.halted.set()
            self.report(
                ResourceOutcome(
                    change.address,
                    change.action,
                    Status.UNRECORDED,
                    f"uploaded as FileId {uploaded.file_id}, but the state could not be "
                    f"written ({exc}); keep this FileId",
                    uploaded.file_id,
                    seconds,
                )
            )
            return
        verb = verb or ("uploaded" if change.action is Action.CREATE else "uploaded again")
        self.report(
            ResourceOutcome(
                change.address, change.action, Status.DONE, verb, uploaded.file_id, seconds
            )
        )


def _batches(changes: list[ResourceChange], size: int) -> Iterator[list[ResourceChange]]:
    for start in range(0, len(changes), max(1, size)):
        yield changes[start : start + size]


def record_upload(
    state: State,
    change: ResourceChange,
    uploaded: Uploaded,
    now: datetime,
    *,
    review: Review | None = None,
    count: bool = True,
) -> None:
    """The new upload becomes current; the previous approved one stays as the fallback.

    `count` adds it to today's uploads (for quotas); an imported FileId was counted when it
    was uploaded.
    """
    after = change.after
    assert after is not None
    previous = state.resources.get(change.previous_address or change.address)
    last_approved = None
    if previous is not None and previous.missing_since is None:
        if previous.review.status == "approved":
            last_approved = ApprovedUpload(
                file_id=previous.file_id,
                remote_name=previous.remote_name,
                sha256=previous.sha256,
                size=previous.size,
                uploaded_at=previous.uploaded_at,
                approved_at=previous.review.updated_at,
            )
        else:
            last_approved = previous.last_approved
    if change.previous_address:
        state.resources.pop(change.previous_address, None)
    state.in_doubt.pop(change.address, None)
    state.resources[change.address] = ResourceState(
        provider=change.provider,
        provider_type=change.provider_type,
        file_id=uploaded.file_id,
        remote_name=uploaded.remote_name,
        audio_path=after.audio_path,
        sha256=after.sha256,
        size=after.size,
        attributes=dict(after.attributes),
        uploaded_at=now,
        review=review or Review(),
        last_approved=last_approved,
    )
    if count:
        state.record_upload(change.provider, provider_day(change.provider_type, now))
