"""No credential ever shows: not in output, state, plans, caches, logs or crash reports.

One repository uploads to both providers (Huawei AICC with a review callback whose URL carries
a token through `${AICC_CALLBACK_TOKEN}`; Tencent CCC with its audio staged in S3), against
`ivrsync emulator` run as a subprocess with the same credentials. Every command a user would
run is run, with and without `-v -v`, on the happy path and on every error path that touches
a credential; then every output, every log record (all loggers at DEBUG, third-party ones
included), every file the runs left behind and the emulator's own stderr are searched for
every secret, raw and encoded.

The AWS access key ID is a special case: SigV4 puts it, in clear, into every presigned URL
(`X-Amz-Credential=AKIA.../date/region/s3/aws4_request`), and ivrsync hands that URL to
Tencent by design. So it is tolerated only inside a presigned URL's `X-Amz-Credential`, and
only where the URL is made, sent or fetched: third-party libraries' DEBUG records (botocore
signing it, the Tencent SDK sending it), the S3 server's log and the Tencent emulator's stderr.
Anywhere ivrsync itself writes (output, state, plan, cache, lock, crash log, its own log
records) it counts like any other secret, and so does the key ID anywhere else (an
`Authorization` header in a library's DEBUG record included). The secret access key never
travels at all and may appear nowhere.

A failure lists each leak as: which secret, in which form, where (an output, a file, the log
records of which logger), during which commands, with the text around it (values replaced by
their names). `--show-capture=no` spares the thousands of DEBUG records pytest prints after.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import queue
import re
import secrets
import string
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import httpx
import pytest

from tests.conftest import REPO_ROOT, RunCli
from tests.repo_factory import (
    distinct_wav,
    huawei_repository,
    tencent_repository,
    two_provider_repository,
)
from tests.s3_server import free_port, s3_server
from tests.scripted_server import Answer, scripted
from tests.static_server import serving

BUCKET = "ivr-prompts"
PROMPTS = ("welcome", "menu", "goodbye")
# Loggers that must be at DEBUG whatever their own defaults (root's DEBUG covers the rest).
THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore",
    "urllib3",
    "requests",
    "botocore",
    "boto3",
    "s3transfer",
    "tencentcloud_sdk_common",
    "werkzeug",
    "moto",
)
# The S3 server runs in this process (tests/s3_server.py): its loggers are the storage side.
S3_SERVER_LOGGERS = ("werkzeug", "moto")


# -- the secrets ---------------------------------------------------------------------------


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Secret:
    name: str
    value: str = field(repr=False)  # failure reports name secrets, never show them

    def forms(self) -> dict[str, bytes]:
        """The value as it could leak: raw, URL-encoded, JSON-escaped, hex and base64.

        base64 of a secret inside a longer string depends on its offset mod 3; each of the
        three is cut to the characters that depend on the secret alone.
        """
        raw = self.value.encode()
        found: dict[str, bytes] = {
            "raw": raw,
            "URL-encoded": quote(self.value, safe="").encode(),
            "form-encoded": quote_plus(self.value).encode(),
            "JSON-escaped": json.dumps(self.value)[1:-1].encode(),
            "hex": binascii.hexlify(raw),
        }
        for offset in range(3):
            encoded = base64.b64encode(b"\0" * offset + raw).rstrip(b"=")
            total_bits = (offset + len(raw)) * 8
            start = -(-offset * 8 // 6)  # the first character made of the secret's bits only
            end = (total_bits - 6) // 6 + 1  # after the last one
            core = encoded[start:end]
            found[f"base64 (offset {offset})"] = core
            found[f"base64url (offset {offset})"] = core.translate(bytes.maketrans(b"+/", b"-_"))
        return found


@dataclass
class Secrets:
    app_key: Secret
    app_secret: Secret
    secret_id: Secret
    secret_key: Secret
    access_key_id: Secret
    secret_access_key: Secret
    callback_token: Secret
    wrong_app_secret: Secret
    wrong_secret_key: Secret

    @classmethod
    def make(cls) -> Secrets:
        # Random every run, long, and with the characters real ones have ('/', '+', '-', '_'),
        # so that the URL-encoded and base64 forms differ from the raw one.
        aws_secret = _random(_ALNUM, 18) + "/" + _random(_ALNUM, 10) + "+" + _random(_ALNUM, 10)
        return cls(
            app_key=Secret("AICC_APP_KEY", "hwak-" + _random(_ALNUM, 28)),
            app_secret=Secret("AICC_APP_SECRET", "hwS/" + _random(_ALNUM, 26) + "+=_x"),
            secret_id=Secret("TENCENTCLOUD_SECRET_ID", "AKID" + _random(_ALNUM, 32)),
            secret_key=Secret(
                "TENCENTCLOUD_SECRET_KEY", _random(_ALNUM, 20) + "-_" + _random(_ALNUM, 12)
            ),
            access_key_id=Secret("AWS_ACCESS_KEY_ID", "AKIA" + _random(_UPPER, 16)),
            secret_access_key=Secret("AWS_SECRET_ACCESS_KEY", aws_secret),
            callback_token=Secret("AICC_CALLBACK_TOKEN", secrets.token_hex(20)),
            wrong_app_secret=Secret(
                "AICC_APP_SECRET (the wrong one)", "hwS/" + _random(_ALNUM, 26) + "+=_w"
            ),
            wrong_secret_key=Secret(
                "TENCENTCLOUD_SECRET_KEY (the wrong one)", _random(_ALNUM, 32) + "-_w"
            ),
        )

    def all(self) -> list[Secret]:
        return [
            self.app_key,
            self.app_secret,
            self.secret_id,
            self.secret_key,
            self.access_key_id,
            self.secret_access_key,
            self.callback_token,
            self.wrong_app_secret,
            self.wrong_secret_key,
        ]

    def env(self) -> dict[str, str]:
        return {
            s.name: s.value
            for s in (
                self.app_key,
                self.app_secret,
                self.secret_id,
                self.secret_key,
                self.access_key_id,
                self.secret_access_key,
                self.callback_token,
            )
        }


# -- where they could show ------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """One thing searched: an output, a log record, a file."""

    where: str
    text: bytes
    during: str = ""  # for a log record: the command that was running
    # Where a presigned URL (and so the access key ID in X-Amz-Credential) may be: on its way
    # to Tencent, or at the servers that fetch or serve it.
    presigned_url_allowed: bool = False


@dataclass(frozen=True)
class Finding:
    secret: Secret
    form: str
    place: Place
    at: int
    tolerated: bool

    @property
    def key(self) -> str:
        return f"{self.secret.name} ({self.form}) in {self.place.where}"

    def context(self, all_secrets: list[Secret]) -> str:
        text = self.place.text
        shown = text[max(0, self.at - 80) : self.at + 100].decode(errors="replace")
        for other in all_secrets:  # never print a value: name it instead
            shown = shown.replace(other.value, f"<{other.name}>")
        return "..." + shown.replace("\n", "\\n") + "..."


_CREDENTIAL_PARAM = re.compile(rb"X-Amz-Credential=$", re.IGNORECASE)


def find(place: Place, all_secrets: list[Secret], access_key_id: Secret) -> list[Finding]:
    findings: list[Finding] = []
    for secret in all_secrets:
        for form, needle in secret.forms().items():
            start = 0
            while (at := place.text.find(needle, start)) >= 0:
                start = at + 1
                tolerated = (
                    secret is access_key_id
                    and place.presigned_url_allowed
                    and bool(_CREDENTIAL_PARAM.search(place.text[max(0, at - 40) : at]))
                )
                findings.append(Finding(secret, form, place, at, tolerated))
    # One finding per secret and position (a raw hit is also its URL-encoded one).
    unique: dict[tuple[str, str, int], Finding] = {}
    for finding in findings:
        unique.setdefault((finding.secret.name, finding.place.where, finding.at), finding)
    return list(unique.values())


class _RecordCollector(logging.Handler):
    """Every log record, formatted with its exception, labelled with the command running."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.step = "(set-up)"
        self.records: list[tuple[str, str, str]] = []  # (step, logger, formatted)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s [%(threadName)s]: %(message)s"))
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a record that cannot be formatted is still searched
            text = f"{record.msg!r} {record.args!r} (unformattable: {exc!r})"
        with self._lock_records:
            self.records.append((self.step, record.name, text))


