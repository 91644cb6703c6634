"""Property-based fuzzing of the manifests: whatever a file holds, ivrsync answers cleanly.

Two strategies feed `ivrsync validate` (sometimes `--json`, sometimes `plan --no-lock`):
mutations of the real example manifests, and manifests made from scratch. Whatever the input,
the run must exit 0 or 1, print only `file:line:column: error|warning: ...`, `Invalid: ...` or
`Error: ...` lines on stderr, never a traceback or "internal error", write no crash log, and
execute no YAML tag.

The default profile runs 2,000+ examples, as CI does; for a quicker local run:
`IVRSYNC_FUZZ_PROFILE=ivrsync-fuzz-quick pytest tests/test_fuzz_manifests.py`, or
`IVRSYNC_FUZZ_PROFILE=ivrsync-fuzz-explore` for many more random (not derandomized) examples.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st

from ivrsync.workers import WORKERS_ENV
from tests.conftest import EXAMPLES, RunCli

# --- Profiles --------------------------------------------------------------------------------

settings.register_profile(
    "ivrsync-fuzz",
    max_examples=1000,  # the two tests below run 1.2x and 0.8x this: 2,000 in all
    deadline=None,
    derandomize=True,  # CI sees the same examples every run: a failure is never flaky
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the repository is reused; each example rewrites it
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    print_blob=True,
)
settings.register_profile(
    "ivrsync-fuzz-quick", parent=settings.get_profile("ivrsync-fuzz"), max_examples=100
)
settings.register_profile(
    "ivrsync-fuzz-explore",
    parent=settings.get_profile("ivrsync-fuzz"),
    max_examples=10_000,
    derandomize=False,
)
PROFILE = settings.get_profile(os.environ.get("IVRSYNC_FUZZ_PROFILE", "ivrsync-fuzz"))
MUTATION_EXAMPLES = PROFILE.max_examples * 6 // 5
GENERATED_EXAMPLES = PROFILE.max_examples * 4 // 5

# --- The repository every example runs in -----------------------------------------------------

ROOT = "ivrsync.yaml"
MENUS = "prompts/menus.yaml"
ORIGINALS: dict[str, bytes] = {
    ROOT: (EXAMPLES / ROOT).read_bytes(),
    MENUS: (EXAMPLES / MENUS).read_bytes(),
}
# Placeholders in generated text, replaced by real absolute paths when an example is written,
# so that every example (and an `@example` copied from a failure) is the same on any machine.
CANARY = "@CANARY@"  # a YAML tag that executed code would create this directory
OUTSIDE = "@OUTSIDE@"  # a real audio file outside the repository

# Environment variables that `${...}` in the examples and in mutations name.
UNSET_VARS = (
    "AICC_ENDPOINT",
    "CCC_SDK_APP_ID",
    "CCC_ENDPOINT",
    "CCC_AUDIO_BASE_URL",
    "IVRSYNC_FUZZ_UNSET",
)
SET_VARS = {
    "IVRSYNC_FUZZ_URL": "https://cdn.example.com",
    "IVRSYNC_FUZZ_NUMBER": "1400000001",
    "IVRSYNC_FUZZ_NEWLINE": "first line\nsecond line",
    "IVRSYNC_FUZZ_EMPTY": "",
    "IVRSYNC_FUZZ_UNICODE": "欢迎\u202eevil",
}


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example repository plus files that mutations may point at."""
    base = tmp_path_factory.mktemp("fuzz")
    repo = base / "repo"
    shutil.copytree(EXAMPLES, repo, symlinks=True)
    (base / "outside.wav").write_bytes((EXAMPLES / "audio/en_US/goodbye.wav").read_bytes())
    (base / "outside.yaml").write_text("prompts: {}\n")
    audio = repo / "audio"
    (audio / "empty.wav").write_bytes(b"")
    (audio / "text.wav").write_text("TODO record\n")
    (audio / "misnamed.wav").write_bytes((EXAMPLES / "audio/en_US/hold.mp3").read_bytes())
    (audio / "link.wav").symlink_to("en_US/welcome.wav")
    (audio / "outside.wav").symlink_to(base / "outside.wav")
    (audio / "loop.wav").symlink_to("loop.wav")
    (audio / "dangling.wav").symlink_to("missing.wav")
    (audio / "dir.wav").mkdir()
    other = repo / "other"
    other.mkdir()
    (other / "more.yaml").write_text(
        "prompts:\n  extra:\n    audio:\n      en_US: ../audio/en_US/welcome.wav\n"
    )
    (other / "empty.yaml").write_bytes(b"")
    (other / "list.yaml").write_text("- prompts\n")
    (other / "outside.yaml").symlink_to(base / "outside.yaml")
    return repo


@dataclass(frozen=True)
class Case:
    """Manifest files to write over the originals, and the command to run."""

    files: tuple[tuple[str, bytes], ...]
    command: tuple[str, ...] = ("validate",)


@dataclass
class Fuzz:
    repo: Path
    run: RunCli
    crash_dir: Path

    def write(self, case: Case) -> None:
        """Restore the original manifests, then write the case's files over them."""
        wanted = dict(ORIGINALS)
        wanted.update(case.files)
        canary = str(self.crash_dir / "canary").encode()
        outside = str(self.repo.parent / "outside.wav").encode()
        for name, content in wanted.items():
            text = content.replace(CANARY.encode(), canary).replace(OUTSIDE.encode(), outside)
            (self.repo / name).write_bytes(text)

    def line_count(self, name: str) -> int:
        """How many lines a manifest file has, counting every break YAML counts."""
        raw = (self.repo / name).read_bytes()
        text = raw.decode("utf-8", errors="replace")
        return max(raw.count(b"\n"), len(_YAML_BREAKS.findall(text))) + 1


_YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


