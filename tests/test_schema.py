"""The JSON Schema editors use must match the models and accept what ivrsync accepts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ivrsync.cli.schema import schema_text
from ivrsync.manifest.yaml_source import load_yaml_file
from tests.conftest import EXAMPLES, REPO_ROOT, RunCli
from tests.test_plan_serialization import sample_plan

SCHEMAS = {
    "root": "schema/ivrsync.schema.json",
    "prompts": "schema/prompts.schema.json",
    "plan": "schema/plan.schema.json",
    "apply-result": "schema/apply-result.schema.json",
}


@pytest.mark.parametrize(("kind", "path"), SCHEMAS.items())
def test_committed_schema_matches_the_models(kind: str, path: str) -> None:
    committed = (REPO_ROOT / path).read_text()
    assert committed == schema_text(kind), f"run `make schema` to update {path}"  # type: ignore[arg-type]


def test_schema_command_prints_the_root_schema(run_cli: RunCli) -> None:
    code, out, _ = run_cli("schema")
    assert code == 0
    assert json.loads(out) == json.loads(schema_text("root"))


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((REPO_ROOT / SCHEMAS[kind]).read_text())
    return jsonschema.Draft202012Validator(schema)


def _example(path: Path) -> Any:
    return load_yaml_file(path, path.name).data


def test_schema_accepts_the_examples() -> None:
    _validator("root").validate(_example(EXAMPLES / "ivrsync.yaml"))
    for included in (EXAMPLES / "prompts").glob("*.yaml"):
        _validator("prompts").validate(_example(included))


def test_schema_rejects_unknown_keys_and_bad_voice_types() -> None:
    manifest = _example(EXAMPLES / "ivrsync.yaml")
    manifest["prompts"]["welcome"]["colour"] = "blue"
    assert list(_validator("root").iter_errors(manifest))
    manifest = _example(EXAMPLES / "ivrsync.yaml")
    manifest["defaults"]["voice_type"] = "music"
    assert list(_validator("root").iter_errors(manifest))


def test_every_example_manifest_names_its_schema_in_a_modeline() -> None:
    manifests = [EXAMPLES / "ivrsync.yaml", *(EXAMPLES / "prompts").glob("*.yaml")]
    for manifest in manifests:
        first = manifest.read_text().splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, f"{manifest} lacks a yaml-language-server modeline"
        target = (manifest.parent / match.group(1)).resolve()
        expected = "ivrsync" if manifest.name == "ivrsync.yaml" else "prompts"
        assert target == (REPO_ROOT / SCHEMAS["root" if expected == "ivrsync" else "prompts"])


def test_the_plan_schema_is_a_contract_for_its_major_version(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """A real plan validates; so does one with fields a later 1.x adds; a 2.x does not."""
    shutil.copytree(EXAMPLES, tmp_path / "repo", ignore=shutil.ignore_patterns(".ivrsync"))
    code, out, err = run_cli("-C", str(tmp_path / "repo"), "plan", "--json", "--target", "ccc.*")
    assert code == 0, err
    plan = json.loads(out)
    validator = _validator("plan")
    validator.validate(plan)
    validator.validate(json.loads(sample_plan().to_json()))
    plan["format_version"] = "1.9"
    plan["audio_details"] = {"seconds": 1.5}
    plan["changes"][0]["provider_settings_diff"] = []
    validator.validate(plan)
    plan["format_version"] = "2.0"
    assert list(validator.iter_errors(plan))
