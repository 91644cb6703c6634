"""`validate`: everything that can be known about a prompt repository without a network."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ivrsync.acknowledgements import find, unused_problems
from ivrsync.audio import AudioError, AudioInfo
from ivrsync.audio_cache import AudioCache
from ivrsync.audio_signal import SignalFinding, signal_findings
from ivrsync.errors import Problem, Severity, sort_key
from ivrsync.gc_pause import paused_gc
from ivrsync.manifest.loader import Project, Resource, one_line, read_project
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.settings import SIGNAL_CODES, UrlAudioSource

if TYPE_CHECKING:  # imported where processing is declared
    from ivrsync.processing.cache import ProcessedCache, ProcessedFacts

logger = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    project: Project | None
    problems: list[Problem]
    audio: dict[str, AudioInfo] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        """The warnings not acknowledged in the manifests: what is listed, and fails --strict."""
        return [p for p in self.problems if p.severity is Severity.WARNING and not p.acknowledged]

    @property
    def acknowledged(self) -> list[Problem]:
        return [p for p in self.problems if p.acknowledged]

    @property
    def shown(self) -> list[Problem]:
        """What a person reads: every problem but the acknowledged warnings (counted apart)."""
        return [p for p in self.problems if not p.acknowledged]

    @property
    def valid(self) -> bool:
        return self.project is not None and not self.errors


def validate_repository(
    root: Path,
    env: Mapping[str, str] | None = None,
    cache: AudioCache | None = None,
    processed: ProcessedCache | None = None,
) -> ValidationReport:
    """Every problem at once: the audio of the prompts that could be read is checked even when
    the manifests have errors (the report's project is then None).

    Without a cache (`ivrsync validate`), one is opened and saved here, so a second validate
    neither hashes nor decodes unchanged files again.
    """
    if cache is None:
        cache = AudioCache(root)
        try:
            return validate_repository(root, env, cache, processed)
        finally:
            cache.save()
    project, problems = read_project(root, env)
    if project is None:
        return ValidationReport(None, sorted(problems, key=sort_key))
    manifest_ok = not problems
    logger.info(
        "loaded %s: %d prompts, %d resources",
        ", ".join(project.files),
        len(project.prompt_names),
        len(project.resources),
    )
    with paused_gc():
        audio, audio_problems = inspect_audio(project, cache, processed)
    if manifest_ok and not any(p.severity is Severity.ERROR for p in audio_problems):
        # With errors, some audio was not checked: its acknowledgements may be needed yet.
        used = {p.acknowledged.where for p in audio_problems if p.acknowledged}
        for code in ("audio-transcoded", *SIGNAL_CODES):
            audio_problems += unused_problems(project.acknowledgements, code, used)
    problems = sorted([*problems, *map(one_line, audio_problems)], key=sort_key)
    return ValidationReport(project if manifest_ok else None, problems, audio)


def _processed(
    project: Project,
    resource: Resource,
    processed: ProcessedCache,
    fetches_published: set[str],
    problems: list[Problem],
) -> ProcessedFacts | None:
    """The processed audio the provider gets (what it must take, and what is measured), its
    notes added to `problems`; None when there is none to check."""
    path = resource.audio_path
    try:
        facts = processed.facts(path, resource.process) if resource.process else None
    except AudioError as exc:
        problems.append(Problem("audio-invalid", f"{path}: {exc}", resource.where))
        return None
    if facts is None:
        return None
    if resource.address.provider in fetches_published:
        problems.append(
            Problem(
                "audio-processed-url",
                f"{resource.address}: {path}: its audio is processed, and the provider "
                "fetches audio from the URLs of `audio_source` type url, where the "
                "source is published: use `audio_source` type s3 (the processed bytes "
                "are staged), or `process: off` for it",
                resource.where,
            )
        )
        return None
    problems += [
        Problem(
            "audio-processed",
            f"{resource.address}: {path}: {note}",
            resource.where,
            Severity.WARNING,
        )
        for note in facts.notes
    ]
    return facts


def _measured(
    project: Project,
    cache: AudioCache,
    facts: ProcessedFacts,
    signals: dict[str, list[SignalFinding]],
) -> str:
    """Measure the processed file (what is uploaded) once; its repository-relative path."""
    measured = facts.path.relative_to(project.root).as_posix()
    if measured not in signals:
        try:
            signals[measured] = signal_findings(cache.signal(measured))
        except AudioError:
            signals[measured] = []
    return measured


def inspect_audio(
    project: Project, cache: AudioCache, processed: ProcessedCache | None = None
) -> tuple[dict[str, AudioInfo], list[Problem]]:
    """Probe and measure each audio file once and check it against every provider it goes to.

    Files unchanged since the last run are not read again (and are hashed too, for the
    planner); bytes measured before are not decoded again.
    """
    infos: dict[str, AudioInfo] = {}
    signals: dict[str, list[SignalFinding]] = {}
    problems: list[Problem] = []
    failed: set[str] = set()
    if processed is None and any(r.process for r in project.resources):
        from ivrsync.processing.cache import ProcessedCache

        processed = ProcessedCache(project.root, cache.facts)
    # Providers that fetch audio from URLs the user publishes: only the source is published.
    fetches_published = {
        name
        for name, settings in project.providers.items()
        if isinstance(getattr(settings, "audio_source", None), UrlAudioSource)
    }
    for resource in project.resources:
        path = resource.audio_path
        if path in failed:
            continue
        info = infos.get(path)
        if info is None:
            try:
                info = cache.facts(path).info
            except AudioError as exc:
                failed.add(path)
                problems.append(Problem("audio-invalid", f"{path}: {exc}", resource.where))
                continue
            suffix = path.rsplit(".", 1)[-1].lower()
            if suffix != info.format:
                failed.add(path)
                problems.append(
                    Problem(
                        "audio-misnamed",
                        f"{path} holds {info.format.upper()} data but is named .{suffix}; "
                        f"rename it to .{info.format}",
                        resource.where,
                    )
                )
                continue
            try:
                signals[path] = signal_findings(cache.signal(path))
            except AudioError as exc:
                # Its headers are sound and a platform's own decoder may play it: a warning.
                signals[path] = []
                problems.append(
                    Problem(
                        "audio-unmeasured",
                        f"{path}: {exc}; its level, clipping and silence are not checked",
                        resource.where,
                        Severity.WARNING,
                    )
                )
            logger.debug("%s: %s", path, info)
            infos[path] = info
        rules = PROVIDER_TYPES[resource.provider_type]
        settings = project.providers[resource.address.provider]
        uploaded, measured = info, path
        if resource.process is not None and processed is not None:
            made = _processed(project, resource, processed, fetches_published, problems)
            if made is None:
                continue
            uploaded, measured = made.info, _measured(project, cache, made, signals)
        for finding in rules.audio_findings(settings, uploaded):
            code = f"audio-{finding.code}"
            accepted = None
            if finding.subject is not None:
                accepted = find(project.acknowledgements, code, resource.address, finding.subject)
            problems.append(
                Problem(
                    code,
                    f"{resource.address}: {path}: {finding.message}",
                    resource.where,
                    finding.severity,
                    accepted.acknowledged if accepted else None,
                )
            )
        for found in signals[measured]:
            code = f"audio-{found.code}"
            accepted = find(project.acknowledgements, code, resource.address, path)
            problems.append(
                Problem(
                    code,
                    f"{resource.address}: {path}: {found.message}",
                    resource.where,
                    found.severity,
                    accepted.acknowledged if accepted else None,
                )
            )
    return infos, problems
