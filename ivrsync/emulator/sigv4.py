"""AWS Signature Version 4, checked the way AWS checks it: by signing again with botocore.

The Amazon Connect and S3 emulators both take SigV4-signed requests. Rather than a second
implementation of the canonical request (whose details, such as S3's unnormalised paths or
the payload hash header, are easy to get subtly wrong), the verifier rebuilds the request as
the client signed it and lets botocore's own signer compute the signature with the known
secret key; a request passes only if the two signatures are equal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ivrsync.emulator.common import Request

__all__ = [
    "ALGORITHM",
    "UNSIGNED_PAYLOAD",
    "Failure",
    "SignatureError",
    "Signed",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_SHAPE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
# The longest a presigned URL may be valid: seven days (SigV4 query authentication).
MAX_PRESIGNED_EXPIRES = 604800


class Failure(Enum):
    """Why a request's signature was refused; each emulator answers with its service's code."""

    MISSING = "missing"  # no Authorization header (nor presigned query)
    MALFORMED = "malformed"  # an Authorization header or query that is not SigV4's shape
    UNKNOWN_KEY = "unknown-key"  # an access key id the account does not have
    SCOPE = "scope"  # a credential scoped to another date, region or service
    SKEWED = "skewed"  # X-Amz-Date too far from the service's clock
    EXPIRED = "expired"  # a presigned URL past its X-Amz-Expires
    CONTENT_MISMATCH = "content-mismatch"  # x-amz-content-sha256 is not the body's hash
    MISMATCH = "mismatch"  # the signature is not the one the secret key gives


class SignatureError(Exception):
    """The request is not validly signed; `failure` says how, the message says why."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


@dataclass(frozen=True, slots=True)
class Signed:
    """What a valid signature vouches for: who signed, for which region, when."""

    access_key_id: str
    region: str
    signed_at: datetime


def verify(
    request: Request,
    *,
    service: str,
    secrets: Mapping[str, str],
    now: float,
    max_skew: float,
    region: str | None = None,
    s3: bool = False,
) -> Signed:
    """Check `request`'s SigV4 signature (the Authorization header, or for S3 also a presigned
    URL's query) against `secrets` (access key id -> secret access key).

    `now` is the service's clock (Unix seconds); a request dated more than `max_skew` seconds
    from it is refused. `region`, when given, is the only region a credential may be scoped
    to. Raises SignatureError.
    """
    if request.header("Authorization") is None:
        query = urllib.parse.parse_qs(request.query, keep_blank_values=True)
        if s3 and "X-Amz-Algorithm" in query:
            return _verify_query(request, query, service, secrets, now, region)
        raise SignatureError(Failure.MISSING, "the request is not signed (no Authorization)")
    credential, signed_headers, signature = _parse_authorization(request.header("Authorization"))
    amz_date = request.header("X-Amz-Date")
    if amz_date is None or not _AMZ_DATE_SHAPE.fullmatch(amz_date.strip()):
        raise SignatureError(
            Failure.MALFORMED,
            f"X-Amz-Date {amz_date!r} is not a date in the form 20260101T000000Z",
        )
    amz_date = amz_date.strip()
    signed_at = _parse_date(amz_date)
    skew = signed_at.timestamp() - now
    if abs(skew) > max_skew:
        served = datetime.fromtimestamp(now, UTC).strftime(_AMZ_DATE)
        raise SignatureError(
            Failure.SKEWED,
            f"Signature expired: {amz_date} is {abs(skew):.0f} s "
            f"{'ahead of' if skew > 0 else 'behind'} the server's time {served}; at most "
            f"{max_skew:.0f} s apart are accepted (check the local clock)",
        )
    key_id, scope_region = _check_scope(credential, amz_date, service, secrets, region)
    content_hash = request.header("X-Amz-Content-SHA256")
    if s3 and content_hash is None:
        raise SignatureError(
            Failure.MALFORMED, "the x-amz-content-sha256 header is missing (S3 requires it)"
        )
    if content_hash is not None:
        _check_content_hash(content_hash, request.body)
    signer: SigV4Auth = (S3SigV4Auth if s3 else SigV4Auth)(
        Credentials(key_id, secrets[key_id]), service, scope_region
    )
    aws_request = _rebuild(request, request.query, signed_headers, amz_date)
    expected = _sign(signer, aws_request)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError(
            Failure.MISMATCH,
            "The request signature we calculated does not match the signature you provided: "
            "check the secret access key, and that the method, path, query, signed headers "
            "and body are the ones signed",
        )
    return Signed(key_id, scope_region, signed_at)


