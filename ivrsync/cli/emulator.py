"""`ivrsync emulator [huawei|tencent|all]`: serve provider API emulators until interrupted.

For demos and CI dry-runs without a cloud account: point a manifest's endpoint at the address it
prints. It listens on loopback only unless told otherwise, because it accepts well-known demo
credentials and speaks plain HTTP.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

import click

from ivrsync.cli.options import common_options, console, parse_duration

# Providers that can be emulated; `all` serves every one of them.
PROVIDERS = ["huawei", "tencent", "all"]
DEFAULT_PORTS = {"huawei": 8080, "tencent": 8089}

# Where the emulated tenants' credentials come from (the names the product's clients read).
APP_KEY_VARIABLE = "AICC_APP_KEY"
APP_SECRET_VARIABLE = "AICC_APP_SECRET"
SECRET_ID_VARIABLE = "TENCENTCLOUD_SECRET_ID"
SECRET_KEY_VARIABLE = "TENCENTCLOUD_SECRET_KEY"


class _Server(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class _Plan:
    """One emulator to serve: how to make it, and what to say about it."""

    title: str
    port: int
    start: Callable[[int], _Server]
    describe: Callable[[_Server], str]  # the startup line, never a secret


def _compile_pattern(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as e:
        raise click.BadParameter(f"{value!r} is not a regular expression: {e}") from None


_PORT = click.IntRange(0, 65535)


@click.command()
@common_options
@click.argument(
    "provider",
    required=False,
    default="all",
    type=click.Choice(PROVIDERS),
    metavar="[huawei|tencent|all]",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=_PORT,
    help="Port of a single provider's emulator (default: huawei 8080, tencent 8089; 0: any "
    "free port).",
)
@click.option(
    "--huawei-port",
    type=_PORT,
    help=f"Port of the Huawei AICC emulator (default {DEFAULT_PORTS['huawei']}).",
)
@click.option(
    "--tencent-port",
    type=_PORT,
    help=f"Port of the Tencent CCC emulator (default {DEFAULT_PORTS['tencent']}).",
)
@click.option(
    "--sdk-app-id",
    "sdk_app_ids",
    type=click.IntRange(0),
    multiple=True,
    metavar="ID",
    help="A Tencent CCC application (SdkAppId) of the emulated account (repeatable; default "
    "1400000000).",
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
    help="Reject in review the uploads whose name (Huawei voiceFileName, Tencent "
    "CustomFileName) contains a match (default: none).",
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
    huawei_port: int | None,
    tencent_port: int | None,
    sdk_app_ids: tuple[int, ...],
    review_delay: float,
    reject_pattern: re.Pattern[str] | None,
    allow_remote: bool,
) -> int:
    """Serve local emulators of the provider APIs until Ctrl-C or SIGTERM (default: all).

    Huawei AICC: tokenByAkSk, importVoiceFile/upload and review callbacks. Credentials are
    AICC_APP_KEY / AICC_APP_SECRET from the environment, else demo-app-key / demo-app-secret.

    Tencent CCC: UploadIvrAudio and DescribeIvrAudioList, signed with TC3-HMAC-SHA256; give the
    SDK the printed endpoint with protocol http. Credentials are TENCENTCLOUD_SECRET_ID /
    TENCENTCLOUD_SECRET_KEY from the environment, else AKIDdemo0000000000000000000000000000 /
    demo-secret-key.
    """
    from ivrsync.emulator.common import is_loopback

    if not allow_remote and not is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host!r}: the emulator accepts demo credentials over plain "
            "HTTP, so anyone who can reach it could use it; use a loopback address such as "
            "127.0.0.1, or pass --allow-remote if that is really what you want"
        )
    ports = _ports(provider, port, huawei_port, tencent_port)
    plans: list[_Plan] = []
    if "huawei" in ports:
        plans.append(_huawei_plan(host, ports["huawei"], review_delay, reject_pattern))
    if "tencent" in ports:
        plans.append(
            _tencent_plan(host, ports["tencent"], review_delay, reject_pattern, sdk_app_ids)
        )
    out = console()

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    running: list[tuple[_Plan, _Server]] = []
    try:
        try:
            for plan in plans:
                try:
                    server = plan.start(plan.port)
                except OSError as e:
                    raise click.ClickException(
                        f"cannot listen on {host}:{plan.port} for the {plan.title} emulator: "
                        f"{e.strerror or e}"
                    ) from None
                running.append((plan, server))
                out.message(plan.describe(server))
            # A timeout keeps the main thread returning to Python, where signal handlers run.
            while not stop.wait(0.5):
                pass
        finally:
            for _, server in reversed(running):
                server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for plan, _ in running:
        out.message(f"{plan.title} emulator stopped.")
    return 0


def _ports(
    provider: str, port: int | None, huawei_port: int | None, tencent_port: int | None
) -> dict[str, int]:
    """The port of each provider to serve, from the options that apply to it."""
    named = {"huawei": huawei_port, "tencent": tencent_port}
    if provider == "all":
        if port is not None:
            raise click.UsageError(
                "--port names the port of a single provider; with all, use --huawei-port and "
                "--tencent-port"
            )
        return {name: DEFAULT_PORTS[name] if p is None else p for name, p in named.items()}
    for other, value in named.items():
        if other != provider and value is not None:
            raise click.UsageError(f"--{other}-port does not apply: only {provider} is served")
    own = named[provider]
    if port is not None and own is not None and port != own:
        raise click.UsageError(f"--port {port} and --{provider}-port {own} disagree; give one")
    chosen = port if port is not None else own
    return {provider: DEFAULT_PORTS[provider] if chosen is None else chosen}


def _huawei_plan(
    host: str, port: int, review_delay: float, reject_pattern: re.Pattern[str] | None
) -> _Plan:
    from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig, reject_names_matching

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
    return _Plan(
        title="Huawei AICC",
        port=port,
        start=lambda p: HuaweiEmulator(config, host=host, port=p).start(),
        describe=lambda server: f"Huawei AICC emulator on {server.url} ({key_note})",
    )


def _tencent_plan(
    host: str,
    port: int,
    review_delay: float,
    reject_pattern: re.Pattern[str] | None,
    sdk_app_ids: tuple[int, ...],
) -> _Plan:
    from ivrsync.emulator.tencent import TencentEmulator, TencentEmulatorConfig

    secret_id = os.environ.get(SECRET_ID_VARIABLE)
    secret_key = os.environ.get(SECRET_KEY_VARIABLE)
    config = TencentEmulatorConfig(review_delay=review_delay, review=reject_pattern)
    if secret_id:
        config.secret_id = secret_id
    if secret_key:
        config.secret_key = secret_key
    if sdk_app_ids:
        config.sdk_app_ids = tuple(dict.fromkeys(sdk_app_ids))  # repeated ids once
    id_note = (
        f"SecretId from {SECRET_ID_VARIABLE}" if secret_id else f"SecretId {config.secret_id!r}"
    )
    apps = ", ".join(str(a) for a in config.sdk_app_ids)
    label = "SdkAppId" if len(config.sdk_app_ids) == 1 else "SdkAppIds"

    def describe(server: _Server) -> str:
        endpoint = server.url.removeprefix("http://")
        return (
            f"Tencent CCC emulator on {server.url} (SDK endpoint {endpoint}, protocol http; "
            f"{id_note}; {label} {apps})"
        )

    return _Plan(
        title="Tencent CCC",
        port=port,
        start=lambda p: TencentEmulator(config, host=host, port=p).start(),
        describe=describe,
    )
