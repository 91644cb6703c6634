"""A PEP 517 build backend from the standard library alone: it builds this project's wheel.

Why not setuptools: Python 3.11's venv bundles setuptools 65.5 without the `wheel` package,
and that setuptools cannot build a wheel without it, so `pip install --no-build-isolation
--no-index` would fail offline in a fresh venv. A package of your own would declare
`setuptools.build_meta` (setuptools >= 70.1, or `wheel` installed) or `hatchling.build`;
nothing else in the package depends on the backend.
"""

from __future__ import annotations

import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path
from typing import Any


def _project() -> tuple[dict[str, Any], list[str]]:
    data = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))
    return data["project"], data["tool"]["wheel-only"]["modules"]


def _dist_info_files(project: dict[str, Any]) -> dict[str, str]:
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        *(f"Requires-Dist: {requirement}" for requirement in project["dependencies"]),
    ]
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items()) + "\n"
        for group, points in project["entry-points"].items()
    )
    wheel = "Wheel-Version: 1.0\nGenerator: wheel_only\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    return {
        "METADATA": "\n".join(metadata) + "\n",
        "WHEEL": wheel,
        "entry_points.txt": entry_points,
    }


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    project, modules = _project()
    stem = f"{project['name'].replace('-', '_')}-{project['version']}"
    files = {f"{module}.py": Path(f"{module}.py").read_bytes() for module in modules}
    for name, text in _dist_info_files(project).items():
        files[f"{stem}.dist-info/{name}"] = text.encode()
    record = "".join(
        f"{path},sha256="
        f"{base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}\n"
        for path, data in files.items()
    )
    files[f"{stem}.dist-info/RECORD"] = (record + f"{stem}.dist-info/RECORD,,\n").encode()
    name = f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name