@pytest.fixture
def fuzz(
    fuzz_repo: Path, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Fuzz]:
    crash_dir = tmp_path / "tempdir"
    crash_dir.mkdir()
    # A crash log goes to tempfile.gettempdir(): here, where the test can see it.
    monkeypatch.setattr(tempfile, "tempdir", str(crash_dir))
    for name in UNSET_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in SET_VARS.items():
        monkeypatch.setenv(name, value)
    # The examples' audio is processed in this process: the cases are about manifests, and a
    # pool of workers would put multiprocessing's own temp dir beside the crash logs.
    monkeypatch.setenv(WORKERS_ENV, "1")
    yield Fuzz(fuzz_repo, run_cli, crash_dir)
    for name, content in ORIGINALS.items():
        (fuzz_repo / name).write_bytes(content)


# --- What every run must look like -----------------------------------------------------------

PROBLEM_LINE = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning): (?P<msg>.+)$"
)
VALIDATE_SUMMARY = re.compile(r"^Invalid: (\d+) errors?, (\d+) warnings?\.$")
PLAN_SUMMARY = re.compile(r"^Invalid: (\d+) error\(s\), (\d+) warning\(s\)\.$")
# The warnings the manifests acknowledge are counted on a line of their own (plan, apply).
ACKNOWLEDGED = re.compile(r"^\d+ acknowledged warnings? not shown\.$")


def check(fuzz: Fuzz, case: Case) -> None:
    fuzz.write(case)
    code, out, err = fuzz.run("-C", str(fuzz.repo), *case.command)
    shutil.rmtree(fuzz.repo / ".ivrsync", ignore_errors=True)  # plan's audio cache
    everything = out + err
    if currently_in_test_context():
        event(f"{' '.join(case.command)}: exit {code}")
    assert code in (0, 1), f"exit {code}\n{everything}"
    assert "Traceback" not in everything, everything
    assert "internal error" not in everything, everything
    assert not any(fuzz.crash_dir.iterdir()), "a crash log or a tag's side effect was written"
    if code == 0:
        # Refused, not only left unexecuted (menus.yaml counts only while the root includes it).
        for name, content in case.files:
            tag = python_tag(content)
            if name == ROOT or ROOT not in dict(case.files):
                assert tag is None, f"{name} has the YAML tag {tag}, and was accepted"

    if "--json" in case.command and case.command[0] == "validate":
        result = json.loads(out)
        assert result["valid"] is (code == 0)
        if code == 1:
            assert result["problems"], out
            assert any(p["severity"] == "error" for p in result["problems"]), out
        for problem in result["problems"]:
            assert isinstance(problem["message"], str)
            assert problem["message"].strip()
            assert "\n" not in problem["message"], problem
            if problem["file"] is not None:
                check_place(fuzz, problem["file"], problem["line"], problem["column"])
        return

    if code == 1:
        assert err.strip(), f"exit 1 with nothing said\n{out}"
    errors = warnings = 0
    summary: tuple[int, int] | None = None
    for line in err.splitlines():
        if not line.strip():
            continue
        problem = PROBLEM_LINE.match(line)
        if problem:
            check_place(fuzz, problem["file"], int(problem["line"]), int(problem["column"]))
            assert problem["msg"].strip(), line
            if problem["severity"] == "error":
                errors += 1
            else:
                warnings += 1
            continue
        if ACKNOWLEDGED.match(line):
            continue
        counted = VALIDATE_SUMMARY.match(line) or PLAN_SUMMARY.match(line)
        if counted:
            summary = (int(counted[1]), int(counted[2]))
            continue
        assert line.startswith("Error: ") and line[7:].strip(), f"unexpected line {line!r}\n{err}"
    if code == 0 and case.command[0] == "validate":
        assert errors == 0, err
        assert out.startswith("Valid: "), out
    if summary is not None:
        assert code == 1
        assert summary == (errors, warnings), err
        assert errors > 0, err


