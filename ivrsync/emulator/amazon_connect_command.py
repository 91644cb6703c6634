"""What `ivrsync emulator amazon-connect` serves: the Amazon Connect emulator, and the S3
emulator it copies each prompt's S3Uri from, with one key pair (ivrsync's client stages the
audio and creates the prompt with the same AWS credentials)."""

from __future__ import annotations

from ivrsync.emulator.amazon_connect import (
    DEMO_ACCESS_KEY_ID,
    DEMO_INSTANCE_ID,
    DEMO_SECRET_ACCESS_KEY,
    AmazonConnectEmulator,
    AmazonConnectEmulatorConfig,
)
from ivrsync.emulator.command import Emulation, EmulatorOption, Prepared, Server, Setup
from ivrsync.emulator.s3 import S3Emulator, S3EmulatorConfig

# Where the emulated account's credentials come from: the variables boto3 reads.
ACCESS_KEY_VARIABLE = "AWS_ACCESS_KEY_ID"
SECRET_KEY_VARIABLE = "AWS_SECRET_ACCESS_KEY"
# The bucket the S3 emulator starts with (the example manifest's).
DEMO_BUCKET = "example-telecom-prompts"


class _Served:
    """The two emulators, as one server: its URL is Amazon Connect's; both stop together."""

    def __init__(self, connect: AmazonConnectEmulator, s3: S3Emulator) -> None:
        self.connect = connect
        self.s3 = s3

    @property
    def url(self) -> str:
        return self.connect.url

    def stop(self) -> None:
        try:
            self.connect.stop()
        finally:
            self.s3.stop()


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ValueError(f"{text!r} is not a port: give 0 to 65535")
    return int(text)


def _name(text: str) -> str:
    if not 1 <= len(text) <= 100:
        raise ValueError(f"{text[:20]!r} must be 1 to 100 characters")
    return text


# --s3-conditional-writes: whether the S3 emulator honours If-Match / If-None-Match on writes.
_CONDITIONAL_WRITES = {"honour": True, "ignore": False}


def _conditional_writes(text: str) -> bool:
    if text not in _CONDITIONAL_WRITES:
        raise ValueError(f"{text!r} is not one of: {', '.join(_CONDITIONAL_WRITES)}")
    return _CONDITIONAL_WRITES[text]


def _prepare(setup: Setup) -> Prepared:
    """Credentials from the environment, else the demo's; the S3 emulator on --s3-port."""
    key = setup.env.get(ACCESS_KEY_VARIABLE) or DEMO_ACCESS_KEY_ID
    secret = setup.env.get(SECRET_KEY_VARIABLE) or DEMO_SECRET_ACCESS_KEY
    instances: tuple[str, ...] = setup.options.get("instance-id") or (DEMO_INSTANCE_ID,)
    buckets: tuple[str, ...] = setup.options.get("bucket") or (DEMO_BUCKET,)
    s3_port: int = setup.options.get("s3-port") or 0
    honour: bool | None = setup.options.get("s3-conditional-writes")
    honour_conditions = honour is not False
    key_note = (
        f"access key from {ACCESS_KEY_VARIABLE}"
        if setup.env.get(ACCESS_KEY_VARIABLE)
        else f"access key {key!r}"
    )

    def start(port: int) -> Server:
        s3 = S3Emulator(
            S3EmulatorConfig(key, secret, buckets=buckets, honour_conditions=honour_conditions),
            host=setup.host,
            port=s3_port,
        ).start()
        try:
            config = AmazonConnectEmulatorConfig(
                key,
                secret,
                instance_ids=instances,
                s3_endpoint=s3.url,
                s3_access_key_id=key,
                s3_secret_access_key=secret,
            )
            connect = AmazonConnectEmulator(config, host=setup.host, port=port).start()
        except BaseException:
            s3.stop()
            raise
        return _Served(connect, s3)

    def describe(server: Server) -> str:
        assert isinstance(server, _Served)
        return (
            f"Amazon Connect emulator on {server.url} (S3 on {server.s3.url}, bucket "
            f"{', '.join(buckets)}"
            f"{'' if honour_conditions else ', conditional writes ignored'}; "
            f"instance {', '.join(instances)}; {key_note})"
        )

    return Prepared(start=start, describe=describe)


EMULATION = Emulation(
    name="amazon-connect",
    title="Amazon Connect",
    default_port=8099,
    help="Amazon Connect: CreatePrompt, DescribePrompt, UpdatePrompt, ListPrompts and "
    "DeletePrompt behind SigV4, and an S3 emulator (printed beside it) that prompts are "
    f"copied from. Credentials are {ACCESS_KEY_VARIABLE} / {SECRET_KEY_VARIABLE} from the "
    f"environment, else {DEMO_ACCESS_KEY_ID} / {DEMO_SECRET_ACCESS_KEY}.",
    upload_name="Name",
    prepare=_prepare,
    options=(
        EmulatorOption(
            "instance-id",
            "ID",
            "An Amazon Connect instance of the emulated account (repeatable; default "
            f"{DEMO_INSTANCE_ID}).",
            _name,
            multiple=True,
        ),
        EmulatorOption(
            "bucket",
            "NAME",
            f"A bucket of the S3 emulator (repeatable; default {DEMO_BUCKET}).",
            _name,
            multiple=True,
        ),
        EmulatorOption("s3-port", "PORT", "The S3 emulator's port (default: any free one).", _port),
        EmulatorOption(
            "s3-conditional-writes",
            "|".join(_CONDITIONAL_WRITES),
            "Whether the S3 emulator honours If-None-Match / If-Match on writes (default "
            "honour); `ignore` plays an S3-compatible store that writes anyway, which the "
            "remote state backend must refuse.",
            _conditional_writes,
        ),
    ),
)
