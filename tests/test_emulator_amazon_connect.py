"""The Amazon Connect prompts emulator, through boto3's real `connect` client on loopback.

Each prompt's S3Uri is fetched from the bundled S3 emulator (one test: from moto's server, which
the staging tests use). Clocks are injected: the service's wall clock starts at real time
(botocore signs with it) and is moved to test signature expiry; traffic control counts on a
manual clock, so throttling is driven without sleeping.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from ivrsync.emulator.amazon_connect import (
    DEMO_ACCESS_KEY_ID,
    DEMO_INSTANCE_ID,
    DEMO_SECRET_ACCESS_KEY,
    MAX_PROMPT_BYTES,
    AmazonConnectEmulator,
    AmazonConnectEmulatorConfig,
)
from ivrsync.emulator.s3 import (
    DEMO_ACCESS_KEY_ID as S3_KEY_ID,
)
from ivrsync.emulator.s3 import (
    DEMO_SECRET_ACCESS_KEY as S3_SECRET,
)
from ivrsync.emulator.s3 import (
    S3Emulator,
    S3EmulatorConfig,
)
from tests import s3_server

BUCKET = "prompts"
MULAW, PCM = 0x0007, 0x0001
UNKNOWN_PROMPT = "00000000-0000-0000-0000-000000000000"
# One session for the module: making a client from it reuses the service models it loaded.
SESSION = boto3.session.Session()


def wav(tag: int = MULAW, rate: int = 8000, channels: int = 1, seconds: float = 0.1) -> bytes:
    """A RIFF/WAVE file of silence with the given format tag, rate, channels and length."""
    bits = 8 if tag == MULAW else 16
    block = channels * bits // 8
    samples = b"\xff" * (int(rate * seconds) * block)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples + b"\0" * (len(samples) % 2)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@dataclass
class Clock:
    """A clock a test moves by hand."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    emulator: AmazonConnectEmulator
    s3: S3Emulator
    client: Any
    wall: Clock
    traffic: Clock
    clients: list[Any] = field(default_factory=list)

    def stage(self, key: str, data: bytes) -> str:
        self.s3.put(BUCKET, key, data)
        return f"s3://{BUCKET}/{key}"

    def create(self, name: str, audio: bytes | None = None, **extra: Any) -> dict[str, Any]:
        uri = self.stage(f"{name}.wav", audio if audio is not None else wav())
        answer: dict[str, Any] = self.client.create_prompt(
            InstanceId=DEMO_INSTANCE_ID, Name=name, S3Uri=uri, **extra
        )
        return answer


def connect_client(
    url: str,
    key: str = DEMO_ACCESS_KEY_ID,
    secret: str = DEMO_SECRET_ACCESS_KEY,
    region: str = "us-east-1",
) -> Any:
    return SESSION.client(
        "connect",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Emulator]:
    with S3Emulator(S3EmulatorConfig(buckets=[BUCKET])) as server:
        yield server


def make_setup(s3: S3Emulator, **config: Any) -> Iterator[Setup]:
    import time

    wall, traffic = Clock(time.time()), Clock(0.0)
    config.setdefault("rate_limit", 0)
    config.setdefault("s3_endpoint", s3.url)
    emulator = AmazonConnectEmulator(
        AmazonConnectEmulatorConfig(clock=wall, traffic_clock=traffic, **config)
    )
    with emulator:
        yield Setup(emulator, s3, connect_client(emulator.url), wall, traffic)


@pytest.fixture
def setup(s3: S3Emulator) -> Iterator[Setup]:
    yield from make_setup(s3)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


# -- the operations ------------------------------------------------------------------------------


