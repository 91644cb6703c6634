"""`ivrsync fmt`: one canonical order and style, every comment kept, nothing else changed."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ivrsync.errors import ManifestError
from ivrsync.manifest.format.layout import comment_texts
from ivrsync.manifest.format.order import (
    AUDIO_SOURCE_ORDER,
    PROMPT_ORDER,
    PROVIDER_ORDER,
    ROOT_ORDER,
    canonical_keys,
)
from ivrsync.manifest.format.text import format_text
from ivrsync.manifest.schema import PromptsFile
from ivrsync.manifest.yaml_source import parse_yaml
from ivrsync.providers import PROVIDER_TYPES
from tests.conftest import DATA, EXAMPLES, RunCli
from tests.test_fuzz_manifests import Case, mutated

SCRAMBLED = """\
prompts:   # the prompts
    # Welcome comes first
    welcome:
        audio:    # one file per locale
            zh_CN: audio/zh_CN/welcome.wav   # Mandarin
            # English
            en_US: audio/en_US/welcome.wav
        # why this prompt exists
        description: Greeting
        voice_type: ivr
        providers: [aicc]


    goodbye:
        audio: {en_US: audio/en_US/goodbye.wav}
        description: "Bye: see you"
# yaml-language-server: $schema=schema/ivrsync.schema.json
providers:
    aicc:
        endpoint: https://service.besclouds.com   # the tenant's gateway
        type: huawei-aicc
        # slower than the documented limit
        rate_limit: 5
        # callback_url: https://example.com/cb
    # ccc:
    #   type: tencent-ccc
    #   sdk_app_id: 1400000000
version: 1    \n\
moved:
- to: welcome
  from: hello    # renamed in May
# end of the file
"""

FORMATTED = """\
# yaml-language-server: $schema=schema/ivrsync.schema.json
version: 1
providers:
  aicc:
    type: huawei-aicc
    endpoint: https://service.besclouds.com   # the tenant's gateway
    # slower than the documented limit
    rate_limit: 5
    # callback_url: https://example.com/cb
  # ccc:
  #   type: tencent-ccc
  #   sdk_app_id: 1400000000
prompts:   # the prompts
  # Welcome comes first
  welcome:
    # why this prompt exists
    description: Greeting
    providers: [aicc]
    voice_type: ivr
    audio:    # one file per locale
      # English
      en_US: audio/en_US/welcome.wav
      zh_CN: audio/zh_CN/welcome.wav   # Mandarin

  goodbye:
    description: "Bye: see you"
    audio: {en_US: audio/en_US/goodbye.wav}
moved:
  - from: hello  # renamed in May
    to: welcome
# end of the file
"""


def make_repo(root: Path, manifest: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ivrsync.yaml").write_text(manifest, encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    for locale in ("en_US", "zh_CN"):
        for prompt in ("welcome", "goodbye"):
            audio = root / "audio" / locale / f"{prompt}.wav"
            audio.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA / "alaw_8k_mono.wav", audio)
    return root


# --- The rules ---------------------------------------------------------------------------------


def test_the_order_comes_from_the_schema() -> None:
    assert ROOT_ORDER == (
        "version",
        "state",
        "providers",
        "defaults",
        "process",
        "include",
        "prompts",
        "moved",
        "removed",
    )
    included = [key for key in ROOT_ORDER if key in PromptsFile.model_fields]
    assert included == list(PromptsFile.model_fields)  # the same order in included files
    assert set(PROVIDER_ORDER) == set(PROVIDER_TYPES)
    assert all(order[0] == "type" for order in PROVIDER_ORDER.values())
    assert set(AUDIO_SOURCE_ORDER) == {"url", "s3"}
    assert PROMPT_ORDER == (
        "description",
        "providers",
        "voice_type",
        "remote_name",
        "process",
        "audio",
        "acknowledge",
    )


def test_unknown_keys_keep_their_place() -> None:
    keys = ["prompts", "x-owner", "version", "providers"]
    assert canonical_keys(keys, ROOT_ORDER) == ["version", "x-owner", "providers", "prompts"]
    assert canonical_keys(["zh_CN", "en_US", "pt_BR"], None) == ["en_US", "pt_BR", "zh_CN"]


def test_canonical_order_and_every_comment_in_its_place() -> None:
    assert format_text(SCRAMBLED, "ivrsync.yaml") == FORMATTED


def test_formatting_twice_is_formatting_once() -> None:
    once = format_text(SCRAMBLED, "ivrsync.yaml")
    assert format_text(once, "ivrsync.yaml") == once


def test_only_order_and_layout_change_never_the_data_or_the_comments() -> None:
    after = format_text(SCRAMBLED, "ivrsync.yaml")
    assert parse_yaml(after, "x").data == parse_yaml(SCRAMBLED, "x").data
    assert comment_texts(after) == comment_texts(SCRAMBLED)


def test_quoting_flow_style_block_scalars_and_anchors_are_kept() -> None:
    text = """\
