"""Audio URLs for Tencent: templates, and staging in S3-compatible storage over real sockets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ivrsync.providers.audio_source import S3Staging, TemplateUrls
from ivrsync.providers.base import UploadItem
from ivrsync.providers.errors import CredentialsMissingError
from ivrsync.settings import S3AudioSource, UrlAudioSource
from tests.conftest import DATA
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_server

BUCKET = "ivr-prompts-1250000000"
ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def item(path: Path, relative: str) -> UploadItem:
    return UploadItem(
        address="ccc.welcome.en_US",
        path=path,
        audio_path=relative,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        size=path.stat().st_size,
        remote_name="welcome.en_US.12345678",
        locale="en_US",
        attributes={},
    )


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        yield url


def test_a_template_makes_urls_from_path_and_hash() -> None:
    source = UrlAudioSource(
        type="url", template="https://cdn.example.com/ivr/{path}?v={sha256_short}"
    )
    wav = item(DATA / "alaw_8k_mono.wav", "audio/zh_CN/欢迎 1.wav")
    url = TemplateUrls(source).url_for(wav)
    assert url == (
        f"https://cdn.example.com/ivr/audio/zh_CN/%E6%AC%A2%E8%BF%8E%201.wav?v={wav.sha256[:8]}"
    )


def test_staging_uploads_under_a_content_addressed_key_and_presigns_a_get(
    s3_endpoint: str,
) -> None:
    source = S3AudioSource(
        type="s3", endpoint=s3_endpoint, bucket=BUCKET, prefix="ivrsync/", url_expires=900
    )
    staging = S3Staging(source, ENV, "ccc")
    wav = item(DATA / "alaw_8k_mono.wav", "audio/en_US/welcome.wav")
    url = staging.url_for(wav)
    assert staging.key_for(wav) == f"ivrsync/{wav.sha256}.wav"
    assert "X-Amz-Expires=900" in url
    assert "X-Amz-Signature=" in url
    fetched = httpx.get(url)  # what Tencent would do
    assert fetched.status_code == 200
    assert fetched.content == (DATA / "alaw_8k_mono.wav").read_bytes()
    head = staging.client.head_object(Bucket=BUCKET, Key=staging.key_for(wav))
    assert head["ContentType"] == "audio/wav"


def test_staging_skips_an_object_that_is_already_there(
    s3_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = S3AudioSource(type="s3", endpoint=s3_endpoint, bucket=BUCKET, prefix="skip/")
    staging = S3Staging(source, ENV, "ccc")
    mp3 = item(DATA / "tone.mp3", "audio/en_US/hold.mp3")
    staging.url_for(mp3)
    first = staging.client.head_object(Bucket=BUCKET, Key=staging.key_for(mp3))
    with caplog.at_level(logging.INFO, logger="ivrsync"):
        staging.url_for(item(DATA / "tone.mp3", "audio/zh_CN/hold.mp3"))  # same bytes
    again = staging.client.head_object(Bucket=BUCKET, Key=staging.key_for(mp3))
    assert again["LastModified"] == first["LastModified"]
    assert "is already staged" in caplog.text
    keys = staging.client.list_objects_v2(Bucket=BUCKET, Prefix="skip/")["KeyCount"]
    assert keys == 1


def test_staging_credentials_come_from_the_named_variables() -> None:
    source = S3AudioSource(
        type="s3", endpoint="http://127.0.0.1:9", bucket=BUCKET, access_key_id_env="COS_ID"
    )
    with pytest.raises(CredentialsMissingError) as raised:
        S3Staging(source, ENV, "ccc")
    assert "COS_ID is not set" in str(raised.value)
