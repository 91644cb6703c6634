"""`ivrsync review-server`: receive review callbacks until interrupted.

The providers that call back with review results post them here, in the format their module
names (REVIEW_CALLBACKS in the registry). One server speaks one format: where the provider
types registered declare different ones, `--type` says which this one receives. Give them the
callback URL it prints (as a manifest's `callback_url`, with the token written as
`${IVRSYNC_REVIEW_TOKEN}`), and `refresh` reads the stored results back. The token comes only
from the environment and is never printed: the startup line shows where it goes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, cast

import click

from ivrsync.cli.options import common_options, console
from ivrsync.providers import PROVIDER_TYPES, load
from ivrsync.reviews.token import TOKEN_VARIABLE, token_problem

if TYPE_CHECKING:
    from ivrsync.reviews.callbacks import CallbackFormat

DEFAULT_LISTEN = "127.0.0.1:8095"
DEFAULT_DB = Path(".ivrsync") / "reviews.sqlite3"
# The provider types that call back with review results: their format, by type.
FORMATS = {
    name: kind.REVIEW_CALLBACKS
    for name, kind in PROVIDER_TYPES.items()
    if kind.REVIEW_CALLBACKS is not None
}
# Who posts review results here: the companies of the types that call back.
CALLERS = " and ".join(sorted({PROVIDER_TYPES[name].VENDOR for name in FORMATS}))


def _callback_format(chosen: str | None) -> CallbackFormat:
    """The format of the callbacks this server receives: the one every type that calls back
    declares, or the chosen type's (`--type`) where they differ."""
    if chosen is not None:
        return cast("CallbackFormat", load(FORMATS[chosen]))
    references = sorted(set(FORMATS.values()))
    if not references:
        raise click.ClickException(
            "no registered provider type calls back with review results (none declares "
            "REVIEW_CALLBACKS): there is nothing for review-server to receive"
        )
    if len(references) > 1:
        raise click.ClickException(
            f"the provider types {', '.join(sorted(FORMATS))} call back in different formats, "
            "and one review server receives one: choose with --type (one server per format, "
            "each with its own --listen and --db)"
        )
    return cast("CallbackFormat", load(references[0]))


def _parse_listen(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or a bare `PORT` (on 127.0.0.1) -> (host, port)."""
    text = value.strip()
    if text.isdigit():
        host, port_text = "127.0.0.1", text
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or not host or (":" in host and not host.startswith("[")):
            raise click.BadParameter(
                f"{value!r} is not HOST:PORT; write e.g. 127.0.0.1:8095, 0.0.0.0:8095 or [::1]:8095"
            )
        if host.startswith("["):
            if not host.endswith("]") or len(host) < 3:
                raise click.BadParameter(f"{value!r}: an IPv6 address is written [ADDRESS]:PORT")
            host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise click.BadParameter(f"{value!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


@click.command(
    "review-server",
    help=f"Receive {CALLERS} review callbacks, store them durably, and serve them to refresh."
    f"\n\nThe secret token comes from {TOKEN_VARIABLE} (at least 16 URL-safe characters): "
    f"{CALLERS} posts to http://HOST:PORT/callbacks/<token>, and `refresh` reads /results "
    "with it as a Bearer token. Serves until Ctrl-C or SIGTERM.",
)
@common_options
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    metavar="HOST:PORT",
    callback=_parse_listen,
    help=f"Address to listen on (port 0: any free port). {CALLERS} must be able to reach it.",
)
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite database of review results (created if missing), relative to the working "
    "directory (-C applies).",
)
@click.option(
    "--type",
    "chosen",
    type=click.Choice(sorted(FORMATS)),
    default=None,
    help="The provider type whose callbacks to receive; needed only where the registered "
    "types that call back use different formats.",
)
def review_server(listen: tuple[str, int], db: Path, chosen: str | None) -> int:
    from ivrsync import secrets
    from ivrsync.emulator.common import is_loopback
    from ivrsync.reviews.server import ReviewServer
    from ivrsync.reviews.store import ReviewStore

    token = os.environ.get(TOKEN_VARIABLE, "")
    if token:
        secrets.register(token)
    problem = token_problem(token)
    if problem is not None:
        raise click.ClickException(problem)
    callbacks = _callback_format(chosen)
    host, port = listen
    out = console()
    try:
        store = ReviewStore(db)
    except (sqlite3.Error, OSError) as e:
        raise click.ClickException(f"cannot open the review database {db}: {e}") from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = ReviewServer(store, token, callbacks, host=host, port=port)
        try:
            server.start()
        except OSError as e:
            raise click.ClickException(
                f"cannot listen on {host}:{port} for the review server: {e.strerror or e}"
            ) from None
        try:
            url = server.url
            out.message(
                f"Review server on {url}: callbacks at {url}/callbacks/<token from "
                f"{TOKEN_VARIABLE}>; results at {url}/results"
            )
            if not is_loopback(host):
                out.message(
                    f"Note: {host} is reachable from other machines and this server speaks "
                    "plain HTTP, with the token in the callback URL: put it behind a TLS "
                    f"proxy and give {CALLERS} an https:// callback URL."
                )
            # A timeout keeps the main thread returning to Python, where signal handlers run.
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
    finally:
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = server.stats
    out.message(
        f"Review server stopped: {stats.stored} result(s) stored, {stats.repeated} repeated, "
        f"{stats.refused_token} refused for a wrong token, {stats.store_failures} failed to "
        "store."
    )
    return 0
