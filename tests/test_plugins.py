"""Providers from installed packages: tests/plugins/ivrsync-folder (`type: folder`) is installed
with pip into a temporary target, and the real CLI plans and applies with it, through update in
place, forget and opt-in delete; plug-ins that cannot be used are named, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import REPO_ROOT
from tests.repo_factory import distinct_wav

pytestmark = pytest.mark.xdist_group("plugins")

PLUGIN = REPO_ROOT / "tests" / "plugins" / "ivrsync-folder"

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _cli(site: Path, cwd: Path) -> Cli:
    """`ivrsync ARGS` as a user runs it, with `site` on the path (as if installed there)."""
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["NO_COLOR"] = "1"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ivrsync", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plug-in, installed once for the module: offline, no build dependency."""
    root = tmp_path_factory.mktemp("plugin")
    source = root / "ivrsync-folder"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("__pycache__"))
    target = root / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return target


def _manifest(directory: Path, prompts: dict[str, str], extra: str = "") -> str:
    listed = "".join(
        f"  {name}:\n    audio:\n      en_US: {audio}\n" for name, audio in prompts.items()
    )
    return (
        textwrap.dedent(
            f"""\
            version: 1
            providers:
              f:
                type: folder
                directory: {directory}
            prompts:
            """
        )
        + listed
        + extra
    )


def _index(directory: Path) -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = json.loads((directory / "index.json").read_text())["files"]
    return files


