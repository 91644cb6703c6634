"""From the files in a prompt repository to the list of desired resources.

Every problem is collected with its position, so a user sees all of them at once; a prompt
that cannot be read is left out and the rest is still checked.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import ConfigDict, Field, ValidationError

from ivrsync.acknowledgements import Acknowledgement
from ivrsync.address import Address
from ivrsync.errors import Location, ManifestError, Problem
from ivrsync.gc_pause import paused_gc
from ivrsync.git_history import file_at
from ivrsync.manifest import diagnostics
from ivrsync.manifest.schema import (
    ROOT_FILE,
    AudioFile,
    LocalStateSettings,
    Manifest,
    MovedEntry,
    Process,
    ProcessSteps,
    PromptsFile,
    PromptSpec,
    ProviderSettings,
    RemovedEntry,
    StateSettings,
)
from ivrsync.manifest.yaml_source import (
    DataPath,
    YamlDocument,
    YamlLoadError,
    load_yaml_bytes,
    load_yaml_file,
)
from ivrsync.processing.recipe import NativeAudio, Recipe
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.secrets import MASK, SECRET_NAME
from ivrsync.secrets import register as register_secret
from ivrsync.settings import ENV_REFERENCE, PromptOption, SettingsModel

AUDIO_SUFFIXES = (".wav", ".mp3")
_PLAIN_SUFFIXES = (*AUDIO_SUFFIXES, *(suffix.upper() for suffix in AUDIO_SUFFIXES))


@dataclass(frozen=True, slots=True)
class Resource:
    """One (provider, prompt, locale): the unit that is planned, uploaded and recorded."""

    address: Address
    provider_type: str
    audio_path: str  # POSIX path relative to the repository root
    # The provider type's PROMPT_OPTIONS, resolved: the prompt's value, else the default's.
    options: Mapping[str, Any] = field(hash=False)
    remote_name: str
    description: str | None
    # The manifest entry naming the audio file, found only when a message needs it.
    document: YamlDocument = field(compare=False, repr=False)
    entry: DataPath = field(compare=False, repr=False)
    # What processing makes of the audio before it is uploaded; None: uploaded as it is.
    process: Recipe | None = None

    @property
    def where(self) -> Location:
        return self.document.location(self.entry)


@dataclass(frozen=True, slots=True)
class Move:
    """A `moved:` entry: both sides are addresses, or both are prompt names."""

    source: str
    target: str
    where: Location

    def rename(self, address: Address) -> Address | None:
        """The new address of `address` under this move, or None if it does not apply."""
        if "." in self.source:
            return Address.parse(self.target) if str(address) == self.source else None
        if address.prompt == self.source:
            return Address(address.provider, self.target, address.locale)
        return None


@dataclass(frozen=True, slots=True)
class Removal:
    """A `removed:` entry: what becomes of the resources gone from the manifests it matches."""

    pattern: str  # an address or a glob of addresses
    delete: bool
    where: Location

    def matches(self, address: str) -> bool:
        return fnmatch.fnmatchcase(address, self.pattern)


@dataclass(frozen=True, slots=True)
class SecretSetting:
    """A provider setting that names a secret (`${NAME}`): kept as written until it is used.

    Plans and validation never need a secret, so that they run on pull requests from forks;
    the value is resolved only where it is sent (apply, refresh, import).
    """

    provider: str
    path: tuple[str | int, ...]  # inside the provider's settings, e.g. ("callback_url",)
    template: str  # as written, every `${NAME}` in it
    where: Location


@dataclass
class Project:
    """A prompt repository as loaded: its settings and the resources it asks for."""

    root: Path
    manifest: Manifest
    resources: list[Resource]
    prompt_names: list[str]
    files: list[str]
    moves: list[Move] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    secret_settings: list[SecretSetting] = field(default_factory=list)
    # ivrsync.yaml as read, and the environment variables each provider setting read: where a
    # setting came from, for a reviewer and for a stale plan's message (`setting_origin`).
    document: YamlDocument | None = field(default=None, repr=False)
    env_reads: dict[DataPath, list[str]] = field(default_factory=dict, repr=False)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)

    @property
    def providers(self) -> Mapping[str, ProviderSettings]:
        """The settings as written: a value naming a secret is still its `${NAME}` template
        (see `resolved_providers`); what plans, validation and the settings digest use."""
        return self.manifest.providers

    def public_settings(self, name: str) -> dict[str, Any]:
        """The settings of provider `name` as a reviewer may see them: as written, every
        `${NAME}` of a secret masked (environment variable names in `*_env` are not secret)."""
        data: dict[str, Any] = self.providers[name].model_dump(mode="json")
        for setting in self.secret_settings:
            if setting.provider != name:
                continue
            node: Any = data
            for part in setting.path[:-1]:
                node = node[part]
            last = setting.path[-1]
            if isinstance(node[last], str):
                node[last] = ENV_REFERENCE.sub(MASK, node[last])
        return data

    def setting_origin(self, provider: str, path: tuple[str | int, ...]) -> str:
        """Where a provider setting's value comes from: `file:line` in ivrsync.yaml and the
        environment variables it read, or its default when the file does not write it."""
        full = ("providers", provider, *path)
        node: Any = self.document.data if self.document else None
        for part in full:
            if not isinstance(node, dict) or part not in node:
                return "the default"
            node = node[part]
        assert self.document is not None
        where = self.document.location(full)
        reads = self.env_reads.get(full)
        return f"{where.file}:{where.line}" + (f", {', '.join(reads)}" if reads else "")

    def resolved_providers(
        self, names: Iterable[str], env: Mapping[str, str]
    ) -> dict[str, ProviderSettings]:
        """The settings of these providers with their secrets filled in from `env`, for the
        clients that send them. Every variable that is not set is listed at once, with where
        the manifest names it; each value is registered as a secret before it is checked."""
        resolved, problems = self.resolve_providers(names, env)
        if problems:
            raise ManifestError(problems)
        return resolved

    def resolve_providers(
        self, names: Iterable[str], env: Mapping[str, str]
    ) -> tuple[dict[str, ProviderSettings], list[Problem]]:
        """As `resolved_providers`, but the problems are returned beside the providers that
        could be resolved, so that a caller checking credentials too names everything missing
        in one run."""
        problems: list[Problem] = []
        resolved: dict[str, ProviderSettings] = {}
        for name in names:
            settings = self.providers[name]
            deferred = [s for s in self.secret_settings if s.provider == name]
            if not deferred:
                resolved[name] = settings
                continue
            data = settings.model_dump()
            missing = False
            for setting in deferred:
                value, unset = expand_env(setting.template, env)
                for variable in unset:
                    missing = True
                    problems.append(_secret_unset(variable, setting))
                for variable, _ in ENV_REFERENCE.findall(setting.template):
                    if env.get(variable) and is_secret_reference(variable, setting.path):
                        register_secret(env[variable])
                _assign(data, setting.path, value)
            if missing:
                continue
            try:
                resolved[name] = type(settings).model_validate(data)
            except ValidationError as exc:
                problems.extend(_resolved_problems(exc, deferred))
        return resolved, problems


@dataclass
class _PromptSource:
    spec: PromptSpec
    document: YamlDocument

    def location(self, name: str, *rest: str | int, at_key: bool = False) -> Location:
        return self.document.location(("prompts", name, *rest), at_key=at_key)


def _acknowledgements(
    manifest: Manifest, root_doc: YamlDocument, prompts: dict[str, _PromptSource]
) -> list[Acknowledgement]:
    """Every `acknowledge:` entry, with its scope and line."""
    found = [
        Acknowledgement(
            a.warning,
            a.subject,
            a.reason,
            root_doc.location(("providers", name, "acknowledge", index)),
            provider=name,
        )
        for name, settings in manifest.providers.items()
        for index, a in enumerate(settings.acknowledge)
    ]
    found += [
        Acknowledgement(
            a.warning,
            a.subject,
            a.reason,
            source.location(name, "acknowledge", index),
            prompt=name,
        )
        for name, source in sorted(prompts.items())
        for index, a in enumerate(source.spec.acknowledge)
    ]
    return found


def load_project(root: Path, env: Mapping[str, str] | None = None) -> Project:
    """Load `ivrsync.yaml` under `root` with its includes; raise `ManifestError` on any error."""
    project, problems = read_project(root, env)
    if project is None or problems:
        raise ManifestError(problems)
    return project


def read_project(
    root: Path, env: Mapping[str, str] | None = None
) -> tuple[Project | None, list[Problem]]:
    """Load as much as can be loaded, and every problem found.

    The project is None when the root manifest's own settings are unusable; otherwise it holds
    the resources that could be read (prompts with errors left out), so that their audio can
    still be checked and reported together with the manifest's problems.
    """
    loader = _Loader(root, os.environ if env is None else env)
    with paused_gc():
        project = loader.load()
    return project, [one_line(problem) for problem in loader.problems]


def one_line(problem: Problem) -> Problem:
    """The problem with control and invisible characters in its message escaped.

    Messages quote what the user wrote (keys, names, paths, values from `${VAR}`), and a
    newline, a carriage return or a bidi override there would break the one-problem-per-line
    output that people and CI annotations read.
    """
    if problem.message.isprintable():
        return problem
    return dataclasses.replace(problem, message=_printable(problem.message))


def _printable(text: str) -> str:
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def is_secret_reference(name: str, path: DataPath) -> bool:
    """`${NAME}` holds a secret when its name says so (TOKEN, KEY, ...), or anywhere in the
    callback URL: Huawei's callback carries no signature, so its URL is its credential."""
    return bool(SECRET_NAME.search(name)) or "callback_url" in path


