"""A release is one version everywhere: ivrsync/__init__.py, CHANGELOG.md, the pins templates
write, and one repository they install from (docs/releasing.md)."""

from __future__ import annotations

import re
import tomllib

import ivrsync
from ivrsync.scaffold import REQUIREMENT
from tests.conftest import REPO_ROOT


def test_the_changelog_opens_with_unreleased_then_this_version() -> None:
    headings = re.findall(r"(?m)^## \[([^\]]+)\]", (REPO_ROOT / "CHANGELOG.md").read_text())
    assert headings[0] == "Unreleased"
    assert headings[1] == ivrsync.__version__


def test_every_pin_names_this_version_in_the_one_repository() -> None:
    source = f"https://github.com/{ivrsync.REPOSITORY}"
    urls = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Source"] == source
    assert f"ivrsync @ git+{source}@v{ivrsync.__version__}" == REQUIREMENT
    example = (REPO_ROOT / "examples" / "ci" / "github-actions.yml").read_text()
    ours = re.findall(r"uses: (\S+/ivrsync)@([0-9a-f]{40}) # (v\S+)$", example, re.MULTILINE)
    assert len(ours) == 2
    assert {(name, version) for name, _, version in ours} == {
        (ivrsync.REPOSITORY, f"v{ivrsync.__version__}")
    }