def test_create_describe_update_list_delete(setup: Setup) -> None:
    created = setup.create("welcome", Description="the greeting", Tags={"team": "ivr"})
    prompt_id = created["PromptId"]
    assert created["PromptARN"] == (
        f"arn:aws:connect:us-east-1:111122223333:instance/{DEMO_INSTANCE_ID}/prompt/{prompt_id}"
    )
    prompt = setup.client.describe_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=prompt_id)["Prompt"]
    assert prompt["Name"] == "welcome"
    assert prompt["Description"] == "the greeting"
    assert prompt["Tags"] == {"team": "ivr"}
    assert prompt["LastModifiedRegion"] == "us-east-1"
    first_modified = prompt["LastModifiedTime"]
    first_audio = setup.emulator.prompts[0].audio_sha256

    # New audio and a new name: the same PromptId, what contact flows reference.
    setup.wall.now += 60
    uri = setup.stage("welcome-v2.wav", wav(seconds=0.2))
    updated = setup.client.update_prompt(
        InstanceId=DEMO_INSTANCE_ID, PromptId=prompt_id, Name="hello", S3Uri=uri
    )
    assert updated["PromptId"] == prompt_id
    assert updated["PromptARN"] == created["PromptARN"]
    prompt = setup.client.describe_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=prompt_id)["Prompt"]
    assert prompt["Name"] == "hello"
    assert prompt["Description"] == "the greeting"
    assert (prompt["LastModifiedTime"] - first_modified).total_seconds() == pytest.approx(60)
    assert setup.emulator.prompts[0].audio_sha256 != first_audio

    listed = setup.client.list_prompts(InstanceId=DEMO_INSTANCE_ID)["PromptSummaryList"]
    assert [(p["Id"], p["Name"], p["Arn"]) for p in listed] == [
        (prompt_id, "hello", created["PromptARN"])
    ]

    setup.client.delete_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=prompt_id)
    assert setup.client.list_prompts(InstanceId=DEMO_INSTANCE_ID)["PromptSummaryList"] == []
    with pytest.raises(ClientError) as excinfo:
        setup.client.describe_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=prompt_id)
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)


def test_a_name_is_unique_in_the_instance(setup: Setup) -> None:
    setup.create("welcome")
    other = setup.create("goodbye")["PromptId"]
    with pytest.raises(setup.client.exceptions.DuplicateResourceException) as excinfo:
        setup.create("welcome")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("DuplicateResourceException", 409)
    assert "welcome" in message
    with pytest.raises(ClientError) as excinfo:
        setup.client.update_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=other, Name="welcome")
    assert error_of(excinfo)[:2] == ("DuplicateResourceException", 409)
    assert sorted(p.name for p in setup.emulator.prompts) == ["goodbye", "welcome"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"Name": "n" * 128}, "1 to 127"),
        ({"Description": "d" * 251}, "1 to 250"),
        ({"S3Uri": "https://example.com/welcome.wav"}, "s3://bucket/key"),
        ({"S3Uri": "s3://prompts"}, "s3://bucket/key"),
        ({"Tags": {f"k{i}": "v" for i in range(51)}}, "1 to 50"),
        ({"Tags": {"aws:owner": "me"}}, "reserves"),
        ({"Tags": {"cost#centre": "x"}}, "'#'"),
        ({"Tags": {"k" * 129: "v"}}, "1 to 128"),
        ({"Tags": {"owner": "v" * 257}}, "256"),
    ],
)
def test_field_rules_are_invalid_parameters(setup: Setup, fields: dict[str, Any], why: str) -> None:
    uri = setup.stage("ok.wav", wav())
    request = {"InstanceId": DEMO_INSTANCE_ID, "Name": "ok", "S3Uri": uri, **fields}
    with pytest.raises(setup.client.exceptions.InvalidParameterException) as excinfo:
        setup.client.create_prompt(**request)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400)
    assert why in message
    assert setup.emulator.prompts == []


def test_unknown_instance_and_prompt_are_not_found(setup: Setup) -> None:
    uri = setup.stage("a.wav", wav())
    client = setup.client
    calls: list[Callable[[], object]] = [
        lambda: client.create_prompt(InstanceId="no-such-instance", Name="a", S3Uri=uri),
        lambda: client.list_prompts(InstanceId="no-such-instance"),
        lambda: client.describe_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=UNKNOWN_PROMPT),
        lambda: client.update_prompt(
            InstanceId=DEMO_INSTANCE_ID, PromptId=UNKNOWN_PROMPT, Name="b"
        ),
        lambda: client.delete_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=UNKNOWN_PROMPT),
    ]
    for call in calls:
        with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
            call()
        assert error_of(excinfo)[1] == 404