def _plan_json(cli: Cli) -> dict[str, Any]:
    result = cli("plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)
    schema = json.loads((REPO_ROOT / "schema" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(plan)
    return plan


def _actions(plan: dict[str, Any]) -> dict[str, str]:
    return {change["address"]: change["action"] for change in plan["changes"]}


def _apply(cli: Cli) -> str:
    result = cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _file_ids(cli: Cli) -> dict[str, str]:
    result = cli("output", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {
        f"f.{prompt}.{locale}": file_id
        for prompt, locales in json.loads(result.stdout).get("f", {}).items()
        for locale, file_id in locales.items()
    }


def test_a_provider_from_an_installed_package_plans_updates_and_deletes(
    site: Path, tmp_path: Path
) -> None:
    repo, store = tmp_path / "repo", tmp_path / "store"
    (repo / "audio").mkdir(parents=True)
    for number, name in enumerate(["welcome", "bye", "hold"]):
        (repo / "audio" / f"{name}.wav").write_bytes(distinct_wav(number))
    prompts = {name: f"audio/{name}.wav" for name in ["welcome", "bye", "hold"]}
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(_manifest(store, prompts))
    cli = _cli(site, repo)

    validated = cli("validate")
    assert validated.returncode == 0, validated.stderr
    assert "3 resources, 1 provider" in validated.stdout
    assert set(_actions(_plan_json(cli)).values()) == {"create"}
    _apply(cli)
    ids = _file_ids(cli)
    assert set(ids) == {"f.welcome.en_US", "f.bye.en_US", "f.hold.en_US"}
    index = _index(store)
    assert set(index) == set(ids.values())
    for address, file_id in ids.items():
        prompt = address.split(".")[1]
        assert index[file_id]["name"] == f"{prompt}.en_US"
        stored = store / index[file_id]["file"]
        assert stored.read_bytes() == (repo / "audio" / f"{prompt}.wav").read_bytes()

    # New audio: updated in place, the FileId stays and the folder holds the new bytes.
    (repo / "audio" / "welcome.wav").write_bytes(distinct_wav(7))
    assert _actions(_plan_json(cli)) == {"f.welcome.en_US": "update"}
    applied = _apply(cli)  # apply shows the plan it applies, as `plan` does
    assert f"will be updated in place: FileId {ids['f.welcome.en_US']} kept" in applied
    assert "~ f.welcome.en_US" in applied
    assert "1 updated" in applied
    assert _file_ids(cli) == ids
    welcome = store / _index(store)[ids["f.welcome.en_US"]]["file"]
    assert welcome.read_bytes() == distinct_wav(7)

    # A new remote name: updated in place, no new bytes.
    before = (store / _index(store)[ids["f.bye.en_US"]]["file"]).stat()
    manifest.write_text(manifest.read_text().replace("  bye:\n", "  bye:\n    remote_name: ciao\n"))
    plan_json = _plan_json(cli)
    assert _actions(plan_json) == {"f.bye.en_US": "update"}
    (change,) = plan_json["changes"]
    assert [r["attribute"] for r in change["reasons"]] == ["remote_name"]
    assert "~ remote_name: bye.en_US -> ciao.en_US" in _apply(cli)
    bye = _index(store)[ids["f.bye.en_US"]]
    assert bye["name"] == "ciao.en_US"
    assert (store / bye["file"]).stat().st_mtime_ns == before.st_mtime_ns

    # A prompt gone from the manifests is forgotten by default: its file stays.
    hold = "  hold:\n    audio:\n      en_US: audio/hold.wav\n"
    manifest.write_text(manifest.read_text().replace(hold, ""))
    assert _actions(_plan_json(cli)) == {"f.hold.en_US": "forget"}
    assert "f.hold.en_US will be forgotten: the remote file stays" in _apply(cli)
    assert ids["f.hold.en_US"] in _index(store)

    # Deleted only where `removed:` opts in; the plan says so loudly, in text and JSON.
    welcome_prompt = "  welcome:\n    audio:\n      en_US: audio/welcome.wav\n"
    manifest.write_text(
        manifest.read_text().replace(welcome_prompt, "")
        + 'removed:\n  - from: "f.*"\n    delete: true\n'
    )
    plan_json = _plan_json(cli)
    assert _actions(plan_json) == {"f.welcome.en_US": "delete"}
    assert plan_json["summary"]["delete"] == 1
    applied = _apply(cli)
    assert f"# f.welcome.en_US will be DELETED: FileId {ids['f.welcome.en_US']}" in applied
    assert "!!! f.welcome.en_US" in applied
    assert "1 TO DELETE." in applied
    assert "f.welcome.en_US: deleted from f" in applied
    assert _file_ids(cli) == {"f.bye.en_US": ids["f.bye.en_US"]}
    assert set(_index(store)) == {ids["f.bye.en_US"], ids["f.hold.en_US"]}
    assert not welcome.exists()
    assert "No changes." in cli("plan").stdout

    # Deleted outside ivrsync, found by refresh, then removed: nothing is left to delete.
    index_file = store / "index.json"
    stored = json.loads(index_file.read_text())
    del stored["files"][ids["f.bye.en_US"]]
    index_file.write_text(json.dumps(stored))
    refreshed = cli("refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    bye_prompt = "  bye:\n    remote_name: ciao\n    audio:\n      en_US: audio/bye.wav\n"
    assert bye_prompt in manifest.read_text()
    gone = manifest.read_text().replace(bye_prompt, "")
    manifest.write_text(gone.replace("prompts:\nremoved:", "prompts: {}\nremoved:"))
    plan_json = _plan_json(cli)
    assert _actions(plan_json) == {"f.bye.en_US": "forget"}
    assert "no longer lists FileId" in plan_json["changes"][0]["reasons"][0]["message"]

    # The plug-in uninstalled: a manifest naming its type says what to do, and what the state
    # holds of it is forgotten once its provider is gone from the manifests.
    without = _cli(tmp_path / "nothing-installed", repo)
    result = without("validate")
    assert result.returncode == 1
    assert (
        "ivrsync.yaml:4:11: error: providers.f: unknown type 'folder'; allowed: 'huawei-aicc', "
        "'tencent-ccc', 'amazon-connect' (or a type of a provider plug-in: install its package; "
        "docs/plugins.md)"
    ) in result.stderr
    manifest.write_text(
        "version: 1\nproviders:\n  h:\n    type: huawei-aicc\n"
        "    endpoint: https://aicc.example.com\nprompts: {}\n"
    )
    assert "f.bye.en_US will be forgotten: the remote file stays" in _apply(without)
    assert _file_ids(without) == {}


def _fake_distribution(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """An installed distribution as pip leaves one: a dist-info with its entry points."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[ivrsync.providers]\n{entry_points}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


@pytest.mark.parametrize(
    ("provider_type", "message"),
    [
        (
            "broken",
            "providers.p: the provider plug-in 'broken' of ivrsync-broken 0.1 (entry point "
            "'ivrsync_broken') cannot be imported: ModuleNotFoundError: No module named "
            "'requests_folder'",
        ),
        (
            "partial",
            "providers.p: the provider plug-in 'partial' of ivrsync-partial 0.1 (entry point "
            "'ivrsync_partial') cannot be used: it lacks CAN_DELETE, CAN_LIST",
        ),
        (
            "renamed",
            "providers.p: the provider plug-in 'renamed' of ivrsync-misfits 0.1 (entry point "
            "'ivrsync_folder') cannot be used: its TYPE is 'folder', and its entry point names "
            "it 'renamed'",
        ),
        (
            "copied",
            "providers.p: the provider plug-in 'copied' of ivrsync-misfits 0.1 (entry point "
            "'ivrsync_copied') cannot be used: its SETTINGS must declare "
            '`type: Literal["copied"]`',
        ),
        (
            "oldstyle",
            "providers.p: the provider plug-in 'oldstyle' of ivrsync-misfits 0.1 (entry point "
            "'ivrsync_oldstyle') cannot be used: its REVIEW_CALLBACKS must be None or "
            '"module:attribute", not True',
        ),
        (
            "tencent-ccc",
            "providers.p: the provider type 'tencent-ccc' is declared by both ivrsync (built in) "
            "and ivrsync-clash 0.1: uninstall one of them",
        ),
        (
            "folder",
            "providers.p: the provider type 'folder' is declared by both ivrsync-folder 1.0.0 "
            "and ivrsync-folder-copy 0.1: uninstall one of them",
        ),
    ],
)
def test_a_plugin_that_cannot_be_used_is_named_and_the_others_work(
    site: Path, tmp_path: Path, provider_type: str, message: str
) -> None:
    plugins = tmp_path / "plugins"
    _fake_distribution(
        plugins,
        "ivrsync-broken",
        "broken = ivrsync_broken",
        {"ivrsync_broken": "import requests_folder\n"},
    )
    _fake_distribution(
        plugins,
        "ivrsync-partial",
        "partial = ivrsync_partial",
        {"ivrsync_partial": "TYPE = 'partial'\nVENDOR = 'Partial'\n"},
    )
    _fake_distribution(plugins, "ivrsync-clash", "tencent-ccc = ivrsync_folder", {})
    # A wrong SETTINGS would break the manifest's union of every provider's settings.
    _fake_distribution(
        plugins,
        "ivrsync-misfits",
        "renamed = ivrsync_folder\ncopied = ivrsync_copied\noldstyle = ivrsync_oldstyle",
        {
            "ivrsync_copied": "from ivrsync_folder import *\nTYPE = 'copied'\n",
            # REVIEW_CALLBACKS was a boolean before it named the callback format.
            "ivrsync_oldstyle": "from ivrsync_folder import *\nTYPE = 'oldstyle'\n"
            "REVIEW_CALLBACKS = True\n",
        },
    )
    if provider_type == "folder":
        _fake_distribution(plugins, "ivrsync-folder-copy", "folder = ivrsync_folder", {})
    repo = tmp_path / "repo"
    repo.mkdir()
    cli = _cli(Path(f"{site}{os.pathsep}{plugins}"), repo)

    (repo / "ivrsync.yaml").write_text(
        f"version: 1\nproviders:\n  p:\n    type: {provider_type}\nprompts: {{}}\n"
    )
    result = cli("validate")
    assert result.returncode == 1
    assert f"ivrsync.yaml:4:11: error: {message}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr

    # The built-in types, and the plug-in that works, are unaffected.
    folder = "" if provider_type == "folder" else f"  f:\n    type: folder\n    directory: {repo}\n"
    (repo / "ivrsync.yaml").write_text(
        "version: 1\nproviders:\n"
        "  h:\n    type: huawei-aicc\n    endpoint: https://aicc.example.com\n"
        f"{folder}prompts: {{}}\n"
    )
    result = cli("validate")
    assert result.returncode == 0, result.stderr
    assert "Valid:" in result.stdout