version: 1
prompts:
  welcome:
    audio: &audio
      en_US: 'audio/en_US/welcome.wav'
    remote_name: {zh_CN: 欢迎, en_US: "Welcome"}
    description: |
      Line one
        # not a comment: part of the text


      line three
  hello:
    audio: *audio
"""
    after = format_text(text, "ivrsync.yaml")
    assert after == text.replace(
        "    audio: &audio\n      en_US: 'audio/en_US/welcome.wav'\n"
        '    remote_name: {zh_CN: 欢迎, en_US: "Welcome"}\n',
        "",
    ).replace(
        "      line three\n",
        "      line three\n"
        '    remote_name: {en_US: "Welcome", zh_CN: 欢迎}\n'
        "    audio: &audio\n      en_US: 'audio/en_US/welcome.wav'\n",
    )


def test_style_indentation_blank_lines_line_endings_and_the_end_of_the_file() -> None:
    text = (
        "\ufeffversion: 1\r\n"
        "include:\r\n"
        "- prompts/*.yaml   \r\n"
        "prompts:\r\n"
        "\r\n"
        "    welcome:\t\r\n"
        "        audio:\r\n"
        "            en_US: a.wav\r\n"
        "\r\n"
        "\r\n"
        "\r\n"
        "    hello:\r\n"
        "        audio: {en_US: b.wav}\r\n"
        "\r\n"
    )
    assert format_text(text, "ivrsync.yaml") == (
        "version: 1\n"
        "include:\n"
        "  - prompts/*.yaml\n"
        "prompts:\n"
        "  welcome:\n"
        "    audio:\n"
        "      en_US: a.wav\n"
        "\n"
        "  hello:\n"
        "    audio: {en_US: b.wav}\n"
    )


def test_the_header_stays_on_top_with_the_modeline_first() -> None:
    text = (
        "# A prompt repository\n"
        "# yaml-language-server: $schema=schema/ivrsync.schema.json\n"
        "\n"
        "prompts: {}\n"
        "version: 1\n"
    )
    assert format_text(text, "ivrsync.yaml") == (
        "# yaml-language-server: $schema=schema/ivrsync.schema.json\n"
        "# A prompt repository\n"
        "\n"
        "version: 1\n"
        "prompts: {}\n"
    )


def test_provider_settings_in_the_order_of_their_type() -> None:
    text = """\
version: 1
providers:
  ccc:
    audio_source:
      bucket: ivr-audio
      region: ap-guangzhou
      type: s3
      endpoint: https://cos.ap-guangzhou.myqcloud.com
    secret_id_env: TENCENTCLOUD_SECRET_ID
    sdk_app_id: 1400000000
    type: tencent-ccc
    endpoint: ccc.tencentcloudapi.com
  other:  # an unknown type: only `type` is known, and it is the only one
    zeta: 1
    type: not-a-provider
