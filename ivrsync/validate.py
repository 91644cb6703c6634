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
from ivrsync.audio_signal import SignalFacts, SignalFinding, signal_findings
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
            address=str(resource.address),
        )
        for note in facts.notes
    ]
    return facts


def _prepare(project: Project, cache: AudioCache, processed: ProcessedCache | None) -> None:
    """Measure and process, on every core at once, what no cache holds yet: the sources of
    the prompts uploaded as they are, and each (source, recipe) of the processed ones.

    Only the work is done here; the loop in `inspect_audio` then finds it cached, and
    anything that failed is done again there, where its error is reported as usual.
    """
    from ivrsync.processing import work

    sources: dict[str, str] = {}  # audio path: sha256
    tasks: list[work.Measure | work.Process] = []
    measured: set[str] = set()
    for resource in project.resources:
        path = resource.audio_path
        sha256 = sources.get(path)
        if sha256 is None:
            try:
                sha256 = sources[path] = cache.facts(path).sha256
            except AudioError:
                continue  # reported by inspect_audio
        absolute = str(project.root / path)
        if resource.process is None or processed is None:
            if sha256 not in measured and cache.measured(sha256) is None:
                measured.add(sha256)
                tasks.append(work.Measure(absolute))
        elif not processed.is_cached(sha256, resource.process):
            task = work.Process(absolute, resource.process)
            if task not in tasks:
                tasks.append(task)
    if len(tasks) < 2:
        return
    from ivrsync.workers import parallel_map, worker_count  # multiprocessing: 20 ms to import

    by_path = {str(project.root / path): (path, sha256) for path, sha256 in sources.items()}

    def keep(task: work.Measure | work.Process, result: object) -> None:
        path, sha256 = by_path[task.path]
        if isinstance(task, work.Measure) and isinstance(result, SignalFacts):
            cache.keep_signal(sha256, result)
        elif isinstance(task, work.Process) and isinstance(result, work.Made):
            assert processed is not None
            processed.keep(path, sha256, task.recipe, result)

    workers = min(worker_count(), len(tasks))
    logger.info(
        "measuring %d and processing %d audio files, %s",
        sum(isinstance(task, work.Measure) for task in tasks),
        sum(isinstance(task, work.Process) for task in tasks),
        f"on {workers} worker processes" if workers > 1 else "in this process",
    )
    parallel_map(work.run, tasks, workers, keep)


def inspect_audio(
    project: Project, cache: AudioCache, processed: ProcessedCache | None = None
) -> tuple[dict[str, AudioInfo], list[Problem]]:
    """Probe and measure each audio file once and check it against every provider it goes to.

    Files unchanged since the last run are not read again (and are hashed too, for the
    planner); bytes measured or processed before are not decoded again, and those never seen
    are measured and processed on all cores first (`_prepare`). A prompt's signal checks are
    of what is uploaded: the processed audio where the manifest says so, and the source is
    then not measured at all.
    """
    if processed is None and any(r.process for r in project.resources):
        from ivrsync.processing.cache import ProcessedCache

        processed = ProcessedCache(project.root, cache.facts)
    _prepare(project, cache, processed)
    inspection = _Inspection(project, cache, processed)
    for resource in project.resources:
        inspection.check(resource)
    return inspection.infos, inspection.problems


class _Inspection:
    def __init__(
        self, project: Project, cache: AudioCache, processed: ProcessedCache | None
    ) -> None:
        self.project = project
        self.cache = cache
        self.processed = processed
        self.infos: dict[str, AudioInfo] = {}
        self.problems: list[Problem] = []
        self.failed: set[str] = set()
        # By source path, or by processed file: the signal checks of what is uploaded.
        self.signals: dict[str, list[SignalFinding]] = {}
        # Providers that fetch audio from URLs the user publishes: only the source is.
        self.fetches_published = {
            name
            for name, settings in project.providers.items()
            if isinstance(getattr(settings, "audio_source", None), UrlAudioSource)
        }

    def check(self, resource: Resource) -> None:
        info = self.source_info(resource)
        if info is None:
            return
        path = resource.audio_path
        uploaded = info
        if resource.process is not None and self.processed is not None:
            made = _processed(
                self.project, resource, self.processed, self.fetches_published, self.problems
            )
            if made is None:
                return
            uploaded, found = made.info, self.processed_findings(made, info)
        else:
            found = self.source_findings(resource)
        rules = PROVIDER_TYPES[resource.provider_type]
        settings = self.project.providers[resource.address.provider]
        acknowledgements = self.project.acknowledgements
        for finding in rules.audio_findings(settings, uploaded):
            code = f"audio-{finding.code}"
            accepted = None
            if finding.subject is not None:
                accepted = find(acknowledgements, code, resource.address, finding.subject)
            self.problems.append(
                Problem(
                    code,
                    f"{resource.address}: {path}: {finding.message}",
                    resource.where,
                    finding.severity,
                    accepted.acknowledged if accepted else None,
                    str(resource.address),
                )
            )
        for signal in found:
            code = f"audio-{signal.code}"
            accepted = find(acknowledgements, code, resource.address, path)
            self.problems.append(
                Problem(
                    code,
                    f"{resource.address}: {path}: {signal.message}",
                    resource.where,
                    signal.severity,
                    accepted.acknowledged if accepted else None,
                    str(resource.address),
                )
            )

    def source_info(self, resource: Resource) -> AudioInfo | None:
        """The source's probe; None (with the problem said once) when it cannot be used."""
        path = resource.audio_path
        if path in self.failed:
            return None
        info = self.infos.get(path)
        if info is not None:
            return info
        try:
            info = self.cache.facts(path).info
        except AudioError as exc:
            self.failed.add(path)
            self.problems.append(Problem("audio-invalid", f"{path}: {exc}", resource.where))
            return None
        suffix = path.rsplit(".", 1)[-1].lower()
        if suffix != info.format:
            self.failed.add(path)
            self.problems.append(
                Problem(
                    "audio-misnamed",
                    f"{path} holds {info.format.upper()} data but is named .{suffix}; "
                    f"rename it to .{info.format}",
                    resource.where,
                )
            )
            return None
        logger.debug("%s: %s", path, info)
        self.infos[path] = info
        return info

    def source_findings(self, resource: Resource) -> list[SignalFinding]:
        """The source's own checks, measured the first time a prompt uploads it as it is."""
        path = resource.audio_path
        found = self.signals.get(path)
        if found is None:
            try:
                found = signal_findings(self.cache.signal(path))
            except AudioError as exc:
                # Its headers are sound and a platform's own decoder may play it: a warning.
                found = []
                self.problems.append(
                    Problem(
                        "audio-unmeasured",
                        f"{path}: {exc}; its level, clipping and silence are not checked",
                        resource.where,
                        Severity.WARNING,
                    )
                )
            self.signals[path] = found
        return found

    def processed_findings(self, made: ProcessedFacts, source: AudioInfo) -> list[SignalFinding]:
        assert self.processed is not None
        found = self.signals.get(made.file)
        if found is None:
            try:
                found = signal_findings(self.processed.signal(made), source.sample_rate)
            except AudioError:
                found = []
            self.signals[made.file] = found
        return found