def python_tag(content: bytes) -> str | None:
    """A `!!python/...` tag on any node of the file, as YAML reads it (None if none or broken)."""
    try:
        for item in yaml.parse(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            tag = getattr(item, "tag", None)
            if tag and "python" in tag:
                return str(tag)
    except (yaml.YAMLError, ValueError, UnicodeError):
        return None
    return None


def check_place(fuzz: Fuzz, name: str, line: int | None, column: int | None) -> None:
    """A problem's place is a real file of the repository, at a line that file has."""
    path = fuzz.repo / name
    assert path.is_file(), f"problem reported in {name}, which is not a file of the repository"
    if line is not None:
        assert 1 <= line <= fuzz.line_count(name), f"{name}:{line} is past the end of the file"
    if column is not None:
        assert column >= 1


# --- Vocabulary ------------------------------------------------------------------------------

REAL_KEYS = (
    "version",
    "state",
    "path",
    "providers",
    "aicc",
    "ccc",
    "type",
    "endpoint",
    "app_key_env",
    "app_secret_env",
    "callback_url",
    "rate_limit",
    "size_limit_of",
    "sdk_app_id",
    "region",
    "secret_id_env",
    "secret_key_env",
    "daily_quota",
    "batch_size",
    "content_hash_in_name",
    "audio_source",
    "template",
    "bucket",
    "prefix",
    "url_expires",
    "access_key_id_env",
    "secret_access_key_env",
    "defaults",
    "voice_type",
    "include",
    "prompts",
    "description",
    "audio",
    "remote_name",
    "moved",
    "from",
    "to",
    "en_US",
    "zh_CN",
    "pt_BR",
    "th_TH",
    "ja_JP",
    "welcome",
    "goodbye",
    "hold",
    "main-menu",
    "survey",
    "app_secret",
    "app_key",
    "secret_key",
    "<<",
)
ODD_KEYS = (
    "欢迎",
    "Ωmega",
    "welcome\u200b",
    "é",
    "🙂",
    "a" * 65,
    "1abc",
    "-x",
    "_x",
    "a.b",
    "welcome ",
    "null",
    "true",
    "1",
    "~",
    "? x",
    '"quoted: key"',
    "'single'",
    '"\\n"',
    '"\\x00"',
    '"\\u202e"',
    "[a, b]",
    "{a: b}",
    "&k key",
    "*k",
    "!!python/object:os.system x",
)
REAL_VALUES = (
    "1",
    "2",
    "huawei-aicc",
    "tencent-ccc",
    "url",
    "s3",
    "https://service.besclouds.com",
    "http://127.0.0.1:1",
    "https://user:pw@host",
    "https://host:99999",
    "ftp://x",
    "ccc.tencentcloudapi.com",
    "1400000000",
    "ivr",
    "prompt_tone",
    "fault_tone",
    "voice_notification",
    "music",
    "base64",
    "file",
    "https://cdn.example.com/ivr/{path}",
    "https://cdn.example.com/{sha256}{sha256_short}{filename}",
    "https://cdn.example.com/{nope}",
    "https://cdn.example.com/{",
    "https://cdn.example.com/{0}",
    "https://cdn.example.com/{path.x}",
    "https://cdn.example.com/{path!r}",
    "https://cdn.example.com/{path:>10}",
    "{path}",
    "aicc.welcome.en_US",
    "ccc.welcome.en_US",
    "aicc.nothing.en_US",
    "a.b",
    "a.b.c.d",
    "welcome",
    "[aicc, ccc]",
    "[aicc, nope]",
    "[]",
    "{}",
    "[[]]",
    "{en_US: Survey, zh_CN: 问卷}",
    "{xx: y}",
    "MainMenu",
    "a" * 51,
    "ivrsync/",
    "bucket",
    "my-bucket",
    "60",
    "604800",
    "604801",
)
PATHS = (
    "audio/en_US/welcome.wav",
    "../audio/en_US/main_menu.wav",
    "audio/en_US/hold.mp3",
    "audio/empty.wav",
    "audio/text.wav",
    "audio/misnamed.wav",
    "audio/link.wav",
    "audio/outside.wav",
    "audio/loop.wav",
    "audio/dangling.wav",
    "audio/dir.wav",
    "audio",
    ".",
    "..",
    "../..",
    "../outside.wav",
    "../../outside.wav",
    OUTSIDE,
    "/etc/hostname",
    "/tmp/x.wav",
    "C:\\audio\\x.wav",
    "C:/audio/x.wav",
    "audio\\en_US\\welcome.wav",
    "audio%2Fen_US%2Fwelcome.wav",
    "%2e%2e/%2e%2e/outside.wav",
    "''",
    "' '",
    '""',
    '"\\0"',
    '"audio/\\0.wav"',
    '"audio/a\\nb.wav"',
    '"audio/\\x1b[31m.wav"',
    "audio/en_US/../../../outside.wav",
    "audio/en_US/./welcome.wav",
    "audio//en_US/welcome.wav",
    "audio/en_US/WELCOME.WAV",
    "audio/en_US/welcome.wav/",
    "audio/en_US/welcome.mp3",
    "file:///etc/passwd",
    "~/x.wav",
    "audio/*.wav",
    "prompts/*.yaml",
    "prompts/**",
    "**",
    "**/*.yaml",
    "*",
    "[",
    "[!a]*",
    "ivrsync.yaml",
    "other/*.yaml",
    "other/more.yaml",
    "other/empty.yaml",
    "other/list.yaml",
    "other/outside.yaml",
    "../**/*.yaml",
    "/**/*.yaml",
    "audio/../../**/*.yaml",
    "ivrsync.state.json",
    "audio/en_US/welcome.wav",
    "音频/欢迎.wav",
    "a" * 300 + ".wav",
    "/".join(["a"] * 200) + ".wav",
)
ENV_FORMS = (
    "${IVRSYNC_FUZZ_UNSET}",
    "${IVRSYNC_FUZZ_UNSET:-https://default.example.com}",
    "${IVRSYNC_FUZZ_UNSET:-}",
    "${IVRSYNC_FUZZ_URL}",
    "${IVRSYNC_FUZZ_URL}/{path}",
    "${IVRSYNC_FUZZ_NUMBER}",
    "${IVRSYNC_FUZZ_NEWLINE}",
    "${IVRSYNC_FUZZ_EMPTY}",
    "${IVRSYNC_FUZZ_UNICODE}",
    "${IVRSYNC_FUZZ_UNSET}${IVRSYNC_FUZZ_UNSET}",
    "${",
    "${}",
    "${ IVRSYNC_FUZZ_URL }",
    "${1ABC}",
    "${IVRSYNC_FUZZ_UNSET:-${IVRSYNC_FUZZ_URL}}",
    "${IVRSYNC_FUZZ_UNSET:-a}b}",
    "${IVRSYNC_FUZZ_UNSET:=x}",
    "$IVRSYNC_FUZZ_URL",
    "$${IVRSYNC_FUZZ_UNSET}",
    '"${IVRSYNC_FUZZ_UNSET}"',
    "'${IVRSYNC_FUZZ_URL}'",
    "[${IVRSYNC_FUZZ_UNSET}]",
)
NUMBERS = (
    "1e400",
    "-1e400",
    "99999999999999999999999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "0",
    "-0",
    "-1",
    "0.5",
    ".inf",
    "-.inf",
    ".nan",
    "0x7fffffff",
    "0o777",
    "0b101",
    "1_000",
    "1:30",
    "2024-01-01",
    "2024-13-45",
    "2024-01-01T00:00:00Z",
    "1" * 5000,
    "1e-400",
)
TAGS = (
    "!!binary",
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!!python/object/apply:os.mkdir",
    "!!python/tuple",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!str",
    "!!timestamp",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!map",
    "!!seq",
    "!foo",
    "!",
    "!<tag:yaml.org,2002:python/object/apply:os.system>",
    "!<!>",
    "!!merge",
)
# Complete values that would run code if any constructor but the safe one were used.
EXECUTING = (
    f'!!python/object/apply:os.mkdir ["{CANARY}"]',
    f"!!python/object/apply:os.mkdir [{CANARY}]",
    f'!!python/object/new:os.mkdir ["{CANARY}"]',
    f"!!python/object/apply:os.mkdir {{args: [{CANARY}]}}",
    f"!!python/object/apply:subprocess.check_call [[mkdir, {CANARY}]]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:__main__.Evil {a: 1}",
)
BYTES = (
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # an encoded surrogate, which UTF-8 forbids
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xfe\xff",
    b"\r",
    b"\r\n",
    b"\t",
    b"\x1b[31m",
    b"\x07",
    b"\x7f",
    b"\xc2\x85",  # NEL: a YAML line break
    b"\xe2\x80\xa8",  # LINE SEPARATOR: a YAML line break
    b"\xe2\x80\xae",  # RIGHT-TO-LEFT OVERRIDE
    b"\xef\xbf\xbe",  # U+FFFE, not a character
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF
    b"%YAML 1.1\n---\n",
    b"%TAG ! tag:yaml.org,2002:python/\n---\n",
    b"---\n",
    b"\n---\nsecond: document\n",
    b"\n...\n",
    b"#",
    b": ",
    b"- ",
    b"? ",
    b"|",
    b">",
    b"'",
    b'"',
    b"{",
    b"[",
    b"&",
    b"*",
    b"!",
    b"@",
    b"`",
)


def near_miss(key: str) -> st.SearchStrategy[str]:
    """Keys one slip away from a real one."""
    edits: list[Callable[[str, int], str]] = [
        lambda k, i: k[:i] + k[i + 1 :],
        lambda k, i: k[:i] + k[i + 1 : i + 2] + k[i : i + 1] + k[i + 2 :],
        lambda k, i: k[:i] + k[i : i + 1] + k[i:],
        lambda k, i: k.upper(),
        lambda k, i: k.replace("_", "-"),
        lambda k, i: k + "s",
        lambda k, i: " " + k,
    ]
    return st.builds(
        lambda edit, i: edit(key, i), st.sampled_from(edits), st.integers(0, max(len(key) - 1, 0))
    )


KEYS: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(REAL_KEYS),
    st.sampled_from(REAL_KEYS).flatmap(near_miss),
    st.sampled_from(ODD_KEYS),
    st.text(max_size=12),
)
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(REAL_VALUES),
    st.sampled_from(PATHS),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=8),
)
PLAIN_DATA: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.one_of(st.sampled_from(REAL_KEYS), st.text(max_size=10)), children, max_size=4
        )
    ),
    max_leaves=12,
)


