"""`output` shown: the mapping provider -> prompt -> locale -> FileId as JSON, YAML or
environment variables (docs/cli.md)."""

from __future__ import annotations

import json

from ivrsync.address import Address
from ivrsync.state.operations import FlowFileIds

FORMATS = ["json", "yaml", "env"]


def outputs_text(found: FlowFileIds, fmt: str, prefix: str) -> str | None:
    """The mapping in `fmt`; None when there is nothing to write (env with no FileId)."""
    mapping = found.mapping
    if fmt == "json":
        return json.dumps(mapping, indent=2, sort_keys=True, ensure_ascii=False)
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(mapping, sort_keys=True, allow_unicode=True).rstrip("\n")
    lines = [
        f"{Address(provider, prompt, locale).env_name(prefix)}={file_id}"
        for provider, prompts in sorted(mapping.items())
        for prompt, locales in sorted(prompts.items())
        for locale, file_id in sorted(locales.items())
    ]
    return "\n".join(lines) if lines else None
