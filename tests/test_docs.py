"""The docs cannot drift: the reference is regenerated and compared, every relative link
resolves, and shell completion does what docs/completion.md says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import click
import pytest

from ivrsync.cli.main import COMMANDS, cli
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import gen_docs

REFERENCE = ("manifest.md", "cli.md", "examples.md")
MARKDOWN = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


@pytest.fixture(scope="module")
def generated() -> gen_docs.Generated:
    return gen_docs.generate()


# ---------------------------------------------------------------------------------------------
# The generated reference


@pytest.mark.parametrize("name", REFERENCE)
def test_committed_reference_matches_the_code(generated: gen_docs.Generated, name: str) -> None:
    relative = f"docs/reference/{name}"
    path = REPO_ROOT / relative
    assert path.is_file(), f"{relative} is missing: run `make docs`"
    assert path.read_text(encoding="utf-8") == generated.files[relative], (
        f"{relative} is out of date: run `make docs` (python scripts/gen_docs.py)"
    )


def test_every_command_imports_for_the_reference(generated: gen_docs.Generated) -> None:
    if generated.skipped:
        left_out = "; ".join(str(s) for s in generated.skipped)
        pytest.fail(
            f"left out of docs/reference/cli.md, as their modules do not import: {left_out}"
        )


def test_every_command_has_a_section_in_the_cli_reference() -> None:
    text = (REPO_ROOT / "docs/reference/cli.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,3} `(ivrsync [^`]+)`$", text, re.MULTILINE))
    missing = [name for name in COMMANDS if f"ivrsync {name}" not in headings]
    assert not missing, f"no section in docs/reference/cli.md for {missing}: run `make docs`"
    ctx = click.Context(cli, info_name="ivrsync")
    for name in COMMANDS:
        try:
            command = cli.get_command(ctx, name)
        except ImportError:
            continue  # reported by the test above
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, info_name=name, parent=ctx)
            for sub in command.list_commands(sub_ctx):
                assert f"ivrsync {name} {sub}" in headings, f"run `make docs` ({name} {sub})"


def test_generation_is_deterministic(generated: gen_docs.Generated) -> None:
    again = gen_docs.generate()
    assert again.files == generated.files
    for text in generated.files.values():
        assert "ivrsync-docs-" not in text  # the name of the temporary folder of the runs


# ---------------------------------------------------------------------------------------------
# Links in README.md and docs/

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[`~]*[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1", re.DOTALL)
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
_REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?", re.MULTILINE)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)


def _without_code(text: str) -> str:
    """Code blocks and spans blanked out (newlines kept, so line numbers stay right)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return _CODE_SPAN.sub(blank, _FENCE.sub(blank, text))


def _links(path: Path) -> list[tuple[int, str]]:
    text = _without_code(path.read_text(encoding="utf-8"))
    found = [*_INLINE_LINK.finditer(text), *_REFERENCE_LINK.finditer(text)]
    return sorted((text.count("\n", 0, m.start()) + 1, m.group(1)) for m in found)


def _relative_links() -> list[tuple[Path, int, str, Path, str]]:
    """(file, line, link, the file it points to, anchor) for links that are not URLs."""
    result = []
    for source in MARKDOWN:
        for line, link in _links(source):
            if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", link):
                continue  # https:, mailto:
            target, _, anchor = link.partition("#")
            target = unquote(target)
            if not target:
                resolved = source
            elif target.startswith("/"):
                resolved = REPO_ROOT / target.lstrip("/")
            else:
                resolved = source.parent / target
            result.append((source, line, link, resolved.resolve(), anchor))
    return result


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in _HEADING.findall(_without_code_keep_headings(path)):
        base = gen_docs.github_anchor(heading)
        anchor, n = base, 0
        while anchor in anchors:
            n += 1
            anchor = f"{base}-{n}"
        anchors.add(anchor)
    return anchors