def inline(value: Any, style: str) -> str:
    """`value` as text that can follow `key: ` on one line (or deliberately cannot)."""
    if style == "raw" and isinstance(value, str):
        return value
    if style == "json":
        return json.dumps(value, default=repr, ensure_ascii=False)
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9)
    return dumped.removesuffix("\n").removesuffix("\n...").replace("\n", " ")


INLINE_VALUES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(REAL_VALUES),
    st.sampled_from(PATHS),
    st.sampled_from(ENV_FORMS),
    st.sampled_from(NUMBERS),
    st.sampled_from(EXECUTING),
    st.builds(inline, PLAIN_DATA, st.sampled_from(["raw", "json", "yaml"])),
)

# --- Mutations of the example manifests ------------------------------------------------------

KEY_LINE = re.compile(
    rb"^(?P<indent>[ \t]*(?:- )?)(?P<key>[^:#\s][^:#]*?):(?:[ \t]+(?P<value>.*))?$"
)
ITEM_LINE = re.compile(rb"^(?P<indent>[ \t]*- )(?P<value>[^:#]*)$")

Mutation = Callable[[st.DrawFn, bytes], bytes]


def _lines(content: bytes) -> list[bytes]:
    return content.split(b"\n")


def _pick(draw: st.DrawFn, lines: list[bytes]) -> int:
    return draw(st.integers(0, max(len(lines) - 1, 0)))


def _pick_matching(draw: st.DrawFn, lines: list[bytes], *patterns: re.Pattern[bytes]) -> int | None:
    found = [i for i, line in enumerate(lines) if any(p.match(line) for p in patterns)]
    return draw(st.sampled_from(found)) if found else None


def _indent_of(line: bytes) -> bytes:
    return line[: len(line) - len(line.lstrip(b" \t"))]