@contextmanager
def all_log_records(caplog: pytest.LogCaptureFixture) -> Iterator[_RecordCollector]:
    """Root and every library at DEBUG; `ivrsync` does not propagate, so it gets the handler too."""
    caplog.set_level(logging.DEBUG)
    for name in THIRD_PARTY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    collector = _RecordCollector()
    targets = [logging.getLogger(), logging.getLogger("ivrsync")]
    for logger in targets:
        logger.addHandler(collector)
    try:
        yield collector
    finally:
        for logger in targets:
            logger.removeHandler(collector)


# -- the servers ----------------------------------------------------------------------------


class Received(list[str]):
    """The paths posted so far, and a way to wait for the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def add(self, path: str) -> None:
        with self.changed:
            self.append(path)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self) >= count, timeout)


@contextmanager
def callback_receiver() -> Iterator[tuple[str, Received]]:
    """Where the Huawei emulator posts review results; yields its URL and the paths it got."""
    paths = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            paths.add(self.path)
            body = b'{"returnCode": "0"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url, paths


@contextmanager
def emulator_process(
    stderr_file: Path, stdout_file: Path, env: dict[str, str]
) -> Iterator[tuple[str, str]]:
    """`ivrsync -v -v emulator all` with the secrets in its environment; yields both URLs.

    Its stderr is copied line by line into `stderr_file` (read by the test afterwards), and
    the URLs are taken from the lines that announce them as they come.
    """
    command = [sys.executable, "-m", "ivrsync", "-v", "-v", "emulator", "all"]
    command += ["--huawei-port", "0", "--tencent-port", "0", "--review-delay", "200ms"]
    patterns = {
        "huawei": re.compile(r"Huawei AICC emulator on (http://\S+)"),
        "tencent": re.compile(r"Tencent CCC emulator on (http://\S+)"),
    }
    announced: queue.Queue[dict[str, str] | None] = queue.Queue()
    with stdout_file.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
        )

        def copy_stderr() -> None:
            assert process.stderr is not None
            urls: dict[str, str] = {}
            with stderr_file.open("wb") as err:
                for line in process.stderr:
                    err.write(line)
                    err.flush()
                    for name, pattern in patterns.items():
                        found = pattern.search(line.decode(errors="replace"))
                        if found and name not in urls:
                            urls[name] = found.group(1)
                            if len(urls) == len(patterns):
                                announced.put(urls)
            announced.put(None)  # the emulator ended (before announcing both, if first)

        copier = threading.Thread(target=copy_stderr)
        copier.start()
        try:
            urls = announced.get(timeout=60)
            if urls is None:
                pytest.fail(f"the emulator did not start:\n{stderr_file.read_text()}")
            yield urls["huawei"], urls["tencent"]
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung emulator
                process.kill()
                process.wait()
            copier.join()


# -- the repository -------------------------------------------------------------------------


def write_repository(
    root: Path, *, huawei: str, tencent: str, s3: str, callback: str, callback_path: str = ""
) -> Path:
    """Both providers, every prompt to each; the callback URL's token comes from the env."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    prompts = ""
    for number, name in enumerate(PROMPTS):
        (audio / f"{name}.wav").write_bytes(distinct_wav(number))
        prompts += f"  {name}:\n    audio:\n      en_US: audio/{name}.wav\n"
    callback_url = callback_path or f"{callback}/aicc/${{AICC_CALLBACK_TOKEN}}"
    (root / "ivrsync.yaml").write_text(
        "version: 1\n"
        "providers:\n"
        "  aicc:\n"
        "    type: huawei-aicc\n"
        f"    endpoint: {huawei}\n"
        f'    callback_url: "{callback_url}"\n'
        "  ccc:\n"
        "    type: tencent-ccc\n"
        "    sdk_app_id: 1400000000\n"
        f"    endpoint: {tencent}\n"
        "    audio_source:\n"
        "      type: s3\n"
        f"      endpoint: {s3}\n"
        f"      bucket: {BUCKET}\n"
        "      prefix: staged/\n"
        "      url_expires: 600\n"
        "prompts:\n" + prompts
    )
    return root


