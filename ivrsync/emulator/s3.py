"""A minimal S3-compatible server for the demo: path-style buckets and objects behind SigV4.

The Amazon Connect emulator fetches each prompt's S3Uri, ivrsync stages audio in S3
(`providers/audio_source.py`, S3Staging) for providers that take a URL, and the remote state
backend keeps the state, its lock and its history in S3. moto is a development dependency, so
the demo serves this instead. It does what those use and no more: PUT and HEAD of a bucket;
ListObjectsV2 (`prefix`, `max-keys`, `continuation-token`, `start-after`); PUT, GET, HEAD and
DELETE of an object (path-style, `/bucket/key`); SigV4 in the Authorization header or a
presigned URL, checked with the same verifier as the Connect emulator (botocore's signer, S3's
rules: the path is not normalised, `x-amz-content-sha256` is required and checked against the
body). Errors are S3's XML (`<Error><Code>NoSuchKey</Code>...`); a HEAD error has no body, as
S3 sends it.

Conditional writes, as S3 documents them: a PUT with `If-None-Match: *` is refused with 412
PreconditionFailed when the key exists, a PUT or DELETE with `If-Match: "etag"` when the key's
ETag differs (and with 404 NoSuchKey when there is no object to compare with). The condition
is checked AND the write made under one lock, so of many writers racing on one key with the
same condition exactly one wins and every other one gets 412: this is what makes the emulator
fit to prove a lock built on it (moto's server checks and writes in two steps with no lock
between them, so only timing keeps a second writer from winning). S3 itself answers 409
ConditionalRequestConflict to a writer that overlapped another one mid-upload; here the check
and the write are one step, so no write overlaps another and 409 never happens.
`S3EmulatorConfig(honour_conditions=False)` plays the S3-compatible stores reported to ignore
the conditional headers: they write anyway and answer 200.

Every object request is recorded, in the order the store applied them (`events()`), so a test
can check who held a lock when; `fail_puts_matching` makes the PUTs of matching keys fail with
500 InternalError, a store that is down for writes.

Objects live in memory and go away with the server.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, Self
from xml.sax.saxutils import escape

from ivrsync.emulator.common import Request
from ivrsync.emulator.sigv4 import Failure, SignatureError, verify
from ivrsync.serving import BackgroundServer, Served, ThreadedHTTPServer

__all__ = [
    "DEMO_ACCESS_KEY_ID",
    "DEMO_SECRET_ACCESS_KEY",
    "S3Emulator",
    "S3EmulatorConfig",
    "S3Event",
    "S3Object",
]

logger = logging.getLogger("ivrsync.emulator.s3")

SERVICE = "s3"
# "RequestTimeTooSkewed: The difference between the request time and the current time is too
# large" (more than 15 minutes).
MAX_CLOCK_SKEW = 900.0
# The most one PUT may carry here. S3 takes 5 GB; prompts are under 50 MB (Amazon Connect),
# and this is above that so that the Connect emulator, not this one, refuses a large prompt.
MAX_OBJECT_BYTES = 64 * 1024 * 1024
_CLIENT_TIMEOUT = 30.0
# ListObjectsV2's default and largest page.
MAX_KEYS = 1000
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
# The request log keeps the latest events and the start of what each PUT wrote: enough for a
# lock record or a state, bounded for a demo that stages audio for hours.
MAX_EVENTS = 100_000
EVENT_BODY_BYTES = 64 * 1024

DEMO_ACCESS_KEY_ID = "AKIADEMO0000STAGING0"
DEMO_SECRET_ACCESS_KEY = "demo-s3-secret-access-key"
DEMO_REGION = "us-east-1"

# How each signature failure is answered by S3.
_SIGNATURE_ERRORS: Mapping[Failure, tuple[int, str]] = {
    Failure.MISSING: (403, "AccessDenied"),
    Failure.MALFORMED: (400, "AuthorizationHeaderMalformed"),
    Failure.SCOPE: (400, "AuthorizationHeaderMalformed"),
    Failure.UNKNOWN_KEY: (403, "InvalidAccessKeyId"),
    Failure.SKEWED: (403, "RequestTimeTooSkewed"),
    Failure.EXPIRED: (403, "AccessDenied"),
    Failure.CONTENT_MISMATCH: (400, "XAmzContentSHA256Mismatch"),
    Failure.MISMATCH: (403, "SignatureDoesNotMatch"),
}


@dataclass(frozen=True, slots=True)
class S3Object:
    data: bytes
    content_type: str
    etag: str  # the MD5 of the data in quotes, as S3 gives it for a single-part upload
    last_modified: float


@dataclass(frozen=True, slots=True)
class S3Event:
    """One object request as the store applied it: `status` is what it answered."""

    method: str  # PUT, GET, HEAD, DELETE
    bucket: str
    key: str
    status: int
    # The conditional header the request carried, as sent ("" when none).
    if_match: str = ""
    if_none_match: str = ""
    body: bytes = b""  # what a PUT that succeeded wrote (its first EVENT_BODY_BYTES)


@dataclass
class S3EmulatorConfig:
    access_key_id: str = DEMO_ACCESS_KEY_ID
    secret_access_key: str = DEMO_SECRET_ACCESS_KEY
    region: str = DEMO_REGION
    # Buckets that exist from the start (more can be made with CreateBucket).
    buckets: Sequence[str] = ()
    max_object_bytes: int = MAX_OBJECT_BYTES
    # The service's wall clock: signatures and presigned URLs are checked against it.
    clock: Callable[[], float] = time.time
    # False plays a store that ignores If-Match / If-None-Match: it writes anyway (200).
    honour_conditions: bool = True
    # A PUT of a key this expression finds (re.search) fails with 500 InternalError, a store
    # that is down for writes; a test may set it while the server runs.
    fail_puts_matching: str | None = None

    def __post_init__(self) -> None:
        self.buckets = tuple(self.buckets)
        if not self.access_key_id or not self.secret_access_key:
            raise ValueError("access_key_id and secret_access_key must not be empty")


class _S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, **detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


class S3Emulator(Served):
    """S3's bucket and object basics, served on loopback; `S3Emulator(config).start()`, then
    `boto3.client("s3", endpoint_url=emulator.url, ...)` (path-style addressing)."""

    name: ClassVar[str] = "s3-emulator"

    def __init__(
        self, config: S3EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config if config is not None else S3EmulatorConfig()
        self.host = host
        self._requested_port = port
        self._serving = BackgroundServer(f"{self.name}-server")
        # One lock for every bucket: a conditional write's check and its write happen under it.
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[str, S3Object]] = {b: {} for b in self.config.buckets}
        self._requests = 0
        self._events: deque[S3Event] = deque(maxlen=MAX_EVENTS)
        # Called with each request before it is handled, as the provider emulators do: a test
        # acts at a known moment (kills a client as its n-th request arrives).
        self.on_request: Callable[[Request], None] | None = None

    def start(self) -> Self:
        self._serving.start(_S3HTTPServer(self.host, self._requested_port, self))
        return self

    def stop(self) -> None:
        self._serving.stop()

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def events(self) -> list[S3Event]:
        """The object requests answered so far (the latest MAX_EVENTS), in the order the store
        applied them."""
        with self._lock:
            return list(self._events)

    def objects(self, bucket: str) -> dict[str, S3Object]:
        """A bucket's objects by key (a copy); KeyError for a bucket that does not exist."""
        with self._lock:
            return dict(self._buckets[bucket])

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "audio/wav") -> None:
        """Store an object as a PUT would (for tests and the demo); makes the bucket if need be."""
        with self._lock:
            self._buckets.setdefault(bucket, {})[key] = self._object(data, content_type)

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object, as a lifecycle rule or a user would."""
        with self._lock:
            del self._buckets[bucket][key]

    # -- requests ----------------------------------------------------------------------------

    def answer(self, request: Request) -> _Answer:
        with self._lock:
            self._requests += 1
        hook = self.on_request
        if hook is not None:
            hook(request)
        request_id = uuid.uuid4().hex[:16].upper()
        try:
            answer = self._answer(request)
        except _S3Error as e:
            body = b""
            if request.method != "HEAD":
                detail = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in e.detail.items())
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<Error><Code>{e.code}</Code><Message>{escape(e.message)}</Message>"
                    f"{detail}<RequestId>{request_id}</RequestId></Error>"
                ).encode()
            answer = _Answer(e.status, body, {"Content-Type": "application/xml"})
        except Exception:
            logger.exception("s3 emulator failed on %s %s", request.method, request.path)
            answer = _Answer(500, b"", {})
        return _Answer(
            answer.status, answer.body, {**answer.headers, "x-amz-request-id": request_id}
        )

    def _answer(self, request: Request) -> _Answer:
        try:
            verify(
                request,
                service=SERVICE,
                secrets={self.config.access_key_id: self.config.secret_access_key},
                now=self.config.clock(),
                max_skew=MAX_CLOCK_SKEW,
                region=self.config.region,
                s3=True,
            )
        except SignatureError as e:
            status, code = _SIGNATURE_ERRORS[e.failure]
            raise _S3Error(status, code, e.message) from None
        if request.header("Content-Encoding") == "aws-chunked":
            raise _S3Error(501, "NotImplemented", "aws-chunked uploads are not served here")
        bucket, _, key = urllib.parse.unquote(request.path.lstrip("/")).partition("/")
        if not bucket:
            raise _S3Error(405, "MethodNotAllowed", "the service root (ListBuckets) is not served")
        if not key:
            return self._bucket(request, bucket)
        with self._lock:
            try:
                answer = self._object_request(request, bucket, key)
            except _S3Error as e:
                self._record(request, bucket, key, e.status)
                raise
            self._record(request, bucket, key, answer.status)
            return answer

    def _record(self, request: Request, bucket: str, key: str, status: int) -> None:
        """Note an object request in the log (under the lock, so in the order applied)."""
        written = (
            request.body[:EVENT_BODY_BYTES] if request.method == "PUT" and status == 200 else b""
        )
        self._events.append(
            S3Event(
                request.method,
                bucket,
                key,
                status,
                request.header("If-Match") or "",
                request.header("If-None-Match") or "",
                written,
            )
        )

    def _bucket(self, request: Request, bucket: str) -> _Answer:
        method = request.method
        with self._lock:
            exists = bucket in self._buckets
            if method == "PUT":
                self._buckets.setdefault(bucket, {})
                return _Answer(200, headers={"Location": f"/{bucket}"})
            if method == "GET" and exists:
                return self._list(request, bucket, self._buckets[bucket])
        if not exists and method in ("GET", "HEAD"):
            raise _S3Error(
                404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket
            )
        if method == "HEAD":
            return _Answer(200, headers={"x-amz-bucket-region": self.config.region})
        raise _S3Error(405, "MethodNotAllowed", f"{method} of a bucket is not served here")

    def _list(self, request: Request, bucket: str, objects: Mapping[str, S3Object]) -> _Answer:
        """ListObjectsV2: keys in UTF-8 binary order from after `start-after` or the
        continuation token (the last key of the previous page), at most `max-keys` of them."""
        query = dict(urllib.parse.parse_qsl(request.query, keep_blank_values=True))
        if query.get("list-type") != "2":
            raise _S3Error(501, "NotImplemented", "only ListObjectsV2 (list-type=2) is served")
        if query.get("delimiter"):
            raise _S3Error(501, "NotImplemented", "a delimiter is not served here")
        text = query.get("max-keys", str(MAX_KEYS))
        if not (text.isascii() and text.isdigit()):
            raise _S3Error(
                400,
                "InvalidArgument",
                "Provided max-keys not an integer or within integer range",
                ArgumentName="max-keys",
                ArgumentValue=text,
            )
        max_keys = min(int(text), MAX_KEYS)
        prefix = query.get("prefix", "")
        token = query.get("continuation-token")
        after = query.get("start-after", "")
        if token is not None:
            try:
                after = bytes.fromhex(token).decode()
            except (ValueError, UnicodeDecodeError):
                raise _S3Error(
                    400,
                    "InvalidArgument",
                    "The continuation token provided is incorrect",
                    ArgumentName="continuation-token",
                ) from None
        keys = sorted(
            (k for k in objects if k.startswith(prefix) and k.encode() > after.encode()),
            key=str.encode,
        )
        page, truncated = keys[:max_keys], len(keys) > max_keys
        url = query.get("encoding-type") == "url"

        def shown(value: str) -> str:
            return escape(urllib.parse.quote(value, safe="/") if url else value)

        parts = [
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{_XMLNS}">',
            f"<Name>{escape(bucket)}</Name><Prefix>{shown(prefix)}</Prefix>",
            f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
        ]
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        if token is not None:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if "start-after" in query:
            parts.append(f"<StartAfter>{shown(query['start-after'])}</StartAfter>")
        if truncated:
            parts.append(
                f"<NextContinuationToken>{page[-1].encode().hex()}</NextContinuationToken>"
            )
        for key in page:
            found = objects[key]
            modified = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(found.last_modified))
            parts.append(
                f"<Contents><Key>{shown(key)}</Key><LastModified>{modified}</LastModified>"
                f"<ETag>{escape(found.etag)}</ETag><Size>{len(found.data)}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        parts.append("</ListBucketResult>")
        return _Answer(200, "".join(parts).encode(), {"Content-Type": "application/xml"})

    def _object_request(self, request: Request, bucket: str, key: str) -> _Answer:
        """One object request, under the lock: a condition is checked and the write made
        without another request in between."""
        method = request.method
        objects = self._buckets.get(bucket)
        if objects is None:
            raise _S3Error(
                404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket
            )
        found = objects.get(key)
        if method == "PUT":
            if len(request.body) > self.config.max_object_bytes:
                raise _S3Error(
                    400,
                    "EntityTooLarge",
                    f"Your proposed upload exceeds the maximum allowed size "
                    f"({self.config.max_object_bytes:,} bytes here)",
                )
            self._check_conditions(request, key, found, writing=True)
            pattern = self.config.fail_puts_matching
            if pattern is not None and re.search(pattern, key):
                raise _S3Error(
                    500, "InternalError", "We encountered an internal error. Please try again."
                )
            content_type = request.header("Content-Type") or "binary/octet-stream"
            stored = objects[key] = self._object(request.body, content_type)
            return _Answer(200, headers={"ETag": stored.etag})
        if method == "DELETE":
            self._check_conditions(request, key, found, writing=False)
            objects.pop(key, None)
            return _Answer(204)
        if method not in ("GET", "HEAD"):
            raise _S3Error(405, "MethodNotAllowed", f"{method} of an object is not served")
        if found is None:
            raise _S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        headers = {
            "Content-Type": found.content_type,
            "ETag": found.etag,
            "Last-Modified": email.utils.formatdate(found.last_modified, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        return _Answer(200, found.data, headers)

    def _check_conditions(
        self, request: Request, key: str, found: S3Object | None, *, writing: bool
    ) -> None:
        """S3's preconditions on a PUT (If-None-Match: *, If-Match) or a DELETE (If-Match).

        If-Match on a missing key is 404 NoSuchKey (S3's answer: there is no current version
        to compare); If-None-Match takes only `*` (anything else is 501, as S3 answers). A store
        configured not to honour conditions ignores both, as some S3-compatible stores do."""
        if not self.config.honour_conditions:
            return
        if_match = request.header("If-Match")
        if_none_match = request.header("If-None-Match") if writing else None
        if if_none_match is not None and if_none_match.strip() != "*":
            raise _S3Error(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
                Header="If-None-Match",
            )
        if if_match is not None:
            if found is None:
                raise _S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
            wanted = {tag.strip().strip('"') for tag in if_match.split(",")}
            if "*" not in wanted and found.etag.strip('"') not in wanted:
                raise _precondition_failed("If-Match")
        if if_none_match is not None and found is not None:
            raise _precondition_failed("If-None-Match")

    def _object(self, data: bytes, content_type: str) -> S3Object:
        etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        return S3Object(data, content_type, etag, self.config.clock())


def _precondition_failed(header: str) -> _S3Error:
    return _S3Error(
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        Condition=header,
    )


class _S3HTTPServer(ThreadedHTTPServer):
    connection_log = logger

    def __init__(self, host: str, port: int, app: S3Emulator) -> None:
        self.app = app
        super().__init__(host, port, _S3Handler)


class _S3Handler(BaseHTTPRequestHandler):
    server: _S3HTTPServer
    timeout = _CLIENT_TIMEOUT
    server_version = "ivrsync-s3-emulator"
    # HTTP/1.1, so that a client's `Expect: 100-continue` is answered at once rather than
    # waited out; every answer still closes the connection.
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return self.server_version

    def _serve(self) -> None:
        self.close_connection = True
        length = self.headers.get("Content-Length", "0").strip() or "0"
        if not length.isdigit() or self.headers.get("Transfer-Encoding"):
            self._send(_Answer(411, b"", {}))
            return
        size = int(length)
        limit = self.server.app.config.max_object_bytes
        if size > limit:
            self._send(_Answer(400, b"EntityTooLarge", {}))
            return
        body = self.rfile.read(size)
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers={name.lower(): value for name, value in reversed(self.headers.items())},
            body=body,
            client=str(self.client_address[0]),
        )
        self._send(self.server.app.answer(request))

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _serve

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: a presigned URL's query holds its signature, a secret.
        path = self.path.partition("?")[0]
        logger.info("%s %s %s %s", self.client_address[0], self.command, path, code)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.client_address[0], format % args)