def expand_env(
    text: str, env: Mapping[str, str], keep: Callable[[str], bool] | None = None
) -> tuple[str, list[str]]:
    """`text` with each `${NAME}` and `${NAME:-default}` replaced by its value (those `keep`
    names are left as written), and the names that are unset with no default."""
    unset: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if keep is not None and keep(name):
            return match.group(0)
        if name in env:
            return env[name]
        if default is not None:
            return default
        unset.append(name)
        return ""

    return ENV_REFERENCE.sub(replace, text), unset


def _secret_unset(variable: str, setting: SecretSetting) -> Problem:
    key = ".".join(str(part) for part in (setting.provider, *setting.path))
    return Problem(
        "secret-unset",
        f"environment variable {variable} is not set; {key} names it as a secret, needed to "
        "upload or read reviews (plan and validate do without it)",
        setting.where,
    )


def _assign(data: dict[str, Any], path: tuple[str | int, ...], value: str) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _resolved_problems(exc: ValidationError, deferred: list[SecretSetting]) -> list[Problem]:
    """What the schema says of a value once its secrets are in (a token with a newline...):
    at the setting's place; the message never quotes the value (it is registered anyway)."""
    problems = []
    for error in exc.errors():
        where = next(
            (s.where for s in deferred if tuple(error["loc"][: len(s.path)]) == s.path), None
        )
        key = ".".join(str(part) for part in error["loc"])
        problems.append(
            Problem(
                "invalid-secret-value",
                f"{key}: once its environment variables are filled in: {error['msg']}",
                where,
            )
        )
    return problems


