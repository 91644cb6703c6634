"""The `ivrsync` command: wires click to the command modules, and handles every failure.

Commands are imported only when run, so `ivrsync --help` does not pay for pydantic or a
cloud SDK. `ivrsync.cli.main` imports this module only once it needs click.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, NoReturn

import click

from ivrsync import __version__
from ivrsync.cli.interrupt import INTERRUPTS, Interrupted, interrupt
from ivrsync.cli.options import common_options, reset_logging
from ivrsync.cli.program import PROG, VERSION_MESSAGE

if TYPE_CHECKING:
    from pathlib import Path

# name -> (module:function, one-line help shown by `ivrsync --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("ivrsync.cli.init:init", "Create a prompt repository that validates at once."),
    "fmt": ("ivrsync.cli.fmt:fmt", "Rewrite manifests in the canonical order and style."),
    "validate": ("ivrsync.cli.validate:validate", "Check the manifests and audio files."),
    "schema": ("ivrsync.cli.schema:schema", "Print the JSON Schema of the manifest."),
    "plan": ("ivrsync.cli.plan:plan", "Show what apply would upload, replace, move or forget."),
    "show": ("ivrsync.cli.show:show", "Show a saved plan, or the state."),
    "preview": ("ivrsync.cli.preview:preview", "Write what callers will hear, to listen to."),
    "apply": ("ivrsync.cli.apply:apply", "Upload what a plan says, recording every FileId."),
    "emulator": ("ivrsync.cli.emulator:emulator", "Serve local emulators of the provider APIs."),
    "import": ("ivrsync.cli.import_:import_", "Record an upload's FileId without uploading."),
    "refresh": ("ivrsync.cli.refresh:refresh", "Record review results and drift from providers."),
    "status": ("ivrsync.cli.status:status", "Show where each upload stands in review."),
    "output": ("ivrsync.cli.outputs:output", "Print the FileIds for IVR flows (json/yaml/env)."),
    "state": ("ivrsync.cli.state:state", "List, change, pull, push or roll back the state."),
    "review-server": (
        "ivrsync.cli.review_server:review_server",
        "Receive providers' review callbacks and serve them to refresh.",
    ),
    "force-unlock": (
        "ivrsync.cli.force_unlock:force_unlock",
        "Remove a state lock left by a process that is gone.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(__version__, "--version", prog_name=PROG, message=VERSION_MESSAGE)
def cli() -> None:
    """Manage IVR voice prompts like infrastructure: manifests in git, plan, apply."""


def _crash_report() -> Path:
    """Write the full trace where the user can attach it to a bug report."""
    import tempfile  # these only on a crash: they cost start-up time
    import time
    import traceback
    from pathlib import Path

    from ivrsync.secrets import redact

    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = f"ivrsync {__version__}\nargv: {sys.argv[1:]}\n\n{traceback.format_exc()}"
    # A name of its own, created exclusively and readable by the user alone: two crashes in
    # one second must not overwrite each other (an id() of the exception could repeat).
    handle, name = tempfile.mkstemp(prefix=f"ivrsync-crash-{stamp}-", suffix=".log")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(redact(report))
    return Path(name)


def _failed(exc: Exception) -> int:
    """Print an error the user can fix as one message, anything else as a bug; exit code 1.

    ivrsync's errors and secrets are imported here, not at start-up: `--help` needs neither,
    and a command that raises an IvrsyncError has imported them already.
    """
    from ivrsync.errors import IvrsyncError, ManifestError
    from ivrsync.secrets import redact

    if isinstance(exc, ManifestError):
        for problem in exc.problems:
            click.echo(redact(str(problem)), err=True)
    if isinstance(exc, IvrsyncError):
        click.echo(f"Error: {redact(str(exc))}", err=True)
        return 1
    try:
        where = f"the full trace is in {_crash_report()}"
    except OSError:
        where = "the trace could not be written"
    click.echo(f"ivrsync: internal error ({type(exc).__name__}); this is a bug, {where}", err=True)
    return 1


def run(argv: list[str] | None = None) -> NoReturn:
    """Exit 0 on success, 1 on any error (usage errors too), or the command's own code."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, interrupt) for signum in INTERRUPTS}
    try:
        sys.exit(_run(argv))
    finally:
        # Run in a test's process: leave it as found. A command on its way out after a
        # second signal ignores any further one (cli/signals.py): that stays, or a third
        # Ctrl-C would kill the exit midway.
        for signum, handler in previous.items():
            if signal.getsignal(signum) is interrupt:
                signal.signal(signum, handler)


def _run(argv: list[str] | None) -> int:
    # pydantic reads the entry points of every installed distribution the first time it
    # builds a model, looking for plugins (7 ms with 100 installed); ivrsync uses none. Its
    # documented switch; a value the user set is kept (an empty one enables them all).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    reset_logging()
    try:
        code = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns a KeyboardInterrupt (Ctrl-C where ivrsync's handler is not installed,
        # such as a thread of a program that runs it) into Abort: still an interrupt.
        interrupted = isinstance(exc.__context__, KeyboardInterrupt)
        click.echo("Interrupted." if interrupted else "Aborted.", err=True)
        code = 130 if interrupted else 1
    except click.ClickException as exc:
        exc.show()
        code = 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except Interrupted as exc:
        click.echo(f"Interrupted ({exc}).", err=True)
        code = exc.exit_code
    except Exception as exc:
        code = _failed(exc)
    return code if isinstance(code, int) else 0
