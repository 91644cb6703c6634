"""The apply engine: carries out a plan and writes the state after every confirmed upload.

A CI job can be killed at any moment, so a FileId the provider returned is written to the
state before the engine moves on; a kill loses at most the uploads whose answer was still on
the wire. Failures are sorted by what they allow (providers/errors.py): transient ones are
retried with backoff, an upload that may have landed is never sent twice, a spent quota stops
that provider only, and one failed resource does not stop the others.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ivrsync.address import Address
from ivrsync.apply.cancel import Cancellation
from ivrsync.apply.ratelimit import RateLimiter
from ivrsync.apply.retry import RetryPolicy
from ivrsync.errors import IvrsyncError
from ivrsync.plan.model import Action, Plan, ProviderRef, ResourceChange
from ivrsync.processing.cache import ProcessedFacts
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.providers.base import (
    ItemOutcome,
    Lister,
    Uploaded,
    Uploader,
    UploadItem,
    deleter,
    lister,
    updater,
)
from ivrsync.providers.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    ProviderError,
    QuotaExceededError,
    ThrottledError,
    TokenRefusedError,
    TransientError,
)
from ivrsync.state.model import (
    ApprovedUpload,
    InDoubt,
    ProviderRecord,
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
    CANCELLED = "cancelled"  # not sent: the run was cancelled first


@dataclass(frozen=True)
class ResourceOutcome:
    address: str
    action: Action
    status: Status
    message: str
    file_id: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class SettingsOutcome:
    """The settings of a provider recorded in the state (`ProviderRef.record_settings`)."""

    provider: str
    status: Status  # done, or failed (the state could not be written)
    message: str


class Reporter(Protocol):
    """Told of progress as it happens (from worker threads); the CLI draws it."""

    def begin(self, uploads: int) -> None: ...

    def finished(self, outcome: ResourceOutcome) -> None: ...


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 10
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    seed: int | None = None
    # An upload in doubt that may still land within this many seconds is waited for (and
    # looked up again); one that may land later is left in doubt, saying until when.
    doubt_wait: float = 30.0
    # Seconds between look-ups while waiting for an upload in doubt to show up.
    lookup_interval: float = 2.0


@dataclass(frozen=True)
class UnsavedState:
    """The state apply holds but the store refused: kept in a local file, to be pushed."""

    error: str  # why the store refused it
    path: Path | None  # where it is kept; None when that failed too (`kept_error`)
    push_command: str  # what puts it back, --force included where the push needs it
    kept_error: str | None = None


@dataclass
class ApplyResult:
    outcomes: list[ResourceOutcome]
    state: State
    settings: list[SettingsOutcome] = field(default_factory=list)
    # Why the last state write failed, when `state` holds more than the store does.
    write_error: str | None = None
    # Where that state was kept (set by the apply workflow, which knows the project).
    unsaved: UnsavedState | None = None

    def count(self, status: Status, *actions: Action) -> int:
        return sum(
            1 for o in self.outcomes if o.status is status and (not actions or o.action in actions)
        )

    def settings_count(self, status: Status) -> int:
        return sum(1 for s in self.settings if s.status is status)

    @property
    def status(self) -> str:
        """complete: everything done; failed: nothing done, nothing deferred or in doubt;
        partial: in between. Recording a provider's settings is a change like the others."""
        done = self.count(Status.DONE) + self.settings_count(Status.DONE)
        if done == len(self.outcomes) + len(self.settings):
            return "complete"
        # Uploads in doubt may have landed, deferred ones wait for tomorrow's quota, and
        # unrecorded ones were uploaded: either way there is more to do, not nothing done.
        if done == 0 and not any(
            self.count(s) for s in (Status.DEFERRED, Status.IN_DOUBT, Status.UNRECORDED)
        ):
            return "failed"
        return "partial"

    def summary_line(self) -> str:
        parts = [
            f"{self.count(Status.DONE, Action.CREATE)} uploaded",
            f"{self.count(Status.DONE, Action.REPLACE)} replaced",
            f"{self.count(Status.DONE, Action.FORGET)} forgotten",
        ]
        for action, verb in ((Action.UPDATE, "updated"), (Action.DELETE, "deleted")):
            if self.count(Status.DONE, action):
                parts.append(f"{self.count(Status.DONE, action)} {verb}")
        moved = self.count(Status.DONE, Action.MOVE)
        if moved:
            parts.append(f"{moved} moved")
        recorded = self.settings_count(Status.DONE)
        if recorded:
            parts.append(f"settings of {recorded} provider(s) recorded")
        parts.append(f"{self.count(Status.FAILED) + self.settings_count(Status.FAILED)} failed")
        for status in (Status.DEFERRED, Status.IN_DOUBT, Status.UNRECORDED, Status.CANCELLED):
            if self.count(status):
                parts.append(f"{self.count(status)} {status.value}")
        return f"Apply {self.status}: {', '.join(parts)}."


