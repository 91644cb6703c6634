"""Review results that providers call back with: the callback receiver (`ivrsync
review-server`), its durable store, and the client `refresh` uses to read them.

A provider that reviews each upload asynchronously POSTs the result to the upload's callback
URL, again and again until the receiver acknowledges it (Huawei AICC: six times at most); what
the body says and how it is answered is the provider's `callbacks.CallbackFormat`. The callback
carries no signature, so the URL itself carries a secret token; a result is stored (committed,
fsynced) before it is acknowledged, so one that was acknowledged is never lost.
"""

from __future__ import annotations

from ivrsync.reviews.store import ReviewResult, ReviewStatus, ReviewStore

__all__ = ["ReviewResult", "ReviewStatus", "ReviewStore"]