# -- the run --------------------------------------------------------------------------------


@dataclass
class Session:
    """Runs `ivrsync` and keeps everything it printed, labelled."""

    run_cli: RunCli
    repo: Path
    collector: _RecordCollector
    monkeypatch: pytest.MonkeyPatch
    outputs: list[Place] = field(default_factory=list)

    def run(self, *args: str, expect: int | None = 0, note: str = "") -> tuple[int, str, str]:
        label = "ivrsync " + " ".join(args).replace(str(self.repo.parent), "TMP")
        label += f" [{note}]" if note else ""
        self.collector.step = label
        self.monkeypatch.setattr(sys, "argv", ["ivrsync", *args])  # as the crash log shows it
        code, out, err = self.run_cli("-C", str(self.repo), *args)
        self.collector.step = f"(after {label})"
        self.outputs.append(Place(f"stdout of `{label}`", out.encode()))
        self.outputs.append(Place(f"stderr of `{label}`", err.encode()))
        if expect is not None:
            assert code == expect, f"`{label}` exited {code}:\n{out}\n{err}"
        return code, out, err

    def both(self, *args: str, expect: int | None = 0, note: str = "") -> None:
        """Without -v, then with -v -v (debug logging)."""
        self.run(*args, expect=expect, note=note)
        self.run("-v", "-v", *args, expect=expect, note=note)


def log_places(collector: _RecordCollector) -> list[Place]:
    places = []
    for step, name, text in collector.records:
        s3_side = name.split(".")[0] in S3_SERVER_LOGGERS
        # A library's record may show the request ivrsync sends to Tencent (its AudioList).
        library = not (name == "ivrsync" or name.startswith("ivrsync."))
        places.append(
            Place(
                f"log records of {name!r}",
                text.encode(),
                during=step,
                presigned_url_allowed=s3_side or library,
            )
        )
    return places


def file_places(root: Path) -> list[Place]:
    places = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            relative = path.relative_to(root).as_posix()
            emulator = relative.startswith("emulator.")  # the Tencent side: it fetches URLs
            places.append(
                Place(f"the file {relative}", path.read_bytes(), presigned_url_allowed=emulator)
            )
    return places


def check(
    places: list[Place], all_secrets: Secrets, derived: list[Secret] | None = None
) -> tuple[list[str], list[str]]:
    """(leaks, tolerated): where each secret shows, grouped, described without its value.

    `derived`: values made from the credentials during the run (tokens, signatures)."""
    listed = all_secrets.all() + (derived or [])
    groups: dict[tuple[bool, str], list[Finding]] = {}
    for place in places:
        for finding in find(place, listed, all_secrets.access_key_id):
            groups.setdefault((finding.tolerated, finding.key), []).append(finding)
    leaks: list[str] = []
    tolerated: list[str] = []
    for (allowed, key), findings in groups.items():
        during = list(dict.fromkeys(f.place.during for f in findings if f.place.during))
        line = f"{key}, {len(findings)} time(s)"
        if during:
            line += f", during {len(during)} command(s): " + "; ".join(during[:4])
            line += "; ..." if len(during) > 4 else ""
        line += f"\n      e.g. {findings[0].context(listed)}"
        (tolerated if allowed else leaks).append(line)
    return leaks, tolerated


