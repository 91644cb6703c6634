"""`apply` as an operation: everything between taking the state lock and releasing it.

The lock is held from reading the state to its last write, so a plan shown for confirmation
is the plan applied, and a second apply waits or stops instead of uploading twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from ivrsync.address import Address
from ivrsync.apply.cancel import Cancellation
from ivrsync.apply.engine import (
    ApplyOptions,
    ApplyResult,
    Reporter,
    UnsavedState,
    apply_plan,
    record_upload,
)
from ivrsync.audio import AudioError
from ivrsync.audio_cache import AudioCache
from ivrsync.errors import IvrsyncError, ManifestError
from ivrsync.files import write_atomically
from ivrsync.manifest.loader import Project
from ivrsync.plan.model import Action, Plan, ProviderRef, ResourceChange
from ivrsync.plan.planner import PlanOptions, desired_upload, make_plan, settings_digest
from ivrsync.plan.settings import diff_settings
from ivrsync.plan.workflow import load_plan
from ivrsync.processing.cache import ProcessedCache, ProcessedFacts
from ivrsync.processing.recipe import content_id
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.providers.base import Uploaded, Uploader, lister, missing_credentials_together
from ivrsync.providers.errors import CredentialsMissingError
from ivrsync.state.backends import open_store
from ivrsync.state.model import ResourceState, Review, State
from ivrsync.state.operations import UNSAVED_STATE_FILE, push_needs_force
from ivrsync.state.store import LockInfo, StateStore, locked
from ivrsync.validate import validate_repository


class StalePlanError(IvrsyncError):
    """A saved plan no longer describes what applying it would do."""

    error_code = "stale_plan"


class ApprovalRequiredError(IvrsyncError):
    """Not at a terminal, and neither a saved plan nor --auto-approve: nobody approved it."""

    error_code = "approval_required"


class ApplySession:
    """Validated manifests, the state, and its lock, for one apply."""

    def __init__(
        self,
        root: Path,
        *,
        lock_timeout: float = 0.0,
        env: Mapping[str, str] | None = None,
        operation: str = "apply",
    ) -> None:
        self.root = root
        self.operation = operation
        self.env = os.environ if env is None else env
        self.lock_timeout = lock_timeout
        self.cache = AudioCache(root)
        self.processed = ProcessedCache(root, self.cache.facts)

    def __enter__(self) -> ApplySession:
        """Validate, lock, read. Whatever fails after the lock is taken releases it: the lock
        is held through `locked()`, as by every command, on an exit stack unwound here on an
        error and by `__exit__` otherwise."""
        report = validate_repository(self.root, self.env, self.cache, self.processed)
        if report.project is None or not report.valid:
            raise ManifestError(report.shown)
        self.warnings = report.warnings
        self.acknowledged = len(report.acknowledged)  # counted, not listed
        self.project: Project = report.project
        unsaved = self.project.root / UNSAVED_STATE_FILE
        if unsaved.exists():
            # Its uploads are not in the state: applying now would upload them again.
            raise IvrsyncError(
                f"{unsaved} holds the state an earlier apply could not write (uploads the "
                f"state does not record yet): push it first, `ivrsync state push "
                f"{UNSAVED_STATE_FILE}` (add --force if it says so), or delete it if it was "
                "pushed already"
            )
        self.store: StateStore = open_store(self.root, self.project.manifest.state)
        with ExitStack() as stack:
            stack.callback(self.cache.save)
            stack.callback(self.processed.save)
            self.lock: LockInfo = stack.enter_context(
                locked(self.store, self.operation, self.lock_timeout)
            )
            self.state: State | None = self.store.read()
            self._held = stack.pop_all()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._held.__exit__(kind, value, traceback)

    def new_plan(self, options: PlanOptions) -> Plan:
        return make_plan(
            self.project,
            self.state,
            self.cache.facts,
            options,
            datetime.now(UTC),
            self.processed.facts,
        )

    def saved_plan(self, path: Path) -> Plan:
        plan = load_plan(path)
        reasons = stale_reasons(plan, self.project, self.state, self.cache)
        if reasons:
            listed = "; ".join(reasons[:5]) + (
                f"; and {len(reasons) - 5} more" if len(reasons) > 5 else ""
            )
            stale = StalePlanError(
                f"the saved plan {path} is stale: {listed}. Make a new one with "
                "`ivrsync plan --out FILE`"
            )
            stale.reasons = tuple(reasons)
            raise stale
        return plan

    def uploaders(self, plan: Plan) -> dict[str, Uploader]:
        """A client per provider the plan uploads to; credentials are checked before any upload."""
        names = sorted({c.provider for c in plan.changes if c.sends})
        resolved, unresolved = self.project.resolve_providers(names, self.env)
        made: dict[str, Uploader] = {}
        missing: list[CredentialsMissingError] = []
        try:
            for name in names:
                # A provider whose secret is not set gets a client only for its credentials
                # to be checked: everything missing is named in one run.
                settings = resolved.get(name, self.project.providers[name])
                try:
                    made[name] = PROVIDER_TYPES[settings.type].uploader(name, settings, self.env)
                except CredentialsMissingError as exc:
                    missing.append(exc)  # the next providers' are named in the same error
            missing_credentials_together(missing, unresolved)
        except BaseException:
            for uploader in made.values():
                uploader.close()
            raise
        return made

    def processed_for(self, change: ResourceChange) -> ProcessedFacts:
        """The processed audio a change uploads, by the recipe the manifests declare now, made
        again if the cache lacks it (a plan from another machine); a plan whose recipe is not
        the manifests' any more is stale."""
        resource = next(
            (r for r in self.project.resources if str(r.address) == change.address), None
        )
        after = change.after
        assert after is not None
        if (
            resource is None
            or resource.process is None
            or resource.process.described() != after.process
        ):
            raise StalePlanError(
                f"the saved plan is stale: the processing of {change.address} changed since it "
                "was made. Make a new one with `ivrsync plan --out FILE`"
            )
        return self.processed.checked(resource.audio_path, resource.process)

    def apply(
        self,
        plan: Plan,
        options: ApplyOptions,
        reporter: Reporter,
        cancel: Cancellation | None = None,
    ) -> ApplyResult:
        uploaders = self.uploaders(plan)
        try:
            result = apply_plan(
                plan,
                root=self.project.root,
                store=self.store,
                state=self.state,
                uploaders=uploaders,
                options=options,
                reporter=reporter,
                cancel=cancel,
                processed=self.processed_for,
            )
        finally:
            for uploader in uploaders.values():
                uploader.close()
        if result.write_error is not None:
            result.unsaved = keep_unsaved(self.project.root, self.store, result)
        self.state = result.state
        return result


