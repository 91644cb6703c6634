"""The Amazon Connect client, on boto3's `connect` client (restJson1 behind SigV4).

Imported only when something is uploaded or looked up. API facts:
docs/providers/amazon-connect.md. botocore's retries are off: the engine retries, and knows
which requests may have landed; one call is one request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ivrsync.providers.audio_source import S3Staging, register_sigv4_signatures
from ivrsync.providers.aws import CREDENTIALS_HINT, AwsCredentialsMissing
from ivrsync.providers.aws import aws_session as shared_session
from ivrsync.providers.base import ItemOutcome, RemoteFile, Uploaded, UploadItem
from ivrsync.providers.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    ContentChangedError,
    CredentialsMissingError,
    PermanentError,
    ProviderError,
    ThrottledError,
    TransientError,
)
from ivrsync.settings import S3AudioSource

logger = logging.getLogger(__name__)

# The tag ivrsync sets on the prompts it creates: the sha256 of the audio it created them with,
# so that a prompt found by Name after a lost answer is adopted only if it holds that audio.
SHA256_TAG = "ivrsync:sha256"
# ListPrompts' MaxResults: 1 to 1000 (docs/providers/amazon-connect.md#listing).
PAGE_SIZE = 1000
# Seconds after the client's timeout by which a CreatePrompt is taken to have stored the prompt
# or never to do so. Not documented: the service copies the S3 object while it answers.
STORAGE_BOUND = 30.0
# Error codes by what the engine may do about them (docs/providers/amazon-connect.md#errors).
_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException"})
_AUTHENTICATION = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
    }
)


def _description(item: UploadItem) -> dict[str, str]:
    """`Description` as planned (amazon_connect.uploaded_attributes), where there is one."""
    description = item.attributes.get("description")
    return {"Description": description} if description else {}


@dataclass(frozen=True, slots=True)
class PromptSummary:
    """One entry of ListPrompts."""

    file_id: str
    name: str


def aws_session(name: str, region: str, profile: str | None, env: Mapping[str, str]) -> Any:
    """A boto3 session for provider `name`, from the standard AWS chain (providers/aws.py)."""
    try:
        return shared_session(region, profile, env)
    except AwsCredentialsMissing as exc:
        if exc.detail:
            raise CredentialsMissingError(f"{name}: no AWS credentials: {exc.detail}") from None
        raise CredentialsMissingError(
            f"{name}: no AWS credentials found ({exc.where}): {CREDENTIALS_HINT}",
            # As other providers' missing variables are named, when several are missing.
            [(name, "the AWS credential chain", "AWS_ACCESS_KEY_ID")],
        ) from None


def classify(exc: ClientError, what: str) -> ProviderError:
    """An error answer, sorted by what the engine may do about it. A server error may come
    after the prompt was stored; sending again is still safe, since a Name is unique in the
    instance: the second CreatePrompt is refused as a duplicate, and the prompt adopted."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "?"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{what}: {code}: {error.get('Message', exc)}"
    if code in _THROTTLED:
        return ThrottledError(message, status=status, code=code)
    if code in _AUTHENTICATION or status in (401, 403):
        return AuthenticationError(message, status=status, code=code)
    if code == "InternalServiceException" or status >= 500:
        return TransientError(message, status=status, code=code)
    return PermanentError(message, status=status, code=code)


def classify_transport(
    exc: BotoCoreError, what: str, *, write: bool, endpoint: str
) -> ProviderError:
    """No answer: nothing was sent where the connection failed; a write whose answer was lost
    may have landed (over, unless the client gave up waiting while the server may still work)."""
    from botocore import exceptions

    message = f"{what}: {exc}"
    if isinstance(exc, exceptions.NoCredentialsError):
        return AuthenticationError(message)
    if isinstance(exc, exceptions.ConnectTimeoutError | exceptions.EndpointConnectionError):
        return TransientError(f"{what}: cannot reach {endpoint}: {exc}")
    if not write:
        return TransientError(message)
    timed_out = isinstance(exc, exceptions.ReadTimeoutError)
    return AmbiguousOutcome(message, over=not timed_out)