def report(leaks: list[str], tolerated: list[str]) -> None:
    if tolerated:
        # Shown on failure, or with -rP: where the access key ID went inside presigned URLs.
        print("Tolerated: the AWS access key ID inside a presigned URL's X-Amz-Credential:")
        for line in tolerated:
            print("  " + line)
    assert not leaks, "secrets leaked:\n" + "\n".join("  " + line for line in leaks)


@pytest.fixture
def all_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Secrets:
    values = Secrets.make()
    for name, value in values.env().items():
        monkeypatch.setenv(name, value)
    for name in ("CI", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    # Crash logs go to tempfile.gettempdir(): keep them where they are searched.
    crashes = tmp_path / "crash-logs"
    crashes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(crashes))
    return values


def test_no_secret_shows_in_any_output_file_or_log_record(
    run_cli: RunCli,
    tmp_path: Path,
    all_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = tmp_path / "repo"
    plan_file = tmp_path / "plan.json"
    env = {**os.environ, **all_secrets.env()}
    with (
        all_log_records(caplog) as collector,
        callback_receiver() as (callback, callbacks),
        s3_server(BUCKET) as s3,
        emulator_process(tmp_path / "emulator.stderr", tmp_path / "emulator.stdout", env) as (
            huawei,
            tencent,
        ),
    ):
        write_repository(repo, huawei=huawei, tencent=tencent, s3=s3, callback=callback)
        session = Session(run_cli, repo, collector, monkeypatch)

        # Read-only commands: they need no credentials, but the environment holds them.
        session.both("validate")
        session.both("validate", "--json")
        session.both("plan")
        session.both("plan", "--format", "markdown")
        session.both("plan", "--format", "json", "--out", str(plan_file))
        for fmt in ("text", "markdown", "json"):
            session.both("show", str(plan_file), "--format", fmt)

        # The saved plan, applied: every credential is used for real.
        _, out, _ = session.run("-v", "-v", "apply", str(plan_file))
        assert "Apply complete: 6 uploaded" in out
        session.both("show")
        session.both("show", "--json")
        token_path = f"/aicc/{all_secrets.callback_token.value}"
        assert callbacks.wait_for(len(PROMPTS), 30), "the emulator posted no review callback"
        assert all(path == token_path for path in callbacks)  # the token was interpolated

        # Something to upload again on both providers, for the error paths.
        (repo / "audio/welcome.wav").write_bytes(distinct_wav(100))

        monkeypatch.setenv("AICC_APP_SECRET", all_secrets.wrong_app_secret.value)
        for verbose in ((), ("-v", "-v")):
            _, _, err = session.run(
                *verbose,
                "apply",
                "--auto-approve",
                "--target",
                "aicc.*",
                expect=1,
                note="wrong AICC_APP_SECRET",
            )
            assert "refused the app key and secret" in err
        monkeypatch.setenv("AICC_APP_SECRET", all_secrets.app_secret.value)

        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", all_secrets.wrong_secret_key.value)
        for verbose in ((), ("-v", "-v")):
            _, _, err = session.run(
                *verbose,
                "apply",
                "--auto-approve",
                "--target",
                "ccc.*",
                expect=1,
                note="wrong TENCENTCLOUD_SECRET_KEY",
            )
            assert "AuthFailure.SignatureFailure" in err
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", all_secrets.secret_key.value)

        manifest = repo / "ivrsync.yaml"
        good_manifest = manifest.read_text()
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        manifest.write_text(good_manifest.replace(s3, dead))
        _, _, err = session.run(
            "-v",
            "-v",
            "apply",
            "--auto-approve",
            "--target",
            "ccc.*",
            expect=3,  # partial: the new audio_source setting recorded, the upload failed
            note="S3 endpoint unreachable",
        )
        assert "staging in s3://" in err
        manifest.write_text(good_manifest)

        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        _, _, err = session.run(
            "-v",
            "-v",
            "apply",
            "--auto-approve",
            "--target",
            "ccc.*",
            expect=1,
            note="AWS_SECRET_ACCESS_KEY unset",
        )
        assert "AWS_SECRET_ACCESS_KEY is not set" in err
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", all_secrets.secret_access_key.value)

        # Internal errors deep in apply, once credentials are in the clients.
        from ivrsync.providers import huawei_aicc_client, tencent_ccc_client

        held: list[Place] = []  # every file while apply holds the lock (the lock file too)

        def boom(*args: object, **kwargs: object) -> object:
            held.extend(
                Place(
                    f"the file {p.relative_to(tmp_path).as_posix()} (while locked)", p.read_bytes()
                )
                for p in sorted(repo.rglob("*"))
                if p.is_file()
            )
            raise RuntimeError("forced internal error (the secrets test)")

        with monkeypatch.context() as patch:
            patch.setattr(huawei_aicc_client.HuaweiAiccClient, "_post_upload", boom)
            patch.setattr(tencent_ccc_client.TencentCccUploader, "upload", boom)
            for verbose, target in (((), "aicc.*"), (("-v", "-v"), "ccc.*")):
                _, _, err = session.run(
                    *verbose,
                    "apply",
                    "--auto-approve",
                    "--target",
                    target,
                    expect=1,
                    note="forced internal error",
                )
                assert "internal error (RuntimeError)" in err
        assert any(p.where.startswith("the file repo/ivrsync.state.json.lock") for p in held)
        crash_logs = sorted((tmp_path / "crash-logs").glob("ivrsync-crash-*.log"))
        assert len(crash_logs) == 2, crash_logs
        assert all("forced internal error" in p.read_text() for p in crash_logs)

        # And the rest goes up after all, without -v.
        # (the crash left aicc.welcome.en_US in doubt: upload it again on purpose)
        _, out, _ = session.run("apply", "--auto-approve", "--replace", "aicc.welcome.en_US")
        assert "Apply complete: 0 uploaded, 2 replaced" in out
        session.both("plan")
        session.both("show", "--json")
        collector.step = "(tear-down)"
    # The emulator has stopped: its stderr is complete.

    places = session.outputs + held + log_places(collector) + file_places(tmp_path)
    assert (tmp_path / "emulator.stderr").read_text().count(
        "emulator stopped."
    ) == 3  # one per provider
    assert len(collector.records) > 100, "the log records were not collected"
    fetched = [t for _, n, t in collector.records if n == "werkzeug" and "X-Amz-Signature=" in t]
    assert fetched, "Tencent never fetched a presigned URL from S3"
    # `fetched` proves S3 staging was used; even the access key ID that SigV4 puts in a
    # presigned URL is masked in every log record and output now, so none is tolerated.
    leaks, tolerated = check(places, all_secrets)
    report(leaks, tolerated)


def test_a_callback_url_made_invalid_by_its_token_is_reported_without_the_token(
    run_cli: RunCli,
    tmp_path: Path,
    all_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A manifest mistake (no scheme) next to the token: the error must not quote the value."""
    repo = tmp_path / "repo"
    with all_log_records(caplog) as collector:
        write_repository(
            repo,
            huawei="http://127.0.0.1:9",
            tencent="http://127.0.0.1:9",
            s3="http://127.0.0.1:9",
            callback="",
            callback_path="hooks.example.com/aicc/${AICC_CALLBACK_TOKEN}",
        )
        session = Session(run_cli, repo, collector, monkeypatch)
        session.both("validate", expect=1)
        session.both("validate", "--json", expect=1)
        session.both("plan", expect=1)
        session.run("-v", "-v", "apply", "--auto-approve", expect=1)
    shown = "\n".join(p.text.decode() for p in session.outputs)
    assert "callback_url" in shown  # the problem is reported, at its place
    leaks, tolerated = check(
        session.outputs + log_places(collector) + file_places(tmp_path), all_secrets
    )
    report(leaks, tolerated)


def test_a_token_with_a_trailing_newline_is_never_shown(
    run_cli: RunCli,
    tmp_path: Path,
    all_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A token read from a file often keeps its newline; the emulator, as a provider may,
    refuses such a callBackUrl quoting it."""
    from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig

    monkeypatch.setenv("AICC_CALLBACK_TOKEN", all_secrets.callback_token.value + "\n")
    config = HuaweiEmulatorConfig(
        app_key=all_secrets.app_key.value, app_secret=all_secrets.app_secret.value, review_delay=60
    )
    repo = tmp_path / "repo"
    with HuaweiEmulator(config) as emulator, all_log_records(caplog) as collector:
        huawei_repository(
            repo,
            2,
            endpoint=emulator.url,
            callback_url="http://127.0.0.1:9/aicc/${AICC_CALLBACK_TOKEN}",
        )
        session = Session(run_cli, repo, collector, monkeypatch)
        # Whatever ivrsync makes of it (today: valid, sent, refused by the emulator with the
        # URL quoted), the token is never shown.
        session.both("validate", expect=None)
        session.run("-v", "-v", "apply", "--auto-approve", expect=None)
        session.run("apply", "--auto-approve", expect=None)
    leaks, tolerated = check(
        session.outputs + log_places(collector) + file_places(tmp_path), all_secrets
    )
    report(leaks, tolerated)


def test_what_a_provider_echoes_back_is_not_shown(
    run_cli: RunCli,
    tmp_path: Path,
    all_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Gateways quote what they refuse: an app key in a 401, a callBackUrl in a business error.
    ivrsync knows every secret it sent and must not print them back."""
    from ivrsync.providers.huawei_aicc_client import TOKEN_PATH, UPLOAD_PATH

    callback_url = f"https://hooks.example.com/aicc/{all_secrets.callback_token.value}"
    refused_key = {
        "returnCode": "AICC.401",
        "description": f"app_key {all_secrets.app_key.value} is not authorized for this tenant",
    }
    token = {"AccessToken": "t0k", "Expires": "3600"}
    refused_url = {
        "returnCode": "AICC.InvalidCallBackUrl",
        "description": f"callBackUrl {callback_url} did not answer the reachability check",
    }
    answers = {
        TOKEN_PATH: [Answer(401, json.dumps(refused_key).encode())],
        UPLOAD_PATH: [Answer(200, json.dumps(refused_url).encode())],
    }
    repo = tmp_path / "repo"
    with scripted(answers) as (url, script), all_log_records(caplog) as collector:
        huawei_repository(
            repo,
            1,
            endpoint=url,
            callback_url="https://hooks.example.com/aicc/${AICC_CALLBACK_TOKEN}",
        )
        session = Session(run_cli, repo, collector, monkeypatch)
        # The JSON result (stdout, or the file found among tmp_path's files) included.
        ways = ((), ("-v", "-v"), ("--json",), ("--json-out", str(tmp_path / "result.json")))
        for extra in ways:
            session.run("apply", "--auto-approve", *extra, expect=1, note="app key refused")
        script.answers[TOKEN_PATH] = [Answer(200, json.dumps(token).encode())]
        for extra in ways:
            session.run("apply", "--auto-approve", *extra, expect=1, note="callBackUrl refused")
        sent = b"".join(body for _, _, body in script.requests)
        assert all_secrets.callback_token.value.encode() in sent  # it did go to the provider
    leaks, tolerated = check(
        session.outputs + log_places(collector) + file_places(tmp_path), all_secrets
    )
    report(leaks, tolerated)


def test_the_secret_forms_searched_are_found() -> None:
    """The search itself: each encoded form is found inside longer text, at any offset."""
    secret = Secret("X", "hwS/abcDEF0123456789xyzXYZ+=_x")
    forms = secret.forms()
    for prefix in (b"", b"a", b"ab", b"abc"):
        blob = base64.b64encode(prefix + secret.value.encode() + b"tail")
        assert any(forms[f"base64 (offset {k})"] in blob for k in range(3)), prefix
    assert forms["URL-encoded"] == b"hwS%2FabcDEF0123456789xyzXYZ%2B%3D_x"
    place = Place("p", b"https://s3/x?X-Amz-Credential=AKIAXXXX%2F2024", presigned_url_allowed=True)
    key = Secret("AWS_ACCESS_KEY_ID", "AKIAXXXX")
    assert [f.tolerated for f in find(place, [key], key)] == [True]
    plain = Place("q", b"key AKIAXXXX here", presigned_url_allowed=True)
    assert [f.tolerated for f in find(plain, [key], key)] == [False]


# -- values derived from a credential -------------------------------------------------------


def _quoting(status: int, what: str) -> Answer:
    """A Huawei error whose description quotes the request's Authorization header."""

    def render(headers: Mapping[str, str], body: bytes) -> bytes:
        description = f"{what}; the request had Authorization: {headers['Authorization']}"
        return json.dumps({"returnCode": f"AICC.{status}", "description": description}).encode()

    return Answer(status, render=render)


def test_a_huawei_access_token_quoted_back_is_never_shown(
    run_cli: RunCli,
    tmp_path: Path,
    all_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bearer token is made from the app key and secret: a gateway quoting the header it
    refused (a 5xx, or a 504 that leaves the upload in doubt) must not put it in the output,
    the log records, the state file (committed to git) or a crash log."""
    from ivrsync.providers import huawei_aicc_client
    from ivrsync.providers.huawei_aicc_client import TOKEN_PATH, UPLOAD_PATH

    token = Secret("the Huawei access token", secrets.token_urlsafe(32))
    answers = {
        TOKEN_PATH: [Answer(200, json.dumps({"AccessToken": token.value}).encode())],
        UPLOAD_PATH: [_quoting(500, "internal error")],
    }
    repo = tmp_path / "repo"
    with scripted(answers) as (url, script), all_log_records(caplog) as collector:
        huawei_repository(repo, 2, endpoint=url)
        session = Session(run_cli, repo, collector, monkeypatch)
        first, second = "aicc.p00000.en_US", "aicc.p00001.en_US"
        for verbose in ((), ("-v", "-v")):
            _, _, err = session.run(
                *verbose, "apply", "--auto-approve", "--target", first, expect=1, note="HTTP 500"
            )
            assert "Authorization: Bearer ***" in err  # quoted, and masked
        script.answers[UPLOAD_PATH] = [_quoting(504, "gateway timeout")]
        session.run("-v", "-v", "apply", "--auto-approve", "--target", first, expect=None)
        state = json.loads((repo / "ivrsync.state.json").read_text())
        assert "Authorization: Bearer ***" in state["in_doubt"][first]["reason"]

        def crash(self: object, item: object, response: httpx.Response) -> str:
            raise RuntimeError(f"cannot read {response.text}")

        monkeypatch.setattr(huawei_aicc_client.HuaweiAiccClient, "_file_id", crash)
        session.run("apply", "--auto-approve", "--target", second, expect=1, note="a crash")
        sent = [headers.get("Authorization") for path, headers, _ in script.requests]
        assert f"Bearer {token.value}" in sent  # the token did go out, and came back
    crash_logs = list((tmp_path / "crash-logs").glob("ivrsync-crash-*.log"))
    assert len(crash_logs) == 1 and "Authorization: Bearer ***" in crash_logs[0].read_text()
    places = session.outputs + log_places(collector) + file_places(tmp_path)
    report(*check(places, all_secrets, [token]))


def _tencent_error(code: str, message: str) -> bytes:
    return json.dumps(
        {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "r-1"}}
    ).encode()


def test_a_tencent_signature_quoted_back_is_never_shown(
    run_cli: RunCli,
    tmp_path: Path,
    all_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each request's TC3 signature, made from the SecretKey, quoted by a 5xx and by the
    look-up's error that leaves the upload in doubt."""

    def render(headers: Mapping[str, str], body: bytes) -> bytes:
        quoted = f"request refused, Authorization: {headers['Authorization']}"
        if headers["X-TC-Action"] == "UploadIvrAudio":
            return quoted.encode()  # the body of an HTTP 500
        return _tencent_error("InternalError", quoted)

    repo = tmp_path / "repo"
    with scripted({"/": [Answer(500, render=render)]}) as (url, script):
        tencent_repository(repo, 1, endpoint=url, audio_base_url="https://cdn.example.com")
        with all_log_records(caplog) as collector:
            session = Session(run_cli, repo, collector, monkeypatch)
            for verbose in ((), ("-v", "-v")):
                session.run(*verbose, "apply", "--auto-approve", expect=None)
        signatures = [
            Secret(f"the TC3 signature of request {n}", headers["Authorization"][-64:])
            for n, (_, headers, _) in enumerate(script.requests)
        ]
    # The first run uploads, then looks it up (retried like any transient call); the second
    # finds it still in doubt, looks it up again and uploads nothing.
    actions = [headers["X-TC-Action"] for _, headers, _ in script.requests]
    assert actions[0] == "UploadIvrAudio" and actions.count("UploadIvrAudio") == 1, actions
    assert actions.count("DescribeIvrAudioList") >= 2, actions
    errors = "".join(err.text.decode() for err in session.outputs)
    assert "Signature=***" in errors
    state = json.loads((repo / "ivrsync.state.json").read_text())
    assert "Signature=***" in state["in_doubt"]["ccc.p00000.en_US"]["reason"]
    places = session.outputs + log_places(collector) + file_places(tmp_path)
    report(*check(places, all_secrets, signatures))


def test_a_presigned_url_quoted_back_is_never_shown(
    run_cli: RunCli,
    tmp_path: Path,
    all_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Staged audio: Tencent says it could not fetch the AudioUrl and quotes it, signature
    and all; once as a refused file, once as an error that leaves the upload in doubt."""

    def audio_urls(body: bytes) -> list[tuple[str, str]]:
        listed = json.loads(body).get("AudioList") or []
        return [(entry["CustomFileName"], entry["AudioUrl"]) for entry in listed]

    def refused(headers: Mapping[str, str], body: bytes) -> bytes:
        failed = [
            {"FileName": name, "FailedMsg": f"downloading AudioUrl {url} failed: HTTP 403"}
            for name, url in audio_urls(body)
        ]
        return json.dumps({"Response": {"FailedFileList": failed, "RequestId": "r"}}).encode()

    sent: list[str] = []

    def lost(headers: Mapping[str, str], body: bytes) -> bytes:
        # The look-ups that follow quote the AudioUrl of the upload they are about, too.
        sent[:] = [url for _, url in audio_urls(body)] or sent
        return _tencent_error("InternalError", f"fetching {', '.join(sent)} timed out")

    repo = tmp_path / "repo"
    source = (
        "      type: s3\n      endpoint: {s3}\n      bucket: ivr-prompts\n"
        "      prefix: staged/\n      url_expires: 600\n"
    )
    with (
        s3_server(BUCKET) as s3,
        scripted({"/": [Answer(200, render=refused)]}) as (url, script),
        all_log_records(caplog) as collector,
    ):
        tencent_repository(
            repo, 1, endpoint=url, audio_base_url="", audio_source=source.format(s3=s3)
        )
        session = Session(run_cli, repo, collector, monkeypatch)
        for verbose in ((), ("-v", "-v")):
            session.run(*verbose, "apply", "--auto-approve", expect=None, note="refused")
        script.answers["/"] = [Answer(200, render=lost)]
        session.run("-v", "-v", "apply", "--auto-approve", expect=None, note="in doubt")
        signatures = [
            Secret(f"the X-Amz-Signature of request {n}", parse_qs(urlsplit(url).query)[key][0])
            for n, (_, _, body) in enumerate(script.requests)
            for _, url in audio_urls(body)
            for key in ("X-Amz-Signature",)
        ]
    assert len(signatures) == 3
    errors = "".join(err.text.decode() for err in session.outputs)
    assert errors.count("X-Amz-Signature=***") >= 2
    state = json.loads((repo / "ivrsync.state.json").read_text())
    assert "X-Amz-Signature=***" in state["in_doubt"]["ccc.p00000.en_US"]["reason"]
    places = session.outputs + log_places(collector) + file_places(tmp_path)
    report(*check(places, all_secrets, signatures))


def test_a_signature_is_masked_in_any_hex_run_and_a_sha256_is_not() -> None:
    from ivrsync import secrets as registry

    signature, sha256 = secrets.token_hex(32), secrets.token_hex(32)
    registry.register_signature(signature.upper())
    assert (
        registry.redact(f"Signature={signature}, sha256 {sha256}")
        == f"Signature=***, sha256 {sha256}"
    )
    assert registry.redact(f"{sha256[:5]}{signature}{sha256}") == f"{sha256[:5]}***{sha256}"


def test_provider_text_kept_in_the_state_is_masked_whoever_sets_it() -> None:
    """The state is committed to git: an in-doubt reason or a review comment quoting a secret
    is masked by the state itself, not by each caller remembering to."""
    from datetime import UTC, datetime

    from ivrsync import secrets as registry
    from ivrsync.state.model import InDoubt, Review

    token = secrets.token_urlsafe(24)
    registry.register(token)
    doubt = InDoubt(
        audio_path="a.wav",
        provider="aicc",
        provider_type="huawei-aicc",
        reason=f"HTTP 504: Authorization: Bearer {token}",
        remote_name="a",
        sha256="0" * 64,
        since=datetime.now(UTC),
        size=1,
    )
    review = Review()
    review.comment = f"callback {token} refused"
    assert (doubt.reason, review.comment) == (
        "HTTP 504: Authorization: Bearer ***",
        "callback *** refused",
    )
    assert token not in doubt.model_dump_json() + review.model_dump_json()


# -- plans need no secret -------------------------------------------------------------------

CALLBACK = "https://reviews.example.com/callbacks/${IVRSYNC_REVIEW_TOKEN}"


def test_plan_needs_no_secret_and_its_plan_is_applied_with_the_secret(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As docs/reviews.md shows it: a plan made on a pull request, where the secret is not
    given, is the plan CI applies with the secret; the token never enters a plan."""
    from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig

    token = secrets.token_urlsafe(24)
    config = HuaweiEmulatorConfig(app_key="hw-app-key", app_secret="hw-app-secret-1")
    monkeypatch.setenv("AICC_APP_KEY", config.app_key)
    monkeypatch.setenv("AICC_APP_SECRET", config.app_secret)
    for name in ("IVRSYNC_REVIEW_TOKEN", "CI"):
        monkeypatch.delenv(name, raising=False)
    with HuaweiEmulator(config) as emulator:
        repo = huawei_repository(tmp_path / "repo", 2, endpoint=emulator.url, callback_url=CALLBACK)
        run = functools.partial(run_cli, "-C", str(repo))
        assert run("validate")[0] == 0
        code, out, err = run("plan", "--out", str(tmp_path / "pr.json"))
        assert code == 0, err
        assert "Plan: 2 to upload" in out

        code, out, err = run("apply", str(tmp_path / "pr.json"))
        assert code == 1
        assert err.splitlines()[0] == (
            "ivrsync.yaml:7:19: error: environment variable IVRSYNC_REVIEW_TOKEN is not set; "
            "aicc.callback_url names it as a secret, needed to upload or read reviews (plan "
            "and validate do without it)"
        ), err
        assert emulator.uploads == [] and not (repo / "ivrsync.state.json.lock").exists()

        monkeypatch.setenv("IVRSYNC_REVIEW_TOKEN", token)
        assert run("plan", "--out", str(tmp_path / "ci.json"))[0] == 0
        code, out, err = run("apply", str(tmp_path / "pr.json"))
        assert code == 0, err
        assert "Apply complete: 2 uploaded" in out
        callbacks = [upload.callback_url for upload in emulator.uploads]
    assert callbacks == [CALLBACK.replace("${IVRSYNC_REVIEW_TOKEN}", token)] * 2
    plans = [json.loads((tmp_path / name).read_text()) for name in ("pr.json", "ci.json")]
    assert plans[0]["providers"] == plans[1]["providers"]  # the digest covers no secret
    assert all(token not in json.dumps(plan) for plan in plans)


def test_a_missing_secret_is_an_error_where_it_is_used_listing_every_one(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets named in two settings, none set: validate and plan pass, apply lists both."""
    monkeypatch.setenv("AICC_APP_KEY", "hw-app-key")
    monkeypatch.setenv("AICC_APP_SECRET", "hw-app-secret-1")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKID-test-secret-id")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "tc-secret-key-1")
    for name in ("IVRSYNC_REVIEW_TOKEN", "CDN_TOKEN", "CI"):
        monkeypatch.delenv(name, raising=False)
    repo = two_provider_repository(
        tmp_path / "repo",
        1,
        huawei_endpoint="http://127.0.0.1:9",
        tencent_endpoint="http://127.0.0.1:9",
        audio_base_url="https://cdn.example.com",
    )
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text()
    text = text.replace(
        "template: https://cdn.example.com/{path}",
        "template: https://cdn.example.com/{path}?auth=${CDN_TOKEN}",
    )
    text = text.replace(
        "    type: huawei-aicc\n", f"    type: huawei-aicc\n    callback_url: {CALLBACK}\n"
    )
    manifest.write_text(text)
    run = functools.partial(run_cli, "-C", str(repo))
    assert run("validate")[0] == 0
    assert run("plan")[0] == 0
    code, _, err = run("apply", "--auto-approve")
    assert code == 1
    assert "IVRSYNC_REVIEW_TOKEN is not set" in err and "CDN_TOKEN is not set" in err, err
