"""The lock file pins what pyproject.toml asks for, so `make test` installs what was tested."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO_ROOT

LOCK = REPO_ROOT / "requirements" / "constraints.txt"


def locked_versions() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, line in enumerate(LOCK.read_text().splitlines(), start=1):
        pin = line.split("#", 1)[0].strip()
        if not pin:
            continue
        name, sep, version = pin.partition("==")
        assert sep, f"{LOCK.name}:{number}: not an exact pin: {pin!r}"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_dependency_and_extra_is_pinned_within_its_range() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        wanted += [Requirement(r) for r in extra]
    pins = locked_versions()
    problems = []
    for requirement in wanted:
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} is outside {requirement.specifier}")
    assert not problems, "; ".join(problems) + ": run `make lock`"