def _verify_query(
    request: Request,
    query: Mapping[str, list[str]],
    service: str,
    secrets: Mapping[str, str],
    now: float,
    region: str | None,
) -> Signed:
    """A presigned URL (S3's query-string authentication)."""

    def one(name: str) -> str:
        values = query.get(name)
        if not values or len(values) != 1 or not values[0]:
            raise SignatureError(Failure.MALFORMED, f"the presigned URL's {name} is missing")
        return values[0]

    if one("X-Amz-Algorithm") != ALGORITHM:
        raise SignatureError(Failure.MALFORMED, f"X-Amz-Algorithm must be {ALGORITHM}")
    amz_date = one("X-Amz-Date")
    if not _AMZ_DATE_SHAPE.fullmatch(amz_date):
        raise SignatureError(Failure.MALFORMED, f"X-Amz-Date {amz_date!r} is not a date")
    expires = one("X-Amz-Expires")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGNED_EXPIRES:
        raise SignatureError(
            Failure.MALFORMED,
            f"X-Amz-Expires {expires!r} must be 1 to {MAX_PRESIGNED_EXPIRES} seconds",
        )
    signed_at = _parse_date(amz_date)
    if now > signed_at.timestamp() + int(expires):
        raise SignatureError(Failure.EXPIRED, "Request has expired")
    if signed_at.timestamp() > now + 900:
        raise SignatureError(Failure.SKEWED, "X-Amz-Date is in the future")
    key_id, scope_region = _check_scope(
        one("X-Amz-Credential").split("/"), amz_date, service, secrets, region
    )
    signed_headers = one("X-Amz-SignedHeaders").split(";")
    signature = one("X-Amz-Signature")
    unsigned_query = "&".join(
        part for part in request.query.split("&") if not part.startswith("X-Amz-Signature=")
    )
    signer = S3SigV4QueryAuth(Credentials(key_id, secrets[key_id]), service, scope_region)
    aws_request = _rebuild(request, unsigned_query, signed_headers, amz_date)
    expected = _sign(signer, aws_request)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError(
            Failure.MISMATCH,
            "The request signature we calculated does not match the signature you provided",
        )
    return Signed(key_id, scope_region, signed_at)


def _parse_authorization(header: str | None) -> tuple[list[str], list[str], str]:
    """(credential parts, signed header names, signature) of a SigV4 Authorization header."""
    shape = (
        f"'{ALGORITHM} Credential=<key id>/<date>/<region>/<service>/{TERMINATOR}, "
        "SignedHeaders=host;x-amz-date, Signature=<hex>'"
    )

    def malformed(why: str) -> SignatureError:
        return SignatureError(Failure.MALFORMED, f"{why}; send {shape}")

    algorithm, _, rest = (header or "").strip().partition(" ")
    if algorithm != ALGORITHM:
        raise malformed(f"the Authorization header starts with {algorithm[:32]!r}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals or name in fields:
            raise malformed(f"the Authorization header has a malformed part {part.strip()[:40]!r}")
        fields[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise malformed(f"the Authorization header lacks {', '.join(missing)}")
    signed_headers = fields["SignedHeaders"].split(";")
    if any(not name or name != name.strip().lower() for name in signed_headers):
        raise malformed("SignedHeaders must be lower-case header names separated by ';'")
    if "host" not in signed_headers:
        raise malformed("SignedHeaders must include host")
    if not _HEX_SIGNATURE.fullmatch(fields["Signature"]):
        raise malformed("Signature is not 64 lower-case hexadecimal digits")
    return fields["Credential"].split("/"), signed_headers, fields["Signature"]


def _check_scope(
    credential: list[str],
    amz_date: str,
    service: str,
    secrets: Mapping[str, str],
    region: str | None,
) -> tuple[str, str]:
    """(access key id, region) of a credential scope that fits the request."""
    if len(credential) != 5 or not all(credential):
        raise SignatureError(
            Failure.MALFORMED, f"Credential is not <key id>/<date>/<region>/<service>/{TERMINATOR}"
        )
    key_id, scope_date, scope_region, scope_service, terminator = credential
    if key_id not in secrets:
        raise SignatureError(
            Failure.UNKNOWN_KEY,
            "The security token included in the request is invalid: the access key id does "
            "not exist in this account",
        )
    if scope_service != service or terminator != TERMINATOR:
        raise SignatureError(
            Failure.SCOPE,
            f"Credential should be scoped to correct service: '{service}' ({TERMINATOR})",
        )
    if scope_date != amz_date[:8]:
        raise SignatureError(
            Failure.SCOPE,
            f"Credential should be scoped to a valid date: {scope_date} is not the date of "
            f"X-Amz-Date {amz_date}",
        )
    if region is not None and scope_region != region:
        raise SignatureError(
            Failure.SCOPE,
            f"Credential should be scoped to a valid region: '{scope_region}' is not "
            f"'{region}', the region this endpoint serves",
        )
    return key_id, scope_region


def _check_content_hash(declared: str, body: bytes) -> None:
    if declared.startswith(("UNSIGNED-PAYLOAD", "STREAMING-")):
        return
    actual = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(declared.strip().lower().encode(), actual.encode()):
        raise SignatureError(
            Failure.CONTENT_MISMATCH,
            "The provided 'x-amz-content-sha256' header does not match what was computed",
        )


def _parse_date(amz_date: str) -> datetime:
    try:
        return datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError(Failure.MALFORMED, f"X-Amz-Date {amz_date!r} is not a date") from None


def _rebuild(request: Request, query: str, signed_headers: list[str], amz_date: str) -> AWSRequest:
    """The request as its client signed it: the raw path and query as sent, the signed
    headers only (a header named and not sent cannot have been signed as sent)."""
    headers: dict[str, str] = {}
    for name in signed_headers:
        value = request.header(name)
        if value is None:
            raise SignatureError(
                Failure.MISMATCH, f"the signed header {name!r} is not in the request"
            )
        headers[name] = value
    host = headers["host"]
    url = f"http://{host}{request.path}" + (f"?{query}" if query else "")
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
    aws_request.context["timestamp"] = amz_date
    return aws_request


def _sign(signer: SigV4Auth, request: AWSRequest) -> str:
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))
