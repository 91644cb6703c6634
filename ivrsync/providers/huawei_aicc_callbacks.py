"""Huawei AICC's review callback, as `ivrsync review-server` receives it
(docs/providers/huawei-aicc.md#review-callback).

Huawei POSTs `{"fileId": ..., "status": "2" | "3", "comment": ..., "fileUrl": ...}` to the
upload's callBackUrl, again and again (six times at most) until it is answered
`{"returnCode": "0"}`; any other answer says `{"returnCode": "1", "description": ...}`.
Imported only by the review server (huawei_aicc.REVIEW_CALLBACKS names it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ivrsync.reviews.callbacks import CallbackRefused, decode_callback
from ivrsync.reviews.store import ReviewResult, ReviewStatus

__all__ = ["CALLBACKS", "HuaweiCallbacks"]

# Huawei's review statuses (docs/providers/huawei-aicc.md#review-callback).
_STATUSES: dict[str, ReviewStatus] = {"2": "approved", "3": "rejected"}


class HuaweiCallbacks:
    """Huawei's callback body and answers (a `ivrsync.reviews.callbacks.CallbackFormat`)."""

    # A fileId is a decimal number (19 digits in every documented example); the upper bound
    # only keeps garbage out.
    file_id = re.compile(r"[0-9]{1,40}")
    file_id_form = "decimal digits"

    def parse(self, body: bytes) -> ReviewResult:
        value = decode_callback(body)
        if not isinstance(value, dict):
            raise CallbackRefused(
                400,
                'the body must be a JSON object {"fileId": "...", "status": "2" or "3", '
                '"comment": "...", "fileUrl": "..."}',
            )
        file_id = _digits(value.get("fileId"))
        if file_id is None or not self.file_id.fullmatch(file_id):
            raise CallbackRefused(
                400, 'fileId is missing or not a number; it must be decimal digits, e.g. "1323"'
            )
        status = _digits(value.get("status"))
        if status not in _STATUSES:
            raise CallbackRefused(
                400, 'status is missing or unknown; it must be "2" (approved) or "3" (rejected)'
            )
        texts: dict[str, str | None] = {}
        for name in ("comment", "fileUrl"):
            text = value.get(name)
            if text is not None and not isinstance(text, str):
                raise CallbackRefused(400, f"{name} must be a string when present")
            texts[name] = text
        return ReviewResult(
            file_id=file_id,
            status=_STATUSES[status],
            comment=texts["comment"],
            file_url=texts["fileUrl"],
        )

    def accepted(self) -> Mapping[str, Any]:
        return {"returnCode": "0"}

    def refused(self, description: str) -> Mapping[str, Any]:
        return {"returnCode": "1", "description": description}


def _digits(value: object) -> str | None:
    """A string, or a non-negative integer (not a boolean), as text; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return None


CALLBACKS = HuaweiCallbacks()
