"""The address of a resource, `provider.prompt.locale`, used everywhere a resource is named."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PART = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, order=True, slots=True)
class Address:
    provider: str
    prompt: str
    locale: str

    @classmethod
    def parse(cls, text: str) -> Address:
        parts = text.split(".")
        if len(parts) != 3 or not all(_PART.match(part) for part in parts):
            raise ValueError(
                f"'{text}' is not a resource address; write provider.prompt.locale, "
                "e.g. aicc.welcome.en_US"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.provider}.{self.prompt}.{self.locale}"
