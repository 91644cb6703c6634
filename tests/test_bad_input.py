"""The bad-input corpus: every way a prompt repository can be wrong, as `ivrsync validate` meets it.

Each case builds a small repository (the root manifest, perhaps include files, and audio) and
expects exit 1, a message at the right `file:line:` saying what is wrong and what is allowed,
and no traceback. The line a problem must be reported at is marked in the case's text with
`# <-`, so the expectation sits beside the line it is about.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ivrsync.audio import probe
from ivrsync.providers import huawei_aicc
from tests.conftest import DATA, RunCli
from tests.repo_factory import alaw_tone

MARK = "# <-"
ALAW = (DATA / "alaw_8k_mono.wav").read_bytes()
MP3 = (DATA / "tone.mp3").read_bytes()
UNSET = "IVRSYNC_TEST_SURELY_UNSET"

PROVIDERS = """\
version: 1
providers:
  aicc:
    type: huawei-aicc
    endpoint: https://aicc.example.com
  ccc:
    type: tencent-ccc
    sdk_app_id: 1400000000
    audio_source:
      type: url
      template: https://cdn.example.com/ivr/{path}
"""
WELCOME = """\
prompts:
  welcome:
    audio:
      en_US: audio/welcome.wav
"""


@dataclass(frozen=True)
class Wav:
    """A real A-law WAV of exactly `size` bytes: a clean tone, so that only the limit shows."""

    size: int

    def write(self, path: Path) -> None:
        data = self.size - 44
        header = (
            b"RIFF"
            + struct.pack("<I", self.size - 8)
            + b"WAVE"
            + b"fmt "
            + struct.pack("<IHHIIHH", 16, 0x0006, 1, 8000, 8000, 1, 8)
            + b"data"
            + struct.pack("<I", data)
        )
        path.write_bytes(header + alaw_tone(data))


Content = bytes | str | Wav


@dataclass(frozen=True)
class Case:
    id: str
    code: str  # the problem's code, as --json reports it
    says: tuple[str, ...]  # fragments of the message: what is wrong, what is allowed
    manifest: str | bytes | None  # ivrsync.yaml; None: there is none
    files: Mapping[str, Content] = field(default_factory=dict)  # added to audio/welcome.wav
    at: str | None = "ivrsync.yaml"  # the file whose `# <-` line is reported; None: no file
    column: int | None = None  # checked too where the key, not its value, must be pointed at
    setup: Callable[[Path], None] | None = None  # anything else, given the repository

    @property
    def line(self) -> int | None:
        """The line of `at` that carries the mark."""
        if self.at is None:
            return None
        return marked_line(self.manifest if self.at == "ivrsync.yaml" else self.files[self.at])

    @property
    def where(self) -> str:
        """How the reported problem must start: `file:line:` (and column), or `error: `."""
        if self.at is None:
            return "error: "
        return f"{self.at}:{self.line}:" + (f"{self.column}:" if self.column else "")


def marked_line(content: Content | None) -> int:
    assert isinstance(content, str | bytes)
    text = content.decode("latin-1") if isinstance(content, bytes) else content
    marked = [n for n, line in enumerate(text.splitlines(), 1) if MARK in line]
    assert len(marked) == 1, f"mark exactly one line with {MARK!r}"
    return marked[0]


def root(prompts: str = WELCOME, providers: str = PROVIDERS) -> str:
    return providers + textwrap.dedent(prompts)


def welcome_audio(path: str) -> str:
    """`welcome` with its audio file at `path`, on the marked line."""
    return root(WELCOME.replace("audio/welcome.wav", f"{path}  {MARK}"))


def providers_with(old: str, new: str) -> str:
    assert old in PROVIDERS
    return PROVIDERS.replace(old, new)


def only(provider: str, providers: str = PROVIDERS) -> str:
    """`welcome` sent to one provider, with its audio line marked."""
    return root(
        f"""\
        prompts:
          welcome:
            providers: [{provider}]
            audio:
              en_US: audio/welcome.wav  {MARK}
        """,
        providers,
    )


def outside_wav(repo: Path) -> None:
    (repo.parent / "outside.wav").write_bytes(ALAW)


def symlink_audio_outside(repo: Path) -> None:
    outside_wav(repo)
    link = repo / "audio" / "welcome.wav"
    link.unlink()
    link.symlink_to(repo.parent / "outside.wav")


def shared_prompts_outside(repo: Path) -> None:
    shared = repo.parent / "shared"
    shared.mkdir()
    (shared / "common.yaml").write_text("prompts: {}\n")


def symlinked_folder_outside(repo: Path) -> None:
    shared_prompts_outside(repo)
    (repo / "shared").symlink_to(repo.parent / "shared")


def symlinked_audio_folder_outside(repo: Path) -> None:
    """A folder of regular files that lives outside the repository, linked in as audio/."""
    outside = repo.parent / "outside-audio"
    (repo / "audio").rename(outside)
    (repo / "audio").symlink_to(outside)


def yml_instead_of_yaml(repo: Path) -> None:
    (repo / "ivrsync.yml").write_text(root())


CASES = [
    # --- YAML itself -----------------------------------------------------------------------
    Case(
        "duplicate-key",
        "duplicate-key",
        ("duplicate key 'audio' (first at line 14)", "each key may appear only once"),
        root(
            f"""\
            prompts:
              welcome:
                audio:
                  en_US: audio/welcome.wav
                audio:  {MARK}
                  zh_CN: audio/welcome.wav
            """
        ),
    ),
    Case(
        "duplicate-key-in-include",
        "duplicate-key",
        ("duplicate key 'menu'", "each key may appear only once"),
        root(WELCOME + "include: [prompts/*.yaml]\n"),
        files={
            "prompts/menus.yaml": "prompts:\n"
            "  menu:\n    audio: {en_US: ../audio/welcome.wav}\n"
            f"  menu:  {MARK}\n    audio: {{zh_CN: ../audio/welcome.wav}}\n"
        },
        at="prompts/menus.yaml",
    ),
    Case(
        "malformed-yaml-unquoted-colon",
        "yaml-syntax",
        ("invalid YAML", "put a value that contains ': ' in quotes"),
        root(
            f"""\
            prompts:
              welcome:
                description: Main menu: press 1 for billing  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "malformed-yaml-unclosed-brace",
        "yaml-syntax",
        ("invalid YAML", "expected ',' or '}'", "starts at line 14"),
        root(
            f"""\
            prompts:
              welcome:
                audio: {{en_US: audio/welcome.wav
              goodbye:  {MARK}
                audio: {{en_US: audio/welcome.wav}}
            """
        ),
    ),
    Case(
        "tab-indentation",
        "yaml-syntax",
        ("invalid YAML", "indentation must use spaces, not tabs"),
        root(f"prompts:\n  welcome:\n\taudio:  {MARK}\n      en_US: audio/welcome.wav\n"),
    ),
    Case(
        "file-is-a-list",
        "not-a-map",
        ("the file is a list", "must be a map of keys"),
        f"- version: 1  {MARK}\n- providers: {{}}\n",
    ),
    Case(
        "manifest-not-utf8",
        "encoding",
        ("not valid UTF-8 (byte 0xe9)", "must be saved as UTF-8"),
        root(
            f"""\
            prompts:
              welcome:
                description: Bienvenue au café  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ).encode("latin-1"),
    ),
    Case(
        "include-file-in-gbk",
        "encoding",
        ("not valid UTF-8", "must be saved as UTF-8"),
        root(WELCOME + "include: [prompts/*.yaml]\n"),
        files={
            "prompts/zh.yaml": (
                "prompts:\n  menu:\n"
                f"    description: 主菜单  {MARK}\n"
                "    audio: {zh_CN: ../audio/welcome.wav}\n"
            ).encode("gbk")
        },
        at="prompts/zh.yaml",
    ),
    Case(
        "bad-yaml-tag-value",
        "yaml-tag",
        ("'1400x' is not a valid int", "remove the `!!` tag or fix the value"),
        root(providers=providers_with("sdk_app_id: 1400000000", f"sdk_app_id: !!int 1400x {MARK}")),
    ),
    # --- the root manifest -----------------------------------------------------------------
    Case(
        "no-manifest",
        "no-manifest",
        ("no ivrsync.yaml in", "run in a prompt repository or pass -C DIR"),
        None,
        at=None,
    ),
    Case(
        "manifest-named-yml",
        "no-manifest",
        ("found ivrsync.yml: rename it",),
        None,
        at=None,
        setup=yml_instead_of_yaml,
    ),
    Case(
        "missing-version",
        "schema-missing",
        ("missing required key 'version'", "write `version: 1`"),
        root().replace("version: 1\nproviders:", f"providers:  {MARK}"),
    ),
    Case(
        "version-2",
        "schema-literal-error",
        ("version: must be 1", "the manifest format this ivrsync reads", "(got 2)"),
        root().replace("version: 1", f"version: 2  {MARK}"),
    ),
    Case(
        "unknown-top-level-key",
        "schema-extra-forbidden",
        ("unknown key 'promts'", "did you mean 'prompts'", "allowed: version, state"),
        root(WELCOME.replace("prompts:", f"prompts: {{}}\npromts:  {MARK}")),
        column=1,
    ),
    Case(
        "unknown-key-in-prompt",
        "schema-extra-forbidden",
        ("unknown key 'descripton' in prompts.welcome (did you mean 'description'?)",),
        root(
            f"""\
            prompts:
              welcome:
                descripton: Greeting  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
        column=5,
    ),
    Case(
        "wrong-type-list",
        "schema-list-type",
        ("prompts.welcome.providers: must be a list", "(got 'aicc')"),
        root(
            f"""\
            prompts:
              welcome:
                providers: aicc  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "wrong-type-number",
        "schema-int-parsing",
        ("providers.ccc.sdk_app_id: must be a whole number", "(got 'twelve')"),
        root(providers=providers_with("sdk_app_id: 1400000000", f"sdk_app_id: twelve  {MARK}")),
    ),
    Case(
        "wrong-type-date-for-text",
        "schema-string-type",
        ("must be text", "which YAML reads as a date", "put it in quotes"),
        root(
            f"""\
            prompts:
              welcome:
                description: 2024-05-01  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "wrong-type-union",
        "schema-string-type",
        ("prompts.welcome.remote_name: must be text or a map", "(got 5)"),
        root(
            f"""\
            prompts:
              welcome:
                remote_name: 5  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "empty-prompt",
        "schema-model-type",
        ("prompt 'welcome' is empty", "give it `audio:` with a file per locale"),
        root(f"prompts:\n  welcome:  {MARK}\n"),
        column=3,
    ),
    Case(
        "empty-audio-map",
        "schema-too-short",
        ("prompts.welcome.audio is empty", "at least one locale"),
        root(f"prompts:\n  welcome:\n    audio: {{}}  {MARK}\n"),
    ),
    Case(
        "bad-voice-type",
        "schema-literal-error",
        ("'ivr', 'prompt_tone', 'fault_tone' or 'voice_notification'", "(got 'music')"),
        root(
            f"""\
            prompts:
              welcome:
                voice_type: music  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    # --- providers -------------------------------------------------------------------------
    Case(
        "unknown-provider-type",
        "schema-union-tag-invalid",
        ("unknown type 'genesys-cloud'", "allowed: 'huawei-aicc', 'tencent-ccc'"),
        root(providers=PROVIDERS + f"  genesys:\n    type: genesys-cloud  {MARK}\n"),
        column=11,
    ),
    Case(
        "audio-source-without-type",
        "schema-union-tag-not-found",
        ("missing required key 'type' (one of: url, s3)",),
        root(
            providers=providers_with("      type: url\n", "").replace("{path}", "{path}  " + MARK)
        ),
    ),
    Case(
        "secret-in-manifest",
        "schema-extra-forbidden",
        (
            "unknown key 'app_secret' in providers.aicc: secrets never go in a manifest",
            "set `app_secret_env` to the name of the environment variable",
        ),
        root(
            providers=providers_with(
                "    endpoint: https://aicc.example.com\n",
                f"    endpoint: https://aicc.example.com\n    app_secret: s3cr3t  {MARK}\n",
            )
        ),
        column=5,
    ),
    Case(
        "unset-environment-variable",
        "env-unset",
        (f"environment variable {UNSET} is not set", f"${{{UNSET}:-value}}"),
        root(providers=providers_with("https://aicc.example.com", f"${{{UNSET}}}  {MARK}")),
    ),
    Case(
        "unknown-provider-in-prompt",
        "unknown-provider",
        ("provider 'genesys' is not defined under `providers:`", "(defined: aicc, ccc)"),
        root(
            f"""\
            prompts:
              welcome:
                providers: [aicc, genesys]  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "unknown-provider-in-defaults",
        "unknown-provider",
        ("provider 'acc' is not defined", "(defined: aicc, ccc)"),
        root(WELCOME + f"defaults:\n  providers: [acc]  {MARK}\n"),
    ),
    Case(
        "huawei-locale",
        "unsupported-locale",
        ("does not accept locale ja_JP", "allowed: en_US, pt_BR, th_TH, zh_CN"),
        root(WELCOME + f"      ja_JP: audio/welcome.wav  {MARK}\n"),
    ),
    # --- includes and prompt names -----------------------------------------------------------
    Case(
        "include-matches-nothing",
        "include-no-match",
        ("include 'prompt/*.yaml' matches no file", "relative to ivrsync.yaml"),
        root(WELCOME + f"include:\n  - prompt/*.yaml  {MARK}\n"),
        files={"prompts/menus.yaml": "prompts: {}\n"},
    ),
    Case(
        "include-escapes-root",
        "include-outside-root",
        ("include '../shared/*.yaml' leaves the repository root", "only files inside it"),
        root(WELCOME + f"include:\n  - ../shared/*.yaml  {MARK}\n"),
        setup=shared_prompts_outside,
    ),
    Case(
        "include-through-symlink-outside",
        "include-outside-root",
        ("matches shared/common.yaml, outside the repository root",),
        root(WELCOME + f"include:\n  - shared/*.yaml  {MARK}\n"),
        setup=symlinked_folder_outside,
    ),
    Case(
        "prompt-defined-in-root-and-include",
        "duplicate-prompt",
        ("prompt 'welcome' is defined twice", "ivrsync.yaml:13:3", "must be unique"),
        root(WELCOME + "include: [prompts/*.yaml]\n"),
        files={
            "prompts/more.yaml": f"prompts:\n  welcome:  {MARK}\n"
            "    audio: {en_US: ../audio/welcome.wav}\n"
        },
        at="prompts/more.yaml",
        column=3,
    ),
    Case(
        "huawei-remote-name-too-long",
        "remote-name",
        ("is 57 characters long", "at most 50 letters, digits and Chinese characters"),
        root(
            f"""\
            prompts:
              welcome:
                providers: [aicc]
                remote_name:
                  en_US: WelcomeToTheExampleTelecomCustomerServiceHotlineInEnglish  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "huawei-remote-name-base-too-long-is-not-shortened",
        "remote-name",
        ("is 52 characters long", "change remote_name (the locale is appended to it)"),
        root(
            f"""\
            prompts:
              welcome:
                providers: [aicc]
                remote_name: WelcomeToTheExampleTelecomCustomerServiceHotline  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "huawei-remote-name-bad-characters",
        "remote-name",
        ("contains '-'", "no spaces, '_', '-' or '.'", "change remote_name"),
        root(
            f"""\
            prompts:
              welcome:
                providers: [aicc]
                remote_name: welcome-v2  {MARK}
                audio:
                  en_US: audio/welcome.wav
            """
        ),
    ),
    Case(
        "colliding-derived-remote-names",
        "remote-name-collision",
        (
            "aicc.mainMenu.en_US and aicc.main-menu.en_US",
            "would both be uploaded as 'MainMenuEnUS'",
            "give one of them a remote_name",
        ),
        root(
            f"""\
            prompts:
              main-menu:
                providers: [aicc]
                audio:
                  en_US: audio/welcome.wav
              mainMenu:
                providers: [aicc]
                audio:
                  en_US: audio/welcome.wav  {MARK}
            """
        ),
    ),
    # --- audio paths -----------------------------------------------------------------------
    Case(
        "path-with-dotdot",
        "path-outside-root",
        ("'../outside.wav' leaves the repository root", "audio must live inside repo/"),
        welcome_audio("../outside.wav"),
        setup=outside_wav,
    ),
    Case(
        "absolute-path",
        "audio-path",
        ("write a path relative to the manifest, not an absolute one",),
        welcome_audio("/srv/ivr/welcome.wav"),
    ),
    Case(
        "windows-path",
        "audio-path",
        ("'audio\\welcome.wav'", "use '/' between folders"),
        welcome_audio("audio\\welcome.wav"),
    ),
    Case(
        "symlink-outside-root",
        "symlink-outside-root",
        ("audio/welcome.wav is a symlink to", "outside the repository root"),
        welcome_audio("audio/welcome.wav"),
        setup=symlink_audio_outside,
    ),
    Case(
        "symlinked-audio-folder-outside-root",
        "symlink-outside-root",
        ("audio/welcome.wav is a symlink to", "outside the repository root"),
        welcome_audio("audio/welcome.wav"),
        setup=symlinked_audio_folder_outside,
    ),
    Case(
        "absolute-path-to-a-file-that-exists",
        "audio-path",
        ("write a path relative to the manifest, not an absolute one",),
        welcome_audio("/welcome.wav"),
        files={"welcome.wav": ALAW},
    ),
    Case(
        "hidden-file-named-dot-wav",
        "audio-extension",
        ("audio/.wav must be .wav or .mp3", "found ''"),
        welcome_audio("audio/.wav"),
        files={"audio/.wav": ALAW},
    ),
    Case(
        "missing-file",
        "audio-missing",
        ("audio file not found: audio/welcom.wav",),
        welcome_audio("audio/welcom.wav"),
    ),
    Case(
        "missing-file-relative-to-include",
        "audio-missing",
        ("audio file not found: prompts/audio/welcome.wav",),
        root("include: [prompts/*.yaml]\n"),
        files={
            "prompts/menus.yaml": "prompts:\n  menu:\n    audio:\n"
            f"      en_US: audio/welcome.wav  {MARK}\n"
        },
        at="prompts/menus.yaml",
    ),
    Case(
        "directory-instead-of-file",
        "audio-not-file",
        ("audio/menu.wav is a directory", "name a .wav or .mp3 file"),
        welcome_audio("audio/menu.wav"),
        files={"audio/menu.wav/take1.wav": ALAW},
    ),
    Case(
        "not-wav-or-mp3-extension",
        "audio-extension",
        ("audio/welcome.ogg must be .wav or .mp3", "found '.ogg'"),
        welcome_audio("audio/welcome.ogg"),
        files={"audio/welcome.ogg": b"OggS\0\2" + bytes(40)},
    ),
    # --- audio contents --------------------------------------------------------------------
    Case(
        "text-file-named-wav",
        "audio-invalid",
        ("audio/welcome.wav: not WAV or MP3 data", "looks like text"),
        welcome_audio("audio/welcome.wav"),
        files={"audio/welcome.wav": "Welcome to Example Telecom. Press 1 for billing.\n"},
    ),
    Case(
        "zero-byte-file",
        "audio-invalid",
        ("audio/welcome.wav: file is empty (0 bytes)",),
        welcome_audio("audio/welcome.wav"),
        files={"audio/welcome.wav": b""},
    ),
    Case(
        "truncated-wav-header",
        "audio-invalid",
        ("audio/welcome.wav: truncated WAV header",),
        welcome_audio("audio/welcome.wav"),
        files={"audio/welcome.wav": ALAW[:30]},
    ),
    Case(
        "wav-holding-mp3",
        "audio-misnamed",
        ("holds MP3 data but is named .wav", "rename it to .mp3"),
        welcome_audio("audio/welcome.wav"),
        files={"audio/welcome.wav": MP3},
    ),
    # --- provider limits: one byte over ------------------------------------------------------
    Case(
        "huawei-base64-one-byte-over",
        "audio-too-large",
        ("its base64 text is", "8,000,004 bytes", "at most 8.00 MB (8,000,000 bytes)"),
        only("aicc"),
        files={"audio/welcome.wav": Wav(6_000_001)},
    ),
    Case(
        "huawei-file-size-one-byte-over",
        "audio-too-large",
        ("the file is 8.00 MB (8,000,001 bytes)", "at most 8.00 MB (8,000,000 bytes)"),
        only("aicc", providers_with("example.com\n", "example.com\n    size_limit_of: file\n")),
        files={"audio/welcome.wav": Wav(8_000_001)},
    ),
    Case(
        "tencent-one-byte-over",
        "audio-too-large",
        ("5,000,001 bytes", "Tencent CCC accepts at most 5.00 MB (5,000,000 bytes)"),
        only("ccc"),
        files={"audio/welcome.wav": Wav(5_000_001)},
    ),
]


def build(
    tmp_path: Path,
    manifest: str | bytes | None,
    files: Mapping[str, Content] | None = None,
    setup: Callable[[Path], None] | None = None,
) -> Path:
    """A repository in tmp_path/repo: audio/welcome.wav (A-law) unless `files` replace it."""
    repo = tmp_path / "repo"
    for name, content in {"audio/welcome.wav": ALAW, **(files or {})}.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Wav):
            content.write(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if isinstance(manifest, str):
        (repo / "ivrsync.yaml").write_text(manifest)
    elif isinstance(manifest, bytes):
        (repo / "ivrsync.yaml").write_bytes(manifest)
    if setup:
        setup(repo)
    return repo


@pytest.fixture(autouse=True)
def _no_stray_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET, raising=False)


def test_the_corpus_is_big_enough_and_has_unique_ids() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_clear_error_at_its_line(
    case: Case, tmp_path: Path, run_cli: RunCli
) -> None:
    repo = build(tmp_path, case.manifest, case.files, case.setup)
    code, out, err = run_cli("-C", str(repo), "validate")
    assert code == 1, err
    assert "Traceback" not in out + err
    assert "internal error" not in out + err
    # One problem, one error: nothing that merely follows from the first.
    assert "Invalid: 1 error, 0 warnings." in err, err
    [line] = [line for line in err.splitlines() if "error: " in line]
    assert line.startswith(case.where), f"expected at {case.where}\n{err}"
    for fragment in case.says:
        assert fragment in line, f"{fragment!r} not in {line!r}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_as_json_gives_code_file_and_line(
    case: Case, tmp_path: Path, run_cli: RunCli
) -> None:
    repo = build(tmp_path, case.manifest, case.files, case.setup)
    code, out, err = run_cli("-C", str(repo), "validate", "--json")
    assert code == 1
    assert "Traceback" not in out + err
    result = json.loads(out)
    assert result["valid"] is False
    assert result["summary"]["errors"] == 1
    [problem] = result["problems"]
    assert problem["code"] == case.code
    assert problem["severity"] == "error"
    assert problem["file"] == case.at
    assert problem["line"] == case.line
    if case.column:
        assert problem["column"] == case.column


def test_big_wav_used_for_limits_is_real_audio(tmp_path: Path) -> None:
    path = tmp_path / "big.wav"
    Wav(5_000_001).write(path)
    info = probe(path)
    assert (info.format, info.codec, info.sample_rate, info.channels) == ("wav", "alaw", 8000, 1)
    assert info.size == 5_000_001
    assert huawei_aicc.is_native(info)


@pytest.mark.parametrize(
    ("provider", "size_limit_of", "size"),
    [("aicc", "base64", 6_000_000), ("aicc", "file", 8_000_000), ("ccc", "", 5_000_000)],
)
def test_audio_exactly_at_a_provider_limit_is_accepted(
    tmp_path: Path, run_cli: RunCli, provider: str, size_limit_of: str, size: int
) -> None:
    providers = PROVIDERS
    if size_limit_of:
        providers = providers_with(
            "example.com\n", f"example.com\n    size_limit_of: {size_limit_of}\n"
        )
    repo = build(tmp_path, only(provider, providers), {"audio/welcome.wav": Wav(size)})
    code, out, err = run_cli("-C", str(repo), "validate")
    assert code == 0, err
    assert out == "Valid: 1 prompt, 1 resource, 2 providers.\n"


def test_every_problem_in_a_repository_is_reported(tmp_path: Path, run_cli: RunCli) -> None:
    """Manifest, include and audio problems come in one run, not one per run."""
    manifest = root(
        """\
        include: [prompts/*.yaml]
        prompts:
          welcome:
            descripton: typo
            audio:
              en_US: audio/welcome.wav
          goodbye:
            audio:
              en_US: audio/goodbye.wav
              ja_JP: audio/welcome.wav
          hold:
            providers: [ccc]
            audio:
              en_US: audio/hold.wav
          survey:
            audio:
              en_US: audio/survey.wav
        """
    )
    files: dict[str, Content] = {
        "audio/hold.wav": "not audio\n",
        "audio/survey.wav": MP3,
        "prompts/menus.yaml": "prompts:\n  menu:\n    audio: {en_US: ../audio/welcome.wav}\n"
        "  menu:\n    audio: {zh_CN: ../audio/welcome.wav}\n",
    }
    repo = build(tmp_path, manifest, files)
    code, out, _ = run_cli("-C", str(repo), "validate", "--json")
    assert code == 1
    result = json.loads(out)
    assert result["summary"]["errors"] == 6
    found = {(p["code"], p["file"], p["line"]) for p in result["problems"]}
    assert found == {
        ("schema-extra-forbidden", "ivrsync.yaml", 15),  # welcome: descripton
        ("audio-missing", "ivrsync.yaml", 20),  # goodbye: en_US
        ("unsupported-locale", "ivrsync.yaml", 21),  # goodbye: ja_JP for aicc
        ("audio-invalid", "ivrsync.yaml", 25),  # hold: text named .wav
        ("audio-misnamed", "ivrsync.yaml", 28),  # survey: MP3 named .wav
        ("duplicate-key", "prompts/menus.yaml", 4),
    }


def test_non_alaw_wav_for_huawei_passes_with_a_warning(tmp_path: Path, run_cli: RunCli) -> None:
    pcm = Path(__file__).parent.parent / "examples/manifests/audio/en_US/survey.wav"
    manifest = only("aicc")
    repo = build(tmp_path, manifest, {"audio/welcome.wav": pcm.read_bytes()})
    code, out, err = run_cli("-C", str(repo), "validate")
    assert code == 0, err
    assert out == "Valid: 1 prompt, 1 resource, 2 providers (1 warning).\n"
    assert err.startswith(f"ivrsync.yaml:{marked_line(manifest)}:")
    assert "warning: aicc.welcome.en_US: audio/welcome.wav: the audio is WAV pcm_s16le" in err
    assert "transcodes it to WAV A-law, 8000 Hz, mono" in err


SUBPROCESS_CASES = {
    case.id: case
    for case in CASES
    if case.id in {"no-manifest", "tab-indentation", "text-file-named-wav"}
}


@pytest.mark.parametrize("case_id", sorted(SUBPROCESS_CASES))
def test_bad_input_exits_1_from_a_real_process(tmp_path: Path, case_id: str) -> None:
    case = SUBPROCESS_CASES[case_id]
    repo = build(tmp_path, case.manifest, case.files, case.setup)
    env = {k: v for k, v in os.environ.items() if k != UNSET}
    result = subprocess.run(
        [sys.executable, "-m", "ivrsync", "-C", str(repo), "validate"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(case.where), result.stderr
    assert result.stderr.endswith("Invalid: 1 error, 0 warnings.\n")


def test_a_provider_with_errors_does_not_hide_problems_in_prompts(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """The broken provider is left out; the other provider's checks and all paths still run."""
    manifest = root(
        """\
        prompts:
          welcome:
            audio:
              en_US: audio/welcome.wav
          goodbye:
            audio:
              en_US: ../goodbye.wav
        """,
        providers_with("    endpoint: https://aicc.example.com\n", "    endpoint: ftp://x\n"),
    )
    repo = build(tmp_path, manifest, {"audio/welcome.wav": "text, not audio\n"})
    code, out, _ = run_cli("-C", str(repo), "validate", "--json")
    assert code == 1
    found = {(p["code"], p["line"]) for p in json.loads(out)["problems"]}
    assert found == {
        ("schema-invalid-endpoint", 5),
        ("audio-invalid", 15),  # checked for ccc, the provider that loaded
        ("path-outside-root", 18),
    }
