"""An emulator of Amazon Connect's prompt API: CreatePrompt, DescribePrompt, UpdatePrompt,
ListPrompts and DeletePrompt, restJson1 over HTTP behind SigV4, as botocore's service model
(`botocore/data/connect/2017-08-08/service-2.json`) describes them.

No machine that runs ivrsync's demo or tests reaches AWS, so this serves the same wire protocol
on loopback and enforces what AWS documents: SigV4 signatures checked by botocore's own signer
(and within five minutes of the emulator's clock); the model's field rules (Name 1-127
characters and unique in the instance, Description up to 250, S3Uri `s3://bucket/key`, at most
50 Tags with the model's key and value rules); errors as the service sends them (the
`x-amzn-ErrorType` header, a JSON body with `message`, the model's status codes); each S3Uri
fetched from an S3-compatible endpoint, as the service copies it, and refused unless it is a
prompt Amazon Connect plays (WAV, 8 kHz, mono, U-Law, under 50 MB, at most 5 minutes); the
API throttling quotas, per operation. Faults (latency, errors, lost responses, throttling) can
be injected.

Times: `clock` (injectable, in the config) is the service's wall clock: signatures are checked
against it and LastModifiedTime comes from it. `traffic_clock` (monotonic by default) is what
traffic control counts requests per second on; a test drives both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ivrsync.audio import AudioError, probe_bytes
from ivrsync.emulator.common import (
    EmulatorServer,
    Faults,
    Request,
    Response,
    TokenBucket,
    json_type_name,
)
from ivrsync.emulator.s3 import DEMO_ACCESS_KEY_ID as S3_DEMO_ACCESS_KEY_ID
from ivrsync.emulator.s3 import DEMO_SECRET_ACCESS_KEY as S3_DEMO_SECRET_ACCESS_KEY
from ivrsync.emulator.sigv4 import Failure, SignatureError, verify

__all__ = [
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCOUNT_ID",
    "DEMO_INSTANCE_ID",
    "DEMO_SECRET_ACCESS_KEY",
    "OPERATIONS",
    "AmazonConnectEmulator",
    "AmazonConnectEmulatorConfig",
    "PromptRecord",
    "prompt_audio_problem",
]

logger = logging.getLogger("ivrsync.emulator.amazon_connect")

SERVICE = "connect"
# A request dated further than this from the service's clock is refused ("Signature expired:
# ... is now earlier than ... (... - 5 min.)", as AWS's JSON services answer).
MAX_CLOCK_SKEW = 300.0

CREATE, DESCRIBE, UPDATE, LIST, DELETE = (
    "CreatePrompt",
    "DescribePrompt",
    "UpdatePrompt",
    "ListPrompts",
    "DeletePrompt",
)
OPERATIONS = (CREATE, DESCRIBE, UPDATE, LIST, DELETE)
# Faults strike the operations that change prompts, as they strike the other emulators'
# uploads: the look-ups a client makes after a lost answer are meant to get through.
_WRITES = frozenset({CREATE, UPDATE, DELETE})

# -- API throttling quotas ----------------------------------------------------------------------
# "Amazon Connect service quotas", section "API throttling quotas":
# https://docs.aws.amazon.com/connect/latest/adminguide/amazon-connect-service-limits.html#api-throttling-quotas
# The prompt operations are not among the APIs listed with their own quota, so the default
# applies: a rate of 2 requests per second with a burst of 5, "defined for each API separately
# at the AWS account level, not for the individual Amazon Connect instance"
# (https://docs.aws.amazon.com/connect/latest/APIReference/best-practices-connect-apis.html).
# AWS throttles with a token bucket: the burst is the bucket's size, the rate its refill.
RATE_LIMIT = 2.0
BURST_LIMIT = 5.0
# "Prompts per instance: 500" (the same page, "Amazon Connect quotas"); LimitExceededException.
MAX_PROMPTS_PER_INSTANCE = 500

# -- field rules (the service model's shapes) ---------------------------------------------------
# The API reference states the same rules:
# https://docs.aws.amazon.com/connect/latest/APIReference/API_CreatePrompt.html
MAX_NAME = 127  # CommonNameLength127
MAX_DESCRIPTION = 250  # PromptDescription
MAX_S3_URI = 2000  # S3Uri
MAX_TAGS = 50  # TagMap
MAX_TAG_KEY = 128  # TagKey, pattern ^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]*$
MAX_TAG_VALUE = 256  # TagValue
MAX_INSTANCE_ID = 100  # InstanceId
DEFAULT_MAX_RESULTS = 100  # ListPrompts: "The default MaxResult size is 100."
MAX_MAX_RESULTS = 1000  # MaxResult1000
# S3Uri's pattern: `s3://\S+/.+`, or a virtual-hosted S3 object URL.
_S3_URI = re.compile(r"s3://(?P<bucket>[^\s/]+)/(?P<key>.+)", re.DOTALL)
_S3_HTTPS = re.compile(r"https://(?P<bucket>\S+?)\.s3\.\S+\.amazonaws\.com/(?P<key>\S+)")
_TAG_KEY_PUNCTUATION = frozenset("_.:/=+-@")

# -- the audio a prompt may hold ------------------------------------------------------------------
# Amazon Connect Administrator Guide, "Create prompts": "Use .wav files ... 8 KHz, mono channel,
# U-Law encoding", "less than 50 MB and less than 5 minutes". 50 MB read as 50,000,000 bytes,
# the stricter reading, so that what passes here passes there.
PROMPT_SAMPLE_RATE = 8000
PROMPT_CHANNELS = 1
PROMPT_CODEC = "mulaw"
MAX_PROMPT_BYTES = 50_000_000
MAX_PROMPT_SECONDS = 300.0

# -- the emulated account ---------------------------------------------------------------------
# Demo credentials in the shape of real ones (an access key id is AKIA and 16 more).
DEMO_ACCESS_KEY_ID = "AKIADEMO0000CONNECT0"
DEMO_SECRET_ACCESS_KEY = "demo-connect-secret-access-key"
DEMO_ACCOUNT_ID = "111122223333"
DEMO_REGION = "us-east-1"
DEMO_INSTANCE_ID = "aaaaaaaa-bbbb-cccc-dddd-000000000001"

_CREATE_FIELDS = frozenset({"Name", "Description", "S3Uri", "Tags"})
_UPDATE_FIELDS = frozenset({"Name", "Description", "S3Uri"})


@dataclass(frozen=True, slots=True)
class PromptRecord:
    """One prompt as the emulated instance keeps it (an immutable snapshot)."""

    instance_id: str
    prompt_id: str
    arn: str
    name: str
    description: str | None
    tags: Mapping[str, str]
    s3_uri: str
    audio_sha256: str  # of the audio fetched from S3Uri
    audio_bytes: int
    audio_seconds: float
    last_modified: float  # the emulator's clock
    region: str
    sequence: int  # creation order, what ListPrompts pages by

    def prompt(self) -> dict[str, Any]:
        """The record as the model's `Prompt` structure."""
        answer: dict[str, Any] = {
            "PromptARN": self.arn,
            "PromptId": self.prompt_id,
            "Name": self.name,
            "LastModifiedTime": self.last_modified,
            "LastModifiedRegion": self.region,
        }
        if self.description is not None:
            answer["Description"] = self.description
        if self.tags:
            answer["Tags"] = dict(self.tags)
        return answer

    def summary(self) -> dict[str, Any]:
        """The record as the model's `PromptSummary`."""
        return {
            "Id": self.prompt_id,
            "Arn": self.arn,
            "Name": self.name,
            "LastModifiedTime": self.last_modified,
            "LastModifiedRegion": self.region,
        }