def _without_code_keep_headings(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def test_the_link_finder_finds_links() -> None:
    links = [link for _, link in _links(REPO_ROOT / "README.md")]
    assert "docs/manifest.md" in links
    assert "examples/manifests/" in links


def test_every_relative_link_points_to_an_existing_file() -> None:
    broken = [
        f"{source.relative_to(REPO_ROOT)}:{line}: {link}"
        for source, line, link, resolved, _ in _relative_links()
        if not resolved.exists() or not resolved.is_relative_to(REPO_ROOT)
    ]
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_every_anchor_in_a_link_names_a_heading() -> None:
    broken = [
        f"{source.relative_to(REPO_ROOT)}:{line}: {link}"
        for source, line, link, resolved, anchor in _relative_links()
        if anchor
        and resolved.suffix == ".md"
        and resolved.is_file()
        and anchor not in _anchors(resolved)
    ]
    assert not broken, "links to headings that do not exist:\n" + "\n".join(broken)


# ---------------------------------------------------------------------------------------------
# Documents the code cites ("API facts: docs/providers/huawei-aicc.md#upload")

CITING = ("ivrsync", "scripts")
# A relative path to a Markdown file, with its #anchor if any: `docs/ci.md`, `docs/x.md#y`.
_CITATION = re.compile(r"(?<![\w/.{}-])([\w-]+(?:/[\w.-]+)+\.md)(?:#([\w-]+))?")


def _citations() -> list[tuple[str, str, str]]:
    """(file:line, cited path, anchor) for every Markdown path named in the code's text."""
    found = []
    for folder in CITING:
        for source in sorted((REPO_ROOT / folder).rglob("*")):
            if not source.is_file() or "__pycache__" in source.parts:
                continue
            try:
                text = source.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # audio and other binary files
            for match in _CITATION.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                where = f"{source.relative_to(REPO_ROOT)}:{line}"
                found.append((where, match.group(1), match.group(2) or ""))
    return found


def test_the_citation_finder_finds_citations() -> None:
    cited = {(path, anchor) for _, path, anchor in _citations()}
    assert ("docs/providers/huawei-aicc.md", "upload") in cited
    assert ("docs/providers/tencent-ccc.md", "") in cited
    assert ("docs/reference/cli.md", "") in cited


def test_every_document_the_code_cites_is_in_the_repository() -> None:
    """A citation is read from the repository's root: a fact the code relies on must be
    findable by whoever reads that code (it once cited pages kept outside the repository)."""
    broken = [
        f"{where}: {path}" for where, path, _ in _citations() if not (REPO_ROOT / path).is_file()
    ]
    assert not broken, "the code cites documents that are not in the repository:\n" + "\n".join(
        broken
    )


def test_every_section_the_code_cites_is_a_heading() -> None:
    broken = [
        f"{where}: {path}#{anchor}"
        for where, path, anchor in _citations()
        if anchor and (REPO_ROOT / path).is_file() and anchor not in _anchors(REPO_ROOT / path)
    ]
    assert not broken, "the code cites sections that do not exist:\n" + "\n".join(broken)


# ---------------------------------------------------------------------------------------------
# Shell completion (docs/completion.md)

SHELLS = ("bash", "zsh", "fish")
_SCRIPT = Path(sys.executable).with_name("ivrsync")  # the console script next to this Python


def _ivrsync() -> list[str]:
    return [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ivrsync"]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMP_", "_IVRSYNC_COMPLETE"))}
    env["PATH"] = f"{_SCRIPT.parent}{os.pathsep}{env.get('PATH', os.defpath)}"
    env.update(extra)
    return env


def _run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}: {result.stderr}"
    assert not result.stderr, result.stderr
    return result.stdout


def _complete(shell: str, words: str, cword: str) -> list[str]:
    """What ivrsync offers, as `<shell>_complete` answers the script of that shell."""
    env = _environment(COMP_WORDS=words, COMP_CWORD=cword, _IVRSYNC_COMPLETE=f"{shell}_complete")
    out = _run(_ivrsync(), env)
    if shell == "bash":  # type,value per line
        return [line.split(",", 1)[1] for line in out.splitlines() if line.startswith("plain,")]
    if shell == "zsh":  # type, value, help: three lines each
        lines = out.splitlines()
        return [lines[i + 1] for i in range(0, len(lines), 3) if lines[i] == "plain"]
    # fish: type,value<TAB>help per line
    return [
        line.split(",", 1)[1].split("\t", 1)[0]
        for line in out.splitlines()
        if line.startswith("plain,")
    ]


def _cword(shell: str, line: str) -> str:
    """COMP_CWORD: the index of the word being completed, or for fish the word itself."""
    if shell == "fish":
        return "" if line.endswith(" ") else line.rsplit(maxsplit=1)[-1]
    return str(len(line.split()) - (0 if line.endswith(" ") else 1))


