"""The address of a resource, `provider.prompt.locale`, used everywhere a resource is named."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivrsync.errors import IvrsyncError

_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_NOT_ENV = re.compile(r"[^A-Z0-9]+")
# The prefix of `ivrsync output --format env` variables unless `--prefix` says otherwise.
ENV_PREFIX = "IVRSYNC"


class AddressError(IvrsyncError, ValueError):
    """Text given as an address is not one: a user error wherever it is parsed (a command's
    argument, the state, a manifest), never a crash. A ValueError too, so that pydantic
    validators report it at its path."""


@dataclass(frozen=True, order=True, slots=True)
class Address:
    provider: str
    prompt: str
    locale: str

    @classmethod
    def parse(cls, text: str) -> Address:
        parts = text.split(".")
        if len(parts) != 3 or not all(_PART.match(part) for part in parts):
            raise AddressError(
                f"'{text}' is not a resource address; write provider.prompt.locale, "
                "e.g. aicc.welcome.en_US"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.provider}.{self.prompt}.{self.locale}"

    def env_name(self, prefix: str = ENV_PREFIX) -> str:
        """`IVRSYNC_AICC_MAIN_MENU_EN_US`: the variable `output --format env` sets to its
        FileId. Different addresses can give the same name (`main-menu`, `main_menu`), which
        validate refuses."""
        joined = "_".join([prefix.rstrip("_"), self.provider, self.prompt, self.locale])
        return _NOT_ENV.sub("_", joined.upper()).strip("_")
