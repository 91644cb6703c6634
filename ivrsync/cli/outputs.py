"""`ivrsync output`: the FileIds IVR flows reference, as JSON, YAML or environment variables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ivrsync.address import ENV_PREFIX, Address
from ivrsync.cli.options import common_options, console
from ivrsync.errors import Problem, Severity
from ivrsync.manifest.loader import read_state_path
from ivrsync.state.operations import FlowFileIds, flow_file_ids
from ivrsync.state.store import LocalStateStore


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
@click.option("--prefix", default=ENV_PREFIX, show_default=True, help="For --format env.")
def output(fmt: str, as_json: bool, approved_only: bool, prefix: str) -> int:
    """The mapping (provider, prompt, locale) -> FileId for IVR flow definitions."""
    out = console()
    state = LocalStateStore(read_state_path(Path.cwd())).read()
    found = flow_file_ids(state, approved_only) if state else FlowFileIds({}, [])
    mapping = found.mapping
    for address, why in found.left_out:
        out.problem(
            Problem("no-file-id", f"{address} has no FileId here: {why}", None, Severity.WARNING)
        )
    fmt = "json" if as_json else fmt
    if fmt == "json":
        out.data(json.dumps(mapping, indent=2, sort_keys=True, ensure_ascii=False))
    elif fmt == "yaml":
        import yaml

        out.data(yaml.safe_dump(mapping, sort_keys=True, allow_unicode=True).rstrip("\n"))
    else:
        lines = [
            f"{Address(provider, prompt, locale).env_name(prefix)}={file_id}"
            for provider, prompts in sorted(mapping.items())
            for prompt, locales in sorted(prompts.items())
            for locale, file_id in sorted(locales.items())
        ]
        if lines:
            out.data("\n".join(lines))
    return 0