def keep_unsaved(root: Path, store: StateStore, result: ApplyResult) -> UnsavedState:
    """Write the state the store refused (a conflict, a network error) to a local file, whole
    and atomically, and say how to push it: every FileId this apply got is in it."""
    assert result.write_error is not None
    path = root / UNSAVED_STATE_FILE
    force = " --force" if push_needs_force(store, result.state) else ""
    command = f"ivrsync state push{force} {UNSAVED_STATE_FILE}"
    try:
        write_atomically(path, result.state.to_json())
    except OSError as exc:
        return UnsavedState(result.write_error, None, command, f"cannot write {path}: {exc}")
    return UnsavedState(result.write_error, path, command)


@dataclass(frozen=True)
class Imported:
    entry: ResourceState
    replaced: str | None  # the FileId the address recorded before, if another one


def import_file_id(
    session: ApplySession, address: str, file_id: str, *, force: bool = False
) -> Imported:
    """Record an upload made outside this state (a FileId from the console, or an upload in
    doubt that did land) as the current upload of `address`, without uploading anything.

    What the provider lets us check is checked: the FileId's form, and where it can list
    (Tencent) that the FileId exists and that its name does not say it holds other audio.
    Replacing a FileId the state records needs `force`: it may be the approved one flows use.
    """
    try:
        resource = next(r for r in session.project.resources if str(r.address) == address)
    except StopIteration:
        Address.parse(address)  # a malformed address says so first
        raise IvrsyncError(
            f"{address} is not in the manifests; import records the FileId of a resource "
            "they declare (provider.prompt.locale)"
        ) from None
    provider = resource.address.provider
    settings = session.project.providers[provider]
    rules = PROVIDER_TYPES[settings.type]
    problem = rules.file_id_problem(file_id)
    if problem:
        raise IvrsyncError(f"{problem}; check the FileId of {address}")
    current = session.state.resources.get(address) if session.state else None
    replaced = current.file_id if current and current.file_id != file_id else None
    if replaced and current and not force:
        raise IvrsyncError(
            f"{address} records FileId {replaced} (review {current.review.status}); importing "
            f"{file_id} would replace it. Pass --force to replace it"
        )
    desired = desired_upload(
        session.project, resource, session.cache.facts, session.processed.facts
    )
    remote_name, review = desired.remote_name, Review()
    if rules.CAN_LIST:
        settings = session.project.resolved_providers([provider], session.env)[provider]
        uploader = rules.uploader(provider, settings, session.env)
        try:
            listing = lister(rules, uploader)
            assert listing is not None  # CAN_LIST
            listed = listing.files_by_id([file_id])
        finally:
            uploader.close()
        if not listed:
            raise IvrsyncError(f"{provider} lists no file with FileId {file_id}; check the id")
        content = content_id(desired.sha256, resource.process)
        mismatch = rules.content_problem(settings, listed[0].remote_name, content)
        if mismatch:
            raise IvrsyncError(
                f"FileId {file_id} cannot be {address} ({resource.audio_path}): {mismatch}; "
                "check the id"
            )
        remote_name = listed[0].remote_name
        review = Review.model_validate({"status": listed[0].review_status})
    change = ResourceChange(
        address=address,
        provider=provider,
        provider_type=resource.provider_type,
        action=Action.CREATE,
        after=desired,
    )
    state = session.state or State.new()
    record_upload(
        state,
        change,
        Uploaded(address, file_id, remote_name),
        datetime.now(UTC),
        review=review,
        count=False,
    )
    session.state = session.store.write(state)
    return Imported(session.state.resources[address], replaced)


