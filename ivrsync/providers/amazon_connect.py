"""Amazon Connect: prompt rules (docs/providers/amazon-connect.md#prompts).

A prompt is created from audio ivrsync stages in S3 (`CreatePrompt` takes an `s3://` URI), and
keeps its PromptId when its audio or name changes (`UpdatePrompt`): flows reference that id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from ivrsync.audio import AudioInfo
from ivrsync.processing.recipe import NativeAudio
from ivrsync.providers.base import Finding, ReviewReport, Starter, Uploader, megabytes
from ivrsync.settings import (
    Acknowledgement,
    EndpointUrl,
    PromptOption,
    ProviderSettingsBase,
    S3AudioSource,
    SettingsModel,
    acknowledge_field,
    pattern_check,
)

if TYPE_CHECKING:
    from ivrsync.providers.amazon_connect_client import AmazonConnectUploader

TYPE = "amazon-connect"
VENDOR = "Amazon"
# A prompt has no language: any locale is the user's own label.
LOCALES: frozenset[str] | None = None
# No daily quota, only request rates (docs/providers/amazon-connect.md#rate-limits).
QUOTA_TIME_ZONE: tzinfo | None = None
# ListPrompts lists every prompt of the instance (docs/providers/amazon-connect.md#listing).
CAN_LIST = True
# UpdatePrompt changes a prompt's name or audio and keeps its PromptId; DeletePrompt deletes it
# (docs/providers/amazon-connect.md#update-and-delete).
CAN_UPDATE = True
CAN_DELETE = True
# Prompts are not reviewed: one is usable as soon as CreatePrompt answers.
REVIEWS = False
# Nothing is reviewed, so nothing calls back.
REVIEW_CALLBACKS: str | None = None
# CreatePrompt takes nothing per prompt besides the audio, the name and the description.
PROMPT_OPTIONS: Mapping[str, PromptOption] = {}
# The emulator `ivrsync emulator` serves (with the S3 one it copies prompts from).
EMULATOR: str | None = "ivrsync.emulator.amazon_connect_command:EMULATION"
# `Name`: 1 to 127 characters; `Description`: 1 to 250 (docs/providers/amazon-connect.md#prompts).
MAX_NAME_LENGTH = 127
MAX_DESCRIPTION_LENGTH = 250
# "less than 50MB and less than five minutes long", WAV, 8 kHz, mono, U-Law
# (docs/providers/amazon-connect.md#audio). 50 MB read as 50,000,000 bytes, the stricter reading.
MAX_AUDIO_BYTES = 50_000_000
MAX_AUDIO_SECONDS = 300.0
SAMPLE_RATE = 8000
CODEC = "mulaw"
NATIVE_FORMAT = "WAV mu-law (U-Law), 8000 Hz, mono"
NATIVE_AUDIO = NativeAudio("wav", CODEC, SAMPLE_RATE, 1)
# "For all other operations, a RateLimit of 2 per second, and a BurstLimit of 5 per second"
# (docs/providers/amazon-connect.md#rate-limits).
DOCUMENTED_RATE_LIMIT = 2.0
# PromptId as Amazon Connect makes them: a UUID.
PROMPT_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_UUID_PATTERN = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"


class AmazonConnectStaging(SettingsModel):
    """Where ivrsync stages the audio for CreatePrompt/UpdatePrompt to read (`s3://bucket/key`).

    Amazon Connect reads the object itself, with the instance's access to the bucket; the
    credentials that put it there are the provider's (the AWS credential chain)."""

    bucket: Annotated[str, Field(min_length=3, max_length=63, description="the bucket name")]
    prefix: str = Field("ivrsync/", description="keys are prefix + sha256 + .wav")
    endpoint: EndpointUrl | None = Field(
        None, description="an S3-compatible endpoint (an emulator's); omit for AWS S3"
    )
    region: str | None = Field(None, description="the bucket's Region; omit for the provider's")