class _StateSection(SettingsModel):
    """The root manifest's `state:` alone: the rest is not looked at."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: StateSettings = Field(default_factory=LocalStateSettings)


def read_state_settings(root: Path, revision: str | None = None) -> StateSettings:
    """Where the state lives (`state:` of ivrsync.yaml), checked without the rest of the
    manifests: commands that only touch the state (`force-unlock`, `state ...`) must work
    while a manifest or an audio file is broken, which is often when they are needed. A
    wrong `state:` itself is an error at its line, as in a full load. With `revision`, the
    `state:` of ivrsync.yaml as committed at that git revision (`state migrate`)."""
    root = Path(os.path.abspath(root))  # noqa: PTH100 - as in _Loader
    root_file = root / ROOT_FILE
    try:
        if revision is None:
            if not root_file.is_file():
                raise ManifestError([_no_manifest(root)])
            document = load_yaml_file(root_file, ROOT_FILE)
        else:
            # Named as git names it: HEAD:ivrsync.yaml, in every problem found in it.
            document = load_yaml_bytes(
                _committed_root_file(root, revision), f"{revision}:{ROOT_FILE}"
            )
    except YamlLoadError as exc:
        raise ManifestError(exc.problems) from None
    data = document.data if isinstance(document.data, dict) else {}
    checked = diagnostics.validate(_StateSection, {"state": data.get("state", {})}, document)
    if checked.problems or checked.model is None:
        raise ManifestError([one_line(problem) for problem in checked.problems])
    return cast("_StateSection", checked.model).state


def _committed_root_file(root: Path, revision: str) -> bytes:
    raw = file_at(root, revision, ROOT_FILE)
    if raw is None:
        raise ManifestError(
            [
                Problem(
                    "no-manifest",
                    f"git has no {ROOT_FILE} at revision {revision!r} in {root} (not a git "
                    "repository, no such revision, or the file was not committed there)",
                    None,
                )
            ]
        )
    return raw


def _no_manifest(root: Path) -> Problem:
    hint = " (found ivrsync.yml: rename it)" if (root / "ivrsync.yml").exists() else ""
    return Problem(
        "no-manifest",
        f"no {ROOT_FILE} in {root}{hint}; run in a prompt repository or pass -C DIR",
        None,
    )


class _Loader:
    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        # abspath, not resolve(): symlinks are checked on purpose, in inside_root().
        self.root = Path(os.path.abspath(root))  # noqa: PTH100
        self.real_root = self.root.resolve()
        self.root_text = str(self.root)
        self.real_root_text = str(self.real_root)
        self.real_folders: dict[str, str] = {}
        self.env = env
        self.problems: list[Problem] = []
        self.files: list[str] = []
        self.path_cache: dict[tuple[str, str], str | None] = {}
        # (manifest file, folder as written) -> {file name: repository path} of the audio files
        # that need no check of their own (see _plain_audio_files), shared by folder
        self.plain_audio: dict[tuple[str, str], dict[str, str]] = {}
        self.plain_audio_by_folder: dict[str, dict[str, str]] = {}
        # Where a `${VAR}` was left unset: the schema's complaint about the value is noise.
        self.unset_at: set[Location] = set()
        self.bad_remote_names: set[tuple[Location, str]] = set()
        self.broken_providers: set[str] = set()
        self.moved_sources: list[tuple[MovedEntry, YamlDocument, int]] = []
        self.removed_sources: list[tuple[RemovedEntry, YamlDocument, int]] = []
        self.secret_settings: list[SecretSetting] = []
        self.env_reads: dict[DataPath, list[str]] = {}

    def error(self, code: str, message: str, where: Location | None) -> None:
        self.problems.append(Problem(code, message, where))

    def read(self, path: Path) -> YamlDocument | None:
        display = path.relative_to(self.root).as_posix()
        self.files.append(display)
        try:
            document = load_yaml_file(path, display)
        except YamlLoadError as exc:
            self.problems.extend(exc.problems)
            return None
        if not isinstance(document.data, dict):
            what = (
                "empty"
                if document.data is None
                else "a list"
                if isinstance(document.data, list)
                else f"a single value ({document.data!r})"
            )
            self.error(
                "not-a-map", f"the file is {what}; it must be a map of keys", document.location()
            )
            return None
        return document

    def load(self) -> Project | None:
        root_file = self.root / ROOT_FILE
        if not root_file.is_file():
            self.problems.append(_no_manifest(self.root))
            return None
        root_doc = self.read(root_file)
        if root_doc is None:
            return None
        self.interpolate_env(root_doc)
        checked = diagnostics.validate(Manifest, root_doc.data, root_doc)
        self.problems.extend(p for p in checked.problems if p.location not in self.unset_at)
        manifest = cast("Manifest | None", checked.model)
        # A provider whose settings have errors is left out; prompts naming it are not wrong.
        self.broken_providers = checked.left_out.get("providers", set())
        sources = self.load_includes(root_doc)
        if manifest is None:
            return None
        for name, spec in manifest.prompts.items():
            sources.setdefault(name, []).insert(0, _PromptSource(spec, root_doc))
        self.moved_sources[:0] = [(m, root_doc, i) for i, m in enumerate(manifest.moved)]
        self.removed_sources[:0] = [(r, root_doc, i) for i, r in enumerate(manifest.removed)]
        prompts = self.unique_prompts(sources)
        self.check_provider_references(manifest, root_doc, prompts)
        resources = self.expand(manifest, prompts)
        self.check_remote_names(resources)
        self.check_env_names(resources)
        moves = self.check_moves(resources, prompts)
        removals = self.check_removals(manifest, resources)
        return Project(
            self.root,
            manifest,
            resources,
            sorted(prompts),
            self.files,
            moves,
            secret_settings=self.secret_settings,
            document=root_doc,
            env_reads=self.env_reads,
            acknowledgements=_acknowledgements(manifest, root_doc, prompts),
            removals=removals,
        )

    def interpolate_env(self, document: YamlDocument) -> None:
        """Expand `${NAME}` and `${NAME:-default}` in provider settings, except secrets: a
        value naming one keeps its `${NAME}` and is recorded, to be resolved when used."""
        providers = document.data.get("providers")
        if isinstance(providers, dict):
            self._interpolate(providers, ("providers",), document)

    def _interpolate(self, node: Any, path: DataPath, document: YamlDocument) -> Any:
        if isinstance(node, dict):
            for key, value in node.items():
                node[key] = self._interpolate(value, (*path, key), document)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                node[index] = self._interpolate(value, (*path, index), document)
        elif isinstance(node, str) and "${" in node:

            def secret(name: str) -> bool:
                return is_secret_reference(name, path)

            expanded, unset = expand_env(node, self.env, keep=secret)
            self.env_reads[path] = [
                f"environment variable {name}" if name in self.env else f"default ({name} unset)"
                for name, default in ENV_REFERENCE.findall(node)
                if not secret(name) and (name in self.env or default)
            ]
            if any(secret(name) for name, _ in ENV_REFERENCE.findall(node)):
                where = document.location(path)
                provider = path[1] if len(path) > 2 else ""
                self.secret_settings.append(SecretSetting(str(provider), path[2:], node, where))
            for name in unset:
                where = document.location(path)
                self.unset_at.add(where)
                self.error(
                    "env-unset",
                    f"environment variable {name} is not set; set it, or give a default "
                    f"with ${{{name}:-value}}",
                    where,
                )
            return expanded
        return node

    def load_includes(self, root_doc: YamlDocument) -> dict[str, list[_PromptSource]]:
        sources: dict[str, list[_PromptSource]] = {}
        patterns = root_doc.data.get("include")
        if not isinstance(patterns, list):
            return sources
        seen: set[Path] = {self.root / ROOT_FILE}
        for index, pattern in enumerate(patterns):
            if not isinstance(pattern, str):
                continue  # reported by the schema
            where = root_doc.location(("include", index))
            for path in self.glob_include(pattern, where):
                if path in seen:
                    continue
                seen.add(path)
                document = self.read(path)
                if document is None:
                    continue
                checked = diagnostics.validate(PromptsFile, document.data, document)
                self.problems.extend(checked.problems)
                if checked.model is not None:
                    included = cast(PromptsFile, checked.model)
                    self.moved_sources.extend(
                        (m, document, i) for i, m in enumerate(included.moved)
                    )
                    self.removed_sources.extend(
                        (r, document, i) for i, r in enumerate(included.removed)
                    )
                    for name, spec in included.prompts.items():
                        sources.setdefault(name, []).append(_PromptSource(spec, document))
        return sources

    def glob_include(self, pattern: str, where: Location) -> list[Path]:
        problem = _path_syntax_problem(pattern)
        if problem:
            self.error("include-path", f"include '{_shown(pattern)}': {problem}", where)
            return []
        if Path(os.path.normpath(pattern)).parts[:1] == ("..",):
            self.error(
                "include-outside-root",
                f"include '{pattern}' leaves the repository root; include only files inside "
                f"it (globs are relative to {ROOT_FILE})",
                where,
            )
            return []
        matches = sorted(
            Path(p)
            # glob.glob takes root_dir and patterns with '..', which Path.glob refuses.
            for p in glob.glob(pattern, root_dir=self.root, recursive=True)  # noqa: PTH207
            if (self.root / p).is_file()
        )
        paths = []
        for match in matches:
            path = Path(os.path.normpath(self.root / match))
            if not self.inside_root(path):
                self.error(
                    "include-outside-root",
                    f"include '{pattern}' matches {match}, outside the repository root",
                    where,
                )
                continue
            paths.append(path)
        if not matches:
            self.error(
                "include-no-match",
                f"include '{pattern}' matches no file (globs are relative to {ROOT_FILE}; "
                "'*' stays in one folder, '**/' crosses folders)",
                where,
            )
        return paths

    def unique_prompts(self, sources: dict[str, list[_PromptSource]]) -> dict[str, _PromptSource]:
        prompts: dict[str, _PromptSource] = {}
        for name, found in sources.items():
            first = found[0]
            for other in found[1:]:
                self.error(
                    "duplicate-prompt",
                    f"prompt '{name}' is defined twice: here and at "
                    f"{first.location(name, at_key=True)}; prompt names must be unique",
                    other.location(name, at_key=True),
                )
            prompts[name] = first
        return prompts

    def check_provider_references(
        self, manifest: Manifest, root_doc: YamlDocument, prompts: dict[str, _PromptSource]
    ) -> None:
        known = ", ".join(manifest.providers)

        def check(names: list[str] | None, doc: YamlDocument, path: DataPath) -> None:
            for index, name in enumerate(names or []):
                if name not in manifest.providers and name not in self.broken_providers:
                    self.error(
                        "unknown-provider",
                        f"provider '{name}' is not defined under `providers:` (defined: {known})",
                        doc.location((*path, index)),
                    )

        check(manifest.defaults.providers, root_doc, ("defaults", "providers"))
        for name in manifest.process:
            if name not in manifest.providers and name not in self.broken_providers:
                self.error(
                    "unknown-provider",
                    f"`process:` names provider '{name}', which is not defined under "
                    f"`providers:` (defined: {known})",
                    root_doc.location(("process", name), at_key=True),
                )
        for name, source in prompts.items():
            check(source.spec.providers, source.document, ("prompts", name, "providers"))

    def expand(self, manifest: Manifest, prompts: dict[str, _PromptSource]) -> list[Resource]:
        resources: list[Resource] = []
        default_providers = manifest.defaults.providers or list(manifest.providers)
        for name in sorted(prompts):
            source = prompts[name]
            spec = source.spec
            if isinstance(spec.remote_name, dict):
                for locale in spec.remote_name:
                    if locale not in spec.audio:
                        self.error(
                            "remote-name-locale",
                            f"remote_name names locale {locale}, which prompt '{name}' has no "
                            f"audio for (its locales: {', '.join(spec.audio)})",
                            source.location(name, "remote_name", locale, at_key=True),
                        )
            # Paths are checked whatever providers the prompt goes to (even none that loaded).
            audio_paths = {
                locale: self.audio_path(
                    raw if isinstance(raw, str) else raw.file,
                    source.document,
                    _audio_entry(name, locale, raw),
                )
                for locale, raw in spec.audio.items()
            }
            for provider in spec.providers or default_providers:
                settings = manifest.providers.get(provider)
                if settings is None:
                    continue  # reported as an unknown provider
                rules = PROVIDER_TYPES[settings.type]
                for locale, audio_path in audio_paths.items():
                    entry = ("prompts", name, "audio", locale)
                    if rules.LOCALES is not None and locale not in rules.LOCALES:
                        self.error(
                            "unsupported-locale",
                            f"{provider} ({settings.type}) does not accept locale {locale}; "
                            f"allowed: {', '.join(sorted(rules.LOCALES))} (limit the prompt "
                            "with `providers:` to send it elsewhere)",
                            source.location(name, "audio", locale, at_key=True),
                        )
                    address = Address(provider, name, locale)
                    remote_name = self.remote_name(source, name, locale, rules)
                    self.check_remote_name(address, settings.type, remote_name, source, entry)
                    if audio_path is None:
                        continue
                    resources.append(
                        Resource(
                            address=address,
                            provider_type=settings.type,
                            audio_path=audio_path,
                            options=_resolved_options(rules.PROMPT_OPTIONS, spec, manifest),
                            remote_name=remote_name,
                            description=spec.description,
                            document=source.document,
                            entry=entry,
                            process=_recipe(
                                rules.NATIVE_AUDIO,
                                manifest.process.get(provider),
                                spec.process,
                                _file_process(spec.audio[locale]),
                            ),
                        )
                    )
        return resources

    def check_remote_name(
        self,
        address: Address,
        provider_type: str,
        remote_name: str,
        source: _PromptSource,
        entry: DataPath,
    ) -> None:
        """Report a name the provider refuses, at the `remote_name` that made it if any."""
        problem = PROVIDER_TYPES[provider_type].remote_name_problem(remote_name)
        if problem is None:
            return
        where = source.document.location(entry)
        override = source.spec.remote_name
        if isinstance(override, dict) and address.locale in override:
            where = source.location(address.prompt, "remote_name", address.locale)
            fix = "change this remote_name"
        elif isinstance(override, str):
            where = source.location(address.prompt, "remote_name")
            fix = "change remote_name (the locale is appended to it)"
        else:
            fix = "set remote_name"
        if (where, provider_type) in self.bad_remote_names:
            return
        self.bad_remote_names.add((where, provider_type))
        self.error("remote-name", f"{address}: {problem}; {fix}", where)

    def remote_name(self, source: _PromptSource, name: str, locale: str, rules: Any) -> str:
        override = source.spec.remote_name
        if isinstance(override, dict) and locale in override:
            return str(override[locale])
        base = override if isinstance(override, str) else None
        return str(rules.derive_remote_name(name, locale, base))

    def check_remote_names(self, resources: list[Resource]) -> None:
        claimed: dict[tuple[str, str], Resource] = {}
        for resource in resources:
            key = (resource.address.provider, resource.remote_name)
            first = claimed.setdefault(key, resource)
            if first is not resource:
                self.error(
                    "remote-name-collision",
                    f"{resource.address} and {first.address} (at {first.where}) would both be "
                    f"uploaded as '{resource.remote_name}'; give one of them a remote_name",
                    resource.where,
                )

    def check_env_names(self, resources: list[Resource]) -> None:
        """`ivrsync output --format env` gives each resource a variable; two must not share
        one, or the second would silently set the first's."""
        claimed: dict[str, Resource] = {}
        for resource in resources:
            name = resource.address.env_name()
            first = claimed.setdefault(name, resource)
            if first is not resource:
                self.error(
                    "env-name-collision",
                    f"{resource.address} and {first.address} (at {first.where}) would both be "
                    f"{name} in `ivrsync output --format env`; rename one of the prompts "
                    "(names that differ only in '-', '_' or case collide there)",
                    resource.where,
                )

    def check_moves(
        self, resources: list[Resource], prompts: dict[str, _PromptSource]
    ) -> list[Move]:
        addresses = {str(r.address) for r in resources}
        moves: list[Move] = []
        sources: dict[str, Location] = {}
        for entry, document, index in self.moved_sources:
            where = document.location(("moved", index))
            problem = _move_problem(entry.from_, entry.to, addresses, set(prompts))
            if entry.from_ in sources:
                problem = f"'{entry.from_}' is moved twice (also at {sources[entry.from_]})"
            if problem:
                self.error("moved", f"moved from {entry.from_} to {entry.to}: {problem}", where)
                continue
            sources[entry.from_] = where
            moves.append(Move(entry.from_, entry.to, where))
        return moves

    def check_removals(self, manifest: Manifest, resources: list[Resource]) -> list[Removal]:
        """A `removed:` entry names addresses of known providers; one that deletes, only
        providers that can delete, and no address the manifests still declare."""
        addresses = {str(r.address) for r in resources}
        removals: list[Removal] = []
        for entry, document, index in self.removed_sources:
            where = document.location(("removed", index))
            problem = _removal_problem(entry, manifest, addresses)
            if problem:
                self.error("removed", f"removed from {entry.from_}: {problem}", where)
                continue
            removals.append(Removal(entry.from_, entry.delete, where))
        return removals

    def audio_path(self, raw: str, document: YamlDocument, entry: DataPath) -> str | None:
        """The repository-relative path of an audio file, or None after reporting why not."""
        if _path_syntax_problem(raw) is None:
            raw_folder, _, name = raw.rpartition("/")
            folder_key = (document.display_path, raw_folder)
            plain = self.plain_audio.get(folder_key)
            if plain is None:
                plain = self.plain_audio[folder_key] = self._plain_audio_files(document, raw_folder)
            relative = plain.get(name)
            if relative is not None:
                return relative
        key = (document.display_path, raw)
        if key in self.path_cache:
            return self.path_cache[key]
        try:
            result: str | None = self._audio_path(raw, document)
        except _PathProblem as problem:
            self.error(problem.code, problem.message, document.location(entry))
            result = None
        self.path_cache[key] = result
        return result

    def _plain_audio_files(self, document: YamlDocument, raw_folder: str) -> dict[str, str]:
        """The regular .wav/.mp3 files (not symlinks) of a folder inside the root, by name.

        One directory listing answers for every file in the folder, where checking each file
        would cost two system calls (a stat and an lstat) and the path arithmetic, for each of
        thousands. Whatever is not listed here gets the full check, which explains problems.
        """
        base = os.path.dirname(os.path.join(self.root_text, document.display_path))
        folder = os.path.normpath(os.path.join(base, raw_folder))
        listed = self.plain_audio_by_folder.get(folder)
        if listed is None:
            listed = self.plain_audio_by_folder[folder] = self._list_plain_audio(folder)
        return listed

    def _list_plain_audio(self, folder: str) -> dict[str, str]:
        if not _within_text(folder, self.root_text):
            return {}
        if not _within_text(self._real_folder(folder), self.real_root_text):
            return {}
        prefix = "" if folder == self.root_text else folder[len(self.root_text) + 1 :] + "/"
        if os.sep != "/":
            prefix = prefix.replace(os.sep, "/")
        try:
            with os.scandir(folder) as entries:
                return {
                    entry.name: prefix + entry.name
                    for entry in entries
                    if entry.name.endswith(_PLAIN_SUFFIXES)
                    # Hidden names (".wav" has no extension to os.path.splitext) and "\\"
                    # get the full check, as do names in other cases (".Wav").
                    and entry.name[0] != "."
                    and "\\" not in entry.name
                    and entry.is_file(follow_symlinks=False)
                }
        except OSError:
            return {}

    def _audio_path(self, raw: str, document: YamlDocument) -> str:
        # Plain strings and os.path, not pathlib: this runs once per audio file, and a
        # repository can hold 100,000 of them.
        problem = _path_syntax_problem(raw)
        if problem:
            raise _PathProblem("audio-path", f"audio path '{_shown(raw)}': {problem}")
        base = os.path.dirname(os.path.join(self.root_text, document.display_path))
        path = os.path.normpath(os.path.join(base, raw))
        if not _within_text(path, self.root_text):
            raise _PathProblem(
                "path-outside-root",
                f"audio path '{raw}' leaves the repository root; audio must live inside "
                f"{self.root.name}/",
            )
        relative = path[len(self.root_text) + 1 :].replace(os.sep, "/")
        suffix = os.path.splitext(path)[1]
        if suffix.lower() not in AUDIO_SUFFIXES:
            raise _PathProblem(
                "audio-extension", f"audio file {relative} must be .wav or .mp3 (found '{suffix}')"
            )
        try:
            self._check_audio_file(path, relative)
        except OSError as exc:  # a name too long for the file system, a folder it may not read
            raise _PathProblem(
                "audio-unreadable", f"cannot read audio file {relative}: {exc.strerror}"
            ) from None
        return relative

    def _check_audio_file(self, path: str, relative: str) -> None:
        """What is wrong with a file the folder listing did not vouch for (or a symlink)."""
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            dangling = " (a broken symlink)" if os.path.islink(path) else ""
            raise _PathProblem(
                "audio-missing", f"audio file not found: {relative}{dangling}"
            ) from None
        if not stat.S_ISREG(mode):
            what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise _PathProblem("audio-not-file", f"{relative} is {what}; name a .wav or .mp3 file")
        real = self._real_path(path)
        if not _within_text(real, self.real_root_text):
            raise _PathProblem(
                "symlink-outside-root",
                f"{relative} is a symlink to {real}, outside the repository root",
            )

    def _real_path(self, path: str) -> str:
        """realpath(), with the folders' real paths remembered: one lstat a file, not one a
        path component."""
        if os.path.islink(path):
            return os.path.realpath(path)
        folder, name = os.path.split(path)
        return os.path.join(self._real_folder(folder), name)

    def _real_folder(self, folder: str) -> str:
        real = self.real_folders.get(folder)
        if real is None:
            real = self.real_folders[folder] = os.path.realpath(folder)
        return real

    def inside_root(self, path: Path) -> bool:
        """Whether `path` stays in the repository, both as written and with symlinks followed."""
        return _within(path, self.root) and _within(path.resolve(), self.real_root)


