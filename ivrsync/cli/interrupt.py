"""SIGINT and SIGTERM as an exception: what every command unwinds with (ivrsync/cli/app.py)
and what the commands that stop gracefully raise outside the engine (ivrsync/cli/signals.py)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import NoReturn


class Interrupted(BaseException):
    """SIGINT or SIGTERM (Ctrl-C, a CI cancel, `kill`): unwinds like an error, so every `with`
    block releases what it took (the state lock above all), then exits 128 + the signal's
    number. Not an Exception: nothing on the way may swallow it. Commands that can stop
    gracefully (apply, refresh) take the signals over for a while (ivrsync/cli/signals.py)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise Interrupted(signum)


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