def delete_line(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    del lines[_pick(draw, lines)]
    return b"\n".join(lines)


def duplicate_line(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    i = _pick(draw, lines)
    lines.insert(i, lines[i])
    return b"\n".join(lines)


def duplicate_block(draw: st.DrawFn, content: bytes) -> bytes:
    """A key and everything indented under it, twice: a duplicate key with children."""
    lines = _lines(content)
    i = _pick_matching(draw, lines, KEY_LINE)
    if i is None:
        return content
    indent = len(_indent_of(lines[i]))
    end = i + 1
    while end < len(lines) and (not lines[end].strip() or len(_indent_of(lines[end])) > indent):
        end += 1
    lines[end:end] = lines[i:end]
    return b"\n".join(lines)


def swap_lines(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    i, j = _pick(draw, lines), _pick(draw, lines)
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def reindent(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    i = _pick(draw, lines)
    indent = draw(st.text(alphabet=" \t", max_size=10)).encode()
    lines[i] = indent + lines[i].lstrip(b" \t")
    return b"\n".join(lines)


def _set_value(
    draw: st.DrawFn, content: bytes, values: st.SearchStrategy[str], only: bytes = b""
) -> bytes:
    """Replace the value of a `key: value` or `- value` line (one containing `only`)."""
    lines = _lines(content)
    i = _pick_matching(
        draw, [line if only in line else b"#" for line in lines], KEY_LINE, ITEM_LINE
    )
    if i is None:
        return content
    match = KEY_LINE.match(lines[i]) or ITEM_LINE.match(lines[i])
    assert match is not None
    prefix = lines[i][: match.start("value")] if match["value"] is not None else lines[i] + b" "
    if prefix.endswith(b":"):
        prefix += b" "
    # A key with a block under it keeps its children: YAML rejects or reinterprets the pair.
    lines[i] = prefix + draw(values).encode()
    return b"\n".join(lines)


def replace_value(draw: st.DrawFn, content: bytes) -> bytes:
    return _set_value(draw, content, INLINE_VALUES)


def replace_path(draw: st.DrawFn, content: bytes) -> bytes:
    """A path (audio, include glob, state file) becomes another, often a wrong one."""
    only = draw(st.sampled_from([b"", b"/", b"."]))
    return _set_value(draw, content, st.sampled_from(PATHS), only)


def replace_with_env(draw: st.DrawFn, content: bytes) -> bytes:
    return _set_value(draw, content, st.sampled_from(ENV_FORMS))


def replace_with_number(draw: st.DrawFn, content: bytes) -> bytes:
    return _set_value(draw, content, st.sampled_from(NUMBERS))


def replace_with_block(draw: st.DrawFn, content: bytes) -> bytes:
    """A value becomes a nested map or list written in block style under its key."""
    lines = _lines(content)
    i = _pick_matching(draw, lines, KEY_LINE)
    if i is None:
        return content
    match = KEY_LINE.match(lines[i])
    assert match is not None
    value = draw(PLAIN_DATA)
    dumped = yaml.safe_dump(value, allow_unicode=draw(st.booleans()), default_flow_style=False)
    indent = _indent_of(lines[i]) + draw(st.sampled_from([b"  ", b"    ", b" ", b"\t"]))
    block = [indent + line.encode() for line in dumped.splitlines() if line != "..."]
    head = lines[i][: match.end("key") + 1]
    end = i + 1
    while end < len(lines) and len(_indent_of(lines[end])) > len(_indent_of(lines[i])):
        end += 1
    lines[i:end] = [head, *block]
    return b"\n".join(lines)


def insert_key(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    i = _pick(draw, lines)
    indent = draw(st.sampled_from([_indent_of(lines[i]), _indent_of(lines[i]) + b"  ", b""]))
    key = draw(KEYS).encode()
    lines.insert(i, indent + key + b": " + draw(INLINE_VALUES).encode())
    return b"\n".join(lines)


def rename_key(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    i = _pick_matching(draw, lines, KEY_LINE)
    if i is None:
        return content
    match = KEY_LINE.match(lines[i])
    assert match is not None
    key = draw(
        st.one_of(
            st.sampled_from(REAL_KEYS),
            st.just(match["key"].decode(errors="replace")).flatmap(near_miss),
            st.sampled_from(ODD_KEYS),
            st.text(max_size=12),
        )
    )
    lines[i] = lines[i][: match.start("key")] + key.encode() + lines[i][match.end("key") :]
    return b"\n".join(lines)


def tag_value(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    i = _pick_matching(draw, lines, KEY_LINE, ITEM_LINE)
    if i is None:
        return content
    match = KEY_LINE.match(lines[i]) or ITEM_LINE.match(lines[i])
    assert match is not None
    tag = draw(st.sampled_from(TAGS)).encode()
    at = match.start("value") if match["value"] is not None else len(lines[i])
    separator = b"" if match["value"] is not None else b" "
    lines[i] = lines[i][:at] + separator + tag + b" " + lines[i][at:]
    return b"\n".join(lines)


def executing_value(draw: st.DrawFn, content: bytes) -> bytes:
    return _set_value(draw, content, st.sampled_from(EXECUTING))


def anchor_and_alias(draw: st.DrawFn, content: bytes) -> bytes:
    """An anchor on one key, and an alias or a merge of it somewhere (maybe inside itself)."""
    lines = _lines(content)
    i = _pick_matching(draw, lines, KEY_LINE)
    if i is None:
        return content
    match = KEY_LINE.match(lines[i])
    assert match is not None
    name = draw(st.sampled_from([b"a", b"b", b"x" * 100]))
    at = match.end("key") + 1
    lines[i] = lines[i][:at] + b" &" + name + lines[i][at:]
    j = _pick(draw, lines)
    use = draw(
        st.sampled_from(
            [b"*%s", b"<<: *%s", b"<<: [*%s, *%s]", b"<<: *nope", b"*nope", b"<<: %s", b"<<: [%s]"]
        )
    )
    if use.startswith(b"<<") or not KEY_LINE.match(lines[j]):
        indent = draw(st.sampled_from([_indent_of(lines[j]), _indent_of(lines[j]) + b"  "]))
        lines.insert(j, indent + use.replace(b"%s", name))
    else:
        j_match = KEY_LINE.match(lines[j])
        assert j_match is not None
        lines[j] = lines[j][: j_match.end("key") + 1] + b" " + use.replace(b"%s", name)
    return b"\n".join(lines)


def insert_bytes(draw: st.DrawFn, content: bytes) -> bytes:
    at = draw(st.integers(0, len(content)))
    data = draw(st.one_of(st.sampled_from(BYTES), st.binary(min_size=1, max_size=16)))
    return content[:at] + data + content[at:]


def long_line(draw: st.DrawFn, content: bytes) -> bytes:
    lines = _lines(content)
    i = _pick(draw, lines)
    size = draw(st.sampled_from([1_000, 70_000, 300_000]))
    filler = draw(st.sampled_from([b"a", b"x ", b"[", b"{", b"- ", b"\xe4\xb8\xad", b": "]))
    lines[i] = lines[i] + filler * (size // len(filler))
    return b"\n".join(lines)


def long_value(draw: st.DrawFn, content: bytes) -> bytes:
    size = draw(st.sampled_from([65, 256, 300, 5_000, 100_000]))
    filler = draw(st.sampled_from(["a", "/a", "中", "../", "*"]))
    suffix = draw(st.sampled_from(["", ".wav", ".yaml"]))
    return _set_value(draw, content, st.just(filler * size + suffix))


def deep_value(draw: st.DrawFn, content: bytes) -> bytes:
    """Maps and lists nested absurdly deep: in flow style, block style or `- - - x`."""
    depth = draw(st.sampled_from([50, 101, 1_000, 100_000]))
    style = draw(st.sampled_from(["[", "{", "- ", "block"]))
    if style == "[":
        value = "[" * depth + "]" * depth
    elif style == "{":
        value = "{a: " * depth + "}" * depth
    elif style == "- ":
        value = "\n  " + "- " * depth + "x"
    else:
        value = "".join(f"\n{' ' * (level + 1)}k:" for level in range(min(depth, 5_000)))
    return _set_value(draw, content, st.just(value))


def truncate(draw: st.DrawFn, content: bytes) -> bytes:
    return content[: draw(st.integers(0, len(content)))]


def line_endings(draw: st.DrawFn, content: bytes) -> bytes:
    ending = draw(st.sampled_from([b"\r\n", b"\r", b"\xc2\x85", b"\xe2\x80\xa8", b"\n\n"]))
    return content.replace(b"\n", ending)


def bom(draw: st.DrawFn, content: bytes) -> bytes:
    mark = draw(
        st.sampled_from([b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])
    )
    return mark + content


def re_encode(draw: st.DrawFn, content: bytes) -> bytes:
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "gb18030"]))
    return content.decode("utf-8", errors="replace").encode(encoding, errors="replace")


MUTATIONS: tuple[Mutation, ...] = (
    delete_line,
    duplicate_line,
    duplicate_block,
    swap_lines,
    reindent,
    replace_value,
    replace_value,
    replace_path,
    replace_path,
    replace_with_env,
    replace_with_number,
    replace_with_block,
    insert_key,
    insert_key,
    rename_key,
    tag_value,
    executing_value,
    anchor_and_alias,
    insert_bytes,
    long_line,
    long_value,
    deep_value,
    truncate,
    line_endings,
    bom,
    re_encode,
)
COMMANDS = st.sampled_from(
    [("validate",)] * 5 + [("validate", "--json")] * 2 + [("plan", "--no-lock")] * 3
)


def replaced(old: bytes, new: bytes, name: str = ROOT) -> tuple[tuple[str, bytes], ...]:
    """The example manifest `name` with one change: the files of a Case."""
    assert old in ORIGINALS[name]
    return ((name, ORIGINALS[name].replace(old, new, 1)),)


WELCOME_AUDIO = b"en_US: audio/en_US/welcome.wav"
TRUNCATED = ORIGINALS[ROOT][: ORIGINALS[ROOT].index(b"    secret_id_env") + 5]


@st.composite
def mutated(draw: st.DrawFn) -> Case:
    name = draw(st.sampled_from([ROOT, ROOT, MENUS]))
    content = ORIGINALS[name]
    for _ in range(draw(st.integers(1, 4))):
        content = draw(st.sampled_from(MUTATIONS))(draw, content)
    return Case(((name, content),), draw(COMMANDS))


@given(case=mutated())
@settings(PROFILE, max_examples=MUTATION_EXAMPLES)
# What this test found; each was a crash, a wrong exit or a malformed message line.
# A control character: PyYAML's two-line message, with an offset instead of a line.
@example(case=Case(replaced(b"version: 1", b"version: 1\x07")))
@example(case=Case(((ROOT, ORIGINALS[ROOT].decode().encode("utf-16-le")),)))
# Cut off in a key, or only `---`: libyaml's mark is on a line past the end of the file.
@example(case=Case(((ROOT, TRUNCATED),)))
@example(case=Case(((ROOT, b"---"),)))
# A `!!python/...` tag on a list was dropped silently and the manifest accepted.
@example(case=Case(replaced(b"include:\n", b"include: !!python/object/apply:os.system\n")))
@example(
    case=Case(
        replaced(WELCOME_AUDIO, f'en_US: !!python/object/apply:os.mkdir ["{CANARY}"]'.encode())
    )
)
# NUL in the state path: ValueError ("embedded null byte") in plan.
@example(case=Case(replaced(b"path: ivrsync.state.json", b'path: "a\\0b"'), ("plan", "--no-lock")))
# A file name longer than the file system allows: OSError (ENAMETOOLONG) from exists().
@example(case=Case(replaced(WELCOME_AUDIO, b"en_US: " + b"a" * 300 + b".wav")))
# 500 nested lists: RecursionError; 100,000: libyaml's composer overflowed the C stack (SIGSEGV).
@example(case=Case(replaced(b"voice_type: ivr", b"voice_type: " + b"[" * 500 + b"]" * 500)))
@example(case=Case(replaced(b"voice_type: ivr", b"voice_type: " + b"[" * 100_000)))
def test_mutated_manifests_fail_cleanly(fuzz: Fuzz, case: Case) -> None:
    check(fuzz, case)


# --- Manifests from scratch ------------------------------------------------------------------


def _maybe(draw: st.DrawFn, key: str, good: st.SearchStrategy[Any], out: dict[str, Any]) -> None:
    """Sometimes a key with a plausible value, sometimes with anything, mostly right."""
    choice = draw(st.integers(0, 9))
    if choice < 6:
        out[key] = draw(good)
    elif choice < 8:
        out[key] = draw(PLAIN_DATA)


LOCALE_AUDIO = st.dictionaries(
    st.one_of(st.sampled_from(["en_US", "zh_CN", "pt_BR", "th_TH", "ja_JP"]), KEYS),
    st.one_of(st.sampled_from(PATHS), SCALARS),
    max_size=3,
)


@st.composite
def prompt_like(draw: st.DrawFn) -> dict[str, Any]:
    prompt: dict[str, Any] = {}
    _maybe(draw, "audio", LOCALE_AUDIO, prompt)
    _maybe(draw, "description", st.text(max_size=30), prompt)
    _maybe(
        draw, "providers", st.lists(st.sampled_from(["aicc", "ccc", "nope"]), max_size=3), prompt
    )
    _maybe(draw, "voice_type", st.sampled_from(["ivr", "prompt_tone", "music"]), prompt)
    _maybe(
        draw,
        "remote_name",
        st.one_of(st.sampled_from(REAL_VALUES), st.dictionaries(KEYS, st.text(max_size=60))),
        prompt,
    )
    for key in draw(st.lists(KEYS, max_size=1)):
        prompt[key] = draw(PLAIN_DATA)
    return prompt


@st.composite
def provider_like(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["huawei-aicc", "tencent-ccc", "other"]))
    provider: dict[str, Any] = {"type": kind} if draw(st.integers(0, 9)) else {}
    keys = [k for k in REAL_KEYS[6:27] if k != "audio_source"]
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        provider[key] = draw(st.one_of(INLINE_VALUES.map(_scalar_of), SCALARS))
    if kind == "huawei-aicc":
        _maybe(draw, "endpoint", st.sampled_from(REAL_VALUES[6:12] + ENV_FORMS), provider)
    if kind == "tencent-ccc":
        _maybe(
            draw,
            "sdk_app_id",
            st.one_of(st.sampled_from(NUMBERS + ENV_FORMS), st.integers()),
            provider,
        )
        source_type = st.sampled_from(["url", "s3", "ftp"])
        _maybe(
            draw,
            "audio_source",
            st.fixed_dictionaries(
                {"type": source_type},
                optional={
                    "template": st.sampled_from(REAL_VALUES[20:29] + ENV_FORMS),
                    "bucket": st.sampled_from(["b", "bucket", "x" * 64]),
                    "url_expires": st.sampled_from(NUMBERS),
                    "endpoint": st.sampled_from(REAL_VALUES[6:12]),
                },
            ),
            provider,
        )
    return provider


def _scalar_of(text: str) -> Any:
    """What YAML reads a line's value as, or the text itself when it is not YAML."""
    try:
        return yaml.safe_load(text)
    except Exception:  # a bad `!!timestamp` raises ValueError, and so on
        return text


@st.composite
def manifest_like(draw: st.DrawFn) -> dict[str, Any]:
    names = st.one_of(st.sampled_from(["aicc", "ccc", "welcome", "main-menu"]), KEYS)
    root: dict[str, Any] = {}
    _maybe(draw, "version", st.sampled_from([1, 1, 1, 2, "1", 1.0, True]), root)
    _maybe(draw, "state", st.fixed_dictionaries({"path": st.sampled_from(PATHS)}), root)
    _maybe(draw, "providers", st.dictionaries(names, provider_like(), max_size=3), root)
    _maybe(
        draw,
        "defaults",
        st.fixed_dictionaries(
            {},
            optional={
                "providers": st.lists(st.sampled_from(["aicc", "ccc", "nope"]), max_size=3),
                "voice_type": st.sampled_from(["ivr", "fault_tone", "music"]),
            },
        ),
        root,
    )
    _maybe(draw, "include", st.lists(st.sampled_from(PATHS), max_size=3), root)
    _maybe(draw, "prompts", st.dictionaries(names, prompt_like(), max_size=4), root)
    _maybe(
        draw,
        "moved",
        st.lists(
            st.fixed_dictionaries(
                {
                    "from": st.sampled_from(REAL_VALUES[29:36]),
                    "to": st.sampled_from(REAL_VALUES[29:36]),
                }
            ),
            max_size=2,
        ),
        root,
    )
    for key in draw(st.lists(KEYS, max_size=1)):
        root[key] = draw(PLAIN_DATA)
    return root


def dump(value: Any, draw: st.DrawFn) -> bytes:
    text = yaml.safe_dump(
        value,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None, True])),
        sort_keys=draw(st.booleans()),
    )
    return text.encode()


GOOD_PROVIDERS: dict[str, dict[str, Any]] = {
    "aicc": {"type": "huawei-aicc", "endpoint": "https://service.besclouds.com"},
    "aicc2": {"type": "huawei-aicc", "endpoint": "http://127.0.0.1:8443", "size_limit_of": "file"},
    "ccc": {
        "type": "tencent-ccc",
        "sdk_app_id": 1400000000,
        "audio_source": {"type": "url", "template": "https://cdn.example.com/{path}"},
    },
    "ccc2": {
        "type": "tencent-ccc",
        "sdk_app_id": "${IVRSYNC_FUZZ_NUMBER}",
        "content_hash_in_name": False,
        "audio_source": {"type": "s3", "bucket": "prompts", "endpoint": "https://s3.example.com"},
    },
}
AUDIO_FILES = tuple(
    sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.glob("audio/*/*") if p.is_file())
)


