"""Huawei AICC review results: the callback receiver (`ivrsync review-server`), its durable
store, and the client `refresh` uses to read them.

Huawei reviews each upload asynchronously and POSTs the result to the upload's callBackUrl,
again and again (six times at most) until the receiver answers `{"returnCode": "0"}`. The
callback carries no signature, so the URL itself carries a secret token; a result is stored
(committed, fsynced) before it is acknowledged, so one that was acknowledged is never lost.
"""

from __future__ import annotations

from ivrsync.reviews.store import ReviewResult, ReviewStatus, ReviewStore

__all__ = ["ReviewResult", "ReviewStatus", "ReviewStore"]
