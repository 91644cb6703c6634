"""The manifest files `fmt` formats, read and written as files (atomically)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ivrsync.errors import ManifestError, Problem
from ivrsync.files import write_atomically
from ivrsync.manifest.format.text import format_text
from ivrsync.manifest.schema import ROOT_FILE
from ivrsync.manifest.yaml_source import YamlLoadError, load_yaml_file


@dataclass(frozen=True)
class Formatted:
    """One manifest before and after formatting."""

    path: Path
    display_path: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def format_file(path: Path, display_path: str) -> Formatted:
    """Format one file in memory; raises ManifestError (with file:line) if it cannot be."""
    try:
        load_yaml_file(path, display_path)  # the same problems as validate: encoding, syntax
    except YamlLoadError as exc:
        raise ManifestError(exc.problems) from None
    raw = path.read_bytes()
    before = raw.decode("utf-8")
    return Formatted(path, display_path, before, format_text(before, display_path))


def write_formatted(formatted: Formatted) -> None:
    """Replace the file with its formatted text, atomically, keeping its permissions."""
    write_atomically(formatted.path.resolve(), formatted.after)  # through a link: its target


def manifest_files(root: Path) -> list[tuple[Path, str]]:
    """`ivrsync.yaml` under `root` and the files its `include:` globs match, each with its
    path relative to `root`. Globs that are invalid or match nothing are skipped: validate
    reports them, and so are the includes of a root that does not parse. Raises
    ManifestError if there is no root manifest."""
    root = Path(os.path.abspath(root))  # noqa: PTH100 - as the loader: symlinks checked below
    root_file = root / ROOT_FILE
    if not root_file.is_file():
        hint = " (found ivrsync.yml: rename it)" if (root / "ivrsync.yml").exists() else ""
        raise ManifestError(
            [
                Problem(
                    "no-manifest",
                    f"no {ROOT_FILE} in {root}{hint}; run in a prompt repository or pass -C DIR",
                )
            ]
        )
    files = [(root_file, ROOT_FILE)]
    try:
        data = load_yaml_file(root_file, ROOT_FILE).data
    except YamlLoadError:
        return files  # formatting it reports why
    patterns = data.get("include") if isinstance(data, dict) else None
    real_root = root.resolve()
    for pattern in patterns if isinstance(patterns, list) else []:
        if not isinstance(pattern, str) or not pattern.strip() or "\0" in pattern:
            continue
        if Path(pattern).is_absolute() or "\\" in pattern:
            continue
        # glob.glob takes root_dir, which Path.glob does not (as in the loader).
        for match in sorted(glob.glob(pattern, root_dir=root, recursive=True)):  # noqa: PTH207
            path = Path(os.path.normpath(root / match))
            if not path.is_file() or not path.resolve().is_relative_to(real_root):
                continue
            if not path.is_relative_to(root):
                continue
            entry = (path, path.relative_to(root).as_posix())
            if entry not in files:
                files.append(entry)
    return files