@st.composite
def sound_manifest(draw: st.DrawFn) -> dict[str, Any]:
    """Right in shape and mostly in content, so the later checks run: providers, locales,
    remote names and their collisions, moves, audio for each provider."""
    names = draw(st.lists(st.sampled_from(sorted(GOOD_PROVIDERS)), min_size=1, unique=True))
    prompt_names = st.one_of(st.sampled_from(["welcome", "menu", "a", "A", "x-y"]), KEYS)
    locales = st.one_of(st.sampled_from(["en_US", "zh_CN", "pt_BR", "th_TH", "de_DE"]), KEYS)
    remote_names = st.one_of(
        st.none(),
        st.sampled_from(["Menu", "菜单", "a" * 60, "Same", "x y", ""]),
        st.dictionaries(locales, st.sampled_from(["Same", "问卷", "a" * 51, "ok"]), max_size=2),
    )
    prompt = st.fixed_dictionaries(
        {"audio": st.dictionaries(locales, st.sampled_from(AUDIO_FILES), min_size=1, max_size=3)},
        optional={
            "providers": st.lists(st.sampled_from([*names, "nope"]), min_size=1, max_size=2),
            "voice_type": st.sampled_from(["ivr", "prompt_tone", "fault_tone"]),
            "remote_name": remote_names,
            "description": st.text(max_size=20),
        },
    )
    prompts: dict[str, dict[str, Any]] = draw(st.dictionaries(prompt_names, prompt, max_size=4))
    addresses = [
        f"{p}.{n}.{loc}" for n, spec in prompts.items() for p in names for loc in spec["audio"]
    ]
    moves = st.fixed_dictionaries(
        {
            "from": st.sampled_from([*addresses, *prompts, "gone", "aicc.gone.en_US"]),
            "to": st.sampled_from([*addresses, *prompts, "gone", "a.b"]),
        }
    )
    manifest: dict[str, Any] = {
        "version": 1,
        "providers": {name: GOOD_PROVIDERS[name] for name in names},
        "prompts": prompts,
    }
    if draw(st.booleans()):
        manifest["moved"] = draw(st.lists(moves, max_size=2))
    if draw(st.booleans()):
        manifest["defaults"] = {"providers": draw(st.lists(st.sampled_from(names), min_size=1))}
    return manifest


