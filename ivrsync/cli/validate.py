"""`ivrsync validate`: is this prompt repository right, before anything is uploaded?"""

from __future__ import annotations

from pathlib import Path

import click

from ivrsync.cli.options import common_options, console
from ivrsync.plan.render import acknowledged_line
from ivrsync.validate import ValidationReport, validate_repository


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _aside(*notes: str) -> str:
    shown = "; ".join(note for note in notes if note)
    return f" ({shown})" if shown else ""


def _as_json(report: ValidationReport) -> dict[str, object]:
    project = report.project
    return {
        "format_version": "1.1",
        "valid": report.valid,
        "summary": {
            "prompts": len(project.prompt_names) if project else None,
            "resources": len(project.resources) if project else None,
            "providers": len(project.providers) if project else None,
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "acknowledged": len(report.acknowledged),
        },
        "problems": [problem.to_json() for problem in report.problems],
        "resources": [
            {
                "address": str(resource.address),
                "audio": resource.audio_path,
                "remote_name": resource.remote_name,
            }
            for resource in (project.resources if project else [])
        ],
    }


@click.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the result and problems as JSON.")
@click.option(
    "--strict",
    is_flag=True,
    help="Treat warnings as errors (exit 1), except those the manifests acknowledge.",
)
def validate(as_json: bool, strict: bool) -> int:
    """Check ivrsync.yaml, its includes and audio files, without any network call.

    Exit 0 when valid (warnings are printed), 1 with every problem listed otherwise.
    """
    report = validate_repository(Path.cwd())
    out = console()
    failed = not report.valid or (strict and bool(report.warnings))
    if as_json:
        out.json(_as_json(report))
        return 1 if failed else 0
    for problem in report.shown:
        out.problem(problem)
    notes = _plural(len(report.warnings), "warning")
    if failed:
        errors = _plural(len(report.errors), "error")
        out.message(f"Invalid: {errors}, {notes}.")
        return 1
    project = report.project
    assert project is not None
    out.data(
        f"Valid: {_plural(len(project.prompt_names), 'prompt')}, "
        f"{_plural(len(project.resources), 'resource')}, "
        f"{_plural(len(project.providers), 'provider')}"
        + _aside(
            notes if report.warnings else "",
            acknowledged_line(len(report.acknowledged)).rstrip(".") if report.acknowledged else "",
        )
        + "."
    )
    return 0
