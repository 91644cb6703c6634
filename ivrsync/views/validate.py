"""`validate` shown: a one-line verdict, or the report as JSON (docs/cli.md)."""

from __future__ import annotations

from ivrsync.plan.render import acknowledged_line, plural
from ivrsync.validate import ValidationReport


def validation_json(report: ValidationReport) -> dict[str, object]:
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


def _aside(*notes: str) -> str:
    shown = "; ".join(note for note in notes if note)
    return f" ({shown})" if shown else ""


def invalid_line(report: ValidationReport) -> str:
    return (
        f"Invalid: {plural(len(report.errors), 'error')}, "
        f"{plural(len(report.warnings), 'warning')}."
    )


def valid_line(report: ValidationReport) -> str:
    project = report.project
    assert project is not None, "a valid report has a project"
    warnings = plural(len(report.warnings), "warning")
    acknowledged = len(report.acknowledged)
    return (
        f"Valid: {plural(len(project.prompt_names), 'prompt')}, "
        f"{plural(len(project.resources), 'resource')}, "
        f"{plural(len(project.providers), 'provider')}"
        + _aside(
            warnings if report.warnings else "",
            acknowledged_line(acknowledged).rstrip(".") if acknowledged else "",
        )
        + "."
    )