@st.composite
def generated(draw: st.DrawFn) -> Case:
    kind = draw(
        st.sampled_from(["sound", "sound", "manifest", "manifest", "data", "text", "bytes"])
    )
    if kind == "sound":
        content = dump(draw(sound_manifest()), draw)
    elif kind == "manifest":
        content = dump(draw(manifest_like()), draw)
    elif kind == "data":
        content = dump(draw(PLAIN_DATA), draw)
    elif kind == "text":
        content = draw(st.text(max_size=200)).encode()
    else:
        content = draw(st.binary(max_size=200))
    files: list[tuple[str, bytes]] = [(ROOT, content)]
    if draw(st.booleans()):
        menus = {"prompts": draw(st.dictionaries(KEYS, prompt_like(), max_size=3))}
        if draw(st.booleans()):
            menus["moved"] = draw(PLAIN_DATA)
        files.append((MENUS, dump(menus, draw)))
    return Case(tuple(files), draw(COMMANDS))


@given(case=generated())
@settings(PROFILE, max_examples=GENERATED_EXAMPLES)
# A key with a carriage return: the message quoting it broke into two lines.
@example(case=Case(((ROOT, b'version: 1\nproviders: {}\nmoved:\n- "\\r": null\n'),)))
def test_generated_manifests_fail_cleanly(fuzz: Fuzz, case: Case) -> None:
    check(fuzz, case)