class AmazonConnectSettings(ProviderSettingsBase):
    """Amazon Connect (`CreatePrompt`, `UpdatePrompt`, `ListPrompts`, `DeletePrompt`)."""

    DECIDING: ClassVar[dict[str, str]] = {
        "instance_id": "prompts go to another Amazon Connect instance",
        "region": "prompts go to another AWS Region",
    }

    type: Literal["amazon-connect"]
    instance_id: Annotated[
        str,
        pattern_check(_UUID_PATTERN, "Amazon Connect instance id", "a UUID, as in the ARN"),
        Field(description="the instance's id (the UUID at the end of its ARN); may be ${VAR}"),
    ]
    region: Annotated[
        str,
        pattern_check(_REGION_PATTERN, "AWS Region", "a Region code such as us-east-1"),
        Field(description="the instance's AWS Region, e.g. us-east-1"),
    ]
    endpoint: EndpointUrl | None = Field(
        None, description="scheme://host[:port] of an emulator; omit for AWS"
    )
    profile: str | None = Field(
        None,
        description="the AWS profile to take credentials from; omit for the standard chain "
        "(environment, ~/.aws, instance role)",
    )
    rate_limit: float = Field(
        DOCUMENTED_RATE_LIMIT,
        gt=0,
        le=DOCUMENTED_RATE_LIMIT,
        description="requests per second of each operation (documented: 2)",
    )
    staging: AmazonConnectStaging = Field(description="the S3 bucket prompts are read from")
    tags: dict[
        Annotated[str, Field(min_length=1, max_length=128)],
        Annotated[str, Field(max_length=256)],
    ] = Field(
        default_factory=dict,
        max_length=49,
        description="tags every prompt is created with (CreatePrompt's Tags)",
    )
    acknowledge: list[Acknowledgement] = acknowledge_field("every prompt of this provider")


SETTINGS = AmazonConnectSettings

STARTER: Starter | None = Starter(
    title="Amazon Connect",
    name="connect",
    settings="""\
    type: amazon-connect                      # the provider: Amazon Connect prompts
    instance_id: ${CONNECT_INSTANCE_ID}       # the instance's id (the UUID that ends its ARN)
    region: us-east-1                         # the instance's AWS Region
    # endpoint: http://127.0.0.1:8099         # an emulator's; omit for AWS
    # profile: ivr-admin                      # an AWS profile; omit for the standard chain
    rate_limit: 2                             # requests a second, at most the documented 2
    staging:                                  # Amazon Connect copies each prompt from S3:
      bucket: my-ivr-prompts                  # a bucket the instance may read
      prefix: ivrsync/                        # objects are named prefix + sha256 + .wav
      # endpoint: http://127.0.0.1:9000       # an S3-compatible emulator's; omit for AWS S3
      # region: us-east-1                     # the bucket's Region; omit for the instance's
    tags: {}                                  # tags every prompt is created with
    acknowledge: []                           # accepted warnings, counted not listed
""",
    to_upload="set CONNECT_INSTANCE_ID, and AWS credentials (AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, a profile or a role); audio must be WAV 8 kHz mono mu-law",
)


def derive_remote_name(prompt: str, locale: str, base: str | None) -> str:
    """`welcome.en_US` (or the base with the locale): a prompt's Name is free text, unique in
    the instance; it carries no content hash, since an update in place renames it."""
    return f"{base if base is not None else prompt}.{locale}"


def remote_name_problem(name: str) -> str | None:
    if not name.strip() or not name.isprintable():
        return f"'{name}' is not a usable prompt Name: give printable text"
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"'{name}' is {len(name)} characters long; an Amazon Connect prompt Name is 1 to "
            f"{MAX_NAME_LENGTH} characters"
        )
    return None


