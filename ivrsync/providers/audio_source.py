"""Where a provider fetches audio from, for APIs that take a URL or an S3 object, not bytes.

Two ways, by `audio_source.type`: `url` (the repository's audio is already published, and a
template makes each file's URL) or `s3` (ivrsync puts each file in S3-compatible storage
under a key made from its sha256, and hands the provider a presigned GET URL, or the key for
one that reads the bucket itself).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from ivrsync.providers.base import UploadItem, credential, planned_bytes
from ivrsync.providers.errors import PermanentError, TransientError
from ivrsync.secrets import register_signature
from ivrsync.settings import AudioSource, S3AudioSource, UrlAudioSource

logger = logging.getLogger(__name__)

_CONTENT_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg"}
_T = TypeVar("_T")


class AudioUrls(Protocol):
    # A URL the provider can fetch the item's audio from, staging it first if needed. Raises
    # ContentChangedError when the audio is no longer what the plan recorded.
    def url_for(self, item: UploadItem) -> str: ...


class TemplateUrls:
    """`https://cdn.example.com/ivr/{path}`: the user publishes the audio themselves."""

    def __init__(self, source: UrlAudioSource) -> None:
        self.template = source.template

    def url_for(self, item: UploadItem) -> str:
        # The provider fetches what the user published; the nearest check ivrsync can make is
        # that the file it was published from is still the planned one.
        planned_bytes(item)
        return self.template.format(
            path=quote(item.audio_path, safe="/"),
            sha256=item.sha256,
            sha256_short=item.sha256[:8],
            filename=quote(posixpath.basename(item.audio_path)),
        )


class S3Staging:
    """Content-addressed staging: a file already there (same sha256) is not sent again."""

    def __init__(
        self,
        source: S3AudioSource,
        env: Mapping[str, str],
        provider: str,
        *,
        client: Any = None,
    ) -> None:
        """`client`: an S3 client made by the caller (with credentials from elsewhere than the
        variables `source` names, such as a provider's own credential chain); made here from
        those variables when None."""
        self.source = source
        register_sigv4_signatures()
        if client is not None:
            self.client: Any = client
            return
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - boto3 is a dependency
            raise PermanentError(
                f"{provider}: audio_source type s3 needs boto3 (pip install boto3)"
            ) from None
        self.client = boto3.client(
            "s3",
            endpoint_url=source.endpoint,
            region_name=source.region or "us-east-1",
            aws_access_key_id=credential(
                env, provider, "audio_source.access_key_id_env", source.access_key_id_env
            ),
            aws_secret_access_key=credential(
                env, provider, "audio_source.secret_access_key_env", source.secret_access_key_env
            ),
            config=Config(signature_version="s3v4", retries={"max_attempts": 3}),
        )

    def key_for(self, item: UploadItem) -> str:
        extension = posixpath.splitext(item.audio_path)[1].lower()
        return f"{self.source.prefix}{item.sha256}{extension}"

    def url_for(self, item: UploadItem) -> str:
        """A presigned GET URL of the staged file, for providers that fetch a URL."""
        key = self.stage(item)
        url: str = self._call(
            item,
            lambda: self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.source.bucket, "Key": key},
                ExpiresIn=self.source.url_expires,
            ),
        )
        _register_presigned(url)
        return url

    def stage(self, item: UploadItem) -> str:
        """Put the item's file in the bucket unless it is there already; its key. For
        providers that read the bucket themselves (an `s3://bucket/key` URI)."""
        key = self.key_for(item)
        bucket = self.source.bucket

        def put() -> None:
            if not self._exists(key):
                # The key names the planned sha256: what is put there is hashed first, so the
                # key cannot hold other bytes.
                extension = posixpath.splitext(item.audio_path)[1].lower()
                self.client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=planned_bytes(item),
                    ContentType=_CONTENT_TYPES.get(extension, "application/octet-stream"),
                )
                logger.info("staged %s as s3://%s/%s", item.audio_path, bucket, key)
            else:
                logger.info("%s is already staged as s3://%s/%s", item.audio_path, bucket, key)

        self._call(item, put)
        return key

    def _call(self, item: UploadItem, request: Callable[[], _T]) -> _T:
        """A request to the storage, its errors as provider errors naming the item."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket = self.source.bucket
        try:
            return request()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise PermanentError(
                f"{item.address}: staging in s3://{bucket} failed: "
                f"{error.get('Code', '?')}: {error.get('Message', exc)}"
            ) from None
        except BotoCoreError as exc:
            raise TransientError(
                f"{item.address}: staging in s3://{bucket} failed: {exc}"
            ) from None

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.source.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def register_sigv4_signatures() -> None:
    """botocore logs each SigV4 signature at DEBUG as it makes it, before the request or the
    presigned URL leaves its hands; its signers are replaced (once, for the process) by ones
    that register each signature first. botocore looks them up in `AUTH_TYPE_MAPS`."""
    from botocore import auth

    for name, signer in list(auth.AUTH_TYPE_MAPS.items()):
        signs_v4 = isinstance(signer, type) and issubclass(signer, auth.SigV4Auth)
        if signs_v4 and not issubclass(signer, _RegistersSignature):
            auth.AUTH_TYPE_MAPS[name] = type(signer.__name__, (_RegistersSignature, signer), {})


class _RegistersSignature:
    """Mixed into a botocore SigV4 signer: the signature is a secret from the moment it exists."""

    def signature(self, string_to_sign: Any, request: Any) -> str:
        value = str(super().signature(string_to_sign, request))  # type: ignore[misc]
        register_signature(value)
        return value


def _register_presigned(url: str) -> None:
    """Anyone holding the URL may fetch the file until it expires, so its signature is a
    secret wherever the URL is quoted back (Tencent's FailedMsg). Registered here too for
    signers `register_sigv4_signatures` does not reach (botocore's CRT ones, in C)."""
    for signature in parse_qs(urlsplit(url).query).get("X-Amz-Signature", []):
        register_signature(signature)


def audio_urls(source: AudioSource, env: Mapping[str, str], provider: str) -> AudioUrls:
    if isinstance(source, UrlAudioSource):
        return TemplateUrls(source)
    return S3Staging(source, env, provider)