# What the fuzzing found, as the user now reads it: each at its file and line, on one line.
FOUND: dict[str, tuple[tuple[tuple[str, bytes], ...], str]] = {
    "control-character": (
        replaced(b"version: 1", b"version: 1\x07"),
        "ivrsync.yaml:5:11: error: invalid YAML: the character U+0007 is not allowed",
    ),
    "utf-16": (
        ((ROOT, ORIGINALS[ROOT].decode().encode("utf-16-le")),),
        "ivrsync.yaml:1:2: error: invalid YAML: the character U+0000 is not allowed in a YAML "
        "file (is the file saved as UTF-16 or UTF-32?",
    ),
    "truncated-in-a-key": (
        ((ROOT, TRUNCATED),),
        "ivrsync.yaml:22:6: error: invalid YAML: while scanning a simple key that starts at "
        "line 22, could not find expected ':'",
    ),
    "only-a-document-marker": (
        ((ROOT, b"---"),),
        "ivrsync.yaml:1:4: error: the file is empty; it must be a map of keys",
    ),
    "python-tag-on-a-list": (
        replaced(b"include:\n", b"include: !!python/object/apply:os.system\n"),
        "ivrsync.yaml:45:10: error: the YAML tag '!!python/object/apply:os.system' is not allowed",
    ),
    "python-tag-on-a-key": (
        replaced(b"  welcome:", b"  !!python/name:os.system welcome:"),
        "ivrsync.yaml:49:3: error: the YAML tag '!!python/name:os.system' is not allowed",
    ),
    "nul-in-state-path": (
        replaced(b"path: ivrsync.state.json", b'path: "a\\0b"'),
        "ivrsync.yaml:8:9: error: state.path: 'a\\x00b' contains a control character",
    ),
    "file-name-too-long": (
        replaced(WELCOME_AUDIO, b"en_US: " + b"a" * 300 + b".wav"),
        "ivrsync.yaml:52:14: error: cannot read audio file "
        + "a" * 300
        + ".wav: File name too long",
    ),
    "nested-too-deep": (
        replaced(b"voice_type: ivr", b"voice_type: " + b"[" * 100_000),
        "ivrsync.yaml:43:113: error: maps and lists nest more than 100 levels deep here",
    ),
    "carriage-return-in-a-key": (
        ((ROOT, b'version: 1\nproviders: {}\nmoved:\n- "\\r": null\n'),),
        "ivrsync.yaml:4:3: error: unknown key '\\r' in moved[0]; allowed: from, to",
    ),
    "wrong-type-inside-a-union": (
        replaced(b"remote_name: PostCallSurvey", b"remote_name: {en_US: [1]}", MENUS),
        "prompts/menus.yaml:12:26: error: prompts.survey.remote_name.en_US: must be text "
        "(got a list)",
    ),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_what_fuzzing_found_is_one_clear_line(fuzz: Fuzz, name: str) -> None:
    files, expected = FOUND[name]
    check(fuzz, Case(files))
    code, _, err = fuzz.run("-C", str(fuzz.repo), "validate")
    assert code == 1
    assert any(line.startswith(expected) for line in err.splitlines()), err


# --- The checks themselves -------------------------------------------------------------------


def test_the_unmutated_examples_are_valid(fuzz: Fuzz) -> None:
    """The fixture repository is the real example: a mutation starts from something valid."""
    check(fuzz, Case(()))
    check(fuzz, Case((), ("validate", "--json")))
    check(fuzz, Case((), ("plan", "--no-lock")))
    code, out, _ = fuzz.run("-C", str(fuzz.repo), "validate")
    assert code == 0
    assert out.startswith("Valid: 7 prompts")


def test_the_check_catches_a_crash(fuzz: Fuzz, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash anywhere in validate fails `check` (so a passing fuzz run means something)."""

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("ivrsync.validate.read_project", boom)
    with pytest.raises(AssertionError):
        check(fuzz, Case(()))
    for log in fuzz.crash_dir.iterdir():
        log.unlink()