def test_list_prompts_pages(setup: Setup) -> None:
    names = [f"prompt-{i}" for i in range(5)]
    for name in names:
        setup.create(name)
    client = setup.client
    first = client.list_prompts(InstanceId=DEMO_INSTANCE_ID, MaxResults=2)
    assert [p["Name"] for p in first["PromptSummaryList"]] == names[:2]
    second = client.list_prompts(
        InstanceId=DEMO_INSTANCE_ID, MaxResults=2, NextToken=first["NextToken"]
    )
    assert [p["Name"] for p in second["PromptSummaryList"]] == names[2:4]
    pages = client.get_paginator("list_prompts").paginate(
        InstanceId=DEMO_INSTANCE_ID, PaginationConfig={"PageSize": 2}
    )
    seen = [[p["Name"] for p in page["PromptSummaryList"]] for page in pages]
    assert seen == [names[:2], names[2:4], names[4:]]
    for bad in ({"NextToken": "not-a-token"}, {"MaxResults": 1001}):
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.list_prompts(InstanceId=DEMO_INSTANCE_ID, **bad)


# -- SigV4 ---------------------------------------------------------------------------------------


def test_bad_credentials_are_refused(setup: Setup) -> None:
    url = setup.emulator.url
    cases = [
        (connect_client(url, secret="wrong-secret"), "InvalidSignatureException"),
        (connect_client(url, key="AKIAUNKNOWN000000000"), "UnrecognizedClientException"),
        (connect_client(url, region="eu-west-2"), "InvalidSignatureException"),
    ]
    for client, code in cases:
        with pytest.raises(ClientError) as excinfo:
            client.list_prompts(InstanceId=DEMO_INSTANCE_ID)
        assert error_of(excinfo)[:2] == (code, 403)


def test_a_request_dated_too_far_off_is_refused(setup: Setup) -> None:
    setup.client.list_prompts(InstanceId=DEMO_INSTANCE_ID)
    setup.wall.now += 301  # the service's clock is five minutes and a second ahead
    with pytest.raises(ClientError) as excinfo:
        setup.client.list_prompts(InstanceId=DEMO_INSTANCE_ID)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "Signature expired" in message


def test_an_unsigned_or_altered_request_is_refused(setup: Setup) -> None:
    url = f"{setup.emulator.url}/prompts/{DEMO_INSTANCE_ID}"
    unsigned = httpx.put(url, json={"Name": "a", "S3Uri": "s3://prompts/a.wav"})
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"

    body = b'{"Name": "a", "S3Uri": "s3://prompts/a.wav"}'
    request = AWSRequest(
        method="PUT", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(
        Credentials(DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY), "connect", "us-east-1"
    ).add_auth(request)
    altered = httpx.put(url, content=body.replace(b'"a"', b'"b"'), headers=dict(request.headers))
    assert altered.status_code == 403
    assert altered.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert altered.json()["message"].startswith("The request signature we calculated")
    assert setup.emulator.prompts == []


def test_an_operation_the_credentials_may_not_use_is_access_denied(s3: S3Emulator) -> None:
    for setup in make_setup(s3, denied_operations=frozenset({"DeletePrompt"})):
        prompt_id = setup.create("welcome")["PromptId"]
        with pytest.raises(setup.client.exceptions.AccessDeniedException) as excinfo:
            setup.client.delete_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=prompt_id)
        assert error_of(excinfo)[1] == 403
        assert len(setup.emulator.prompts) == 1


# -- throttling ------------------------------------------------------------------------------------


def test_each_operation_has_its_own_token_bucket(s3: S3Emulator) -> None:
    """The documented default: 2 requests a second, a burst of 5, per API."""
    for setup in make_setup(s3, rate_limit=2, burst_limit=5):
        client = setup.client
        for _ in range(5):
            client.list_prompts(InstanceId=DEMO_INSTANCE_ID)
        with pytest.raises(client.exceptions.ThrottlingException) as excinfo:
            client.list_prompts(InstanceId=DEMO_INSTANCE_ID)
        assert error_of(excinfo)[1] == 429
        # Another operation's bucket is full.
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.describe_prompt(InstanceId=DEMO_INSTANCE_ID, PromptId=UNKNOWN_PROMPT)
        setup.traffic.now += 0.5  # one token back at 2 a second
        client.list_prompts(InstanceId=DEMO_INSTANCE_ID)
        with pytest.raises(client.exceptions.ThrottlingException):
            client.list_prompts(InstanceId=DEMO_INSTANCE_ID)
        assert setup.emulator.throttled == 2
        assert setup.emulator.requests["ListPrompts"] == 8


