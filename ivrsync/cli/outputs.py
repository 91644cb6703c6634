"""`ivrsync output`: the FileIds IVR flows reference, as JSON, YAML or environment variables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from ivrsync.address import Address
from ivrsync.cli.options import common_options, console
from ivrsync.manifest.loader import read_state_path
from ivrsync.state.model import State
from ivrsync.state.store import LocalStateStore


def file_ids(state: State, approved_only: bool) -> dict[str, dict[str, dict[str, str]]]:
    """provider -> prompt -> locale -> FileId.

    With `approved_only`, the upload flows can use: the current one if approved, else the
    last approved one, else none. A FileId the provider no longer lists is left out.
    """
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    for address, entry in sorted(state.resources.items()):
        if entry.missing_since is not None:
            continue
        file_id: str | None = entry.file_id
        if approved_only and entry.review.status != "approved":
            file_id = entry.last_approved.file_id if entry.last_approved else None
        if file_id is None:
            continue
        where = Address.parse(address)
        mapping.setdefault(where.provider, {}).setdefault(where.prompt, {})[where.locale] = file_id
    return mapping


def env_name(prefix: str, *parts: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", "_".join([prefix.rstrip("_"), *parts]).upper()).strip("_")


@click.command()
@common_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml", "env"]),
    default="json",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--approved-only",
    is_flag=True,
    help="Only FileIds approved in review: the last approved upload where a newer one is "
    "pending or was rejected.",
)
@click.option("--prefix", default="IVRSYNC", show_default=True, help="For --format env.")
def output(fmt: str, as_json: bool, approved_only: bool, prefix: str) -> int:
    """The mapping (provider, prompt, locale) -> FileId for IVR flow definitions."""
    out = console()
    state = LocalStateStore(read_state_path(Path.cwd())).read()
    mapping = file_ids(state, approved_only) if state else {}
    fmt = "json" if as_json else fmt
    if fmt == "json":
        out.data(json.dumps(mapping, indent=2, sort_keys=True, ensure_ascii=False))
    elif fmt == "yaml":
        import yaml

        out.data(yaml.safe_dump(mapping, sort_keys=True, allow_unicode=True).rstrip("\n"))
    else:
        lines = [
            f"{env_name(prefix, provider, prompt, locale)}={file_id}"
            for provider, prompts in sorted(mapping.items())
            for prompt, locales in sorted(prompts.items())
            for locale, file_id in sorted(locales.items())
        ]
        if lines:
            out.data("\n".join(lines))
    return 0
