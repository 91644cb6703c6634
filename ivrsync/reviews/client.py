"""Reads review results from `ivrsync review-server` (what `refresh` uses).

Errors are `ReviewServerError`s whose messages name the server's URL, never the token.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

from ivrsync import __version__, secrets
from ivrsync.errors import IvrsyncError
from ivrsync.reviews.server import RESULTS_PATH
from ivrsync.reviews.store import FILE_ID_PATTERN, ReviewResult
from ivrsync.reviews.token import TOKEN_VARIABLE

__all__ = [
    "BATCH_SIZE",
    "ReviewClient",
    "ReviewServerError",
    "ReviewServerUnreachable",
    "ReviewTokenRefused",
]

# FileIds per GET: 200 ids of 19 digits make a URL of about 6 kB (UUIDs, 10 kB), far below any
# server's limit.
BATCH_SIZE = 200


class ReviewServerError(IvrsyncError):
    """The review server could not give the results."""


class ReviewServerUnreachable(ReviewServerError):
    """No HTTP answer: the server is down, the address is wrong, or the network failed."""


class ReviewTokenRefused(ReviewServerError):
    """The server answered 401: the token is not the one it was started with."""


class ReviewClient:
    """`ReviewClient("http://host:8095", token).results(file_ids)`; close it, or use `with`."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout: float = 10,
        *,
        transport: httpx.BaseTransport | None = None,
        trust_env: bool = True,
    ) -> None:
        if token:
            secrets.register(token)
        self.url = url.rstrip("/")
        self._token = token
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            trust_env=trust_env,
            headers={"User-Agent": f"ivrsync/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def results(self, file_ids: list[str]) -> dict[str, ReviewResult]:
        """The stored result of each FileId that has one (FileIds without are left out)."""
        wanted = list(dict.fromkeys(file_ids))
        bad = [f for f in wanted if not FILE_ID_PATTERN.fullmatch(f)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a FileId")
        found: dict[str, ReviewResult] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            batch = wanted[start : start + BATCH_SIZE]
            for result in self._get([("file_id", f) for f in batch]):
                found[result.file_id] = result
        return found

    def all_results(self) -> dict[str, ReviewResult]:
        """Every result the server has stored."""
        return {result.file_id: result for result in self._get([])}

    def _get(self, params: list[tuple[str, str | int | float | bool | None]]) -> list[ReviewResult]:
        where = self.url + RESULTS_PATH
        try:
            answer = self._http.get(
                where, params=params, headers={"Authorization": f"Bearer {self._token}"}
            )
        except httpx.InvalidURL as e:
            raise ReviewServerError(
                f"the review server URL {self.url!r} is not valid: {e}"
            ) from None
        except httpx.TransportError as e:
            raise ReviewServerUnreachable(
                f"cannot reach the review server at {self.url}: {type(e).__name__}: {e}"
                " (is `ivrsync review-server` running there?)"
            ) from None
        if answer.status_code == 401:
            raise ReviewTokenRefused(
                f"the review server refused the token ({TOKEN_VARIABLE}): the server at "
                f"{self.url} was started with a different one"
            )
        if answer.status_code != 200:
            raise ReviewServerError(
                f"the review server at {self.url} answered HTTP {answer.status_code}: "
                f"{_description(answer)}"
            )
        try:
            body = answer.json()
            items = body["results"]
            if not isinstance(items, list):
                raise TypeError("results is not a list")
            return [ReviewResult.from_json(item) for item in items]
        except (ValueError, TypeError, KeyError) as e:
            raise ReviewServerError(
                f"the review server at {self.url} answered something that is not a results "
                f"list ({e}); is that address really `ivrsync review-server`?"
            ) from None


def _description(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200] or "(no body)"
    if isinstance(body, dict):
        for key in ("error", "description"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return answer.text[:200]
