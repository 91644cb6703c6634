"""`ivrsync schema`: the JSON Schema editors use to check manifests as they are typed."""

from __future__ import annotations

import json
from typing import Literal

import click

from ivrsync.cli.options import common_options, console


def schema_text(kind: Literal["root", "prompts"]) -> str:
    from ivrsync.manifest.schema import json_schema

    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@click.command()
@common_options
@click.option(
    "--kind",
    type=click.Choice(["root", "prompts"]),
    default="root",
    show_default=True,
    help="root: ivrsync.yaml; prompts: a file named by `include:`.",
)
def schema(kind: Literal["root", "prompts"]) -> int:
    """Print the JSON Schema of the manifest."""
    console().data(schema_text(kind).rstrip("\n"))
    return 0