class AmazonConnectUploader:
    """`Lister`, `Updater` and `Deleter` for one configured Amazon Connect instance: one prompt
    per request, the audio staged in S3 first.

    Made from the provider's settings by `amazon_connect.make_uploader`: the client takes their
    values, so that it does not import the provider module that imports it.
    """

    batch_size = 1
    max_concurrency = 1
    daily_quota: int | None = None

    def __init__(
        self,
        name: str,
        session: Any,
        *,
        instance_id: str,
        region: str,
        endpoint: str | None,
        rate_limit: float,
        staging: S3AudioSource,
        tags: dict[str, str],
        timeout: float = 60,
    ) -> None:
        from botocore.config import Config

        self.name = name
        self.instance_id = instance_id
        self.rate_limit = rate_limit
        self.tags = tags
        self.landing_window = timeout + STORAGE_BOUND
        self.endpoint = endpoint or f"https://connect.{region}.amazonaws.com"
        register_sigv4_signatures()
        self.client: Any = session.client(
            "connect",
            region_name=region,
            endpoint_url=endpoint,
            config=Config(
                retries={"total_max_attempts": 1},
                connect_timeout=10,
                read_timeout=timeout,
                user_agent_extra="ivrsync",
            ),
        )
        self.bucket = staging.bucket
        s3 = session.client(
            "s3",
            region_name=staging.region or region,
            endpoint_url=staging.endpoint,
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 3},
                connect_timeout=10,
                read_timeout=timeout,
                s3={"addressing_style": "path"} if staging.endpoint else {},
            ),
        )
        self.staging = S3Staging(staging, {}, name, client=s3)
        # ListPrompts and DescribePrompt each have their own quota (the engine paces the
        # writes): requests are spaced by 1/rate_limit.
        self._read_lock = threading.Lock()
        self._last_read = 0.0

    def close(self) -> None:
        self.client.close()
        self.staging.client.close()

    # -- writes ---------------------------------------------------------------------------

    def upload(self, batch: list[UploadItem], ready: Callable[[], None]) -> list[ItemOutcome]:
        """CreatePrompt for each item (one per batch). A Name already taken is looked up: the
        prompt is adopted if ivrsync created it from this audio (its tag says so)."""
        outcomes: list[ItemOutcome] = []
        for item in batch:
            try:
                uri = self._stage(item)
            except ContentChangedError as exc:
                outcomes.append(exc)
                continue
            params: dict[str, Any] = {
                "InstanceId": self.instance_id,
                "Name": item.remote_name,
                "S3Uri": uri,
                "Tags": {**self.tags, SHA256_TAG: item.sha256},
                **_description(item),
            }
            ready()
            what = f"{self.name}: CreatePrompt {item.remote_name}"
            try:
                answer = self.client.create_prompt(**params)
            except (ClientError, BotoCoreError) as exc:
                error = self._error(exc, what, write=True)
                if error.code != "DuplicateResourceException":
                    raise error from None
                outcomes.append(self._adopt(item, error))
                continue
            outcomes.append(Uploaded(item.address, str(answer["PromptId"]), item.remote_name))
        return outcomes

    def update(
        self, item: UploadItem, file_id: str, content: bool, ready: Callable[[], None]
    ) -> Uploaded:
        """UpdatePrompt: the Name and the description, and the new audio only when `content`
        (a rename sends no S3Uri, so nothing is staged or copied). A description the manifest
        no longer gives stays: the API cannot empty one."""
        params: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "PromptId": file_id,
            "Name": item.remote_name,
            **_description(item),
        }
        if content:
            params["S3Uri"] = self._stage(item)
        ready()
        what = f"{self.name}: UpdatePrompt {file_id}"
        try:
            self.client.update_prompt(**params)
        except (ClientError, BotoCoreError) as exc:
            error = self._error(exc, what, write=True)
            if error.code == "ResourceNotFoundException":
                raise PermanentError(
                    f"{item.address}: prompt {file_id} is no longer in the instance (deleted "
                    "outside ivrsync?): run `ivrsync refresh`, and the next plan creates it",
                    code=error.code,
                ) from None
            raise error from None
        return Uploaded(item.address, file_id, item.remote_name)

    def delete(self, file_id: str, ready: Callable[[], None]) -> None:
        """DeletePrompt; a prompt already gone counts as deleted."""
        ready()
        what = f"{self.name}: DeletePrompt {file_id}"
        try:
            self.client.delete_prompt(InstanceId=self.instance_id, PromptId=file_id)
        except (ClientError, BotoCoreError) as exc:
            error = self._error(exc, what, write=True)
            if error.code == "ResourceNotFoundException":
                logger.info("%s: prompt %s was already gone", self.name, file_id)
                return
            raise error from None

    # -- look-ups -------------------------------------------------------------------------

    def find(self, batch: list[UploadItem]) -> list[Uploaded | None]:
        """The prompts of these items by Name, where their tag says they hold the item's audio
        (a prompt of that Name made otherwise is not ours to adopt)."""
        by_name = {prompt.name: prompt for prompt in self.list_prompts()}
        return [self._ours(item, by_name.get(item.remote_name)) for item in batch]

    def _ours(self, item: UploadItem, listed: PromptSummary | None) -> Uploaded | None:
        """The listed prompt of the item's Name, if ivrsync created it from the item's audio."""
        if listed is None or self._tagged_sha256(listed.file_id) != item.sha256:
            return None
        logger.info("%s: found as PromptId %s", item.address, listed.file_id)
        return Uploaded(item.address, listed.file_id, item.remote_name)

    def files_by_id(self, file_ids: list[str]) -> list[RemoteFile]:
        """DescribePrompt of each; one not found is left out. Every prompt is usable at once."""
        files = []
        for file_id in file_ids:
            prompt = self._describe(file_id)
            if prompt is not None:
                files.append(RemoteFile(file_id, str(prompt.get("Name", "")), "approved"))
        return files

    def list_prompts(self) -> list[PromptSummary]:
        """Every prompt of the instance (every page of ListPrompts)."""
        return list(self._pages())

    def _pages(self) -> Iterator[PromptSummary]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"InstanceId": self.instance_id, "MaxResults": PAGE_SIZE}
            if token:
                params["NextToken"] = token
            answer = self._read(f"{self.name}: ListPrompts", self.client.list_prompts, params)
            for summary in answer.get("PromptSummaryList", []):
                yield PromptSummary(str(summary["Id"]), str(summary.get("Name", "")))
            token = answer.get("NextToken")
            if not token:
                return

    def _describe(self, file_id: str) -> dict[str, Any] | None:
        params = {"InstanceId": self.instance_id, "PromptId": file_id}
        what = f"{self.name}: DescribePrompt {file_id}"
        try:
            answer = self._read(what, self.client.describe_prompt, params)
        except PermanentError as exc:
            if exc.code in ("ResourceNotFoundException", "InvalidParameterException"):
                return None
            raise
        prompt: dict[str, Any] = answer.get("Prompt", {})
        return prompt

    def _tagged_sha256(self, file_id: str) -> str | None:
        prompt = self._describe(file_id)
        tags = (prompt or {}).get("Tags") or {}
        value = tags.get(SHA256_TAG)
        return str(value) if value else None

    def _adopt(self, item: UploadItem, duplicate: ProviderError) -> ItemOutcome:
        """After DuplicateResourceException: the prompt of that Name, if ivrsync created it
        from this audio (an earlier run whose answer was lost); else the refusal, saying how
        to take the existing prompt over."""
        existing = next((p for p in self.list_prompts() if p.name == item.remote_name), None)
        found = self._ours(item, existing)
        if found is not None:
            logger.info("%s: adopted PromptId %s (created earlier)", item.address, found.file_id)
            return found
        which = f" (PromptId {existing.file_id})" if existing else ""
        command = f"ivrsync import {item.address} {existing.file_id}" if existing else "import"
        return PermanentError(
            f"{item.address}: a prompt named '{item.remote_name}' already exists in the "
            f"instance{which}, not created by ivrsync from this audio: take it over with "
            f"`{command}`, or give this prompt another remote_name",
            code=duplicate.code,
        )

    # -- plumbing -------------------------------------------------------------------------

    def _stage(self, item: UploadItem) -> str:
        return f"s3://{self.bucket}/{self.staging.stage(item)}"

    def _read(
        self, what: str, call: Callable[..., dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        self._space_reads()
        try:
            return call(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, what, write=False) from None

    def _error(self, exc: ClientError | BotoCoreError, what: str, *, write: bool) -> ProviderError:
        if isinstance(exc, ClientError):
            return classify(exc, what)
        return classify_transport(exc, what, write=write, endpoint=self.endpoint)

    def _space_reads(self) -> None:
        with self._read_lock:
            wait = self._last_read + 1 / self.rate_limit - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_read = time.monotonic()