def stale_reasons(
    plan: Plan, project: Project, state: State | None, cache: AudioCache
) -> list[str]:
    """Why applying `plan` now would not do what it says (empty when it is current)."""
    reasons: list[str] = []
    lineage = state.lineage if state else None
    serial = state.serial if state else 0
    if plan.state.lineage is None and lineage is not None:
        reasons.append(
            f"the state changed since the plan was made (it was created: serial 0 -> {serial})"
        )
    elif lineage is None and plan.state.lineage is not None:
        reasons.append(
            f"the state the plan was made against (lineage {plan.state.lineage}) is gone"
        )
    elif plan.state.lineage != lineage:
        reasons.append(
            f"the state is another one (lineage {plan.state.lineage} in the plan, {lineage} now)"
        )
    elif plan.state.serial != serial:
        reasons.append(
            f"the state changed since the plan was made (serial {plan.state.serial} -> {serial})"
        )
    # The providers the plan uploads to or records the settings of: what apply sends or
    # records must be what the plan shows.
    touched = {c.provider for c in plan.changes if c.sends}
    touched |= {name for name, ref in plan.providers.items() if ref.record_settings}
    for name in sorted(touched):
        settings = project.providers.get(name)
        ref = plan.providers.get(name)
        if settings is None or ref is None:
            reasons.append(f"provider {name} is not in ivrsync.yaml any more")
        elif settings_digest(settings) != ref.settings_sha256:
            reasons.extend(_settings_reasons(name, ref, project))
    for path, sha256 in sorted(plan.files.items()):
        try:
            current = cache.facts(path).sha256
        except (OSError, AudioError) as exc:
            reasons.append(f"{path} cannot be read ({exc})")
            continue
        if current != sha256:
            reasons.append(f"{path} changed since the plan was made")
    return reasons


def _settings_reasons(name: str, ref: ProviderRef, project: Project) -> list[str]:
    """Each setting of provider `name` that differs from the plan's: the value in the plan and
    now, and where each came from (the manifest's file:line, an environment variable)."""
    changes = diff_settings(ref.settings, project.public_settings(name)) if ref.settings else []
    if not changes:  # a plan older than 1.2, or a change in a value that names a secret
        return [f"the settings of provider {name} changed"]
    return [
        f"provider {name} setting {c.path} is {_shown(c.before)} in the plan "
        f"({ref.origins.get(c.path, 'not set')}) and {_shown(c.after)} now "
        f"({project.setting_origin(name, tuple(c.path.split('.')))})"
        for c in changes
    ]


def _shown(value: str | None) -> str:
    return "not set" if value is None else repr(value)
