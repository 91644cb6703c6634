"""`ivrsync init`: a prompt repository that validates and plans at once, with no edits."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pydantic import BaseModel

from ivrsync import REPOSITORY, __version__
from ivrsync.audio import probe
from ivrsync.providers import PROVIDER_TYPES, huawei_aicc
from ivrsync.providers.base import Starter
from ivrsync.scaffold import SCHEMA_URL, TEMPLATES, content
from ivrsync.settings import S3AudioSource, UrlAudioSource
from tests.conftest import RunCli

CREATED = [
    "ivrsync.yaml",
    "audio/en_US/welcome.wav",
    ".github/workflows/ivrsync.yml",
    ".gitignore",
]


@pytest.fixture(autouse=True)
def _no_provider_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh repository must work with nothing set: no credentials, no overrides."""
    for name in (
        "AICC_ENDPOINT",
        "AICC_APP_KEY",
        "AICC_APP_SECRET",
        "CCC_SDK_APP_ID",
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_init_in_an_empty_folder_then_validate_and_plan_succeed(
    run_cli: RunCli, tmp_path: Path
) -> None:
    repo = tmp_path / "prompts"
    code, out, err = run_cli("init", str(repo))
    assert code == 0, err
    assert out == ""  # messages only, on stderr
    for name in CREATED:
        assert (repo / name).is_file(), name
        assert name in err
    assert "Next steps" in err
    assert f"cd {repo}" in err

    code, out, err = run_cli("-C", str(repo), "validate")
    assert (code, out, err) == (0, "Valid: 1 prompt, 1 resource, 1 provider.\n", "")
    code, out, err = run_cli("-C", str(repo), "plan")
    assert code == 0, err
    assert "+ aicc.welcome.en_US" in out
    assert "Plan: 1 to upload, 0 to replace, 0 to forget." in out
    code, out, err = run_cli("-C", str(repo), "fmt", "--check")
    assert (code, out) == (0, ""), err


def test_init_defaults_to_the_current_directory(run_cli: RunCli, tmp_path: Path) -> None:
    code, _, err = run_cli("init")
    assert code == 0, err
    assert (tmp_path / "ivrsync.yaml").is_file()
    assert "in the current directory" in err
    assert "\n  cd " not in err


def test_init_refuses_to_overwrite_and_lists_what_is_in_the_way(
    run_cli: RunCli, tmp_path: Path
) -> None:
    (tmp_path / "ivrsync.yaml").write_text("mine\n")
    (tmp_path / "audio/en_US").mkdir(parents=True)
    (tmp_path / "audio/en_US/welcome.wav").write_bytes(b"my recording")
    code, out, err = run_cli("init")
    assert code == 1
    assert out == ""
    assert "ivrsync.yaml" in err
    assert "audio/en_US/welcome.wav" in err
    assert "--force" in err
    assert "Traceback" not in err
    assert (tmp_path / "ivrsync.yaml").read_text() == "mine\n"
    assert (tmp_path / "audio/en_US/welcome.wav").read_bytes() == b"my recording"
    assert not (tmp_path / ".github").exists()  # nothing written at all
    assert not (tmp_path / ".gitignore").exists()


def test_force_overwrites(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "ivrsync.yaml").write_text("mine\n")
    code, _, err = run_cli("init", "--force")
    assert code == 0, err
    assert re.search(r"overwritten +ivrsync\.yaml", err)
    assert re.search(r"created +\.gitignore", err)
    assert (tmp_path / "ivrsync.yaml").read_bytes() == content(TEMPLATES[0])
    code, _, err = run_cli("validate")
    assert code == 0, err


def test_an_existing_gitignore_is_merged_not_overwritten(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n*.plan.json")
    code, _, err = run_cli("init")
    assert code == 0, err
    assert re.search(r"updated +\.gitignore", err)
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", "*.plan.json"]
    assert lines.count("*.plan.json") == 1
    assert ".ivrsync/" in lines
    code, _, err = run_cli("init", "--force")
    assert re.search(r"unchanged +\.gitignore", err)
    assert (tmp_path / ".gitignore").read_text().splitlines() == lines


def test_init_into_a_file_is_a_clear_error(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    code, _, err = run_cli("init", "taken")
    assert code == 1
    assert "Error:" in err
    assert "Traceback" not in err


# --- What the files hold -------------------------------------------------------------------


def test_the_manifest_names_its_schema_in_a_modeline() -> None:
    text = content(TEMPLATES[0]).decode()
    first = text.splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA_URL}"
    assert SCHEMA_URL.startswith("https://raw.githubusercontent.com/")
    assert SCHEMA_URL.endswith("/schema/ivrsync.schema.json")
    assert "@SCHEMA_URL@" not in text


def test_every_provider_setting_is_shown_with_an_explanation() -> None:
    text = content(TEMPLATES[0]).decode()
    models: list[type[BaseModel]] = [p.SETTINGS for p in PROVIDER_TYPES.values()]
    models += [UrlAudioSource, S3AudioSource]
    for model in models:
        for key in model.model_fields:
            assert re.search(rf"^[ #]*{key}:", text, re.MULTILINE), (model.__name__, key)
    ccc = text[text.index("  # ccc:") :]
    ccc_settings = [line for line in ccc.splitlines() if re.match(r"  #   \w+:", line)]
    assert all("#" in line[5:] for line in ccc_settings if "audio_source" not in line[:20])


def uncomment_ccc(text: str) -> str:
    lines = text.splitlines(keepends=True)
    start = lines.index("  # ccc:\n")
    end = start
    while lines[end].startswith("  # "):
        end += 1
    block = [line.replace("  # ", "  ", 1) for line in lines[start:end]]
    return "".join(lines[:start] + block + lines[end:])


@pytest.mark.parametrize("source", ["url", "s3"])
def test_the_tencent_block_validates_once_uncommented(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    run_cli("init")
    text = uncomment_ccc((tmp_path / "ivrsync.yaml").read_text())
    if source == "s3":
        text = re.sub(r"(?m)^      type: url.*\n^      template: .*\n", "", text)
        text = re.sub(r"(?m)^      # (?!Or )", "      ", text)
        assert re.search(r"(?m)^      type: s3\b", text)
    (tmp_path / "ivrsync.yaml").write_text(text)
    monkeypatch.setenv("CCC_SDK_APP_ID", "1400000001")
    code, out, err = run_cli("validate")
    assert (code, out) == (0, "Valid: 1 prompt, 2 resources, 2 providers.\n"), err
    code, _, err = run_cli("fmt", "--check")
    assert code == 0, err


def test_the_scaffolded_audio_probes_as_alaw_8k_mono(run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("init")
    info = probe(tmp_path / "audio/en_US/welcome.wav")
    assert (info.format, info.codec, info.sample_rate, info.channels) == ("wav", "alaw", 8000, 1)
    assert huawei_aicc.is_native(info)  # so validate has nothing to warn about
    assert info.size < 20_000
    assert 0.5 < info.duration < 5


def test_the_workflow_plans_pull_requests_and_applies_the_default_branch() -> None:
    [workflow] = [t for t in TEMPLATES if t.target.startswith(".github/")]
    text = content(workflow).decode()
    data = yaml.safe_load(text)
    triggers = data[True]  # YAML 1.1 reads the key `on` as true; GitHub reads it as "on"
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"] == {"branches": ["main"]}
    assert data["permissions"] == {}
    plan, apply = data["jobs"]["plan"], data["jobs"]["apply"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert plan["permissions"] == {"contents": "read"}
    plan_runs = [step.get("run", "") for step in plan["steps"]]
    assert "ivrsync validate" in plan_runs
    assert any(run.startswith("ivrsync plan") for run in plan_runs)
    assert "secrets." not in yaml.safe_dump(plan)  # plan needs no credentials
    assert apply["if"] == (
        "github.event_name == 'push' && "
        "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    )
    assert apply["permissions"] == {"contents": "write"}
    assert apply["environment"] == "ivrsync"
    apply_runs = [step.get("run", "") for step in apply["steps"]]
    assert "ivrsync apply --auto-approve" in apply_runs
    assert "python -m ivrsync.ci.github commit-state" in apply_runs
    assert "git push" not in text  # the state goes through commit-state: retried, state only
    assert "@IVRSYNC_REQUIREMENT@" not in text


def test_the_workflow_installs_this_release_from_its_repository() -> None:
    """Never a bare or unpinned name: whoever registers it on a package index would run with
    the production credentials."""
    [workflow] = [t for t in TEMPLATES if t.target.startswith(".github/")]
    text = content(workflow).decode()
    installs = re.findall(r"pip install (.*)", text)
    assert len(installs) == 2  # one per job
    wanted = f'"ivrsync @ git+https://github.com/{REPOSITORY}@v{__version__}"'
    assert set(installs) == {wanted}
    for line in text.splitlines():
        if "uses:" in line:  # every action pinned to a full commit, its release named
            assert re.search(r"uses: [\w-]+/[\w-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_the_gitignore_keeps_the_cache_and_plans_out() -> None:
    [gitignore] = [t for t in TEMPLATES if t.target == ".gitignore"]
    lines = content(gitignore).decode().splitlines()
    assert ".ivrsync/" in lines
    assert "*.plan.json" in lines
    assert "ivrsync.state.json" not in lines  # the state is committed


def test_each_registered_provider_type_brings_its_starter_entry(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider module's STARTER is in the manifest init writes, commented out after the
    first one's, and init says what it needs: no edit of the scaffold."""
    starter = Starter(
        title="Echo Cloud",
        name="echo",
        settings="    type: echo  # the provider\n    # speed: 2  # how fast it echoes\n",
        to_upload="set ECHO_KEY",
    )
    monkeypatch.setitem(PROVIDER_TYPES, "echo", SimpleNamespace(STARTER=starter))
    code, _, err = run_cli("init")
    assert code == 0, err
    text = (tmp_path / "ivrsync.yaml").read_text()
    assert (
        '  # Echo Cloud: remove one "# " from the start of each line below to upload there '
        "too.\n"
        "  # echo:\n"
        "  #   type: echo  # the provider\n"
        "  #   # speed: 2  # how fast it echoes\n"
        "\n# More prompts"
    ) in text
    assert text.index("  # ccc:") < text.index("  # echo:")
    assert (
        "To use Echo Cloud as well, uncomment the echo block in ivrsync.yaml (set ECHO_KEY to "
        "upload there)." in " ".join(err.split())
    )