class StateWriteError(Exception):
    """A committed change is not in the store; `kept`: it is in the journal's state (which
    the apply keeps as the unsaved state), not refused by a closed journal."""

    def __init__(self, message: str, *, kept: bool) -> None:
        super().__init__(message)
        self.kept = kept

    def unrecorded(self) -> str:
        """How an outcome not recorded says where its news is."""
        if self.kept:
            return "the state could not be written: it is kept with the unsaved state (see the end)"
        return f"the state could not be written ({self}); keep its FileId"


class Journal:
    """Writes the state after every confirmed change, from one thread.

    Changes that arrive while a write is under way go out together in the next write, so a
    large state does not hold uploads back; `commit` returns once its change is on disk.
    Once closed it refuses changes: a worker still running after a cancelled apply gave up on
    it must not write a state whose lock is released.

    A change whose write fails stays in `state` (every later write carries it again), and
    `unsaved` says why until a write succeeds: nothing an upload returned is dropped, and
    the apply can keep the state the store refused.
    """

    def __init__(self, store: StateStore, state: State) -> None:
        self.state = state
        self.unsaved: Exception | None = None
        self._store = store
        self._queue: queue.Queue[tuple[Callable[[State], None], _Ticket] | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ivrsync-state", daemon=True)
        self._thread.start()

    def commit(self, change: Callable[[State], None]) -> None:
        ticket = _Ticket()
        with self._lock:
            if self._closed:
                raise StateWriteError("the apply stopped before this could be recorded", kept=False)
            self._queue.put((change, ticket))
        ticket.done.wait()
        if ticket.error is not None:
            raise StateWriteError(str(ticket.error), kept=ticket.kept) from ticket.error

    def close(self) -> None:
        """Write what was committed so far, then refuse more."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
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
            kept = False
            try:
                for change, _ in batch:
                    change(self.state)
            except Exception as exc:  # a bug: reported to every waiting worker
                error = exc
            else:
                try:
                    self.state = self._store.write(self.state)
                    self.unsaved = None
                except Exception as exc:  # reported to every waiting worker
                    error = self.unsaved = exc
                    kept = True
            for _, ticket in batch:
                ticket.error, ticket.kept = error, kept
                ticket.done.set()


@dataclass
class _Ticket:
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None
    kept: bool = False  # the change is in the journal's state, not in the store


class _Stopped(Exception):
    """The run was cancelled before this request went out."""


class _Halted(Exception):
    """The in-flight mark could not be written: the outcome is already reported."""


@dataclass
class _Provider:
    """What the workers of one provider share: its client, its limiter and its queue."""

    name: str
    uploader: Uploader
    limiter: RateLimiter
    # Its look-ups, where the provider type declares it can list (CAN_LIST).
    lister: Lister | None
    # Whether it reviews uploads before flows may use them (REVIEWS).
    reviews: bool
    batches: queue.SimpleQueue[list[ResourceChange]] = field(default_factory=queue.SimpleQueue)
    stop_status: Status | None = None
    stop_message: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, status: Status, message: str) -> None:
        with self.lock:
            if self.stop_status is None:
                self.stop_status, self.stop_message = status, message


@dataclass
class _Attempt:
    """One request: when it went out, once it did."""

    started: float | None = None


class _Tries:
    """Failed tries of one call, counted apart for throttling; backs off between them."""

    def __init__(self, policy: RetryPolicy, rng: random.Random, cancel: Cancellation) -> None:
        self.policy, self.rng, self.cancel = policy, rng, cancel
        self.counts: dict[type[TransientError], int] = {}

    def again(self, exc: TransientError) -> str | None:
        """Back off and return None to try again, or say why not (the last failure).

        Throttling and refused tokens are counted apart from failing servers: the first asks
        only to slow down, the second only for the new token, which is sent with no backoff.
        """
        kind = next(
            k for k in (TokenRefusedError, ThrottledError, TransientError) if isinstance(exc, k)
        )
        self.counts[kind] = failures = self.counts.get(kind, 0) + 1
        if failures >= self.policy.limit(throttled=kind is ThrottledError):
            return f"{exc} (gave up after {failures} tries)"
        delay = 0.0 if kind is TokenRefusedError else self.policy.backoff(failures, self.rng)
        if self.cancel.wait(delay):
            raise _Stopped
        return None


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
    cancel: Cancellation | None = None,
    processed: Callable[[ResourceChange], ProcessedFacts] | None = None,
) -> ApplyResult:
    """Carry out `plan`. `cancel` stops it: no new request, a bounded wait for those in flight;
    a second request stops the wait (what was in flight stays in doubt). `processed` gives the
    cached processed audio of a change whose plan says it is processed: what is uploaded."""
    made: dict[str, ProcessedFacts] = {}
    for change in plan.changes:
        if change.sends_audio and change.after is not None and change.after.process is not None:
            if processed is None:
                raise IvrsyncError(f"{change.address}: the plan processes its audio; apply cannot")
            made[change.address] = processed(change)  # before any request: errors stop here
    engine = _Engine(
        plan,
        root,
        store,
        state or State.new(),
        uploaders,
        options,
        reporter,
        clock,
        cancel or Cancellation(),
        made,
    )
    return engine.run()


NOT_SENT = "not sent: the apply was cancelled"
STOPPED_WAITING = "sent, and the apply was cancelled before the answer came"
NOT_LOOKED_UP = "not looked up: the apply was cancelled; the next apply does"


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
        cancel: Cancellation,
        processed: dict[str, ProcessedFacts],
    ) -> None:
        self.plan = plan
        self.processed = processed  # by address: the cached bytes uploaded instead of the source
        self.root = root
        self.journal = Journal(store, state)
        self.uploaders = uploaders
        self.options = options
        self.reporter = reporter
        self.clock = clock
        self.cancel = cancel
        self.rng = random.Random(options.seed)
        self.rng_lock = threading.Lock()
        self.outcomes: list[ResourceOutcome] = []
        self.outcomes_lock = threading.Lock()
        self.closed = False  # the run gave up on its workers: their news is not reported
        self.in_flight: set[str] = set()  # addresses whose request is on the wire
        self.halted = threading.Event()  # the state cannot be written: start nothing new
        self.wake = threading.Event()  # a worker ended, or a cancel came
        self.running = 0
        self.crash: Exception | None = None  # a worker's unexpected error (a bug)
        self.settings: list[SettingsOutcome] = []

    def report(self, outcome: ResourceOutcome) -> None:
        with self.outcomes_lock:
            if self.closed:
                return
            self.outcomes.append(outcome)
        self.reporter.finished(outcome)

    def run(self) -> ApplyResult:
        uploads = [c for c in self.plan.changes if c.sends]
        self.reporter.begin(len(uploads))
        try:
            self.apply_local_changes()
            if not self.upload_all(uploads):
                self.give_up(uploads)
            if self.crash is not None:
                raise self.crash
        finally:
            self.journal.close()
        order = {c.address: i for i, c in enumerate(self.plan.changes)}
        with self.outcomes_lock:
            outcomes = sorted(self.outcomes, key=lambda o: order.get(o.address, 0))
        unsaved = self.journal.unsaved
        return ApplyResult(
            outcomes,
            self.journal.state,
            self.settings,
            write_error=None if unsaved is None else str(unsaved),
        )

    def apply_local_changes(self) -> None:
        """Moves, forgets and the providers' settings touch only the state: one write for all.

        The settings are recorded before any upload, as the plan was approved with them (apply
        checked they are still the manifests'), whatever the uploads then do.
        """
        local = [c for c in self.plan.changes if c.action in (Action.MOVE, Action.FORGET)]
        recorded = {n: ref for n, ref in self.plan.providers.items() if ref.record_settings}
        if not local and not recorded:
            return
        now = self.clock()

        def change(state: State) -> None:
            for c in local:
                if c.action is Action.FORGET:
                    state.resources.pop(c.address, None)
                    state.in_doubt.pop(c.address, None)
                elif c.previous_address in state.resources:
                    state.resources[c.address] = state.resources.pop(c.previous_address)
            for name in recorded:
                record_settings(state, self.plan, name, now)

        try:
            self.journal.commit(change)
        except StateWriteError as exc:
            self.halted.set()
            for c in local:
                self.report(ResourceOutcome(c.address, c.action, Status.FAILED, str(exc)))
            self.settings = [SettingsOutcome(n, Status.FAILED, str(exc)) for n in recorded]
            return
        self.settings = [
            SettingsOutcome(n, Status.DONE, _settings_recorded(ref)) for n, ref in recorded.items()
        ]
        for c in local:
            if c.action is Action.FORGET:
                message = "forgotten (the remote file stays)"
            else:
                message = f"moved from {c.previous_address}"
            file_id = c.before.file_id if c.before else None
            self.report(ResourceOutcome(c.address, c.action, Status.DONE, message, file_id))

    def upload_all(self, uploads: list[ResourceChange]) -> bool:
        """Each provider gets its own workers (one provider's queue never holds up another's);
        False when a cancel gave up waiting for them."""
        by_provider: dict[str, list[ResourceChange]] = {}
        for change in uploads:
            by_provider.setdefault(change.provider, []).append(change)
        parallelism = max(1, self.options.parallelism)
        workers: list[tuple[_Provider, int]] = []
        for name, changes in sorted(by_provider.items()):
            uploader = self.uploaders[name]
            kind = PROVIDER_TYPES[changes[0].provider_type]
            provider = _Provider(
                name,
                uploader,
                RateLimiter(uploader.rate_limit, not_before=self.resume_after(name, uploader)),
                lister(kind, uploader),
                kind.REVIEWS,
            )
            # Updates and deletes make no new upload: no quota, one request each.
            in_place = [c for c in changes if not c.uploads]
            new_files = [c for c in changes if c.uploads]
            allowed = self.quota_left(name, kind.TYPE, uploader) if new_files else 0
            for change in new_files[allowed:]:
                self.report(
                    ResourceOutcome(
                        change.address,
                        change.action,
                        Status.DEFERRED,
                        f"{name}: today's upload quota is spent; the next apply continues",
                    )
                )
            # Uploads in doubt go last: the longer after their request they are looked up,
            # the likelier the look-up is conclusive.
            doubtful = self.journal.state.in_doubt
            ordered = sorted(new_files[:allowed], key=lambda c: c.address in doubtful)
            batches = [[c] for c in in_place] + list(_batches(ordered, uploader.batch_size))
            for batch in batches:
                provider.batches.put(batch)
            count = min(parallelism, uploader.max_concurrency, len(batches))
            workers.extend((provider, i) for i in range(count))
        self.running = len(workers)
        self.cancel.listen(self.wake)
        for provider, number in workers:
            threading.Thread(
                target=self.work,
                args=(provider,),
                name=f"ivrsync-{provider.name}-{number}",
                daemon=True,  # one the run gave up on must not keep the process alive
            ).start()
        return self.wait_for_workers()

    def wait_for_workers(self) -> bool:
        deadline: float | None = None
        while True:
            self.wake.clear()
            with self.outcomes_lock:
                if self.running == 0:
                    return True
            if self.cancel.abandoned.is_set():
                return False
            if self.cancel.stopping.is_set():
                if deadline is None:
                    deadline = time.monotonic() + self.cancel.grace
                if time.monotonic() >= deadline:
                    return False
            self.wake.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def work(self, provider: _Provider) -> None:
        try:
            while True:
                try:
                    batch = provider.batches.get_nowait()
                except queue.Empty:
                    return
                self.upload_batch(provider, batch)
        except Exception as exc:
            # Once the run gave up on this worker (its client closed under it), its uploads
            # are reported, and stay in doubt in the state, already; before, it is a bug,
            # raised again by the main thread.
            if not self.closed:
                self.crash = self.crash or exc
        finally:
            with self.outcomes_lock:
                self.running -= 1
            self.wake.set()

    def give_up(self, uploads: list[ResourceChange]) -> None:
        """A cancel stopped waiting: what was on the wire stays in doubt, the rest not sent."""
        with self.outcomes_lock:
            reported = {o.address for o in self.outcomes}
            in_flight = set(self.in_flight)
        waiting = [c for c in uploads if c.address in in_flight and c.address not in reported]

        def note(state: State) -> None:
            for change in waiting:
                doubt = state.in_doubt.get(change.address)
                if doubt is not None:
                    doubt.reason = STOPPED_WAITING

        with contextlib.suppress(StateWriteError):  # the mark made before sending says it too
            self.journal.commit(note)
        with self.outcomes_lock:
            self.closed = True
            reported = {o.address for o in self.outcomes}
            left = [
                ResourceOutcome(
                    c.address,
                    c.action,
                    Status.IN_DOUBT if c.address in in_flight else Status.CANCELLED,
                    STOPPED_WAITING if c.address in in_flight else NOT_SENT,
                )
                for c in uploads
                if c.address not in reported
            ]
            self.outcomes.extend(left)
        for outcome in left:
            self.reporter.finished(outcome)

    def resume_after(self, name: str, uploader: Uploader) -> float:
        """When (on the monotonic clock) this run may first send to `name`.

        Runs are separate processes with separate limiters: an apply started right after
        another must not send within 1/rate of the last upload the state records. A killed
        run's last request may be recorded only as "sent", at the time written down before
        it went out; the state write between takes a while (longer on a busy machine), so
        such a request counts one interval later. A request the provider refused as too soon
        and whose run was then killed stays in doubt until its landing window has passed.
        """
        state = self.journal.state
        interval = 1.0 / uploader.rate_limit
        last = max(
            [
                *(e.uploaded_at for e in state.resources.values() if e.provider == name),
                *(
                    d.since + timedelta(seconds=interval)
                    for d in state.in_doubt.values()
                    if d.provider == name
                ),
            ],
            default=None,
        )
        if last is None:
            return 0.0
        since = (self.clock() - last).total_seconds()
        return time.monotonic() + max(0.0, interval - since)

    def quota_left(self, name: str, provider_type: str, uploader: Uploader) -> int:
        if uploader.daily_quota is None:
            return 1 << 62
        day = provider_day(provider_type, self.clock())
        return max(0, uploader.daily_quota - self.journal.state.uploads_on(name, day))

    def tries(self) -> _Tries:
        with self.rng_lock:
            seed = self.rng.random()
        return _Tries(self.options.retry, random.Random(seed), self.cancel)

    def upload_batch(self, provider: _Provider, batch: list[ResourceChange]) -> None:
        if not batch[0].uploads:
            self.change_in_place(provider, batch[0])
            return
        if provider.lister is not None:
            doubtful = [c for c in batch if c.address in self.journal.state.in_doubt]
            if doubtful:
                safe = {c.address for c in self.resolve_doubts(provider, doubtful, earlier=True)}
                batch = [c for c in batch if c not in doubtful or c.address in safe]
        tries = self.tries()
        while batch:
            batch = self.try_batch(provider, batch, tries)

    def try_batch(
        self, provider: _Provider, batch: list[ResourceChange], tries: _Tries
    ) -> list[ResourceChange]:
        """One request for `batch`; returns what is to be sent again (nothing when done)."""
        if self.halted.is_set():
            self.settle(batch, Status.FAILED, "not sent: the state could not be written")
            return []
        if provider.stop_status is not None:
            self.settle(batch, provider.stop_status, provider.stop_message)
            return []
        if self.cancel.stopping.is_set():
            self.settle(batch, Status.CANCELLED, NOT_SENT)
            return []
        attempt = _Attempt()
        try:
            try:
                outcomes = provider.uploader.upload(
                    [self.item(change) for change in batch],
                    functools.partial(self.ready, provider, batch, attempt),
                )
            finally:
                with self.outcomes_lock:
                    self.in_flight.difference_update(c.address for c in batch)
        except _Stopped:
            self.settle(batch, Status.CANCELLED, NOT_SENT)
            return []
        except _Halted:
            return []
        except TransientError as exc:
            try:
                why = tries.again(exc)
            except _Stopped:
                self.settle(batch, Status.CANCELLED, NOT_SENT)
                return []
            if why is not None:
                self.settle(batch, Status.FAILED, why)
                return []
            return batch
        except QuotaExceededError as exc:
            provider.stop(Status.DEFERRED, f"{exc}; the next apply continues")
            self.quota_spent(batch[0], provider.uploader.daily_quota)
            return batch
        except AuthenticationError as exc:
            provider.stop(Status.FAILED, str(exc))
            return batch
        except AmbiguousOutcome as exc:
            if provider.lister is None:
                self.settle(batch, Status.IN_DOUBT, str(exc))
                return []
            self.settle(batch, Status.IN_DOUBT, str(exc), keep_reporting=False, over=exc.over)
            return self.resolve_doubts(provider, batch)
        except ProviderError as exc:
            self.settle(batch, Status.FAILED, str(exc))
            return []
        except OSError as exc:  # the audio file vanished or cannot be read
            self.settle(batch, Status.FAILED, f"cannot read the audio: {exc}")
            return []
        seconds = time.monotonic() - (attempt.started or time.monotonic())
        return self.take_answers(provider, batch, outcomes, seconds)

    def take_answers(
        self,
        provider: _Provider,
        batch: list[ResourceChange],
        outcomes: list[ItemOutcome],
        seconds: float,
    ) -> list[ResourceChange]:
        """Record each item's answer; returns those found not to have landed."""
        doubtful = []
        for change, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Uploaded):
                self.record(provider, change, outcome, seconds)
            elif isinstance(outcome, QuotaExceededError):
                self.settle([change], Status.DEFERRED, str(outcome))
            elif isinstance(outcome, AmbiguousOutcome) and provider.lister is not None:
                # An answer that names neither success nor failure: looked up like a lost one.
                self.settle([change], Status.IN_DOUBT, str(outcome), keep_reporting=False)
                doubtful.append(change)
            elif isinstance(outcome, AmbiguousOutcome):
                self.settle([change], Status.IN_DOUBT, str(outcome))
            else:
                self.settle([change], Status.FAILED, str(outcome))
        return self.resolve_doubts(provider, doubtful) if doubtful else []

    def ready(self, provider: _Provider, batch: list[ResourceChange], attempt: _Attempt) -> None:
        """Called by the client just before a request goes out (after any staging): wait for
        the rate limit's slot, then write down that these uploads may land."""
        if self.cancel.stopping.is_set() or not provider.limiter.acquire(self.cancel):
            raise _Stopped
        if not self.mark_in_flight(batch, provider.uploader.landing_window):
            raise _Halted
        attempt.started = time.monotonic()

    def resolve_doubts(
        self, provider: _Provider, doubtful: list[ResourceChange], *, earlier: bool = False
    ) -> list[ResourceChange]:
        """Look up uploads that may have landed (sent by an earlier run, or by this one with
        no answer); adopt what did. Returns those that provably did not and may be sent.

        Finding nothing proves nothing until the request can no longer land (`settled_by`):
        until then they are looked up again, or, when that is far off, left in doubt with the
        time from which the next apply can tell.
        """
        listing = provider.lister
        assert listing is not None  # called only where the provider can list
        pending = doubtful
        while pending:
            items = [self.item(c) for c in pending]
            tries = self.tries()
            while True:
                try:
                    found = listing.find(items)
                    break
                except TransientError as exc:
                    try:
                        why = tries.again(exc)
                    except _Stopped:
                        self.settle(pending, Status.IN_DOUBT, NOT_LOOKED_UP)
                        return []
                    if why is not None:
                        self.settle(pending, Status.IN_DOUBT, f"could not look it up: {why}")
                        return []
                except ProviderError as exc:
                    self.settle(pending, Status.IN_DOUBT, f"could not look it up: {exc}")
                    return []
            still = []
            for change, uploaded in zip(pending, found, strict=True):
                if uploaded is not None:
                    lost = "an earlier run lost the answer" if earlier else "its answer was lost"
                    self.record(provider, change, uploaded, 0.0, verb=f"found ({lost})")
                else:
                    still.append(change)
            pending = still
            if not pending:
                return []
            window = provider.uploader.landing_window
            doubts = self.journal.state.in_doubt
            settles = max(
                (doubts[c.address].settles_at(window) for c in pending if c.address in doubts),
                default=self.clock(),
            )
            left = (settles - self.clock()).total_seconds()
            if left <= 0:
                return pending
            if left > self.options.doubt_wait:
                until = settles.strftime("%Y-%m-%d %H:%M:%S UTC")
                self.settle(
                    pending,
                    Status.IN_DOUBT,
                    f"not listed yet, but the upload sent may still be stored until {until}; "
                    "the next apply after that looks it up again (or finds it)",
                )
                return []
            if self.cancel.wait(min(left, self.options.lookup_interval)):
                self.settle(pending, Status.IN_DOUBT, NOT_LOOKED_UP)
                return []
        return []

    def change_in_place(self, provider: _Provider, change: ResourceChange) -> None:
        """An update or a delete: no new upload, so no in-flight mark, and one whose answer was
        lost is simply sent again (both are idempotent). Until it is answered, the state keeps
        what it had, and the next plan proposes it again."""
        kind = PROVIDER_TYPES[change.provider_type]
        before = change.before
        assert before is not None
        tries = self.tries()
        while True:
            if self.halted.is_set():
                self.finish([change], Status.FAILED, "not sent: the state could not be written")
                return
            if provider.stop_status is not None:
                self.finish([change], provider.stop_status, provider.stop_message)
                return
            if self.cancel.stopping.is_set():
                self.finish([change], Status.CANCELLED, NOT_SENT)
                return
            attempt = _Attempt()
            ready = functools.partial(self.ready_in_place, provider, change, attempt)
            try:
                try:
                    if change.action is Action.DELETE:
                        deletes = deleter(kind, provider.uploader)
                        assert deletes is not None  # planned only where CAN_DELETE
                        deletes.delete(before.file_id, ready)
                        uploaded = None
                    else:
                        updates = updater(kind, provider.uploader)
                        assert updates is not None  # planned only where CAN_UPDATE
                        uploaded = updates.update(
                            self.item(change), before.file_id, change.sends_audio, ready
                        )
                finally:
                    with self.outcomes_lock:
                        self.in_flight.discard(change.address)
            except _Stopped:
                self.finish([change], Status.CANCELLED, NOT_SENT)
                return
            except (TransientError, AmbiguousOutcome) as exc:
                again = exc if isinstance(exc, TransientError) else TransientError(str(exc))
                try:
                    why = tries.again(again)
                except _Stopped:
                    self.finish([change], Status.CANCELLED, f"{exc}; {NOT_SENT}")
                    return
                if why is not None:
                    self.finish([change], Status.FAILED, why)
                    return
                continue
            except AuthenticationError as exc:
                provider.stop(Status.FAILED, str(exc))
                self.finish([change], Status.FAILED, str(exc))
                return
            except ProviderError as exc:
                self.finish([change], Status.FAILED, str(exc))
                return
            except OSError as exc:
                self.finish([change], Status.FAILED, f"cannot read the audio: {exc}")
                return
            seconds = time.monotonic() - (attempt.started or time.monotonic())
            self.record_in_place(provider, change, uploaded, seconds)
            return

    def ready_in_place(
        self, provider: _Provider, change: ResourceChange, attempt: _Attempt
    ) -> None:
        if self.cancel.stopping.is_set() or not provider.limiter.acquire(self.cancel):
            raise _Stopped
        with self.outcomes_lock:
            self.in_flight.add(change.address)
        attempt.started = time.monotonic()

    def record_in_place(
        self,
        provider: _Provider,
        change: ResourceChange,
        uploaded: Uploaded | None,
        seconds: float,
    ) -> None:
        now = self.clock()
        before = change.before
        assert before is not None

        def note(state: State) -> None:
            if uploaded is None:
                state.resources.pop(change.address, None)
                state.in_doubt.pop(change.address, None)
            else:
                record_update(
                    state,
                    change,
                    uploaded,
                    now,
                    reviews=provider.reviews,
                    processed=self.processed.get(change.address),
                )
                record_settings(state, self.plan, change.provider, now)

        try:
            self.journal.commit(note)
        except StateWriteError as exc:
            self.halted.set()
            done = "deleted" if uploaded is None else "updated"
            self.report(
                ResourceOutcome(
                    change.address,
                    change.action,
                    Status.UNRECORDED,
                    f"FileId {before.file_id} was {done}, but {exc.unrecorded()}",
                    before.file_id,
                    seconds,
                )
            )
            return
        if uploaded is None:
            message = f"deleted from {change.provider}"
        elif change.sends_audio:
            message = "updated in place: new audio, same FileId"
        else:
            message = "updated in place: same FileId"
        self.report(
            ResourceOutcome(
                change.address, change.action, Status.DONE, message, before.file_id, seconds
            )
        )

    def mark_in_flight(self, batch: list[ResourceChange], window: float) -> bool:
        """Before sending, write down that these uploads may land, and until when: a kill then
        loses nothing, and a look-up knows when finding nothing is conclusive."""
        since = self.clock()
        settled_by = since + timedelta(seconds=window)

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
                    settled_by=settled_by,
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
        with self.outcomes_lock:
            self.in_flight.update(c.address for c in batch)
        return True

    def settle(
        self,
        batch: list[ResourceChange],
        status: Status,
        message: str,
        *,
        keep_reporting: bool = True,
        over: bool = False,
    ) -> None:
        """Report an outcome that is not an upload; unless it is in doubt, the upload did not
        land, so its in-flight mark goes. `keep_reporting=False` only updates the state;
        `over`: the provider is done with the request, so a look-up from now on is conclusive."""
        if status is Status.IN_DOUBT:
            now = self.clock()

            def note(state: State) -> None:
                for change in batch:
                    doubt = state.in_doubt.get(change.address)
                    if doubt is not None:
                        doubt.reason = message  # masked by the state model
                        if over:
                            doubt.settled_by = min(now, doubt.settles_at(0.0))

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
        if keep_reporting:
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
        made = self.processed.get(change.address)
        return UploadItem(
            address=change.address,
            path=made.path if made else self.root / after.audio_path,
            audio_path=after.audio_path,
            sha256=made.sha256 if made else after.sha256,
            size=made.info.size if made else after.size,
            remote_name=after.remote_name,
            locale=Address.parse(change.address).locale,
            attributes=dict(after.attributes),
        )

    def finish(self, batch: list[ResourceChange], status: Status, message: str) -> None:
        for change in batch:
            self.report(ResourceOutcome(change.address, change.action, status, message))

    def record(
        self,
        provider: _Provider,
        change: ResourceChange,
        uploaded: Uploaded,
        seconds: float,
        *,
        verb: str = "",
    ) -> None:
        now = self.clock()

        review = None if provider.reviews else approved_at_once(now)
        made = self.processed.get(change.address)

        def note(state: State) -> None:
            record_upload(state, change, uploaded, now, review=review, processed=made)
            record_settings(state, self.plan, change.provider, now)

        try:
            self.journal.commit(note)
        except StateWriteError as exc:
            self.halted.set()
            self.report(
                ResourceOutcome(
                    change.address,
                    change.action,
                    Status.UNRECORDED,
                    f"uploaded, but {exc.unrecorded()}",
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


def _settings_recorded(ref: ProviderRef) -> str:
    if ref.settings_before == "unknown":
        return "settings recorded (the state held none for it)"
    return f"settings recorded ({', '.join(c.path for c in ref.setting_changes)} changed)"


def record_settings(state: State, plan: Plan, provider: str, now: datetime) -> None:
    """The settings the plan was made with (which apply checked are still the manifests'),
    recorded by an apply of a plan that says so or by an upload to the provider: the next plan
    shows provider settings against them. A plan older than format 1.2 holds none, and
    nothing is recorded."""
    ref = plan.providers.get(provider)
    if ref is None or not ref.settings:
        return
    known = state.providers.get(provider)
    if known is not None and known.settings == ref.settings and known.type == ref.type:
        return
    state.providers[provider] = ProviderRecord(settings=ref.settings, since=now, type=ref.type)


def approved_at_once(now: datetime) -> Review:
    """Where a provider reviews nothing, an upload is in use as soon as it is stored."""
    return Review(status="approved", updated_at=now)


def record_update(
    state: State,
    change: ResourceChange,
    uploaded: Uploaded,
    now: datetime,
    *,
    reviews: bool,
    processed: ProcessedFacts | None = None,
) -> None:
    """An update in place: the FileId stays; the audio, name and attributes are the new ones.
    New audio on a provider that reviews waits for its review like an upload."""
    after = change.after
    assert after is not None
    entry = state.resources.pop(change.previous_address or change.address)
    new_audio = entry.sha256 != after.sha256 or entry.process != after.process
    state.resources[change.address] = entry.model_copy(
        update={
            "remote_name": uploaded.remote_name,
            "audio_path": after.audio_path,
            "sha256": after.sha256,
            "size": after.size,
            "attributes": dict(after.attributes),
            "process": after.process,
            "processed_sha256": processed.sha256 if processed else None,
            "uploaded_at": now if new_audio else entry.uploaded_at,
            "review": (Review() if reviews else approved_at_once(now))
            if new_audio
            else entry.review,
            "missing_since": None,
        }
    )


def record_upload(
    state: State,
    change: ResourceChange,
    uploaded: Uploaded,
    now: datetime,
    *,
    review: Review | None = None,
    count: bool = True,
    processed: ProcessedFacts | None = None,
) -> None:
    """The new upload becomes current; the previous approved one stays as the fallback.

    `count` adds it to today's uploads (for quotas); an imported FileId was counted when it
    was uploaded. `processed`: the processed audio that was uploaded (its sha256 is kept).
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
        process=after.process,
        processed_sha256=processed.sha256 if processed else after.processed_sha256,
        uploaded_at=now,
        review=review or Review(),
        last_approved=last_approved,
    )
    if count:
        state.record_upload(change.provider, provider_day(change.provider_type, now))
