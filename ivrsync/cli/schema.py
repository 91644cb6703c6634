"""`ivrsync schema`: the JSON Schema editors use to check manifests as they are typed, and
those of the plan and apply result that CI and other programs read."""

from __future__ import annotations

import json
from typing import Any, Literal, cast

import click

from ivrsync.cli.options import common_options, console

SchemaKind = Literal["root", "prompts", "plan", "apply-result"]


def schema_text(kind: SchemaKind) -> str:
    from ivrsync.contracts import output_schema
    from ivrsync.manifest.schema import json_schema

    schema: dict[str, Any] = (
        output_schema(kind)
        if kind in ("plan", "apply-result")
        else json_schema(cast('Literal["root", "prompts"]', kind))
    )
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@click.command()
@common_options
@click.option(
    "--kind",
    type=click.Choice(["root", "prompts", "plan", "apply-result"]),
    default="root",
    show_default=True,
    help=(
        "root: ivrsync.yaml; prompts: a file named by `include:`; plan: a saved plan "
        "(docs/plan-format.md); apply-result: `apply --json` (docs/apply-result.md)."
    ),
)
def schema(kind: SchemaKind) -> int:
    """Print the JSON Schema of the manifest, or of the plan or apply result."""
    console().data(schema_text(kind).rstrip("\n"))
    return 0
