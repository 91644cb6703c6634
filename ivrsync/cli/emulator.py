"""`ivrsync emulator [huawei]`: serve a provider API emulator until interrupted.

For demos and CI dry-runs without a cloud account: point a manifest's endpoint at the URL it
prints. It listens on loopback only unless told otherwise, because it accepts well-known demo
credentials and speaks plain HTTP.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from types import FrameType

import click

from ivrsync.cli.options import common_options, console, parse_duration

# Providers that can be emulated (a later change adds tencent and both).
PROVIDERS = ["huawei"]

# Where the emulated tenant's credentials come from (the same names the Huawei client reads).
APP_KEY_VARIABLE = "AICC_APP_KEY"
APP_SECRET_VARIABLE = "AICC_APP_SECRET"


def _compile_pattern(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as e:
        raise click.BadParameter(f"{value!r} is not a regular expression: {e}") from None


@click.command()
@common_options
@click.argument(
    "provider", required=False, default="huawei", type=click.Choice(PROVIDERS), metavar="[huawei]"
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
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
    help="Reject in review the uploads whose voiceFileName contains a match (default: none).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback (the emulator has demo credentials and no TLS).",
)
def emulator(
    provider: str,
    host: str,
    port: int,
    review_delay: float,
    reject_pattern: re.Pattern[str] | None,
    allow_remote: bool,
) -> int:
    """Serve a local emulator of a provider API until Ctrl-C or SIGTERM.

    Huawei AICC: tokenByAkSk, importVoiceFile/upload and review callbacks. Credentials are
    AICC_APP_KEY / AICC_APP_SECRET from the environment, else demo-app-key / demo-app-secret.
    """
    from ivrsync.emulator.common import is_loopback
    from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig, reject_names_matching

    if not allow_remote and not is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host!r}: the emulator accepts demo credentials over plain "
            "HTTP, so anyone who can reach it could use it; use a loopback address such as "
            "127.0.0.1, or pass --allow-remote if that is really what you want"
        )
    out = console()
    app_key = os.environ.get(APP_KEY_VARIABLE)
    config = HuaweiEmulatorConfig(review_delay=review_delay)
    if app_key:
        config.app_key = app_key
    app_secret = os.environ.get(APP_SECRET_VARIABLE)
    if app_secret:
        config.app_secret = app_secret
    if reject_pattern is not None:
        config.review = reject_names_matching(reject_pattern)
    key_note = f"app key from {APP_KEY_VARIABLE}" if app_key else f"app key {config.app_key!r}"

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server = HuaweiEmulator(config, host=host, port=port).start()
        except OSError as e:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {e.strerror or e}"
            ) from None
        try:
            out.message(f"Huawei AICC emulator on {server.url} ({key_note})")
            # A timeout keeps the main thread returning to Python, where signal handlers run.
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.message("Huawei AICC emulator stopped.")
    return 0