@dataclass
class AmazonConnectEmulatorConfig:
    """What the emulated account looks like; the defaults follow the documentation."""

    access_key_id: str = DEMO_ACCESS_KEY_ID
    secret_access_key: str = DEMO_SECRET_ACCESS_KEY
    account_id: str = DEMO_ACCOUNT_ID
    region: str = DEMO_REGION
    # The Amazon Connect instances of the account; a prompt lives in one of them.
    instance_ids: Sequence[str] = (DEMO_INSTANCE_ID,)
    # Operations the credentials are not allowed (an IAM policy without connect:CreatePrompt,
    # say): answered with AccessDeniedException.
    denied_operations: frozenset[str] = frozenset()
    # Where S3Uri objects are fetched from: an S3-compatible endpoint (the emulator of
    # ivrsync.emulator.s3, or moto) with its credentials. None: CreatePrompt and an UpdatePrompt
    # with an S3Uri are refused (nothing to fetch from).
    s3_endpoint: str | None = None
    s3_access_key_id: str = S3_DEMO_ACCESS_KEY_ID
    s3_secret_access_key: str = S3_DEMO_SECRET_ACCESS_KEY
    s3_region: str = DEMO_REGION
    # Requests a second per operation and the bucket size (the burst); a rate of 0: no limit.
    rate_limit: float = RATE_LIMIT
    burst_limit: float = BURST_LIMIT
    max_prompts_per_instance: int = MAX_PROMPTS_PER_INSTANCE
    # The service's wall clock (signatures, LastModifiedTime) and traffic control's clock.
    clock: Callable[[], float] = time.time
    traffic_clock: Callable[[], float] = time.monotonic
    # Faults to inject (the emulator's `faults`, changeable while it runs); None: none.
    faults: Faults | None = None

    def __post_init__(self) -> None:
        self.instance_ids = tuple(self.instance_ids)
        if not self.instance_ids:
            raise ValueError("instance_ids needs at least one instance id")
        for instance_id in self.instance_ids:
            if not isinstance(instance_id, str) or not 1 <= len(instance_id) <= MAX_INSTANCE_ID:
                raise ValueError(f"instance_ids holds {instance_id!r}, not 1 to 100 characters")
        if not self.access_key_id or not self.secret_access_key:
            raise ValueError("access_key_id and secret_access_key must not be empty")
        unknown = sorted(set(self.denied_operations) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"denied_operations holds {unknown[0]!r}, not one of {OPERATIONS}")
        for name in ("rate_limit", "burst_limit", "max_prompts_per_instance"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be 0 or more")


class _ApiError(Exception):
    """A request the service refuses: `code` is the x-amzn-ErrorType, `status` the model's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str) -> _ApiError:
    return _ApiError(400, "InvalidParameterException", message)


def _not_found(message: str) -> _ApiError:
    return _ApiError(404, "ResourceNotFoundException", message)


# How each signature failure is answered by an AWS JSON service.
_SIGNATURE_ERRORS: Mapping[Failure, tuple[int, str]] = {
    Failure.MISSING: (403, "MissingAuthenticationTokenException"),
    Failure.UNKNOWN_KEY: (403, "UnrecognizedClientException"),
    Failure.MALFORMED: (403, "IncompleteSignatureException"),
    Failure.SCOPE: (403, "InvalidSignatureException"),
    Failure.SKEWED: (403, "InvalidSignatureException"),
    Failure.EXPIRED: (403, "InvalidSignatureException"),
    Failure.CONTENT_MISMATCH: (403, "InvalidSignatureException"),
    Failure.MISMATCH: (403, "InvalidSignatureException"),
}


@dataclass
class _State:
    """Everything requests change, guarded by one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    prompts: dict[tuple[str, str], PromptRecord] = field(default_factory=dict)
    next_sequence: int = 1
    requests: dict[str, int] = field(default_factory=dict)
    throttled: int = 0


class AmazonConnectEmulator(EmulatorServer):
    """Amazon Connect's prompt operations, served on loopback.

    Point boto3 at it with `boto3.client("connect", endpoint_url=emulator.url, ...)`. Inspect
    `prompts`, `requests` and `throttled`; change `faults` at any time (error_rate,
    lost_response_rate and throttle_next strike CreatePrompt, UpdatePrompt and DeletePrompt;
    latency every answer); `remove_prompt` deletes one as a user would in the console.
    """

    name: ClassVar[str] = "amazon-connect-emulator"

    def __init__(
        self,
        config: AmazonConnectEmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.config = config if config is not None else AmazonConnectEmulatorConfig()
        if self.config.faults is not None:
            self.faults = self.config.faults
        self._state = _State()
        self._limits = {
            operation: TokenBucket(
                self.config.rate_limit,
                capacity=self.config.burst_limit,
                clock=self.config.traffic_clock,
            )
            for operation in OPERATIONS
        }
        self._s3_client: Any = None
        self._s3_lock = threading.Lock()

    # -- inspection and test hooks -----------------------------------------------------------

    @property
    def prompts(self) -> list[PromptRecord]:
        """Every prompt of every instance, in creation order."""
        with self._state.lock:
            return sorted(self._state.prompts.values(), key=lambda r: r.sequence)

    @property
    def requests(self) -> dict[str, int]:
        """Requests received per operation (refused ones too; "" for an unknown route)."""
        with self._state.lock:
            return dict(self._state.requests)

    @property
    def throttled(self) -> int:
        """Requests refused with ThrottlingException (traffic control or `throttle_next`)."""
        with self._state.lock:
            return self._state.throttled

    def remove_prompt(self, instance_id: str, prompt_id: str) -> None:
        """Delete a prompt as a user would in the console (drift a client should notice)."""
        with self._state.lock:
            if self._state.prompts.pop((instance_id, prompt_id), None) is None:
                raise KeyError(f"no prompt {prompt_id} in instance {instance_id}")

    # -- HTTP --------------------------------------------------------------------------------

    def error_body(self, status: int, description: str) -> dict[str, Any]:
        return {"message": description}

    def error_response(self, status: int, description: str) -> Response:
        code = "InternalServiceException" if status >= 500 else "InvalidRequestException"
        return _error(_ApiError(status, code, description))

    def stop(self) -> None:
        super().stop()
        with self._s3_lock:
            if self._s3_client is not None:
                self._s3_client.close()
                self._s3_client = None

    def handle(self, request: Request) -> Response | None:
        route = _route(request)
        operation = route[0] if route is not None else ""
        with self._state.lock:
            self._state.requests[operation] = self._state.requests.get(operation, 0) + 1
        try:
            if route is None:
                raise _ApiError(
                    404,
                    "UnknownOperationException",
                    f"{request.method} {request.path} is not an operation this emulator serves "
                    f"({', '.join(OPERATIONS)})",
                )
            operation, instance_id, prompt_id = route
            self._authenticate(request, operation)
            faulty = operation in _WRITES
            if faulty:
                self.faults.arrive()
                if self.faults.should_fail():
                    raise _ApiError(
                        500,
                        "InternalServiceException",
                        "Request processing failed because of an error or failure with the "
                        "service (an injected fault); try again",
                    )
            self._traffic_control(operation, faulty)
            answer = self._answer(operation, instance_id, prompt_id, request)
        except _ApiError as e:
            return _error(e)
        if faulty and self.faults.should_lose_response():
            return None
        return Response(200, answer, {"x-amzn-RequestId": str(uuid.uuid4())})

    def _authenticate(self, request: Request, operation: str) -> None:
        config = self.config
        try:
            verify(
                request,
                service=SERVICE,
                secrets={config.access_key_id: config.secret_access_key},
                now=config.clock(),
                max_skew=MAX_CLOCK_SKEW,
                region=config.region,
            )
        except SignatureError as e:
            status, code = _SIGNATURE_ERRORS[e.failure]
            raise _ApiError(status, code, e.message) from None
        if operation in config.denied_operations:
            raise _ApiError(
                403,
                "AccessDeniedException",
                f"You do not have sufficient access to perform this action: the credentials "
                f"are not allowed connect:{operation}",
            )

    def _traffic_control(self, operation: str, faulty: bool) -> None:
        forced = faulty and self.faults.take_throttle()
        if forced or not self._limits[operation].take():
            with self._state.lock:
                self._state.throttled += 1
            raise _ApiError(
                429,
                "ThrottlingException",
                f"Rate exceeded: {operation} allows {self.config.rate_limit:g} requests a "
                f"second (a burst of {self.config.burst_limit:g}) for the account",
            )

    def _answer(
        self, operation: str, instance_id: str, prompt_id: str | None, request: Request
    ) -> dict[str, Any]:
        if instance_id not in self.config.instance_ids:
            raise _not_found(f"Instance {instance_id[:MAX_INSTANCE_ID]!r} not found")
        if operation == LIST:
            return self._list(instance_id, request.query)
        if operation == CREATE:
            return self._create(instance_id, _body(request))
        assert prompt_id is not None
        if operation == DESCRIBE:
            return {"Prompt": self._find(instance_id, prompt_id).prompt()}
        if operation == UPDATE:
            return self._update(instance_id, prompt_id, _body(request))
        self._delete(instance_id, prompt_id)
        return {}

    # -- the operations ----------------------------------------------------------------------

    def _create(self, instance_id: str, body: dict[str, Any]) -> dict[str, Any]:
        _reject_unknown(body, _CREATE_FIELDS)
        for required in ("Name", "S3Uri"):
            if body.get(required) is None:
                raise _invalid(f"{required} is required")
        name = _name(body["Name"])
        description = _description(body.get("Description"))
        s3_uri = _string(body["S3Uri"], "S3Uri")
        tags = _tags(body.get("Tags"))
        self._check_name_free(instance_id, name, None)
        with self._state.lock:
            count = sum(1 for key in self._state.prompts if key[0] == instance_id)
            if count >= self.config.max_prompts_per_instance:
                raise _ApiError(
                    429,
                    "LimitExceededException",
                    f"The instance has {count} prompts, the most allowed "
                    f"({self.config.max_prompts_per_instance} per instance)",
                )
        audio = self._fetch(s3_uri)
        prompt_id = str(uuid.uuid4())
        with self._state.lock:
            # Checked again under the lock: two creates of one Name may race.
            self._check_name_free_locked(instance_id, name, None)
            record = PromptRecord(
                instance_id=instance_id,
                prompt_id=prompt_id,
                arn=self._arn(instance_id, prompt_id),
                name=name,
                description=description,
                tags=tags,
                s3_uri=s3_uri,
                audio_sha256=audio.sha256,
                audio_bytes=audio.size,
                audio_seconds=audio.seconds,
                last_modified=self.config.clock(),
                region=self.config.region,
                sequence=self._state.next_sequence,
            )
            self._state.next_sequence += 1
            self._state.prompts[(instance_id, prompt_id)] = record
        return {"PromptARN": record.arn, "PromptId": prompt_id}

    def _update(self, instance_id: str, prompt_id: str, body: dict[str, Any]) -> dict[str, Any]:
        _reject_unknown(body, _UPDATE_FIELDS)
        record = self._find(instance_id, prompt_id)
        name = _name(body["Name"]) if body.get("Name") is not None else None
        description = _description(body.get("Description"))
        s3_uri = _string(body["S3Uri"], "S3Uri") if body.get("S3Uri") is not None else None
        if name is not None:
            self._check_name_free(instance_id, name, prompt_id)
        audio = self._fetch(s3_uri) if s3_uri is not None else None
        with self._state.lock:
            current = self._state.prompts.get((instance_id, prompt_id))
            if current is None:  # deleted meanwhile
                raise _not_found(f"Prompt {prompt_id!r} not found in instance {instance_id}")
            if name is not None:
                self._check_name_free_locked(instance_id, name, prompt_id)
            changes: dict[str, Any] = {"last_modified": self.config.clock()}
            if name is not None:
                changes["name"] = name
            if description is not None:
                changes["description"] = description
            if s3_uri is not None and audio is not None:
                changes.update(
                    s3_uri=s3_uri,
                    audio_sha256=audio.sha256,
                    audio_bytes=audio.size,
                    audio_seconds=audio.seconds,
                )
            record = replace(current, **changes)
            self._state.prompts[(instance_id, prompt_id)] = record
        return {"PromptARN": record.arn, "PromptId": prompt_id}

    def _delete(self, instance_id: str, prompt_id: str) -> None:
        with self._state.lock:
            if self._state.prompts.pop((instance_id, prompt_id), None) is None:
                raise _not_found(f"Prompt {prompt_id!r} not found in instance {instance_id}")

    def _list(self, instance_id: str, query: str) -> dict[str, Any]:
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        max_results = DEFAULT_MAX_RESULTS
        if "maxResults" in params:
            raw = params["maxResults"][-1]
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_MAX_RESULTS:
                raise _invalid(
                    f"MaxResults {raw[:20]!r} is out of range; use 1 to {MAX_MAX_RESULTS}"
                )
            max_results = int(raw)
        after = 0
        if "nextToken" in params:
            after = _token_sequence(params["nextToken"][-1], instance_id)
        with self._state.lock:
            found = sorted(
                (
                    r
                    for r in self._state.prompts.values()
                    if r.instance_id == instance_id and r.sequence > after
                ),
                key=lambda r: r.sequence,
            )
        page = found[:max_results]
        answer: dict[str, Any] = {"PromptSummaryList": [r.summary() for r in page]}
        if len(found) > max_results:
            answer["NextToken"] = _make_token(instance_id, page[-1].sequence)
        return answer

    def _find(self, instance_id: str, prompt_id: str) -> PromptRecord:
        with self._state.lock:
            record = self._state.prompts.get((instance_id, prompt_id))
        if record is None:
            raise _not_found(f"Prompt {prompt_id[:256]!r} not found in instance {instance_id}")
        return record

    def _check_name_free(self, instance_id: str, name: str, prompt_id: str | None) -> None:
        with self._state.lock:
            self._check_name_free_locked(instance_id, name, prompt_id)

    def _check_name_free_locked(self, instance_id: str, name: str, prompt_id: str | None) -> None:
        for record in self._state.prompts.values():
            if (
                record.instance_id == instance_id
                and record.name == name
                and record.prompt_id != prompt_id
            ):
                raise _ApiError(
                    409,
                    "DuplicateResourceException",
                    f"A prompt named {name!r} already exists in the instance "
                    f"(PromptId {record.prompt_id})",
                )

    def _arn(self, instance_id: str, prompt_id: str) -> str:
        config = self.config
        return (
            f"arn:aws:connect:{config.region}:{config.account_id}:instance/{instance_id}"
            f"/prompt/{prompt_id}"
        )

    # -- fetching S3Uri ----------------------------------------------------------------------

    def _fetch(self, s3_uri: str) -> _Audio:
        """Copy the object at `s3_uri` and check it is audio a prompt may hold."""
        bucket, key = _parse_s3_uri(s3_uri)
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._s3()
        shown = f"s3://{bucket}/{key}"
        try:
            head = client.head_object(Bucket=bucket, Key=key)
            size = int(head.get("ContentLength", 0))
            if size >= MAX_PROMPT_BYTES:
                raise _invalid(
                    f"The audio at S3Uri {shown} is {size:,} bytes; prompts must be under "
                    f"{MAX_PROMPT_BYTES:,} bytes (50 MB)"
                )
            data = client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_PROMPT_BYTES)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", "?"))
            if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise _invalid(
                    f"S3Uri {shown} does not exist (S3 answered {code}); upload the audio first"
                ) from None
            raise _ApiError(
                400,
                "InvalidRequestException",
                f"S3Uri {shown} could not be read: S3 answered {code}",
            ) from None
        except BotoCoreError as e:
            raise _ApiError(
                400, "InvalidRequestException", f"S3Uri {shown} could not be read: {e}"
            ) from None
        problem = prompt_audio_problem(data)
        if problem is not None:
            raise _invalid(f"The audio at S3Uri {shown} {problem}")
        info = probe_bytes(data)
        return _Audio(hashlib.sha256(data).hexdigest(), len(data), info.duration)

    def _s3(self) -> Any:
        """The S3 client, made on first use (it is slow to make)."""
        config = self.config
        if config.s3_endpoint is None:
            raise _ApiError(
                400,
                "InvalidRequestException",
                "this emulator has no S3 endpoint configured, so it cannot fetch S3Uri",
            )
        with self._s3_lock:
            if self.stopping.is_set():
                raise _ApiError(500, "InternalServiceException", "the emulator is stopping")
            if self._s3_client is None:
                import boto3
                from botocore.config import Config

                self._s3_client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=config.s3_endpoint,
                    region_name=config.s3_region,
                    aws_access_key_id=config.s3_access_key_id,
                    aws_secret_access_key=config.s3_secret_access_key,
                    config=Config(
                        signature_version="s3v4",
                        s3={"addressing_style": "path"},
                        connect_timeout=5,
                        read_timeout=20,
                        retries={"total_max_attempts": 1},
                    ),
                )
            return self._s3_client