"""
    assert (
        format_text(text, "ivrsync.yaml")
        == """\
version: 1
providers:
  ccc:
    type: tencent-ccc
    sdk_app_id: 1400000000
    endpoint: ccc.tencentcloudapi.com
    secret_id_env: TENCENTCLOUD_SECRET_ID
    audio_source:
      type: s3
      endpoint: https://cos.ap-guangzhou.myqcloud.com
      bucket: ivr-audio
      region: ap-guangzhou
  other:  # an unknown type: only `type` is known, and it is the only one
    zeta: 1
    type: not-a-provider
"""
    )


def test_an_included_file_orders_prompts_and_moved() -> None:
    text = """\
# yaml-language-server: $schema=../schema/prompts.schema.json
moved:
  - {to: menu, from: main-menu}
prompts:
  menu:
    audio:
      en_US: ../audio/en_US/menu.wav
    description: Main menu
"""
    assert (
        format_text(text, "prompts/menus.yaml")
        == """\
# yaml-language-server: $schema=../schema/prompts.schema.json
prompts:
  menu:
    description: Main menu
    audio:
      en_US: ../audio/en_US/menu.wav
moved:
  - {from: main-menu, to: menu}
"""
    )


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("version: 1\nproviders: [a,\n  # inside\n  b]\n", 3, "inside [...] or {...}"),
        ("{version: 1}\n", 1, "`key: value` lines"),
    ],
)
def test_what_fmt_cannot_keep_is_refused_with_its_place(text: str, line: int, words: str) -> None:
    with pytest.raises(ManifestError) as caught:
        format_text(text, "ivrsync.yaml")
    [problem] = caught.value.problems
    assert problem.location is not None
    assert (problem.location.file, problem.location.line) == ("ivrsync.yaml", line)
    assert words in problem.message


# --- The command -----------------------------------------------------------------------------


def test_fmt_rewrites_the_root_and_its_includes(run_cli: RunCli, tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        "prompts: {}\ninclude: [prompts/*.yaml]\nversion: 1\n",
        {
            "prompts/menus.yaml": "prompts:\n  menu:\n    audio: {en_US: ../a.wav}\n"
            "    description: Menu\n",
            "other.yaml": "b: 1\na: 2\n",
        },
    )
    code, out, err = run_cli("-C", str(repo), "fmt")
    assert code == 0, err
    assert out == "ivrsync.yaml\nprompts/menus.yaml\n"
    assert "2 files reformatted" in err
    assert (repo / "ivrsync.yaml").read_text() == (
        "version: 1\ninclude: [prompts/*.yaml]\nprompts: {}\n"
    )
    assert (
        (repo / "prompts/menus.yaml")
        .read_text()
        .startswith("prompts:\n  menu:\n    description: Menu\n")
    )
    assert (repo / "other.yaml").read_text() == "b: 1\na: 2\n"  # not a manifest
    code, out, err = run_cli("-C", str(repo), "fmt")
    assert (code, out) == (0, "")
    assert "2 files already formatted" in err


def test_check_exits_1_listing_what_would_change_and_changes_nothing(
    run_cli: RunCli, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", SCRAMBLED)
    before = (repo / "ivrsync.yaml").read_bytes()
    code, out, err = run_cli("-C", str(repo), "fmt", "--check")
    assert code == 1
    assert out == "ivrsync.yaml\n"
    assert "1 file would be reformatted" in err
    assert "ivrsync fmt" in err
    assert (repo / "ivrsync.yaml").read_bytes() == before

    (repo / "ivrsync.yaml").write_text(FORMATTED)
    code, out, err = run_cli("-C", str(repo), "fmt", "--check")
    assert (code, out) == (0, "")
    assert "1 file already formatted" in err


def test_diff_prints_a_unified_diff_and_writes_nothing(run_cli: RunCli, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "prompts: {}\nversion: 1\n")
    code, out, _ = run_cli("-C", str(repo), "fmt", "--diff")
    assert code == 0
    assert out.splitlines() == [
        "--- a/ivrsync.yaml",
        "+++ b/ivrsync.yaml",
        "@@ -1,2 +1,2 @@",
        "+version: 1",
        " prompts: {}",
        "-version: 1",
    ]
    assert (repo / "ivrsync.yaml").read_text() == "prompts: {}\nversion: 1\n"
    code, _, _ = run_cli("-C", str(repo), "fmt", "--diff", "--check")
    assert code == 1


def test_a_broken_manifest_gets_validates_message_and_is_left_untouched(
    run_cli: RunCli, tmp_path: Path
) -> None:
    broken = "version: 1\nprompts:\n  welcome:\n    audio:\n      en_US: a.wav\n     bad: [\n"
    repo = make_repo(tmp_path / "repo", broken)
    _, _, validate_err = run_cli("-C", str(repo), "validate")
    location = validate_err.splitlines()[0].split(" error: ")[0]
    assert location.startswith("ivrsync.yaml:6:")

    code, out, err = run_cli("-C", str(repo), "fmt")
    assert code == 1
    assert out == ""
    assert err.splitlines()[0] == validate_err.splitlines()[0]
    assert "1 file could not be formatted" in err
    assert (repo / "ivrsync.yaml").read_text() == broken


def test_the_other_files_are_formatted_when_one_is_broken(run_cli: RunCli, tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        "prompts: {}\nversion: 1\ninclude: [prompts/*.yaml]\n",
        {"prompts/bad.yaml": "prompts:\n  x: [\n"},
    )
    code, out, err = run_cli("-C", str(repo), "fmt")
    assert code == 1
    assert out == "ivrsync.yaml\n"
    assert "prompts/bad.yaml:" in err
    assert (repo / "prompts/bad.yaml").read_text() == "prompts:\n  x: [\n"


def test_files_can_be_named_and_keep_their_permissions(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "prompts.yaml"
    path.write_text("prompts:\n  a:\n    audio: {en_US: a.wav}\n    description: A\n")
    path.chmod(0o640)
    code, out, _ = run_cli("fmt", str(path))
    assert (code, out) == (0, f"{path.as_posix()}\n")
    assert path.read_text() == "prompts:\n  a:\n    description: A\n    audio: {en_US: a.wav}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_outside_a_prompt_repository_fmt_says_so(run_cli: RunCli) -> None:
    code, _, err = run_cli("fmt")
    assert code == 1
    assert "no ivrsync.yaml in" in err


def test_the_examples_are_formatted(run_cli: RunCli) -> None:
    code, out, err = run_cli("-C", str(EXAMPLES), "fmt", "--check")
    assert (code, out) == (0, ""), err
    assert "3 files already formatted" in err


# --- Whatever the input: the same data, the same comments, idempotent -------------------------


@given(case=mutated())
@settings(
    max_examples=200,  # about 2.5 s in all
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_fmt_of_mutated_examples_keeps_meaning_and_comments(case: Case) -> None:
    [(name, content)] = case.files
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return  # format_file reports it, as validate does
    try:
        after = format_text(text, name)
    except ManifestError as exc:
        assert exc.problems
        assert all(p.code != "fmt-unsafe" for p in exc.problems), [str(p) for p in exc.problems]
        assert all(p.location and p.location.file == name for p in exc.problems)
        return
    assert parse_yaml(after, name).data == parse_yaml(text.lstrip("\ufeff"), name).data
    assert not comment_texts(text.lstrip("\ufeff")) - comment_texts(after)  # none lost
    assert format_text(after, name) == after
    assert after.endswith("\n")
    assert not after.endswith("\n\n")
    assert all(line == line.rstrip() for line in after.splitlines() if "|" not in text)