def _resolved_options(
    declared: Mapping[str, PromptOption], spec: PromptSpec, manifest: Manifest
) -> dict[str, Any]:
    """Each option the provider type takes: the prompt's value, else the one of `defaults:`."""
    resolved: dict[str, Any] = {}
    for key in declared:
        value = getattr(spec, key)
        resolved[key] = getattr(manifest.defaults, key) if value is None else value
    return resolved


def _recipe(native: NativeAudio, *layers: Process | None) -> Recipe | None:
    """The processing of one file: the provider's `process:`, then the prompt's, then the
    file's, each setting the keys it names (`native` and `off` replace all before them);
    None when nothing is processed."""
    steps: ProcessSteps | None = None
    for layer in layers:
        if layer is None:
            continue
        if isinstance(layer, str | bool) or steps is None:
            steps = _steps(layer)
        else:
            steps = steps.model_copy(update={k: getattr(layer, k) for k in layer.model_fields_set})
    if steps is None or steps == ProcessSteps(convert=False):
        return None
    trim = steps.trim
    return Recipe(
        target=native if steps.convert else None,
        normalize=steps.normalize,
        lead=trim.lead if trim else None,
        trail=trim.trail if trim else None,
    )


def _audio_entry(prompt: str, locale: str, raw: str | AudioFile) -> DataPath:
    """Where a locale's audio path is written: the value, or the `file:` of its map."""
    entry: DataPath = ("prompts", prompt, "audio", locale)
    return entry if isinstance(raw, str) else (*entry, "file")


