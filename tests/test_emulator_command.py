"""`ivrsync emulator` serves what the provider registry names: a provider module that names
an emulator (EMULATOR) adds it, its `--NAME-port` and its own options, with no edit of the
command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT

# A fresh interpreter: the command is built from the registry when it is imported. The third
# provider type is Tencent's module under another emulator; that emulator's startup line sends
# SIGTERM to the process, so the command stops on its own once it has started every emulator.
_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, types
    from ivrsync.emulator.command import Emulation, EmulatorOption, Prepared
    from ivrsync.providers import PROVIDER_TYPES, tencent_ccc

    class Started:
        def __init__(self, host, port):
            self.url = f"http://{host}:{port}"
        def stop(self):
            print("echo server stopped", file=sys.stderr)

    def prepare(setup):
        greeting = setup.options["echo-greeting"]
        def describe(server):
            os.kill(os.getpid(), signal.SIGTERM)
            return f"Echo emulator on {server.url} (greeting {greeting!r}, {setup.env['ECHO']})"
        return Prepared(lambda port: Started(setup.host, port), describe)

    EMULATION = Emulation(
        name="echo",
        title="Echo",
        default_port=7000,
        help="Echo: answers what it is told.",
        upload_name="EchoName",
        prepare=prepare,
        options=(EmulatorOption("echo-greeting", "TEXT", "What it says.", str.upper),),
    )
    echo = types.ModuleType("echo")
    echo.__dict__.update(vars(tencent_ccc))
    echo.EMULATOR = "__main__:EMULATION"
    PROVIDER_TYPES["echo"] = echo

    from ivrsync.cli.main import main
    main(sys.argv[1:])
    """
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "ECHO": "from the environment"},
        timeout=60,
    )


def test_a_registered_emulator_gets_its_options_and_help() -> None:
    done = _run("emulator", "--help")
    assert done.returncode == 0, done.stderr
    # One line, as read; click may break a line after a hyphen ("amazon-" / "connect").
    help_text = re.sub(r"(\w)- (\w)", r"\1-\2", " ".join(done.stdout.split()))
    assert "[huawei|tencent|amazon-connect|echo|all]" in help_text
    assert "Echo: answers what it is told." in help_text
    assert "--echo-port INTEGER RANGE Port of the Echo emulator (default 7000)." in help_text
    assert "--echo-greeting TEXT What it says." in help_text
    assert (
        "(default: huawei 8080, tencent 8089, amazon-connect 8099, echo 7000; 0: any free port)"
        in help_text
    )
    assert "Echo EchoName" in help_text


def test_a_registered_emulator_is_served_with_its_own_options() -> None:
    done = _run("emulator", "echo", "--echo-port", "7001", "--echo-greeting", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "Echo emulator on http://127.0.0.1:7001 (greeting 'HI', from the environment)",
        "echo server stopped",
        "Echo emulator stopped.",
    ]


def test_the_port_options_of_other_emulators_do_not_apply() -> None:
    done = _run("emulator", "echo", "--huawei-port", "7001")
    assert done.returncode == 1
    assert "--huawei-port does not apply: only echo is served" in done.stderr
    done = _run("emulator", "all", "--port", "7001")
    assert (
        "with all, use --huawei-port, --tencent-port, --amazon-connect-port and --echo-port"
        in done.stderr
    )


def test_the_emulators_read_the_documentation_as_the_providers_do() -> None:
    """An emulator keeps its own copy of the documented limits (its provider module names it,
    so it imports nothing from there): the two readings must agree."""
    from ivrsync.emulator import huawei, tencent
    from ivrsync.providers import huawei_aicc, huawei_aicc_client, tencent_ccc

    assert huawei.LOCALES == huawei_aicc.LOCALES
    assert huawei.MAX_NAME_LENGTH == huawei_aicc.MAX_NAME_LENGTH
    assert huawei.NAME_CHARS == huawei_aicc.NAME_CHARS
    assert huawei.MAX_UPLOAD_BYTES == huawei_aicc.MAX_UPLOAD_BYTES
    assert huawei.VOICE_TYPE_CODES == huawei_aicc_client.VOICE_TYPE_CODES
    assert tencent.MAX_AUDIO_BYTES == tencent_ccc.MAX_AUDIO_BYTES