# -- the audio at S3Uri ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio", "why"),
    [
        (wav(tag=PCM), "encoded pcm_s16le"),
        (wav(rate=16000), "sampled at 16000 Hz"),
        (wav(channels=2), "has 2 channels"),
        (wav(seconds=300.5), "lasts 300.5 s"),
        (b"hello, not audio at all", "not usable audio"),
    ],
)
def test_audio_that_is_not_a_prompt_is_refused(setup: Setup, audio: bytes, why: str) -> None:
    with pytest.raises(setup.client.exceptions.InvalidParameterException) as excinfo:
        setup.create("bad", audio)
    message = error_of(excinfo)[2]
    assert why in message
    assert "8 kHz, mono, U-Law" in message or "5 minutes" in message
    assert setup.emulator.prompts == []


def test_five_minutes_of_mulaw_8k_mono_is_a_prompt(setup: Setup) -> None:
    setup.create("long", wav(seconds=300))
    assert setup.emulator.prompts[0].audio_seconds == pytest.approx(300)


def test_a_file_of_50_mb_is_refused_before_it_is_downloaded(setup: Setup) -> None:
    setup.s3.put(BUCKET, "huge.wav", b"\0" * MAX_PROMPT_BYTES)
    with pytest.raises(setup.client.exceptions.InvalidParameterException) as excinfo:
        setup.client.create_prompt(
            InstanceId=DEMO_INSTANCE_ID, Name="huge", S3Uri=f"s3://{BUCKET}/huge.wav"
        )
    assert "under 50,000,000 bytes" in error_of(excinfo)[2]


def test_a_missing_object_is_an_invalid_parameter(setup: Setup) -> None:
    with pytest.raises(setup.client.exceptions.InvalidParameterException) as excinfo:
        setup.client.create_prompt(
            InstanceId=DEMO_INSTANCE_ID, Name="x", S3Uri=f"s3://{BUCKET}/nowhere.wav"
        )
    assert "does not exist" in error_of(excinfo)[2]


def test_the_audio_is_fetched_from_moto_too() -> None:
    import time

    with s3_server.s3_server(BUCKET) as endpoint:
        storage = SESSION.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=s3_server.ACCESS_KEY,
            aws_secret_access_key=s3_server.SECRET_KEY,
        )
        storage.put_object(Bucket=BUCKET, Key="a.wav", Body=wav())
        config = AmazonConnectEmulatorConfig(
            s3_endpoint=endpoint,
            s3_access_key_id=s3_server.ACCESS_KEY,
            s3_secret_access_key=s3_server.SECRET_KEY,
            clock=time.time,
        )
        with AmazonConnectEmulator(config) as emulator:
            client = connect_client(emulator.url)
            client.create_prompt(
                InstanceId=DEMO_INSTANCE_ID, Name="a", S3Uri=f"s3://{BUCKET}/a.wav"
            )
            assert [p.audio_bytes for p in emulator.prompts] == [len(wav())]


# -- faults ---------------------------------------------------------------------------------------


def test_injected_faults_strike_the_writes(setup: Setup) -> None:
    client, faults = setup.client, setup.emulator.faults
    faults.error_rate = 1.0
    with pytest.raises(ClientError) as excinfo:
        setup.create("welcome")
    assert error_of(excinfo)[:2] == ("InternalServiceException", 500)
    assert client.list_prompts(InstanceId=DEMO_INSTANCE_ID)["PromptSummaryList"] == []
    faults.error_rate = 0.0

    faults.throttle_next = 1
    with pytest.raises(client.exceptions.ThrottlingException):
        setup.create("welcome")
    assert setup.emulator.throttled == 1

    # A lost answer: the prompt is made, the client never hears; trying again finds it taken.
    faults.lost_response_rate = 1.0
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        setup.create("welcome")
    faults.lost_response_rate = 0.0
    with pytest.raises(client.exceptions.DuplicateResourceException):
        setup.create("welcome")
    listed = client.list_prompts(InstanceId=DEMO_INSTANCE_ID)["PromptSummaryList"]
    assert [p["Name"] for p in listed] == ["welcome"]


def test_seeded_faults_repeat(s3: S3Emulator) -> None:
    outcomes: list[list[str]] = []
    for _ in range(2):
        for setup in make_setup(s3):
            setup.emulator.faults.error_rate = 0.5
            setup.emulator.faults.seed = 7
            seen = []
            for i in range(8):
                try:
                    setup.create(f"p{i}")
                    seen.append("ok")
                except ClientError as e:
                    seen.append(e.response["Error"]["Code"])
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {"ok", "InternalServiceException"}


# -- the S3 emulator -------------------------------------------------------------------------------


