"""JSON Schemas of what ivrsync writes for machines: the plan and the apply result.

Generated from their models (committed under schema/ by `make schema`), with two changes that
make them contracts rather than snapshots of this version: an object may carry fields a later
minor version adds (readers ignore what they do not know), and `format_version` must be of
the major version this ivrsync writes (a new major may change anything).
"""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["plan", "apply-result"]
KINDS: tuple[Kind, ...] = ("plan", "apply-result")


def output_schema(kind: Kind) -> dict[str, Any]:
    from pydantic import BaseModel

    from ivrsync.apply.report import APPLY_RESULT_FORMAT_VERSION, ApplyReport
    from ivrsync.plan.model import PLAN_FORMAT_VERSION, Plan

    model: type[BaseModel]
    model, version = (
        (Plan, PLAN_FORMAT_VERSION)
        if kind == "plan"
        else (ApplyReport, APPLY_RESULT_FORMAT_VERSION)
    )
    schema: dict[str, Any] = _open(model.model_json_schema(mode="serialization"))
    major = version.split(".", maxsplit=1)[0]
    schema["properties"]["format_version"] = {
        "description": f"MAJOR.MINOR; this schema describes {major}.x (written: {version})",
        "pattern": rf"^{major}\.[0-9]+$",
        "type": "string",
    }
    if "format_version" not in schema.get("required", []):
        schema["required"] = ["format_version", *schema.get("required", [])]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _open(node: Any) -> Any:
    """The schema with every `additionalProperties: false` dropped: fields are added within
    a major version."""
    if isinstance(node, dict):
        return {k: _open(v) for k, v in node.items() if (k, v) != ("additionalProperties", False)}
    if isinstance(node, list):
        return [_open(item) for item in node]
    return node