def _file_process(entry: str | AudioFile) -> Process | None:
    return None if isinstance(entry, str) else entry.process


def _steps(process: Process | None) -> ProcessSteps | None:
    if process is None or process is False or process == "off":
        return None
    if process is True or process == "native":
        return ProcessSteps()
    return process


class _PathProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _move_problem(source: str, target: str, addresses: set[str], prompts: set[str]) -> str | None:
    kinds = []
    for side in (source, target):
        if "." in side:
            try:
                Address.parse(side)
            except ValueError as exc:
                return str(exc)
            kinds.append("address")
        else:
            kinds.append("prompt")
    if kinds[0] != kinds[1]:
        return "give two addresses (provider.prompt.locale) or two prompt names"
    known = addresses if kinds[0] == "address" else prompts
    if target not in known:
        return f"{target} is not in the manifests; `to` must name what exists now"
    if source in known:
        return f"{source} is still in the manifests; `from` must name what is gone"
    return None


def _removal_problem(entry: RemovedEntry, manifest: Manifest, addresses: set[str]) -> str | None:
    pattern = entry.from_
    provider = pattern.split(".", 1)[0]
    if not _GLOB.search(pattern):
        try:
            Address.parse(pattern)
        except ValueError as exc:
            return f"{exc} (or write a glob such as 'provider.*')"
        if pattern in addresses:
            return f"{pattern} is still in the manifests; `from` names what is gone"
    if _GLOB.search(provider):
        return None  # several providers: each deletes only where it can (the plan says so)
    settings = manifest.providers.get(provider)
    if settings is None:
        known = ", ".join(sorted(manifest.providers))
        return f"there is no provider {provider} in ivrsync.yaml (providers: {known})"
    kind = PROVIDER_TYPES[settings.type]
    if entry.delete and not kind.CAN_DELETE:
        return (
            f"provider {provider} ({settings.type}) cannot delete uploads: {kind.VENDOR} offers "
            "no delete; leave out `delete: true` (what is gone is forgotten, its file stays)"
        )
    return None


_GLOB = re.compile(r"[*?\[]")


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _within_text(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _shown(raw: str) -> str:
    """A path as written, with control characters escaped so the message prints cleanly."""
    return raw if raw.isprintable() else raw.encode("unicode_escape").decode("ascii")


def _path_syntax_problem(raw: str) -> str | None:
    if not raw.strip():
        return "the path is empty"
    if "\\" in raw:
        return "use '/' between folders (this looks like a Windows path)"
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        return "write a path relative to the manifest, not an absolute one"
    if "\0" in raw:
        return "the path contains a NUL character"
    return None