@dataclass(frozen=True, slots=True)
class _Audio:
    sha256: str
    size: int
    seconds: float


def prompt_audio_problem(data: bytes) -> str | None:
    """Why `data` cannot be an Amazon Connect prompt ("is ..." / "has ..."), or None."""
    if len(data) >= MAX_PROMPT_BYTES:
        return f"is {len(data):,} bytes; prompts must be under {MAX_PROMPT_BYTES:,} bytes (50 MB)"
    try:
        info = probe_bytes(data)
    except AudioError as e:
        return f"is not usable audio: {e}; prompts are WAV files, 8 kHz, mono, U-Law"
    wanted = "prompts are WAV files, 8 kHz, mono, U-Law (mu-law)"
    if info.format != "wav":
        return f"is {info.format.upper()} audio; {wanted}"
    if info.codec != PROMPT_CODEC:
        return f"is encoded {info.codec}; {wanted}"
    if info.sample_rate != PROMPT_SAMPLE_RATE:
        return f"is sampled at {info.sample_rate} Hz; {wanted}"
    if info.channels != PROMPT_CHANNELS:
        return f"has {info.channels} channels; {wanted}"
    if info.duration > MAX_PROMPT_SECONDS:
        return (
            f"lasts {info.duration:.1f} s; prompts last at most {MAX_PROMPT_SECONDS:.0f} s "
            "(5 minutes)"
        )
    return None


