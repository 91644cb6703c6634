"""`preview`: what callers will hear, written as files a person can play.

For each chosen resource: the audio as it is uploaded (the processed file, or the source when
the manifest declares no processing) and, where that is not the provider's native format, the
provider's own transcode simulated (its NATIVE_AUDIO made from it, as a platform that
transcodes every upload does). No state, no lock, no network: it reads the manifests and
the audio only.
"""

from __future__ import annotations

import difflib
import fnmatch
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivrsync.audio import AudioInfo, probe
from ivrsync.audio_cache import AudioCache
from ivrsync.errors import IvrsyncError, ManifestError
from ivrsync.processing.cache import ProcessedCache
from ivrsync.processing.recipe import Recipe
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.validate import validate_repository


@dataclass(frozen=True)
class Previewed:
    address: str
    path: Path  # what is uploaded
    info: AudioInfo
    processed: bool  # False: the source as it is
    transcoded: Path | None  # the provider's transcode, simulated, when it would make one
    transcoded_info: AudioInfo | None


def preview(
    root: Path,
    addresses: tuple[str, ...],
    out: Path,
    env: Mapping[str, str] | None = None,
) -> list[Previewed]:
    """Write the previews of `addresses` (globs; empty: every resource) into `out`."""
    cache = AudioCache(root)
    processed = ProcessedCache(root, cache.facts)
    report = validate_repository(root, env, cache, processed)
    if report.project is None or not report.valid:
        raise ManifestError(report.shown)
    resources = report.project.resources
    known = [str(r.address) for r in resources]
    for pattern in addresses:
        if not any(fnmatch.fnmatchcase(a, pattern) for a in known):
            near = difflib.get_close_matches(pattern, known, n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise IvrsyncError(
                f"{pattern} matches no resource in the manifests{hint}; addresses are "
                "provider.prompt.locale, globs such as 'name.*' are allowed"
            )
    chosen = [
        r
        for r in resources
        if not addresses or any(fnmatch.fnmatchcase(str(r.address), p) for p in addresses)
    ]
    out.mkdir(parents=True, exist_ok=True)
    written: list[Previewed] = []
    for resource in chosen:
        address = str(resource.address)
        if resource.process is not None:
            made = processed.checked(resource.audio_path, resource.process)
            source, info = made.path, made.info
        else:
            source = root / resource.audio_path
            info = cache.facts(resource.audio_path).info
        path = out / f"{address}.{info.format}"
        shutil.copyfile(source, path)
        native = PROVIDER_TYPES[resource.provider_type].NATIVE_AUDIO
        transcoded = transcoded_info = None
        if not native.matches(info):
            from ivrsync.processing.convert import process_file

            transcoded = out / f"{address}.transcoded.{native.container}"
            transcoded.write_bytes(process_file(path, Recipe(target=native)).data)
            transcoded_info = probe(transcoded)
        written.append(
            Previewed(
                address, path, info, resource.process is not None, transcoded, transcoded_info
            )
        )
    cache.save()
    processed.save()
    return written
