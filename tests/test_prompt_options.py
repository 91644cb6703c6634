"""A provider type's prompt-level settings (PROMPT_OPTIONS) reach the manifest and its uploads
through the registry: a new one needs no edit of the manifest's models or the loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO_ROOT

# Run in a fresh interpreter: the manifest's models are built from the registry at import, so
# the option is declared (as a provider module would) before `ivrsync.manifest` is imported.
_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from typing import Literal

    from ivrsync.providers import tencent_ccc
    from ivrsync.settings import PromptOption

    tencent_ccc.PROMPT_OPTIONS = {
        "priority": PromptOption(Literal["high", "low"], "low", "how urgent the prompt is"),
    }
    from ivrsync.errors import ManifestError
    from ivrsync.manifest.loader import load_project
    from ivrsync.manifest.schema import json_schema

    try:
        project = load_project(Path(sys.argv[1]), {})
    except ManifestError as e:
        print(json.dumps({"errors": [str(p) for p in e.problems]}))
    else:
        prompt = json_schema()["$defs"]["PromptSpec"]["properties"]
        print(json.dumps({
            "options": {str(r.address): dict(r.options) for r in project.resources},
            "prompt_keys": list(prompt),
            "default": json_schema()["$defs"]["Defaults"]["properties"]["priority"],
        }))
    """
)


def _load(tmp_path: Path, prompts: str) -> dict[str, object]:
    (tmp_path / "a.wav").write_bytes((REPO_ROOT / "tests/data/alaw_8k_mono.wav").read_bytes())
    (tmp_path / "ivrsync.yaml").write_text(
        "version: 1\n"
        "providers:\n"
        "  ccc:\n"
        "    type: tencent-ccc\n"
        "    sdk_app_id: 1400000000\n"
        "    audio_source: {type: url, template: 'https://cdn.example.com/{path}'}\n"
        "prompts:\n" + prompts
    )
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_declared_prompt_option_is_a_manifest_key_and_reaches_the_upload(
    tmp_path: Path,
) -> None:
    result = _load(
        tmp_path,
        "  welcome:\n    priority: high\n    audio: {en_US: a.wav}\n"
        "  bye:\n    audio: {en_US: a.wav}\n",
    )
    assert result["options"] == {
        "ccc.welcome.en_US": {"priority": "high"},
        "ccc.bye.en_US": {"priority": "low"},  # the default's value
    }
    # In the schema editors use, after `providers`, as the core's own keys are ordered.
    assert result["prompt_keys"] == [
        "description",
        "audio",
        "providers",
        "voice_type",
        "priority",
        "remote_name",
        "process",
        "acknowledge",
    ]
    assert result["default"] == {
        "default": "low",
        "description": "how urgent the prompt is",
        "enum": ["high", "low"],
        "title": "Priority",
        "type": "string",
    }


def test_a_bad_prompt_option_is_reported_at_its_line(tmp_path: Path) -> None:
    result = _load(tmp_path, "  welcome:\n    priority: urgent\n    audio: {en_US: a.wav}\n")
    assert result["errors"] == [
        "ivrsync.yaml:9:15: error: prompts.welcome.priority: must be one of 'high' or 'low' "
        "(got 'urgent')"
    ]