# -- requests --------------------------------------------------------------------------------


def _route(request: Request) -> tuple[str, str, str | None] | None:
    """(operation, InstanceId, PromptId) of a request, from its method and path (restJson1)."""
    parts = request.path.split("/")
    if len(parts) < 3 or parts[0] != "" or not all(parts[2:]):
        return None
    segments = [urllib.parse.unquote(p) for p in parts[2:]]
    if parts[1] == "prompts-summary" and len(segments) == 1 and request.method == "GET":
        return LIST, segments[0], None
    if parts[1] != "prompts":
        return None
    if len(segments) == 1 and request.method == "PUT":
        return CREATE, segments[0], None
    if len(segments) == 2:
        by_method = {"GET": DESCRIBE, "POST": UPDATE, "DELETE": DELETE}
        operation = by_method.get(request.method)
        if operation is not None:
            return operation, segments[0], segments[1]
    return None


def _error(error: _ApiError) -> Response:
    """An error as AWS's restJson1 services send it."""
    return Response(
        error.status,
        {"message": error.message},
        {"x-amzn-ErrorType": error.code, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _ApiError(400, "SerializationException", f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise _ApiError(
            400, "SerializationException", f"the body is {json_type_name(body)}, not an object"
        )
    return body


def _reject_unknown(body: Mapping[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise _ApiError(
            400,
            "SerializationException",
            f"unknown field {unknown[0]!r}; the fields are {', '.join(sorted(known))}",
        )


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise _ApiError(
            400, "SerializationException", f"{name} is {json_type_name(value)}, not a string"
        )
    return value


def _name(value: object) -> str:
    name = _string(value, "Name")
    if not 1 <= len(name) <= MAX_NAME:
        raise _invalid(f"Name is {len(name)} characters; it must be 1 to {MAX_NAME}")
    return name


def _description(value: object) -> str | None:
    if value is None:
        return None
    description = _string(value, "Description")
    if not 1 <= len(description) <= MAX_DESCRIPTION:
        raise _invalid(
            f"Description is {len(description)} characters; it must be 1 to {MAX_DESCRIPTION}"
        )
    return description


def _parse_s3_uri(s3_uri: str) -> tuple[str, str]:
    if not 1 <= len(s3_uri) <= MAX_S3_URI:
        raise _invalid(f"S3Uri is {len(s3_uri)} characters; it must be 1 to {MAX_S3_URI}")
    match = _S3_URI.fullmatch(s3_uri) or _S3_HTTPS.fullmatch(s3_uri)
    if match is None:
        raise _invalid(f"S3Uri {s3_uri[:200]!r} is not in the form s3://bucket/key")
    return match["bucket"], match["key"]


def _tags(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _ApiError(
            400, "SerializationException", f"Tags is {json_type_name(value)}, not an object"
        )
    if not 1 <= len(value) <= MAX_TAGS:
        raise _invalid(f"Tags has {len(value)} tags; give 1 to {MAX_TAGS}")
    tags: dict[str, str] = {}
    for key, tag_value in value.items():
        if not 1 <= len(key) <= MAX_TAG_KEY:
            raise _invalid(f"the tag key {key[:40]!r} must be 1 to {MAX_TAG_KEY} characters")
        if key.lower().startswith("aws:"):
            raise _invalid(f"the tag key {key[:40]!r} starts with 'aws:', which AWS reserves")
        bad = next((c for c in key if not _tag_key_char(c)), None)
        if bad is not None:
            raise _invalid(
                f"the tag key {key[:40]!r} holds {bad!r}; tag keys hold letters, digits, "
                "spaces and _ . : / = + - @"
            )
        text = _string(tag_value, f"Tags.{key}")
        if len(text) > MAX_TAG_VALUE:
            raise _invalid(f"the value of tag {key[:40]!r} is over {MAX_TAG_VALUE} characters")
        tags[key] = text
    return tags


def _tag_key_char(char: str) -> bool:
    """`[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]`: a letter, separator, number or one of `_.:/=+-@`."""
    return unicodedata.category(char)[0] in "LZN" or char in _TAG_KEY_PUNCTUATION


def _make_token(instance_id: str, sequence: int) -> str:
    raw = json.dumps({"i": instance_id, "after": sequence}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _token_sequence(token: str, instance_id: str) -> int:
    """The creation sequence a NextToken continues after; refused if not one we gave out."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["i"] == instance_id and isinstance(data["after"], int):
            return int(data["after"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise _invalid("NextToken is not a token this operation returned for this instance")
