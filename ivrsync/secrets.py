"""Secret values this process has read or made, and their removal from whatever it prints or keeps.

Secrets come only from environment variables, but they do not stay where they are read: a
provider may quote a key back in an error, a library logs its request headers, a URL made
from `${TOKEN}` ends up in a message. Nor are credentials the only secrets: what is made from
them (an access token, a request signature, a presigned URL) grants access too. Rather than
trust every message to be careful, each secret is registered where it is read or made, and
every way out (the console, the error handler, crash reports, log records, text kept in the
state) passes through `redact`.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary text; no real credential is this short.
_MIN_LENGTH = 6
# `${NAME}` values of these names are treated as secrets (callback tokens and the like).
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|KEY", re.IGNORECASE)
# A request signature (TC3-HMAC-SHA256, AWS SigV4) is a hex HMAC-SHA256.
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_LENGTH = 64
_HEX_RUN = re.compile(r"[0-9a-fA-F]{64,}")


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.secrets: list[str] = []  # longest first: a secret inside another goes whole
        self.signatures: set[str] = set()  # lower-case hex
        self.logs_masked = False


_registry = _Registry()


def register(value: str) -> None:
    """Mask `value` (and its usual encodings) in everything from now on."""
    candidates = {value, value.strip()}
    for text in list(candidates):
        candidates |= {quote(text, safe=""), quote_plus(text), text.encode().hex()}
        encoded = text.encode()
        for offset in range(3):  # base64 of text embedded at any alignment
            chunk = base64.b64encode(encoded[offset:]).decode().rstrip("=")
            candidates.add(chunk[: max(0, len(chunk) - 2)])
    with _registry.lock:
        known = set(_registry.secrets) | {c for c in candidates if len(c) >= _MIN_LENGTH}
        _registry.secrets = sorted(known, key=len, reverse=True)
    _install_log_redaction()


def register_signature(value: str) -> None:
    """Mask a request signature from now on.

    A run makes one per request (thousands in a big refresh), and searching every text for
    each would slow down every log record: they are kept in a set, and `redact` looks up each
    run of 64 hex digits in it. A value of another shape is registered as any secret is.
    """
    signature = value.strip().lower()
    if not _SIGNATURE.fullmatch(signature):
        register(value)
        return
    with _registry.lock:
        _registry.signatures.add(signature)
    _install_log_redaction()


def redact(text: str) -> str:
    for secret in _registry.secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if _registry.signatures:
        text = _HEX_RUN.sub(_mask_signatures, text)
    return text


def _mask_signatures(run: re.Match[str]) -> str:
    """A run of hex digits with every registered signature in it masked (a sha256 of the
    same shape, as plans and states hold, is not one)."""
    text, known = run.group(0), _registry.signatures
    kept, start, at = [], 0, 0
    while at + _SIGNATURE_LENGTH <= len(text):
        if text[at : at + _SIGNATURE_LENGTH].lower() in known:
            kept += [text[start:at], MASK]
            at = start = at + _SIGNATURE_LENGTH
        else:
            at += 1
    kept.append(text[start:])
    return "".join(kept)


def forget_all() -> None:
    """For tests: start from no known secrets."""
    with _registry.lock:
        _registry.secrets = []
        _registry.signatures = set()


def _install_log_redaction() -> None:
    """Every log record, ivrsync's and its libraries' (the SDKs log request headers at DEBUG),
    is masked as it is made, whatever handler later writes it."""
    with _registry.lock:
        if _registry.logs_masked:
            return
        _registry.logs_masked = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _registry.secrets or _registry.signatures:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to the logging module
                return record
            masked = redact(message)
            if masked != message:
                record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)
