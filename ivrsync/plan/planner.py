"""The planner: desired resources and the state in, a `Plan` out. No I/O of its own.

Each upload spends quota and, on most platforms, makes a new FileId flows must be moved to, so
the planner proposes one only for content or attributes that really changed, and keeps FileIds
across renames (`moved:` entries, or the same audio under a new address). It acts on what each
provider type declares it can do: where uploads can be updated in place (CAN_UPDATE), changed
audio or a new name is an update that keeps the id; where they can be deleted (CAN_DELETE), a
resource gone from the manifests is deleted only if a `removed:` entry opts in. Otherwise it is
forgotten, and its remote file stays.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from ivrsync import __version__
from ivrsync.acknowledgements import Acknowledgement, find, unused_problems
from ivrsync.address import Address
from ivrsync.audio import AudioInfo
from ivrsync.audio_cache import FileFacts
from ivrsync.errors import IvrsyncError
from ivrsync.gc_pause import paused_gc
from ivrsync.manifest.loader import Move, Project, Removal, Resource
from ivrsync.plan.model import (
    NEW_REASON,
    AcknowledgedBy,
    Action,
    Desired,
    Pending,
    Plan,
    PlanWarning,
    ProviderRef,
    Reason,
    Recorded,
    ResourceChange,
    StateRef,
    Summary,
)
from ivrsync.plan.settings import diff_settings, differences, dotted, leaf_paths
from ivrsync.processing.cache import ProcessedFacts
from ivrsync.processing.recipe import Recipe, content_id
from ivrsync.providers import PROVIDER_TYPES, quota_time_zone
from ivrsync.state.model import InDoubt, ResourceState, State, provider_day


@dataclass(frozen=True)
class PlanOptions:
    # Only changes whose address (or previous address) matches one of these globs.
    targets: tuple[str, ...] = ()
    # Re-upload these (globs) even when nothing changed.
    replace: tuple[str, ...] = ()


# The processed audio of (audio path, recipe): ProcessedCache.facts.
ProcessedFactsOf = Callable[[str, Recipe], ProcessedFacts]


def make_plan(
    project: Project,
    state: State | None,
    facts: Callable[[str], FileFacts],
    options: PlanOptions,
    now: datetime,
    processed: ProcessedFactsOf | None = None,
) -> Plan:
    """`processed` is needed when a resource declares processing (`Resource.process`)."""
    with paused_gc():
        return _make_plan(project, state, facts, options, now, processed)


def _make_plan(
    project: Project,
    state: State | None,
    facts: Callable[[str], FileFacts],
    options: PlanOptions,
    now: datetime,
    processed: ProcessedFactsOf | None,
) -> Plan:
    desired = _desired(project, facts, processed)
    recorded = state.resources if state else {}
    in_doubt = state.in_doubt if state else {}
    _check_patterns(options, [*desired, *recorded, *in_doubt])
    differ = _Differ(desired, recorded, project, options)
    changes = differ.changes()
    changes, pending = _in_doubt(changes, in_doubt, desired, options)
    planned, outside = _targeted(changes, options.targets)
    unchanged = differ.unchanged
    if options.targets:
        unchanged = [a for a in unchanged if _matches(a, options.targets)]
        pending = [p for p in pending if _matches(p.address, options.targets)]
    # A targeted plan records the settings of the providers it uploads to (those uploads use
    # them) and leaves the others' for a later plan: it must not record what it leaves out.
    uploading = {c.provider for c in planned if c.sends}
    providers = {
        name: provider_ref(project, state, name, in_scope=not options.targets or name in uploading)
        for name in sorted(project.providers)
    }
    outside += sum(1 for r in providers.values() if r.settings_differ and not r.record_settings)
    warnings = [
        *_quota_warnings(project, state, planned, now),
        *_rejected_warnings(recorded, unchanged),
        *_renamed_warnings(planned, unchanged, desired, recorded, project, options),
        *_option_warnings(options, planned, unchanged, outside, set(in_doubt)),
    ]
    return Plan(
        ivrsync_version=__version__,
        created_at=now,
        state=StateRef(
            lineage=state.lineage if state else None, serial=state.serial if state else 0
        ),
        providers=providers,
        targets=list(options.targets),
        replace=list(options.replace),
        summary=_summary(
            planned,
            len(unchanged),
            len(pending),
            sum(1 for ref in providers.values() if ref.record_settings),
        ),
        changes=planned,
        warnings=warnings,
        pending=pending,
        files={c.after.audio_path: c.after.sha256 for c in planned if c.sends_audio and c.after},
    )


def settings_digest(settings: object) -> str:
    from pydantic import BaseModel

    assert isinstance(settings, BaseModel)
    # The settings as written: a secret is still its `${NAME}` (Project.providers), so the
    # digest covers where the callback URL points, never its token, and a plan made without
    # the secret (on a pull request) is applied with it.
    canonical = json.dumps(settings.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def provider_ref(
    project: Project, state: State | None, name: str, *, in_scope: bool = True
) -> ProviderRef:
    """A provider as the plan uses it: its settings (secrets masked), where each came from,
    and what changed since they were last recorded in the state. Settings that differ from
    the state's are a change apply records, when the plan covers the provider (`in_scope`).
    A provider the state knows nothing of has nothing to record: its first upload does."""
    settings = project.providers[name]
    public = project.public_settings(name)
    record = state.providers.get(name) if state else None
    if record is not None:
        before, changes = "recorded", diff_settings(record.settings, public)
    elif state is not None and any(r.provider == name for r in state.resources.values()):
        before, changes = "unknown", []  # a state written before the settings were recorded
    else:
        before, changes = "none", []
    ref = ProviderRef(
        type=settings.type,
        settings_sha256=settings_digest(settings),
        settings=public,
        origins={dotted(p): project.setting_origin(name, p) for p in leaf_paths(public)},
        settings_before=before,
        setting_changes=changes,
    )
    return ref.model_copy(update={"record_settings": in_scope and ref.settings_differ})


@dataclass(frozen=True, slots=True)
class _Upload:
    """What an upload would send; a `Desired` is made only for the resources that change.

    A no-op plan over 100,000 resources compares 100,000 of these, and building a pydantic
    model for each took most of the planner's time.
    """

    audio_path: str
    sha256: str
    size: int
    remote_name: str
    attributes: dict[str, str]
    info: AudioInfo  # of the audio uploaded (processed, if it is), shown to a reviewer
    process: dict[str, str] | None = None  # the recipe's steps
    processed: ProcessedFacts | None = None
    processed_path: str | None = None  # relative to the repository root

    def model(self) -> Desired:
        # model_construct: every input is validated already.
        return Desired.model_construct(
            audio_path=self.audio_path,
            sha256=self.sha256,
            size=self.size,
            remote_name=self.remote_name,
            attributes=self.attributes,
            duration=round(self.info.duration, 3),
            format=self.info.format,
            codec=self.info.codec,
            sample_rate=self.info.sample_rate,
            channels=self.info.channels,
            process=self.process,
            processed_sha256=self.processed.sha256 if self.processed else None,
            processed_size=self.processed.info.size if self.processed else None,
            processed_path=self.processed_path,
        )


def _desired(
    project: Project, facts: Callable[[str], FileFacts], processed: ProcessedFactsOf | None
) -> dict[str, tuple[Resource, _Upload]]:
    return {
        str(resource.address): (resource, _upload(project, resource, facts, processed))
        for resource in project.resources
    }


def desired_upload(
    project: Project,
    resource: Resource,
    facts: Callable[[str], FileFacts],
    processed: ProcessedFactsOf | None = None,
) -> Desired:
    """What an upload of `resource` would send: its content, name and attributes."""
    return _upload(project, resource, facts, processed).model()


def _upload(
    project: Project,
    resource: Resource,
    facts: Callable[[str], FileFacts],
    processed: ProcessedFactsOf | None,
) -> _Upload:
    """The source's sha256 and size (with the recipe, what decides an upload), and the audio
    facts and attributes of what is sent: the processed audio where the manifest says so."""
    known = facts(resource.audio_path)
    made = None
    if resource.process is not None:
        if processed is None:
            raise IvrsyncError(f"{resource.address}: declares processing, and no cache was given")
        made = processed(resource.audio_path, resource.process)
    info = made.info if made else known.info
    rules = PROVIDER_TYPES[resource.provider_type]
    settings = project.providers[resource.address.provider]
    return _Upload(
        resource.audio_path,
        known.sha256,
        known.info.size,
        rules.uploaded_name(
            settings, resource.remote_name, content_id(known.sha256, resource.process)
        ),
        rules.uploaded_attributes({**resource.options, "description": resource.description}, info),
        info,
        resource.process.described() if resource.process else None,
        made,
        made.path.relative_to(project.root).as_posix() if made else None,
    )


def _recorded(entry: ResourceState) -> Recorded:
    return Recorded.model_construct(
        file_id=entry.file_id,
        audio_path=entry.audio_path,
        sha256=entry.sha256,
        size=entry.size,
        remote_name=entry.remote_name,
        attributes=entry.attributes,
        review_status=entry.review.status,
        process=entry.process,
    )


def _live_file_id(entry: ResourceState) -> str | None:
    """The FileId flows use while a new upload waits for approval: the approved one."""
    if entry.review.status == "approved":
        return entry.file_id
    return entry.last_approved.file_id if entry.last_approved else None


class _Differ:
    def __init__(
        self,
        desired: dict[str, tuple[Resource, _Upload]],
        recorded: dict[str, ResourceState],
        project: Project,
        options: PlanOptions,
    ) -> None:
        self.desired = desired
        self.recorded = recorded
        self.moves: list[Move] = project.moves
        self.removals: list[Removal] = project.removals
        self.options = options
        self.claimed: set[str] = set()  # state addresses a change accounts for
        self.unchanged: list[str] = []  # addresses whose upload stays as it is (no-ops)

    def changes(self) -> list[ResourceChange]:
        """Every change but the no-ops, which are listed in `unchanged` (sorted)."""
        changes: dict[str, ResourceChange] = {}
        new = [address for address in self.desired if address not in self.recorded]
        for address in new:
            moved = self.explicit_move(address)
            if moved:
                changes[address] = moved
        for address, change in self.implicit_moves(a for a in new if a not in changes):
            changes[address] = change
        for address, (resource, want) in self.desired.items():
            if address in changes:
                continue
            entry = self.recorded.get(address)
            if entry is None:
                changes[address] = self.change(
                    resource, Action.CREATE, [Reason(message=NEW_REASON)], None, want
                )
            else:
                self.claimed.add(address)
                compared = self.compare(resource, entry, want, None, [])
                if compared is None:
                    self.unchanged.append(address)
                else:
                    changes[address] = compared
        for address, entry in self.recorded.items():
            if address not in self.desired and address not in self.claimed:
                changes[address] = self.removed(address, entry)
        self.unchanged.sort()
        return [changes[address] for address in sorted(changes)]

    def removed(self, address: str, entry: ResourceState) -> ResourceChange:
        """Gone from the manifests: forgotten, or deleted where a `removed:` entry opts in and
        the provider can delete."""
        removal = next((r for r in self.removals if r.matches(address)), None)
        # A type no longer registered (its plug-in uninstalled) can still be forgotten.
        kind = PROVIDER_TYPES.get(entry.provider_type)
        action = Action.FORGET
        message = (
            "gone from the manifests: forgotten from the state; the remote file stays "
            f"(FileId {entry.file_id})"
        )
        deletes = removal is not None and removal.delete
        if deletes and entry.missing_since is not None:
            # Refresh found it gone from the provider already: nothing is left to delete.
            message = (
                f"gone from the manifests, and {entry.provider} no longer lists FileId "
                f"{entry.file_id} (found by refresh): forgotten, nothing to delete"
            )
        elif removal is not None and deletes and kind is not None and kind.CAN_DELETE:
            action = Action.DELETE
            message = (
                f"gone from the manifests, and `removed:` at {removal.where} deletes it: "
                f"FileId {entry.file_id} is deleted from {entry.provider}; flows that still "
                "use it break"
            )
        elif removal is not None and deletes:
            message += (
                f": {entry.provider} cannot delete, though `removed:` at {removal.where} asks"
            )
        elif removal is not None:
            message += f", as `removed:` at {removal.where} says"
        return ResourceChange(
            address=address,
            provider=entry.provider,
            provider_type=entry.provider_type,
            action=action,
            reasons=[Reason(message=message)],
            before=_recorded(entry),
        )

    def change(
        self,
        resource: Resource,
        action: Action,
        reasons: list[Reason],
        entry: ResourceState | None,
        want: _Upload,
        previous: str | None = None,
    ) -> ResourceChange:
        return ResourceChange.model_construct(
            address=str(resource.address),
            previous_address=previous,
            provider=resource.address.provider,
            provider_type=resource.provider_type,
            action=action,
            reasons=reasons,
            before=_recorded(entry) if entry else None,
            after=want.model(),
            live_file_id=_live_file_id(entry) if entry and action is Action.REPLACE else None,
        )

    def compare(
        self,
        resource: Resource,
        entry: ResourceState,
        want: _Upload,
        previous: str | None,
        reasons: list[Reason],
    ) -> ResourceChange | None:
        """Replace when the content or an uploaded attribute changed, or when asked to.

        None when nothing changes at the same address (a no-op): no change record is built,
        which for 100,000 unchanged resources was most of the planner's time.
        """
        if entry.missing_since is not None:
            since = entry.missing_since.strftime("%Y-%m-%d %H:%M UTC")
            drift = Reason(
                message=f"{resource.address.provider} no longer lists FileId {entry.file_id} "
                f"(found by refresh, {since}; deleted in its console?): uploaded again",
                attribute="file_id",
                before=entry.file_id,
                after=None,
            )
            return self.change(resource, Action.CREATE, [*reasons, drift], entry, want, previous)
        why = list(reasons)
        if entry.sha256 != want.sha256:
            why.append(
                Reason(
                    message="the audio changed",
                    attribute="sha256",
                    before=entry.sha256,
                    after=want.sha256,
                )
            )
            if entry.size != want.size:
                why.append(
                    Reason(
                        message="the size changed",
                        attribute="size",
                        before=str(entry.size),
                        after=str(want.size),
                    )
                )
        why.extend(_process_reasons(entry.process, want.process))
        why.extend(_attribute_reasons(entry.attributes, want.attributes))
        in_place = PROVIDER_TYPES[resource.provider_type].CAN_UPDATE
        if in_place and entry.remote_name != want.remote_name:
            # Where an upload can be renamed, a new name is an update: no upload, same id.
            why.append(
                Reason(
                    message="the remote name changed",
                    attribute="remote_name",
                    before=entry.remote_name,
                    after=want.remote_name,
                )
            )
        changed = len(why) > len(reasons)
        address = str(resource.address)
        if _matches(address, self.options.replace):
            if not changed:
                why.append(Reason(message="requested with --replace"))
            return self.change(resource, Action.REPLACE, why, entry, want, previous)
        if changed:
            action = Action.UPDATE if in_place else Action.REPLACE
            return self.change(resource, action, why, entry, want, previous)
        if previous is None:
            return None
        return self.change(resource, Action.MOVE, why, entry, want, previous)

    def explicit_move(self, address: str) -> ResourceChange | None:
        resource, want = self.desired[address]
        for move in self.moves:
            for old, entry in self.recorded.items():
                if old in self.desired or old in self.claimed:
                    continue
                if move.rename(Address.parse(old)) == resource.address:
                    self.claimed.add(old)
                    why = [Reason(message=f"moved from {old} (moved: at {move.where})")]
                    return self.compare(resource, entry, want, old, why)
        return None

    def implicit_moves(self, new: Iterable[str]) -> Iterable[tuple[str, ResourceChange]]:
        """The same audio, provider and locale under a new address keeps its FileId."""
        new = sorted(new)
        if not new:
            return
        orphans: dict[tuple[str, str, str, str], list[str]] = {}
        for old in sorted(self.recorded):
            if old not in self.desired and old not in self.claimed:
                entry = self.recorded[old]
                locale = Address.parse(old).locale
                key = (entry.provider, locale, entry.sha256, _canonical(entry.attributes))
                orphans.setdefault(key, []).append(old)
        for address in new:
            resource, want = self.desired[address]
            key = (
                resource.address.provider,
                resource.address.locale,
                want.sha256,
                _canonical(want.attributes),
            )
            candidates = orphans.get(key)
            if not candidates:
                continue
            old = candidates.pop(0)
            self.claimed.add(old)
            why = [Reason(message=f"the same audio as {old}, which is gone: FileId kept")]
            change = self.compare(resource, self.recorded[old], want, old, why)
            assert change is not None  # from another address: a move at least
            yield address, change


def _in_doubt(
    changes: list[ResourceChange],
    in_doubt: dict[str, InDoubt],
    desired: dict[str, tuple[Resource, _Upload]],
    options: PlanOptions,
) -> tuple[list[ResourceChange], list[Pending]]:
    """Uploads a run sent without recording the answer: never sent again without a choice.

    Where the provider can list (Tencent), apply looks a planned upload up by name first, so
    the change stays. Where it cannot (Huawei), the same audio is held back until the user
    chooses: `--replace ADDR` uploads it again, `ivrsync import ADDR FILE_ID` records it. An
    upload in doubt of the audio the state already records (a `--replace` in doubt) has no
    change to ride on: it waits for the same choice, on either provider.
    """
    kept: list[ResourceChange] = []
    pending: list[Pending] = []
    for change in changes:
        doubt = in_doubt.get(change.address)
        if doubt is None or not change.uploads or change.after is None:
            kept.append(change)
            continue
        since = doubt.since.strftime("%Y-%m-%d %H:%M UTC")
        if PROVIDER_TYPES[change.provider_type].CAN_LIST:
            note = f"an upload sent {since} is in doubt: apply looks it up by name first"
        elif doubt.sha256 != change.after.sha256:
            note = f"an upload of other audio sent {since} is in doubt (it stays remote)"
        elif _matches(change.address, options.replace):
            note = f"an upload sent {since} is in doubt: uploading again, as asked (--replace)"
        else:
            pending.append(_pending(change.address, doubt))
            continue
        kept.append(change.model_copy(update={"reasons": [*change.reasons, Reason(message=note)]}))
    planned = {c.address for c in kept} | {p.address for p in pending}
    for address, doubt in sorted(in_doubt.items()):
        if address in planned:
            continue
        if address in desired:
            if doubt.sha256 == desired[address][1].sha256:
                pending.append(_pending(address, doubt))
            continue
        kept.append(
            ResourceChange(
                address=address,
                provider=doubt.provider,
                provider_type=doubt.provider_type,
                action=Action.FORGET,
                reasons=[
                    Reason(
                        message="gone from the manifests: its upload in doubt is forgotten "
                        "(if it landed, the remote file stays)"
                    )
                ],
            )
        )
    kept.sort(key=lambda c: c.address)
    pending.sort(key=lambda p: p.address)
    return kept, pending


def _pending(address: str, doubt: InDoubt) -> Pending:
    since = doubt.since.strftime("%Y-%m-%d %H:%M UTC")
    kind = PROVIDER_TYPES.get(doubt.provider_type)  # None: its plug-in is uninstalled
    if kind is not None and kind.CAN_LIST:
        how = f"`--replace {address}` looks it up by name first and uploads only if it did not land"
    else:
        how = (
            "the provider cannot be asked. Upload it again with "
            f"`--replace {address}` (a duplicate if it did land)"
        )
    return Pending(
        address=address,
        provider=doubt.provider,
        provider_type=doubt.provider_type,
        since=doubt.since,
        message=f"{address}: an upload sent {since} got no answer and may have been stored; "
        f"{how}, or record its FileId with `ivrsync import {address} FILE_ID`",
    )


def _canonical(attributes: dict[str, str]) -> str:
    return json.dumps(attributes, sort_keys=True)


def _process_reasons(before: dict[str, str] | None, after: dict[str, str] | None) -> list[Reason]:
    """A changed recipe is a new upload, said step by step; the output bytes never are."""
    if (before or None) == (after or None):
        return []
    steps = [
        f"{dotted(path)} {'none' if old is None else old} -> {'none' if new is None else new}"
        for path, old, new in differences(before or {}, after or {})
    ]
    # One line a reviewer reads: the steps that changed (both recipes are in the plan's
    # before.process and after.process).
    return [Reason(message=f"processing recipe changed: {'; '.join(steps)}")]


def _attribute_reasons(before: dict[str, str], after: dict[str, str]) -> list[Reason]:
    """One reason per uploaded attribute that differs."""
    return [
        Reason(
            message=f"{dotted(path)} changed",
            attribute=dotted(path),
            before=None if old is None else str(old),
            after=None if new is None else str(new),
        )
        for path, old, new in differences(before, after)
    ]


def _matches(address: str | None, patterns: Iterable[str]) -> bool:
    return address is not None and any(fnmatch.fnmatchcase(address, p) for p in patterns)


def _check_patterns(options: PlanOptions, addresses: list[str]) -> None:
    """A --target or --replace that matches no address at all is a typo, not an empty plan:
    said at once, with the nearest addresses, instead of a plan that silently does nothing."""
    import difflib

    unmatched = [
        f"{flag} {pattern}" + (f" (did you mean {', '.join(near)}?)" if near else "")
        for flag, patterns in (("--target", options.targets), ("--replace", options.replace))
        for pattern in patterns
        if not any(fnmatch.fnmatchcase(address, pattern) for address in addresses)
        for near in [difflib.get_close_matches(pattern, sorted(set(addresses)), n=3)]
    ]
    if unmatched:
        raise IvrsyncError(
            f"{'; '.join(unmatched)}: matches no resource in the manifests or the state "
            "(addresses are provider.prompt.locale; globs such as 'ccc.*' are allowed)"
        )


def _targeted(
    changes: list[ResourceChange], targets: tuple[str, ...]
) -> tuple[list[ResourceChange], int]:
    if not targets:
        return changes, 0
    kept = [
        c for c in changes if _matches(c.address, targets) or _matches(c.previous_address, targets)
    ]
    return kept, len(changes) - len(kept)


def _summary(changes: list[ResourceChange], unchanged: int, pending: int, settings: int) -> Summary:
    counts = dict.fromkeys(Action, 0)
    counts[Action.NOOP] = unchanged
    for change in changes:
        counts[change.action] += 1
    return Summary(
        create=counts[Action.CREATE],
        replace=counts[Action.REPLACE],
        update=counts[Action.UPDATE],
        move=counts[Action.MOVE],
        forget=counts[Action.FORGET],
        delete=counts[Action.DELETE],
        no_op=counts[Action.NOOP],
        pending=pending,
        settings=settings,
    )


def _quota_warnings(
    project: Project, state: State | None, planned: list[ResourceChange], now: datetime
) -> list[PlanWarning]:
    warnings = []
    for name, settings in sorted(project.providers.items()):
        quota = PROVIDER_TYPES[settings.type].daily_quota(settings)
        if quota is None:
            continue
        needed = [c.address for c in planned if c.provider == name and c.uploads]
        day = provider_day(settings.type, now)
        used = state.uploads_on(name, day) if state else 0
        left = max(quota - used, 0)
        if len(needed) > left:
            warnings.append(
                PlanWarning(
                    code="quota",
                    provider=name,
                    addresses=needed[left:],
                    message=f"{name}: {len(needed)} uploads needed, {left} left today "
                    f"({used} of {quota} used on {day.isoformat()}, "
                    f"{quota_time_zone(settings.type).tzname(None)}); apply "
                    f"uploads {left} and defers {len(needed) - left} to the next day",
                )
            )
    return warnings


def _rejected_warnings(
    recorded: dict[str, ResourceState], unchanged: list[str]
) -> list[PlanWarning]:
    warnings = []
    for address in unchanged:
        review = recorded[address].review
        if review.status != "rejected":
            continue
        approved = recorded[address].last_approved
        fallback = (
            f"flows still use the last approved upload (FileId {approved.file_id})"
            if approved
            else "no upload of it was ever approved"
        )
        comment = f" ({review.comment})" if review.comment else ""
        warnings.append(
            PlanWarning(
                code="rejected",
                provider=recorded[address].provider,
                addresses=[address],
                message=f"{address}: the last upload was rejected{comment}; {fallback}. "
                "Change the audio to upload again",
            )
        )
    return warnings


def _renamed_warnings(
    changes: list[ResourceChange],
    unchanged: list[str],
    desired: dict[str, tuple[Resource, _Upload]],
    recorded: dict[str, ResourceState],
    project: Project,
    options: PlanOptions,
) -> list[PlanWarning]:
    """A new remote name alone is not worth an upload (quota); say so instead, once for the
    kept names nobody acknowledged and once per acknowledgement for the rest."""
    kept = {
        c.address: c.before.remote_name
        for c in changes
        if c.action is Action.MOVE
        and c.before is not None
        and c.after is not None
        and c.before.remote_name != c.after.remote_name
    }
    kept.update(
        (a, recorded[a].remote_name)
        for a in unchanged
        if recorded[a].remote_name != desired[a][1].remote_name
    )
    groups: dict[Acknowledgement | None, list[str]] = {}
    for address, name in sorted(kept.items()):
        accepted = find(project.acknowledgements, _RENAMED, Address.parse(address), name)
        groups.setdefault(accepted, []).append(address)
    warnings = [
        PlanWarning(
            code=_RENAMED,
            addresses=addresses,
            message=f"{len(addresses)} resource(s) keep the remote name they were uploaded "
            "with, since uploads cannot be renamed: "
            + ", ".join(f"{a} ({kept[a]})" for a in addresses[:5])
            + (" ..." if len(addresses) > 5 else "")
            + "; use --replace ADDRESS to upload under the new name, or acknowledge the kept "
            "name in the manifest",
            acknowledged=AcknowledgedBy(where=str(accepted.where), reason=accepted.reason)
            if accepted
            else None,
        )
        for accepted, addresses in groups.items()
    ]
    if not options.targets:  # a targeted plan does not see every resource
        used = {accepted.where for accepted in groups if accepted}
        warnings += [
            PlanWarning(code=p.code, message=f"{p.location}: {p.message}")
            for p in unused_problems(project.acknowledgements, _RENAMED, used)
        ]
    return warnings


_RENAMED = "remote-name-changed"


def _option_warnings(
    options: PlanOptions,
    changes: list[ResourceChange],
    unchanged: list[str],
    outside: int,
    in_doubt: set[str],
) -> list[PlanWarning]:
    warnings = []
    if options.targets:
        warnings.append(
            PlanWarning(
                code="targeted",
                message="this plan is limited by --target"
                + (f"; {outside} other change(s) are left for a later plan" if outside else ""),
            )
        )
    for pattern in options.replace:
        known = [c.address for c in changes if c.before] + unchanged + sorted(in_doubt)
        if not any(_matches(address, [pattern]) for address in known):
            warnings.append(
                PlanWarning(
                    code="replace-no-match",
                    message=f"--replace {pattern} matches no resource in the state",
                )
            )
    return warnings
