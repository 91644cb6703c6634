"""What can go wrong talking to a provider, sorted by what the engine may do about it.

The distinction that matters is whether a retry could upload twice: an upload that may have
reached the server (`AmbiguousOutcome`) is never retried blindly, since it would spend quota
and leave a duplicate file behind.
"""

from __future__ import annotations

from ivrsync.errors import IvrsyncError


class ProviderError(IvrsyncError):
    """A request failed; `retryable` says whether sending it again is safe and may succeed."""

    retryable = False
    error_code = "provider_error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class TransientError(ProviderError):
    """Nothing was done on the server (connection refused, 502/503, timeout before sending)."""

    retryable = True


class ThrottledError(TransientError):
    """The provider's rate limit refused the request; retry after backing off."""


class TokenRefusedError(TransientError):
    """An access token (made from the credentials) was refused before anything was stored,
    and a new one is ready: send again in a slot of its own, with no backoff. Not a failing
    server: counted apart from the tries of one."""


class AuthenticationError(ProviderError):
    """Credentials or token refused; retrying with the same credentials will not help."""


class PermanentError(ProviderError):
    """The provider refused this request (invalid parameter, business rule): fix the input."""


class ContentChangedError(PermanentError):
    """The audio's bytes, as read to be sent, are not the ones the plan recorded."""


class QuotaExceededError(ProviderError):
    """The provider's daily upload quota is spent: stop this provider until its next day."""


class AmbiguousOutcome(ProviderError):
    """The request may have reached the server, but no answer came back (lost response).

    `over` says the server is done with it (it answered with an error, or closed the
    connection before the client's timeout): a look-up now is conclusive. Otherwise (a
    timeout) the server may still be storing it for a while.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        over: bool = False,
    ):
        super().__init__(message, status=status, code=code)
        self.over = over


class CredentialsMissingError(IvrsyncError):
    """Environment variables the manifest names for credentials are not set."""

    error_code = "missing_credentials"

    def __init__(self, message: str, missing: list[tuple[str, str, str]] | None = None):
        super().__init__(message)
        self.missing = missing or []  # (provider, settings key, variable)
