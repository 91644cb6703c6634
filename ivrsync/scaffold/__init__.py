"""The files `ivrsync init` writes: a prompt repository that validates and plans at once.

The templates are package data next to this module (the wheel includes them):

- `ivrsync.yaml`: the manifest. Each registered provider type's entry (its STARTER, every
  setting with a one-line explanation): the first one's active (Huawei AICC, its endpoint from
  `AICC_ENDPOINT`, with the public one as default), the others commented out; and one prompt,
  `welcome`, in `en_US`.
- `welcome.wav`: that prompt ("Welcome to Example Telecom.", WAV A-law, 8 kHz, mono: what
  Huawei plays without transcoding, so validate has nothing to warn about).
- `workflow.yml`: a GitHub Actions workflow, plan on pull requests and apply on main.
- `gitignore`: the hash cache, saved plans and the state's lock and backup. Merged into an
  existing `.gitignore` (missing lines appended) rather than replacing it.

`@SCHEMA_URL@`, `@IVRSYNC_REQUIREMENT@`, `@PROVIDERS@` (the entries) and `@LOCALES@` (the
active provider's locales) in the templates are replaced when written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ivrsync import REPOSITORY, __version__
from ivrsync.errors import IvrsyncError
from ivrsync.files import write_atomically
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.providers.base import ProviderType, Starter

# Where editors fetch the JSON Schema from (a comment: nothing ivrsync runs reads it, so it
# cannot break validate).
SCHEMA_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/main/schema/ivrsync.schema.json"
# What the workflow installs: this version's release tag in ivrsync's repository, never a bare
# name a package index might serve to whoever registered it.
REQUIREMENT = f"ivrsync @ git+https://github.com/{REPOSITORY}@v{__version__}"


@dataclass(frozen=True)
class Template:
    target: str  # where it goes, relative to the new repository
    resource: str  # its name in this package
    what: str  # one line for the user
    merge_lines: bool = False  # append missing lines to an existing file instead


TEMPLATES = (
    Template("ivrsync.yaml", "ivrsync.yaml", "the manifest: providers and prompts"),
    Template(
        "audio/en_US/welcome.wav",
        "welcome.wav",
        "the welcome prompt (WAV A-law, 8 kHz, mono)",
    ),
    Template(
        ".github/workflows/ivrsync.yml",
        "workflow.yml",
        "GitHub Actions: plan on pull requests, apply on main",
    ),
    Template(
        ".gitignore",
        "gitignore",
        "keeps the hash cache, saved plans and the state lock out of git",
        merge_lines=True,
    ),
)


class Action(enum.StrEnum):
    CREATED = "created"
    OVERWRITTEN = "overwritten"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class ScaffoldError(IvrsyncError):
    """The repository cannot be created where asked."""


def starters() -> list[tuple[ProviderType[Any], Starter]]:
    """The provider types `ivrsync init` writes an entry for, the active one first."""
    return [(kind, kind.STARTER) for kind in PROVIDER_TYPES.values() if kind.STARTER is not None]


def _providers_text() -> str:
    """The manifest's `providers:` entries: the first active, the others commented out."""
    (_, active), *others = starters()
    parts = [
        f"  # {active.title}. Settings ending in _env name environment variables: secrets "
        "never go\n  # in this file. Any setting may use ${NAME} or ${NAME:-default}.\n"
        f"  {active.name}:\n{active.settings}"
    ]
    for _, starter in others:
        lines = [f"{starter.name}:\n", *starter.settings.splitlines(keepends=True)]
        parts.append(
            f'\n  # {starter.title}: remove one "# " from the start of each line below to '
            "upload there too.\n" + "".join(f"  # {line.removeprefix('  ')}" for line in lines)
        )
    return "".join(parts).removesuffix("\n")


def _locales_note() -> str:
    kind, _ = starters()[0]
    if kind.LOCALES is None:
        return ""
    return f"; {kind.VENDOR} takes {', '.join(sorted(kind.LOCALES))}"


def content(template: Template) -> bytes:
    data = resources.files(__package__).joinpath(template.resource).read_bytes()
    if template.resource.endswith((".yaml", ".yml")):
        text = data.decode("utf-8")
        text = text.replace("@SCHEMA_URL@", SCHEMA_URL)
        text = text.replace("@IVRSYNC_REQUIREMENT@", REQUIREMENT)
        if "@PROVIDERS@" in text:
            text = text.replace("@PROVIDERS@", _providers_text())
            text = text.replace("@LOCALES@", _locales_note())
        return text.encode("utf-8")
    return data


def conflicts(root: Path) -> list[str]:
    """The files init would overwrite (a `.gitignore` is merged, never overwritten)."""
    return [
        t.target
        for t in TEMPLATES
        if not t.merge_lines and ((root / t.target).exists() or (root / t.target).is_symlink())
    ]


def scaffold(root: Path, *, force: bool = False) -> list[tuple[Template, Action]]:
    """Write the templates under `root` (created if missing); what was done to each.

    Nothing is written when a file would be overwritten without `force`.
    """
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a directory")
    existing = conflicts(root)
    if existing and not force:
        listed = "\n".join(f"  {name}" for name in existing)
        raise ScaffoldError(
            f"{root} already has files ivrsync init would overwrite:\n{listed}\n"
            "Nothing was written. Move them away, or pass --force to overwrite them."
        )
    for template in TEMPLATES:
        if (root / template.target).is_dir():
            raise ScaffoldError(f"{root / template.target} is a directory; move it away")
    done: list[tuple[Template, Action]] = []
    try:
        for template in TEMPLATES:
            done.append((template, _write(root / template.target, template)))
    except OSError as exc:
        raise ScaffoldError(f"cannot write {exc.filename or root}: {exc.strerror}") from None
    return done


def _write(path: Path, template: Template) -> Action:
    data = content(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    if template.merge_lines and path.exists():
        old = path.read_text(encoding="utf-8")
        present = {line.strip() for line in old.splitlines()}
        new_lines = data.decode("utf-8").splitlines()
        wanted = [line for line in new_lines if line.strip() and not line.startswith("#")]
        if all(line in present for line in wanted):
            return Action.UNCHANGED
        missing = [line for line in new_lines if line.startswith("#") or line not in present]
        if old and not old.endswith("\n"):
            old += "\n"
        gap = "\n" if old.strip() else ""
        write_atomically(path, old + gap + "\n".join(missing) + "\n")
        return Action.UPDATED
    existed = path.exists() or path.is_symlink()
    if path.is_symlink():
        path.unlink()  # --force replaces the link, never the file it points to
    write_atomically(path, data)
    return Action.OVERWRITTEN if existed else Action.CREATED
