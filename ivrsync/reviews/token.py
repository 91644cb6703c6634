"""The review server's shared secret: where it comes from, what makes one acceptable, and how
it is compared.

The same token authenticates Huawei's callbacks (it is the last segment of the callBackUrl
path, since the platform documents no signature) and `refresh` reading the results (as a
Bearer token). It travels inside a URL, so it is limited to characters a URL carries as they
are.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["MIN_TOKEN_LENGTH", "TOKEN_VARIABLE", "token_matches", "token_problem"]

TOKEN_VARIABLE = "IVRSYNC_REVIEW_TOKEN"
MIN_TOKEN_LENGTH = 16
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
HOW_TO_MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def token_problem(token: str | None) -> str | None:
    """Why `token` cannot be the review token, or None when it can."""
    if not token:
        return (
            f"{TOKEN_VARIABLE} is not set: the review server needs a secret token of at least "
            f"{MIN_TOKEN_LENGTH} characters (make one with {HOW_TO_MAKE_ONE})"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        return (
            f"{TOKEN_VARIABLE} is {len(token)} characters long; use at least {MIN_TOKEN_LENGTH} "
            f"random characters (make one with {HOW_TO_MAKE_ONE})"
        )
    if not _URL_SAFE.fullmatch(token):
        return (
            f"{TOKEN_VARIABLE} may contain only letters, digits and '-', '_', '.', '~' (it is "
            f"part of the callback URL); make one with {HOW_TO_MAKE_ONE}"
        )
    return None


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison that does not reveal even the expected token's length."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(expected.encode("utf-8", "surrogatepass")).digest(),
    )
