"""`ivrsync emulator [NAME...|all]`: serve provider API emulators until interrupted.

For demos and CI dry-runs without a cloud account: point a manifest's endpoint at the address it
prints. It listens on loopback only unless told otherwise, because it accepts well-known demo
credentials and speaks plain HTTP. The emulators, their `--NAME-port` options, their own
options and their help come from the provider registry (each type's EMULATOR).
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

from ivrsync.cli.options import common_options, console, parse_duration
from ivrsync.emulator.command import Emulation, EmulatorOption, Prepared, Server, Setup
from ivrsync.providers import PROVIDER_TYPES, load


def _emulations() -> dict[str, Emulation]:
    """Every registered provider type's emulator, by its name on the command line."""
    found: dict[str, Emulation] = {}
    for kind in PROVIDER_TYPES.values():
        if kind.EMULATOR is None:
            continue
        emulation = load(kind.EMULATOR)
        assert isinstance(emulation, Emulation), kind.EMULATOR
        assert emulation.name not in found and emulation.name != "all", emulation.name
        found[emulation.name] = emulation
    return found


EMULATIONS = _emulations()
# Each emulator's own options by flag (one flag, one emulator).
OWN_OPTIONS = {option.flag: (e, option) for e in EMULATIONS.values() for option in e.options}
assert len(OWN_OPTIONS) == sum(len(e.options) for e in EMULATIONS.values()), "a flag twice"


def _listed(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]]))


def _port_flag(name: str) -> str:
    return f"--{name}-port"


def _port_dest(name: str) -> str:
    return f"port_of_{name.replace('-', '_')}"


def _option_dest(flag: str) -> str:
    return f"own_{flag.replace('-', '_')}"


def _compile_pattern(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as e:
        raise click.BadParameter(f"{value!r} is not a regular expression: {e}") from None


class _Parsed(click.ParamType[Any]):
    """An emulator's own option's value, read by its `parse`."""

    def __init__(self, option: EmulatorOption) -> None:
        self.option = option
        self.name = option.metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.option.parse(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


_PORT = click.IntRange(0, 65535)


def _registry_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--NAME-port` for each emulator, then each emulator's own options."""
    for option in reversed([o for e in EMULATIONS.values() for o in e.options]):
        command = click.option(
            f"--{option.flag}",
            _option_dest(option.flag),
            type=_Parsed(option),
            multiple=option.multiple,
            metavar=option.metavar,
            help=option.help,
        )(command)
    for emulation in reversed(EMULATIONS.values()):
        command = click.option(
            _port_flag(emulation.name),
            _port_dest(emulation.name),
            type=_PORT,
            help=f"Port of the {emulation.title} emulator (default {emulation.default_port}).",
        )(command)
    return command


_DEFAULT_PORTS = ", ".join(f"{e.name} {e.default_port}" for e in EMULATIONS.values())
_HELP = "\n\n".join(
    [
        "Serve local emulators of the provider APIs until Ctrl-C or SIGTERM (default: all).",
        *(e.help for e in EMULATIONS.values()),
    ]
)


@click.command(help=_HELP)
@common_options
@click.argument(
    "provider",
    required=False,
    default="all",
    type=click.Choice([*EMULATIONS, "all"]),
    metavar=f"[{'|'.join([*EMULATIONS, 'all'])}]",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=_PORT,
    help=f"Port of a single provider's emulator (default: {_DEFAULT_PORTS}; 0: any free port).",
)
@_registry_options
@click.option(
    "--review-delay",
    default="2",
    show_default=True,
    callback=parse_duration,
    metavar="DURATION",
    help="Time from upload to review result, e.g. 2, 500ms, 1m.",
)
@click.option(
    "--reject-pattern",
    metavar="REGEX",
    callback=_compile_pattern,
    help="Reject in review the uploads whose name ("
    + ", ".join(f"{e.title} {e.upload_name}" for e in EMULATIONS.values())
    + ") contains a match (default: none).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback (the emulator has demo credentials and no TLS).",
)
def emulator(
    provider: str,
    host: str,
    port: int | None,
    review_delay: float,
    reject_pattern: re.Pattern[str] | None,
    allow_remote: bool,
    **per_emulator: Any,
) -> int:
    from ivrsync.emulator.common import is_loopback

    if not allow_remote and not is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host!r}: the emulator accepts demo credentials over plain "
            "HTTP, so anyone who can reach it could use it; use a loopback address such as "
            "127.0.0.1, or pass --allow-remote if that is really what you want"
        )
    named = {name: per_emulator[_port_dest(name)] for name in EMULATIONS}
    ports = _ports(provider, port, named)
    plans: list[tuple[Emulation, int, Prepared]] = []
    for name, chosen in ports.items():
        emulation = EMULATIONS[name]
        own = {o.flag: per_emulator[_option_dest(o.flag)] for o in emulation.options}
        setup = Setup(host, review_delay, reject_pattern, own, os.environ)
        plans.append((emulation, chosen, emulation.prepare(setup)))
    out = console()

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    running: list[tuple[Emulation, Server]] = []
    try:
        try:
            for emulation, chosen, prepared in plans:
                try:
                    server = prepared.start(chosen)
                except OSError as e:
                    raise click.ClickException(
                        f"cannot listen on {host}:{chosen} for the {emulation.title} emulator: "
                        f"{e.strerror or e}"
                    ) from None
                running.append((emulation, server))
                out.message(prepared.describe(server))
            # A timeout keeps the main thread returning to Python, where signal handlers run.
            while not stop.wait(0.5):
                pass
        finally:
            for _, server in reversed(running):
                server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for emulation, _ in running:
        out.message(f"{emulation.title} emulator stopped.")
    return 0


def _ports(provider: str, port: int | None, named: dict[str, int | None]) -> dict[str, int]:
    """The port of each emulator to serve, from the options that apply to it."""
    if provider == "all":
        if port is not None:
            raise click.UsageError(
                "--port names the port of a single provider; with all, use "
                + _listed([_port_flag(name) for name in named])
            )
        return {
            name: EMULATIONS[name].default_port if p is None else p for name, p in named.items()
        }
    for other, value in named.items():
        if other != provider and value is not None:
            raise click.UsageError(f"{_port_flag(other)} does not apply: only {provider} is served")
    own = named[provider]
    if port is not None and own is not None and port != own:
        raise click.UsageError(f"--port {port} and {_port_flag(provider)} {own} disagree; give one")
    chosen = port if port is not None else own
    return {provider: EMULATIONS[provider].default_port if chosen is None else chosen}
