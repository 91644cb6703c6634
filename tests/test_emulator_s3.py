"""The bundled S3 emulator's rules for a state backend, through boto3's real client on loopback:
ETags, conditional writes and deletes, ListObjectsV2, a store that ignores conditions, injected
write failures, and the request log.

The hammer tests race 32 threads, each with its own client, on one conditional write (started
together on a barrier) and count the winners: on the emulator exactly one wins, every time. The
same hammer against moto's server (tests/s3_server.py) documents what moto does, since moto
checks a condition and writes in two steps.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ivrsync.emulator.s3 import (
    DEMO_ACCESS_KEY_ID,
    DEMO_SECRET_ACCESS_KEY,
    S3Emulator,
    S3EmulatorConfig,
)
from tests import s3_server
from tests.conftest import read_line

BUCKET = "state"
THREADS = 32
# One session for the module: making a client from it reuses the service models it loaded.
SESSION = boto3.session.Session()


def client(url: str, key: str = DEMO_ACCESS_KEY_ID, secret: str = DEMO_SECRET_ACCESS_KEY) -> Any:
    """A boto3 S3 client that tries each request once, so a test sees each answer as sent."""
    return SESSION.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def error(call: Callable[[], Any]) -> tuple[int, str]:
    """The HTTP status and S3 error code a call fails with."""
    with pytest.raises(ClientError) as excinfo:
        call()
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


@pytest.fixture
def s3() -> Iterator[S3Emulator]:
    with S3Emulator(S3EmulatorConfig(buckets=[BUCKET])) as server:
        yield server


def test_etag_is_the_quoted_md5_on_put_get_and_head(s3: S3Emulator) -> None:
    c = client(s3.url)
    put = c.put_object(Bucket=BUCKET, Key="a.json", Body=b'{"serial": 1}')
    assert put["ETag"] == md5_etag(b'{"serial": 1}')
    assert c.get_object(Bucket=BUCKET, Key="a.json")["ETag"] == put["ETag"]
    assert c.head_object(Bucket=BUCKET, Key="a.json")["ETag"] == put["ETag"]


def test_if_none_match_star_creates_only_a_new_key(s3: S3Emulator) -> None:
    c = client(s3.url)
    c.put_object(Bucket=BUCKET, Key="k.lock", Body=b"first", IfNoneMatch="*")
    assert error(lambda: c.put_object(Bucket=BUCKET, Key="k.lock", Body=b"x", IfNoneMatch="*")) == (
        412,
        "PreconditionFailed",
    )
    assert s3.objects(BUCKET)["k.lock"].data == b"first"
    # S3 takes only `*` in If-None-Match on a write.
    assert error(
        lambda: c.put_object(Bucket=BUCKET, Key="k.lock", Body=b"x", IfNoneMatch=md5_etag(b"x"))
    ) == (501, "NotImplemented")
    assert s3.objects(BUCKET)["k.lock"].data == b"first"


def test_if_match_writes_only_over_the_etag_that_was_read(s3: S3Emulator) -> None:
    c = client(s3.url)
    etag = c.put_object(Bucket=BUCKET, Key="s.json", Body=b"v1")["ETag"]
    newer = c.put_object(Bucket=BUCKET, Key="s.json", Body=b"v2", IfMatch=etag)["ETag"]
    assert s3.objects(BUCKET)["s.json"].data == b"v2"
    # A writer still holding v1's ETag cannot overwrite v2.
    assert error(lambda: c.put_object(Bucket=BUCKET, Key="s.json", Body=b"v1'", IfMatch=etag)) == (
        412,
        "PreconditionFailed",
    )
    assert s3.objects(BUCKET)["s.json"].data == b"v2"
    # The ETag is compared with or without its quotes, as S3 does.
    c.put_object(Bucket=BUCKET, Key="s.json", Body=b"v3", IfMatch=newer.strip('"'))
    assert s3.objects(BUCKET)["s.json"].data == b"v3"
    # No current version to compare with: S3 answers 404, and nothing is created.
    assert error(lambda: c.put_object(Bucket=BUCKET, Key="new", Body=b"x", IfMatch=etag)) == (
        404,
        "NoSuchKey",
    )
    assert "new" not in s3.objects(BUCKET)


def test_delete_answers_204_and_honours_if_match(s3: S3Emulator) -> None:
    c = client(s3.url)
    etag = c.put_object(Bucket=BUCKET, Key="k.lock", Body=b"mine")["ETag"]
    assert error(
        lambda: c.delete_object(Bucket=BUCKET, Key="k.lock", IfMatch=md5_etag(b"theirs"))
    ) == (412, "PreconditionFailed")
    assert s3.objects(BUCKET)["k.lock"].data == b"mine"
    answer = c.delete_object(Bucket=BUCKET, Key="k.lock", IfMatch=etag)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "k.lock" not in s3.objects(BUCKET)
    # A missing key: 204 without a condition, as S3; 404 with If-Match (nothing to compare).
    again = c.delete_object(Bucket=BUCKET, Key="k.lock")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error(lambda: c.delete_object(Bucket=BUCKET, Key="k.lock", IfMatch=etag)) == (
        404,
        "NoSuchKey",
    )


def test_list_objects_v2_by_prefix_page_by_page(s3: S3Emulator) -> None:
    c = client(s3.url)
    history = [f"cc/ivrsync.state.json.history/{serial:010d}.json" for serial in range(1, 8)]
    for key in [*reversed(history), "cc/ivrsync.state.json", "other/x", "cc/a b+c.json"]:
        c.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    pages = list(
        c.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="cc/ivrsync.state.json.history/", PaginationConfig={"PageSize": 3}
        )
    )
    assert [page["KeyCount"] for page in pages] == [3, 3, 1]
    listed = [item for page in pages for item in page["Contents"]]
    assert [item["Key"] for item in listed] == history
    assert listed[0]["ETag"] == md5_etag(history[0].encode())
    assert listed[0]["Size"] == len(history[0])
    # Keys come back as stored, whatever characters they hold (boto3 asks for url encoding).
    odd = c.list_objects_v2(Bucket=BUCKET, Prefix="cc/a ")
    assert [item["Key"] for item in odd["Contents"]] == ["cc/a b+c.json"]
    after = c.list_objects_v2(Bucket=BUCKET, Prefix="cc/", StartAfter=history[-2])
    assert [item["Key"] for item in after["Contents"]] == [history[-1]]
    empty = c.list_objects_v2(Bucket=BUCKET, Prefix="nothing/")
    assert empty["KeyCount"] == 0 and "Contents" not in empty
    assert error(lambda: c.list_objects_v2(Bucket="missing")) == (404, "NoSuchBucket")


def test_a_store_that_ignores_conditions_writes_anyway() -> None:
    config = S3EmulatorConfig(buckets=[BUCKET], honour_conditions=False)
    with S3Emulator(config) as s3:
        c = client(s3.url)
        c.put_object(Bucket=BUCKET, Key="probe", Body=b"one", IfNoneMatch="*")
        second = c.put_object(Bucket=BUCKET, Key="probe", Body=b"two", IfNoneMatch="*")
        assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
        c.put_object(Bucket=BUCKET, Key="probe", Body=b"three", IfMatch=md5_etag(b"stale"))
        assert s3.objects(BUCKET)["probe"].data == b"three"
        c.delete_object(Bucket=BUCKET, Key="probe", IfMatch=md5_etag(b"stale"))
        assert "probe" not in s3.objects(BUCKET)


def test_the_emulator_command_serves_an_s3_that_ignores_conditions_when_told() -> None:
    command = [sys.executable, "-m", "ivrsync", "emulator", "amazon-connect", "--port", "0"]
    refused = subprocess.run(
        [*command, "--s3-conditional-writes", "sometimes"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1
    assert "'sometimes' is not one of: honour, ignore" in refused.stderr
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIATEST", "AWS_SECRET_ACCESS_KEY": "test-secret"}
    process = subprocess.Popen(
        [*command, "--bucket", BUCKET, "--s3-conditional-writes", "ignore"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        line = read_line(process.stderr, "ivrsync emulator amazon-connect")
        found = re.search(r"\(S3 on (http://\S+), bucket state, conditional writes ignored;", line)
        assert found, line
        c = client(found.group(1), "AKIATEST", "test-secret")
        c.put_object(Bucket=BUCKET, Key="probe", Body=b"one", IfNoneMatch="*")
        c.put_object(Bucket=BUCKET, Key="probe", Body=b"two", IfNoneMatch="*")
        assert c.get_object(Bucket=BUCKET, Key="probe")["Body"].read() == b"two"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_failing_puts_write_nothing_and_other_keys_are_served(s3: S3Emulator) -> None:
    c = client(s3.url)
    c.put_object(Bucket=BUCKET, Key="cc/state.json", Body=b"v1")
    s3.config.fail_puts_matching = r"state\.json$"
    assert error(lambda: c.put_object(Bucket=BUCKET, Key="cc/state.json", Body=b"v2")) == (
        500,
        "InternalError",
    )
    assert s3.objects(BUCKET)["cc/state.json"].data == b"v1"
    c.put_object(Bucket=BUCKET, Key="cc/state.json.lock", Body=b"lock")
    assert c.get_object(Bucket=BUCKET, Key="cc/state.json")["Body"].read() == b"v1"
    s3.config.fail_puts_matching = None
    c.put_object(Bucket=BUCKET, Key="cc/state.json", Body=b"v2")
    assert s3.objects(BUCKET)["cc/state.json"].data == b"v2"


def test_the_request_log_holds_each_object_request_in_order(s3: S3Emulator) -> None:
    c = client(s3.url)
    c.put_object(Bucket=BUCKET, Key="k.lock", Body=b'{"id": "a"}', IfNoneMatch="*")
    error(lambda: c.put_object(Bucket=BUCKET, Key="k.lock", Body=b'{"id": "b"}', IfNoneMatch="*"))
    c.delete_object(Bucket=BUCKET, Key="k.lock")
    seen = [(e.method, e.key, e.status, e.if_none_match, e.body) for e in s3.events()]
    assert seen == [
        ("PUT", "k.lock", 200, "*", b'{"id": "a"}'),
        ("PUT", "k.lock", 412, "*", b""),
        ("DELETE", "k.lock", 204, "", b""),
    ]


# -- the hammer ----------------------------------------------------------------------------


def race(clients: list[Any], bucket: str, key: str, **condition: str) -> Counter[int]:
    """Each client PUTs `key` with `condition` at once (released together by a barrier); the
    statuses answered, counted."""
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    # Each writer's body differs from every earlier one's: rewriting the bytes already stored
    # keeps the ETag (it is their MD5), and would let a second If-Match writer through.
    salt = uuid.uuid4().hex
    collected = threading.Lock()

    def write(c: Any, n: int) -> None:
        barrier.wait()
        try:
            answer = c.put_object(
                Bucket=bucket, Key=key, Body=f"writer {n} {salt}".encode(), **condition
            )
            status = answer["ResponseMetadata"]["HTTPStatusCode"]
        except ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        with collected:
            statuses.append(status)

    threads = [
        threading.Thread(target=write, args=(c, n), name=f"writer-{n}")
        for n, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(statuses)


def hammer(
    url: str, bucket: str, key: str, key_id: str, secret: str
) -> tuple[Counter[int], Counter[int]]:
    """32 threads, each with its own client, race on `key` twice: creating it with
    If-None-Match: *, then overwriting the ETag they all read with If-Match."""
    clients = [client(url, key_id, secret) for _ in range(THREADS)]
    create = race(clients, bucket, key, IfNoneMatch="*")
    etag = clients[0].head_object(Bucket=bucket, Key=key)["ETag"]
    return create, race(clients, bucket, key, IfMatch=etag)


def test_exactly_one_of_32_concurrent_conditional_writers_wins(s3: S3Emulator) -> None:
    for attempt in range(3):
        key = f"ivrsync.state.json.lock-{attempt}"
        create, update = hammer(s3.url, BUCKET, key, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY)
        assert create == Counter({200: 1, 412: THREADS - 1})
        assert update == Counter({200: 1, 412: THREADS - 1})
        # What is stored is what the one winner wrote, and the log shows a single write.
        puts = [e for e in s3.events() if e.key == key and e.method == "PUT" and e.status == 200]
        assert len(puts) == 2
        assert s3.objects(BUCKET)[key].data == puts[-1].body


def test_moto_server_hammered_with_conditional_writes(record_property: Any) -> None:
    """Documents moto's behaviour rather than asserting mutual exclusion: moto reads the key
    and writes it in two steps, with no lock between them, so more than one writer can win a
    race (and the tests of the state backend use the emulator instead). What a run saw is
    recorded in the test report's properties."""
    with s3_server.s3_server(BUCKET) as url:
        create, update = hammer(url, BUCKET, "lock", s3_server.ACCESS_KEY, s3_server.SECRET_KEY)
    record_property("moto_if_none_match", dict(create))
    record_property("moto_if_match", dict(update))
    for race in (create, update):
        assert sum(race.values()) == THREADS
        assert set(race) <= {200, 412}
        assert race[200] >= 1
