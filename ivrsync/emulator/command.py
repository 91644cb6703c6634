"""What `ivrsync emulator` knows of each emulator: one `Emulation` per emulator module, named by
its provider module (`EMULATOR = "module:attribute"`), so that the command, its options and
its help come from the registry and a new emulator needs no edit of the command.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Server(Protocol):
    """A started emulator."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EmulatorOption:
    """A command-line option an emulator declares for itself (`--sdk-app-id ID`)."""

    flag: str  # without the dashes
    metavar: str
    help: str
    # The value from its text; a ValueError's message says what is allowed.
    parse: Callable[[str], Any]
    multiple: bool = False


@dataclass(frozen=True, slots=True)
class Setup:
    """What the command line and the environment say to one emulator."""

    host: str
    review_delay: float
    reject_pattern: re.Pattern[str] | None
    # Each of the emulator's own options by flag: the parsed value, a tuple where repeatable,
    # None (or an empty tuple) when not given.
    options: Mapping[str, Any]
    env: Mapping[str, str]  # where credentials come from, as the product's clients read them


@dataclass(frozen=True, slots=True)
class Prepared:
    """One emulator configured, ready to start."""

    start: Callable[[int], Server]  # on this port (0: any free one)
    describe: Callable[[Server], str]  # the startup line, never a secret


@dataclass(frozen=True, slots=True)
class Emulation:
    """One emulator as the command serves it."""

    name: str  # the command's argument and the `--NAME-port` option
    title: str  # "Tencent CCC", in the startup and stop lines
    default_port: int
    help: str  # a paragraph of the command's help: what it serves, whose credentials
    upload_name: str  # what the API calls an upload's name (for --reject-pattern's help)
    prepare: Callable[[Setup], Prepared]
    options: tuple[EmulatorOption, ...] = ()