def test_completion_docs_give_the_source_command_of_every_shell() -> None:
    text = (REPO_ROOT / "docs/completion.md").read_text(encoding="utf-8")
    for shell in SHELLS:
        assert f"_IVRSYNC_COMPLETE={shell}_source ivrsync" in text
    assert 'COMP_WORDS="ivrsync va" COMP_CWORD=1 _IVRSYNC_COMPLETE=bash_complete ivrsync' in text
    assert "\nplain,validate\n" in text


@pytest.mark.parametrize(
    ("shell", "expected"),
    [
        ("bash", "complete -o nosort -F _ivrsync_completion ivrsync"),
        ("zsh", "compdef _ivrsync_completion ivrsync"),
        ("fish", 'complete --no-files --command ivrsync --arguments "(_ivrsync_completion)"'),
    ],
)
def test_source_prints_the_completion_script(shell: str, expected: str) -> None:
    script = _run(_ivrsync(), _environment(_IVRSYNC_COMPLETE=f"{shell}_source"))
    assert expected in script
    assert f"_IVRSYNC_COMPLETE={shell}_complete" in script


def test_bash_complete_prints_what_the_docs_say() -> None:
    env = _environment(COMP_WORDS="ivrsync va", COMP_CWORD="1", _IVRSYNC_COMPLETE="bash_complete")
    assert _run(_ivrsync(), env) == "plain,validate\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_lists_every_command_though_they_load_lazily(shell: str) -> None:
    assert sorted(_complete(shell, "ivrsync ", _cword(shell, "ivrsync "))) == sorted(COMMANDS)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ivrsync s", ["schema", "show", "state", "status"]),
        ("ivrsync -C repo va", ["validate"]),
        (
            "ivrsync state ",
            ["list", "list-versions", "migrate", "mv", "pull", "push", "rm", "rollback", "show"],
        ),
        ("ivrsync plan --form", ["--format"]),
        ("ivrsync plan --format ", ["text", "markdown", "json", "html"]),
        ("ivrsync emulator ", ["huawei", "tencent", "amazon-connect", "all"]),
    ],
)
def test_completion_of_commands_options_and_choices(
    shell: str, line: str, expected: list[str]
) -> None:
    assert _complete(shell, line, _cword(shell, line)) == expected


def _shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    if not _SCRIPT.exists():
        pytest.skip("the ivrsync console script is not installed next to this Python")
    return path


def test_bash_completion_function_completes_commands() -> None:
    bash = _shell("bash")
    program = (
        'eval "$(_IVRSYNC_COMPLETE=bash_source ivrsync)"\n'
        "COMP_WORDS=(ivrsync va); COMP_CWORD=1; _ivrsync_completion ivrsync\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
        "COMPREPLY=(); COMP_WORDS=(ivrsync state ''); COMP_CWORD=2\n"
        '_ivrsync_completion ivrsync; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = _run([bash, "--norc", "--noprofile", "-c", program], _environment())
    assert out.split() == [
        "validate",
        "list",
        "list-versions",
        "migrate",
        "mv",
        "pull",
        "push",
        "rm",
        "rollback",
        "show",
    ]


def test_zsh_completion_function_completes_commands() -> None:
    zsh = _shell("zsh")
    # compinit's functions need a terminal; stand-ins print what they are given instead.
    program = (
        "compdef() { :; }\n"
        "_describe() { print -rl -- ${(P)3}; }\n"
        "compadd() { print -rl -- ${(P)${@[-1]}}; }\n"
        'eval "$(_IVRSYNC_COMPLETE=zsh_source ivrsync)"\n'
        "words=(ivrsync va); CURRENT=2; _ivrsync_completion\n"
        "words=(ivrsync state ''); CURRENT=3; _ivrsync_completion\n"
    )
    out = _run([zsh, "-f", "-c", program], _environment())
    assert [line.split(":", 1)[0] for line in out.splitlines()] == [
        "validate",
        "list",
        "mv",
        "rm",
        "show",
    ]


def test_fish_completion_completes_commands() -> None:
    fish = _shell("fish")
    program = (
        "_IVRSYNC_COMPLETE=fish_source ivrsync | source\n"
        "complete -C'ivrsync va'\n"
        "complete -C'ivrsync state '\n"
    )
    out = _run([fish, "--no-config", "-c", program], _environment())
    assert [line.split("\t", 1)[0] for line in out.splitlines()] == [
        "validate",
        "list",
        "mv",
        "rm",
        "show",
    ]
