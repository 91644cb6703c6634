"""Warnings the manifests acknowledge (`acknowledge:`), and the ones no warning matches.

An acknowledgement names what its warning is about (the audio, the kept remote name), so a new
occurrence still shows; one that matches nothing is reported, so that none outlives its cause.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ivrsync.address import Address
from ivrsync.errors import Acknowledged, Location, Problem, Severity
from ivrsync.settings import ACKNOWLEDGEABLE, AcknowledgeableCode


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """An `acknowledge:` entry of a provider (every prompt it gets) or of a prompt."""

    warning: AcknowledgeableCode
    subject: str  # what the warning names: the audio, the kept remote name
    reason: str | None
    where: Location
    provider: str | None = None  # the scope: this provider's resources...
    prompt: str | None = None  # ...or this prompt's

    @property
    def acknowledged(self) -> Acknowledged:
        return Acknowledged(self.where, self.reason)

    def covers(self, warning: str, address: Address, subject: str) -> bool:
        return (
            warning == self.warning
            and subject == self.subject
            and self.provider in (None, address.provider)
            and self.prompt in (None, address.prompt)
        )

    def describe(self) -> str:
        return f"{self.warning} ({ACKNOWLEDGEABLE[self.warning]}: {self.subject!r})"


def find(
    acknowledgements: Iterable[Acknowledgement], warning: str, address: Address, subject: str
) -> Acknowledgement | None:
    """The first acknowledgement of this warning about `subject` at `address`, if any."""
    return next((a for a in acknowledgements if a.covers(warning, address, subject)), None)


def unused_message(acknowledgement: Acknowledgement) -> str:
    return (
        f"the acknowledgement of {acknowledgement.describe()} matches no warning; remove it "
        "(or correct it: the warning names what to write)"
    )


def unused_problems(
    acknowledgements: Iterable[Acknowledgement], warning: str, used: set[Location]
) -> list[Problem]:
    """Acknowledgements of `warning` that no warning matched (none `used` at their line), as
    warnings at their line."""
    return [
        Problem("acknowledgement-unused", unused_message(a), a.where, Severity.WARNING)
        for a in acknowledgements
        if a.warning == warning and a.where not in used
    ]