def s3_client(url: str, secret: str = S3_SECRET) -> Any:
    return SESSION.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", retries={"total_max_attempts": 1}),
    )


def test_s3_emulator_serves_what_staging_uses(tmp_path: Path) -> None:
    """S3Staging's calls (head_object, put_object, a presigned GET) and CreateBucket/HeadBucket."""
    from ivrsync.providers.audio_source import S3Staging
    from ivrsync.providers.base import UploadItem
    from ivrsync.settings import S3AudioSource

    wall = Clock(__import__("time").time())
    with S3Emulator(S3EmulatorConfig(clock=wall)) as server:
        client = s3_client(server.url)
        with pytest.raises(ClientError) as excinfo:
            client.head_bucket(Bucket="staging")
        assert excinfo.value.response["Error"]["Code"] == "404"
        client.create_bucket(Bucket="staging")
        client.head_bucket(Bucket="staging")

        audio = wav()
        path = tmp_path / "welcome.wav"
        path.write_bytes(audio)
        import hashlib

        digest = hashlib.sha256(audio).hexdigest()
        item = UploadItem(
            address="prompt.welcome",
            path=path,
            audio_path="audio/welcome.wav",
            sha256=digest,
            size=len(audio),
            remote_name="welcome",
            locale="en_US",
            attributes={},
        )
        source = S3AudioSource(type="s3", endpoint=server.url, bucket="staging")
        env = {"AWS_ACCESS_KEY_ID": S3_KEY_ID, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
        url = S3Staging(source, env, "demo").url_for(item)
        assert server.objects("staging")[f"ivrsync/{digest}.wav"].data == audio
        assert httpx.get(url).content == audio
        # Staged again: found by HEAD, not sent twice.
        before = server.requests
        S3Staging(source, env, "demo").url_for(item)
        assert server.requests == before + 1

        tampered = url.replace("welcome", "other").replace(digest, "0" * 64)
        assert httpx.get(tampered).status_code == 403
        wall.now += 3601  # past the URL's X-Amz-Expires
        expired = httpx.get(url)
        assert expired.status_code == 403
        assert b"Request has expired" in expired.content


def test_s3_emulator_checks_signatures() -> None:
    with S3Emulator(S3EmulatorConfig(buckets=["b"])) as server:
        with pytest.raises(ClientError) as excinfo:
            s3_client(server.url, secret="wrong").put_object(Bucket="b", Key="k", Body=b"x")
        assert excinfo.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        client = s3_client(server.url)
        with pytest.raises(ClientError) as excinfo:
            client.get_object(Bucket="b", Key="missing")
        assert excinfo.value.response["Error"]["Code"] == "NoSuchKey"
        assert server.objects("b") == {}
        unsigned = httpx.get(f"{server.url}/b/k")
        assert unsigned.status_code == 403
        assert b"<Code>AccessDenied</Code>" in unsigned.content

        # A body other than the one whose hash was signed.
        request = AWSRequest(method="PUT", url=f"{server.url}/b/k", data=b"signed")
        S3SigV4Auth(Credentials(S3_KEY_ID, S3_SECRET), "s3", "us-east-1").add_auth(request)
        swapped = httpx.put(request.url, content=b"sent", headers=dict(request.headers))
        assert swapped.status_code == 400
        assert b"<Code>XAmzContentSHA256Mismatch</Code>" in swapped.content
        assert server.objects("b") == {}


def test_s3_emulator_refuses_a_request_dated_15_minutes_off() -> None:
    import time

    wall = Clock(time.time() - 901)
    with S3Emulator(S3EmulatorConfig(buckets=["b"], clock=wall)) as server:
        with pytest.raises(ClientError) as excinfo:
            s3_client(server.url).head_bucket(Bucket="b")
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        wall.now += 2
        s3_client(server.url).head_bucket(Bucket="b")


def test_s3_emulator_logs_no_presigned_signature(caplog: pytest.LogCaptureFixture) -> None:
    with S3Emulator(S3EmulatorConfig(buckets=["b"])) as server:
        client = s3_client(server.url)
        client.put_object(Bucket="b", Key="k.wav", Body=b"x")
        url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k.wav"})
        with caplog.at_level("INFO", logger="ivrsync.emulator.s3"):
            assert httpx.get(url).content == b"x"
    signature = url.rpartition("X-Amz-Signature=")[2]
    assert "GET /b/k.wav 200" in caplog.text
    assert signature not in caplog.text