def audio_findings(settings: AmazonConnectSettings, audio: AudioInfo) -> list[Finding]:
    """What Amazon Connect would not play: known before anything is sent, since a prompt in
    another format "won't play correctly". With `process:` converting, the processed audio is
    what is checked."""
    wrong = []
    if audio.format != "wav":
        wrong.append(f"{audio.format.upper()}, not WAV")
    if audio.codec != CODEC:
        wrong.append(f"encoded {audio.codec}, not mu-law (U-Law)")
    if audio.sample_rate != SAMPLE_RATE:
        wrong.append(f"sampled at {audio.sample_rate} Hz, not {SAMPLE_RATE}")
    if audio.channels != 1:
        wrong.append(f"{audio.channels} channels, not mono")
    findings = []
    if wrong:
        findings.append(
            Finding(
                "unsupported-audio",
                f"the audio is {'; '.join(wrong)}: Amazon Connect plays {NATIVE_FORMAT} only; "
                "let ivrsync convert it (`process:` in ivrsync.yaml: this provider's name, "
                "`native`)",
            )
        )
    if audio.size >= MAX_AUDIO_BYTES:
        findings.append(
            Finding(
                "too-large",
                f"the file is {megabytes(audio.size)}; Amazon Connect prompts are under "
                f"{megabytes(MAX_AUDIO_BYTES)}",
            )
        )
    if audio.duration > MAX_AUDIO_SECONDS:
        findings.append(
            Finding(
                "too-long",
                f"the audio lasts {audio.duration:.1f} s; Amazon Connect prompts last at most "
                f"{MAX_AUDIO_SECONDS:.0f} s (5 minutes)",
            )
        )
    return findings


def uploaded_attributes(options: Mapping[str, Any], audio: AudioInfo) -> dict[str, str]:
    """The prompt's description, as the prompt's `Description` (1 to 250 characters: a longer
    one is cut there, ending in "..."). A changed one is an update in place."""
    description = options.get("description")
    if not description:
        return {}
    if len(description) > MAX_DESCRIPTION_LENGTH:
        description = description[: MAX_DESCRIPTION_LENGTH - 3] + "..."
    return {"description": description}


def daily_quota(settings: AmazonConnectSettings) -> int | None:
    return None


def uploaded_name(settings: AmazonConnectSettings, remote_name: str, sha256: str) -> str:
    return remote_name


def file_id_problem(file_id: str) -> str | None:
    """A PromptId is a UUID (docs/providers/amazon-connect.md#prompts)."""
    if PROMPT_ID.fullmatch(file_id):
        return None
    return (
        f"'{file_id}' is not an Amazon Connect PromptId: those are UUIDs such as "
        "4f2b8a70-5c1e-4d8a-9b3f-2a6c0e1d7b54"
    )


def content_problem(settings: AmazonConnectSettings, remote_name: str, sha256: str) -> str | None:
    """A prompt's Name says nothing of its audio (the client checks the tag it sets)."""
    return None


def make_uploader(
    name: str, settings: AmazonConnectSettings, env: Mapping[str, str]
) -> AmazonConnectUploader:
    """The client for these settings; boto3 (~0.3 s) is imported only here."""
    from ivrsync.providers.amazon_connect_client import AmazonConnectUploader, aws_session

    session = aws_session(name, settings.region, settings.profile, env)
    return AmazonConnectUploader(
        name,
        session,
        instance_id=settings.instance_id,
        region=settings.region,
        endpoint=settings.endpoint,
        rate_limit=settings.rate_limit,
        staging=S3AudioSource(
            type="s3",
            endpoint=settings.staging.endpoint,
            bucket=settings.staging.bucket,
            prefix=settings.staging.prefix,
            region=settings.staging.region or settings.region,
        ),
        tags=dict(settings.tags),
    )


def uploader(name: str, settings: AmazonConnectSettings, env: Mapping[str, str]) -> Uploader:
    return make_uploader(name, settings, env)


def reviews(
    name: str, settings: AmazonConnectSettings, env: Mapping[str, str], file_ids: list[str]
) -> ReviewReport:
    """Nothing is reviewed; ListPrompts says which prompts are gone (drift)."""
    client = make_uploader(name, settings, env)
    try:
        listed = {prompt.file_id for prompt in client.list_prompts()}
    finally:
        client.close()
    results: dict[str, tuple[str, str | None]] = {
        file_id: ("approved", None) for file_id in file_ids if file_id in listed
    }
    return ReviewReport(results, listed)
